//! Random number generation (PKCS#11 3.0 §5.20), from the card.

use cryptoki_sys::*;

use super::{initialized, with_module};
use crate::error::Error;

cryptoki_fn! {
    fn C_SeedRandom(session: CK_SESSION_HANDLE, _seed: *mut CK_BYTE, _len: CK_ULONG) {
        with_module(|m| m.session_info(session).map(|_| ()))?;
        Err(Error(CKR_RANDOM_SEED_NOT_SUPPORTED))
    }
}

cryptoki_fn! {
    /// Random bytes from the card's generator.
    fn C_GenerateRandom(session: CK_SESSION_HANDLE, out: *mut CK_BYTE, len: CK_ULONG) {
        initialized()?;
        if out.is_null() && len > 0 {
            return Err(Error::ARGUMENTS_BAD);
        }
        let random = with_module(|m| m.random(session, len as usize))?;
        // SAFETY: `out` has room for `len` bytes, and the card gave exactly
        // `len` (nothing is copied when `len` is 0).
        unsafe { std::ptr::copy_nonoverlapping(random.as_ptr(), out, random.len()) };
        Ok(())
    }
}
