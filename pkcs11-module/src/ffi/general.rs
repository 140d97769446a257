//! General-purpose functions (PKCS#11 3.0 §5.4): initialization, end and
//! library information. `C_GetFunctionList` is with the interfaces.

use std::os::raw::c_void;
use std::sync::atomic::Ordering;

use cryptoki_sys::*;

use super::{lock, padded, put, version, with_module, AppMutex, APP_MUTEX, GENERATION};
use crate::error::Error;
use crate::module::Module;

const LIBRARY_VERSION: CK_VERSION = version(0, 1);

cryptoki_fn! {
    fn C_Initialize(init_args: *mut c_void) {
        // SAFETY: NULL or, per §5.4, a CK_C_INITIALIZE_ARGS valid for the call.
        let args = unsafe { (init_args as *const CK_C_INITIALIZE_ARGS).as_ref() };
        if let Some(args) = args {
            // Copy what we need now: the caller may free the structure.
            let given = [
                args.CreateMutex.is_some(),
                args.DestroyMutex.is_some(),
                args.LockMutex.is_some(),
                args.UnlockMutex.is_some(),
            ];
            if !args.pReserved.is_null() || (given.iter().any(|&g| g) && !given.iter().all(|&g| g))
            {
                return Err(Error::ARGUMENTS_BAD);
            }
            // Callbacks without CKF_OS_LOCKING_OK: the application wants its
            // own mutex used. With the flag, native locks are enough.
            if let (false, Some(create), Some(destroy), Some(lock_fn), Some(unlock)) = (
                args.flags & CKF_OS_LOCKING_OK != 0,
                args.CreateMutex,
                args.DestroyMutex,
                args.LockMutex,
                args.UnlockMutex,
            ) {
                if lock().as_ref().is_some_and(|m| m.pid == std::process::id()) {
                    return Err(Error::ALREADY_INITIALIZED);
                }
                let mut mutex: *mut c_void = std::ptr::null_mut();
                // SAFETY: the application's CreateMutex, given to be called
                // with a pointer to where the new mutex goes.
                if unsafe { create(&mut mutex) } != CKR_OK || mutex.is_null() {
                    return Err(Error(CKR_CANT_LOCK));
                }
                *APP_MUTEX.lock().unwrap_or_else(|e| e.into_inner()) = Some(AppMutex {
                    mutex,
                    lock: lock_fn,
                    unlock,
                    destroy,
                });
            }
        }
        let mut state = lock();
        match state.as_ref() {
            Some(m) if m.pid == std::process::id() => return Err(Error::ALREADY_INITIALIZED),
            // A forked child: the parent's PC/SC handles are not ours to
            // release (that would talk to pcscd on the parent's socket).
            Some(_) => std::mem::forget(state.take()),
            None => {}
        }
        *state = Some(Module::new());
        Ok(())
    }
}

cryptoki_fn! {
    fn C_Finalize(reserved: *mut c_void) {
        if !reserved.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        let mut state = lock();
        match state.as_ref() {
            Some(m) if m.pid == std::process::id() => {}
            _ => return Err(Error::NOT_INITIALIZED),
        }
        GENERATION.fetch_add(1, Ordering::SeqCst);
        *state = None;
        drop(state);
        if let Some(a) = APP_MUTEX.lock().unwrap_or_else(|e| e.into_inner()).take() {
            // SAFETY: the application's own mutex and DestroyMutex, no
            // longer used by any call now that the state is gone.
            unsafe { (a.destroy)(a.mutex) };
        }
        Ok(())
    }
}

cryptoki_fn! {
    fn C_GetInfo(info: *mut CK_INFO) {
        with_module(|_| Ok(()))?;
        let value = CK_INFO {
            cryptokiVersion: version(2, 40),
            manufacturerID: padded("Firma"),
            flags: 0,
            libraryDescription: padded("Firma PKCS#11 for PIV cards"),
            libraryVersion: LIBRARY_VERSION,
        };
        // SAFETY: `info` is NULL (refused) or the caller's CK_INFO.
        unsafe { put(info, value) }
    }
}
