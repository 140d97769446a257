//! Object management and search (PKCS#11 3.0 §5.7): the card's
//! certificates and keys, and the session's derived secrets.

use cryptoki_sys::*;

use super::{initialized, template, value, with_module};
use crate::error::Error;
use crate::object::AttrError;

cryptoki_fn! {
    fn C_FindObjectsInit(session: CK_SESSION_HANDLE, attrs: *mut CK_ATTRIBUTE, count: CK_ULONG) {
        initialized()?;
        let mut wanted = Vec::new();
        // SAFETY: `attrs` is NULL (only if `count` is 0) or `count`
        // attributes, each with `ulValueLen` bytes at `pValue`.
        for a in unsafe { template(attrs, count) }? {
            // SAFETY: as above.
            wanted.push((a.type_, unsafe { value(a) }?.to_vec()));
        }
        with_module(|m| m.find_init(session, &wanted))
    }
}

cryptoki_fn! {
    fn C_FindObjects(
        session: CK_SESSION_HANDLE,
        out: *mut CK_OBJECT_HANDLE,
        max: CK_ULONG,
        count: *mut CK_ULONG,
    ) {
        initialized()?;
        if count.is_null() || (out.is_null() && max > 0) {
            return Err(Error::ARGUMENTS_BAD);
        }
        let found = with_module(|m| m.find_next(session, max as usize))?;
        // SAFETY: `out` has room for `max` handles, and `find_next` returns
        // at most `max`; when `max` is 0 nothing is copied.
        unsafe { std::ptr::copy_nonoverlapping(found.as_ptr(), out, found.len()) };
        // SAFETY: `count` is the caller's CK_ULONG, checked non-NULL.
        unsafe { super::put(count, found.len() as CK_ULONG) }
    }
}

cryptoki_fn! {
    fn C_FindObjectsFinal(session: CK_SESSION_HANDLE) {
        with_module(|m| m.find_final(session))
    }
}

cryptoki_fn! {
    /// Each attribute follows its own size query (§5.7): a NULL `pValue`
    /// gets the length, a short one CK_UNAVAILABLE_INFORMATION and the call
    /// CKR_BUFFER_TOO_SMALL, while the other attributes are still filled.
    fn C_GetAttributeValue(
        session: CK_SESSION_HANDLE,
        object: CK_OBJECT_HANDLE,
        attrs: *mut CK_ATTRIBUTE,
        count: CK_ULONG,
    ) {
        initialized()?;
        if attrs.is_null() && count > 0 {
            return Err(Error::ARGUMENTS_BAD);
        }
        let attrs: &mut [CK_ATTRIBUTE] = if count == 0 {
            &mut []
        } else {
            // SAFETY: `attrs` is non-NULL and holds the caller's `count`
            // attributes, ours to update for the call.
            unsafe { std::slice::from_raw_parts_mut(attrs, count as usize) }
        };
        let types: Vec<CK_ATTRIBUTE_TYPE> = attrs.iter().map(|a| a.type_).collect();
        let values = with_module(|m| m.attributes(session, object, &types))?;
        let mut result = Ok(());
        for (a, value) in attrs.iter_mut().zip(values) {
            match value {
                Ok(v) if a.pValue.is_null() => a.ulValueLen = v.len() as CK_ULONG,
                Ok(v) if (a.ulValueLen as usize) < v.len() => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    result = Err(Error::BUFFER_TOO_SMALL);
                }
                Ok(v) => {
                    // SAFETY: `pValue` is non-NULL with room for
                    // `ulValueLen` bytes, checked to be at least `v.len()`.
                    unsafe {
                        std::ptr::copy_nonoverlapping(v.as_ptr(), a.pValue as *mut u8, v.len())
                    };
                    a.ulValueLen = v.len() as CK_ULONG;
                }
                Err(e) => {
                    a.ulValueLen = CK_UNAVAILABLE_INFORMATION;
                    result = Err(match e {
                        AttrError::Sensitive => Error::ATTRIBUTE_SENSITIVE,
                        AttrError::Invalid => Error::ATTRIBUTE_TYPE_INVALID,
                    });
                }
            }
        }
        result
    }
}

cryptoki_fn! {
    fn C_DestroyObject(session: CK_SESSION_HANDLE, object: CK_OBJECT_HANDLE) {
        with_module(|m| m.destroy(session, object))
    }
}
