//! Session management (PKCS#11 3.0 §5.6): sessions and login.

use std::os::raw::c_void;

use cryptoki_sys::*;
use zeroize::Zeroizing;

use super::{bytes, initialized, put, with_module};
use crate::error::Error;

cryptoki_fn! {
    fn C_OpenSession(
        slot: CK_SLOT_ID,
        flags: CK_FLAGS,
        _application: *mut c_void,
        _notify: CK_NOTIFY,
        session: *mut CK_SESSION_HANDLE,
    ) {
        initialized()?;
        if session.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        let h = with_module(|m| m.open_session(slot, flags))?;
        // SAFETY: `session` is the caller's handle, checked non-NULL.
        unsafe { put(session, h) }
    }
}

cryptoki_fn! {
    fn C_CloseSession(session: CK_SESSION_HANDLE) {
        with_module(|m| m.close_session(session))
    }
}

cryptoki_fn! {
    fn C_CloseAllSessions(slot: CK_SLOT_ID) {
        with_module(|m| m.close_all_sessions(slot))
    }
}

cryptoki_fn! {
    fn C_GetSessionInfo(session: CK_SESSION_HANDLE, info: *mut CK_SESSION_INFO) {
        initialized()?;
        if info.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        let value = with_module(|m| {
            let s = m.session_info(session)?;
            let state = match (s.rw, s.user, s.so) {
                (true, _, true) => CKS_RW_SO_FUNCTIONS,
                (true, true, _) => CKS_RW_USER_FUNCTIONS,
                (true, false, _) => CKS_RW_PUBLIC_SESSION,
                (false, true, _) => CKS_RO_USER_FUNCTIONS,
                (false, false, _) => CKS_RO_PUBLIC_SESSION,
            };
            let flags = CKF_SERIAL_SESSION | if s.rw { CKF_RW_SESSION } else { 0 };
            Ok(CK_SESSION_INFO {
                slotID: s.slot,
                state,
                flags,
                ulDeviceError: 0,
            })
        })?;
        // SAFETY: `info` is the caller's CK_SESSION_INFO, checked non-NULL.
        unsafe { put(info, value) }
    }
}

cryptoki_fn! {
    fn C_Login(session: CK_SESSION_HANDLE, user: CK_USER_TYPE, pin: *mut CK_UTF8CHAR, len: CK_ULONG) {
        initialized()?;
        // SAFETY: `pin` is NULL (only if empty) or `len` readable bytes.
        let pin = Zeroizing::new(unsafe { bytes(pin, len) }?.to_vec());
        with_module(|m| m.login(session, user, &pin))
    }
}

cryptoki_fn! {
    fn C_Logout(session: CK_SESSION_HANDLE) {
        with_module(|m| m.logout(session))
    }
}
