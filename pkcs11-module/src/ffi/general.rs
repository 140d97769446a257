//! General-purpose functions (PKCS#11 3.0 §5.4): initialization, end and
//! library information. `C_GetFunctionList` is with the interfaces.

use std::os::raw::c_void;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use cryptoki_sys::*;

use super::{initialized, instance, padded, put, version, with_module, AppMutex};
use crate::error::Error;
use crate::module::Module;

const LIBRARY_VERSION: CK_VERSION = version(0, 1);

cryptoki_fn! {
    fn C_Initialize(init_args: *mut c_void) {
        fork_handler();
        let inst = instance();
        // SAFETY: NULL or, per §5.4, a CK_C_INITIALIZE_ARGS valid for the call.
        let args = unsafe { (init_args as *const CK_C_INITIALIZE_ARGS).as_ref() };
        let mut app = None;
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
                if initialized().is_ok() {
                    return Err(Error::ALREADY_INITIALIZED);
                }
                let mut mutex: *mut c_void = std::ptr::null_mut();
                // SAFETY: the application's CreateMutex, given to be called
                // with a pointer to where the new mutex goes.
                if unsafe { create(&mut mutex) } != CKR_OK || mutex.is_null() {
                    return Err(Error(CKR_CANT_LOCK));
                }
                app = Some(Arc::new(AppMutex {
                    mutex,
                    lock: lock_fn,
                    unlock,
                    destroy,
                }));
            }
        }
        let mut state = inst.module.write().unwrap_or_else(|e| e.into_inner());
        if state.is_some() {
            return Err(Error::ALREADY_INITIALIZED);
        }
        *inst.app.lock().unwrap_or_else(|e| e.into_inner()) = app;
        *state = Some(Arc::new(Module::new()));
        Ok(())
    }
}

cryptoki_fn! {
    fn C_Finalize(reserved: *mut c_void) {
        if !reserved.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        let inst = instance();
        let module = inst
            .module
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .ok_or(Error::NOT_INITIALIZED)?;
        inst.generation.fetch_add(1, Ordering::SeqCst);
        // Calls in flight keep what they hold: the module ends with the last
        // of them, and the application's mutex is destroyed only after the
        // last call that locked (or waits for) it let go.
        drop(module);
        drop(inst.app.lock().unwrap_or_else(|e| e.into_inner()).take());
        Ok(())
    }
}

/// In a forked child, the parent's cached PINs are wiped before anything
/// else runs: atomics only, no lock (`pin_cache`).
fn fork_handler() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    extern "C" fn in_child() {
        crate::pin_cache::wipe_all();
    }
    REGISTERED.call_once(|| {
        // SAFETY: registers a plain function taking no lock; nothing else.
        unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
    });
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

#[cfg(test)]
mod tests {
    use crate::pin_cache::CachedPin;
    use firma_apdu::piv::Pin;

    /// A forked child finds no PIN its parent had cached; the parent keeps
    /// its own.
    #[test]
    fn a_forked_child_wipes_the_parents_pins() {
        super::fork_handler();
        let kept = CachedPin::store(&Pin::new("271828").unwrap()).unwrap();
        // SAFETY (test): the child only reads atomics and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let wiped = kept.pin().is_err();
            std::mem::forget(kept);
            // SAFETY (test): leaves without running the parent's destructors.
            unsafe { libc::_exit(if wiped { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY (test): our child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the child still had the PIN"
        );
        assert_eq!(kept.pin().unwrap().as_bytes(), b"271828");
    }
}
