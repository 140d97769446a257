//! Decryption (PKCS#11 3.0 §5.9).

use cryptoki_sys::*;

use super::{bytes, initialized, mechanism_param, mechanism_ref, output, size_query, with_module};
use crate::mechanism::parsing::{self, OaepParams};

cryptoki_fn! {
    fn C_DecryptInit(session: CK_SESSION_HANDLE, mechanism: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
        initialized()?;
        // SAFETY: `mechanism` is NULL (refused) or the caller's mechanism.
        let m = unsafe { mechanism_ref(mechanism) }?;
        let mech = parsing::decrypt_mech(m.mechanism, || {
            // SAFETY: the caller's mechanism, with its parameter as it says.
            let params: CK_RSA_PKCS_OAEP_PARAMS = unsafe { mechanism_param(m) }?;
            let label = if params.source == CKZ_DATA_SPECIFIED {
                // SAFETY: with CKZ_DATA_SPECIFIED, `pSourceData` holds
                // `ulSourceDataLen` bytes (NULL only if empty).
                unsafe { bytes(params.pSourceData as *const u8, params.ulSourceDataLen) }?
                    .to_vec()
            } else {
                Vec::new()
            };
            Ok(OaepParams { params, label })
        })?;
        with_module(|m| m.decrypt_init(session, mech, key))
    }
}

cryptoki_fn! {
    fn C_Decrypt(
        session: CK_SESSION_HANDLE,
        cipher: *mut CK_BYTE,
        len: CK_ULONG,
        out: *mut CK_BYTE,
        out_len: *mut CK_ULONG,
    ) {
        initialized()?;
        // SAFETY: `cipher` is NULL (only if empty) or `len` readable bytes.
        let cipher = unsafe { bytes(cipher, len) }?;
        with_module(|m| {
            // The plaintext is at most as long as the modulus.
            // SAFETY: `out_len` is the caller's CK_ULONG, `out` NULL or room for it.
            if !unsafe { size_query(m.decrypt_len(session)?, out, out_len) }? {
                return Ok(());
            }
            let plain = m.decrypt(session, cipher)?;
            // SAFETY: as above.
            unsafe { output(&plain, out, out_len) }
        })
    }
}
