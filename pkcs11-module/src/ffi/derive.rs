//! Key derivation (PKCS#11 3.0 §5.18): ECDH with the card's key.

use cryptoki_sys::*;

use super::{
    bytes, initialized, mechanism_param, mechanism_ref, put, template, value, with_module,
};
use crate::error::Error;
use crate::mechanism::parsing;

cryptoki_fn! {
    /// CKM_ECDH1_DERIVE with the null KDF: the shared secret becomes a generic
    /// secret session object, sensitive and not extractable unless the
    /// template asks otherwise.
    fn C_DeriveKey(
        session: CK_SESSION_HANDLE,
        mechanism: *mut CK_MECHANISM,
        base: CK_OBJECT_HANDLE,
        attrs: *mut CK_ATTRIBUTE,
        count: CK_ULONG,
        key: *mut CK_OBJECT_HANDLE,
    ) {
        initialized()?;
        // SAFETY: `mechanism` is NULL (refused) or the caller's mechanism.
        let m = unsafe { mechanism_ref(mechanism) }?;
        if key.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        // SAFETY: the caller's mechanism, with its parameter as it says.
        let params = parsing::ecdh_mech(m.mechanism, || unsafe { mechanism_param(m) })?;
        // SAFETY: the parameters give the peer's public data and its length.
        let peer = unsafe { bytes(params.pPublicData, params.ulPublicDataLen) }?.to_vec();
        let mut wanted = Vec::new();
        // SAFETY: `attrs` is NULL (only if `count` is 0) or `count`
        // attributes, each with `ulValueLen` bytes at `pValue`.
        for a in unsafe { template(attrs, count) }? {
            // SAFETY: as above.
            wanted.push((a.type_, unsafe { value(a) }?.to_vec()));
        }
        let h = with_module(|m| m.derive_ecdh(session, base, &peer, &wanted))?;
        // SAFETY: `key` is the caller's handle, checked non-NULL.
        unsafe { put(key, h) }
    }
}
