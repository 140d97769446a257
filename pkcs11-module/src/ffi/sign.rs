//! Signing (PKCS#11 3.0 §5.13).

use cryptoki_sys::*;

use super::{bytes, initialized, mechanism_param, mechanism_ref, output, size_query, with_module};
use crate::mechanism::parsing;

cryptoki_fn! {
    fn C_SignInit(session: CK_SESSION_HANDLE, mechanism: *mut CK_MECHANISM, key: CK_OBJECT_HANDLE) {
        initialized()?;
        // SAFETY: `mechanism` is NULL (refused) or the caller's mechanism.
        let m = unsafe { mechanism_ref(mechanism) }?;
        // SAFETY: the caller's mechanism, with its parameter as it says.
        let mech = parsing::sign_mech(m.mechanism, || unsafe { mechanism_param(m) })?;
        with_module(|m| m.sign_init(session, mech, key))
    }
}

cryptoki_fn! {
    fn C_Sign(
        session: CK_SESSION_HANDLE,
        data: *mut CK_BYTE,
        len: CK_ULONG,
        sig: *mut CK_BYTE,
        sig_len: *mut CK_ULONG,
    ) {
        initialized()?;
        // SAFETY: `data` is NULL (only if empty) or `len` readable bytes.
        let data = unsafe { bytes(data, len) }?;
        with_module(|m| {
            // The length is known before the card is asked: a size query
            // costs no signature (and no PIN-always grant).
            // SAFETY: `sig_len` is the caller's CK_ULONG, `sig` NULL or room for it.
            if !unsafe { size_query(m.sign_len(session)?, sig, sig_len) }? {
                return Ok(());
            }
            m.sign_update(session, data)?;
            let s = m.sign_final(session)?;
            // SAFETY: as above.
            unsafe { output(&s, sig, sig_len) }
        })
    }
}

cryptoki_fn! {
    fn C_SignUpdate(session: CK_SESSION_HANDLE, data: *mut CK_BYTE, len: CK_ULONG) {
        initialized()?;
        // SAFETY: `data` is NULL (only if empty) or `len` readable bytes.
        let data = unsafe { bytes(data, len) }?;
        with_module(|m| m.sign_update(session, data))
    }
}

cryptoki_fn! {
    fn C_SignFinal(session: CK_SESSION_HANDLE, sig: *mut CK_BYTE, sig_len: *mut CK_ULONG) {
        with_module(|m| {
            // SAFETY: `sig_len` is the caller's CK_ULONG, `sig` NULL or room for it.
            if !unsafe { size_query(m.sign_len(session)?, sig, sig_len) }? {
                return Ok(());
            }
            let s = m.sign_final(session)?;
            // SAFETY: as above.
            unsafe { output(&s, sig, sig_len) }
        })
    }
}
