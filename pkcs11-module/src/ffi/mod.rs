//! The C ABI: every PKCS#11 function, grouped as the specification groups
//! them (PKCS#11 3.0 §5), each a thin skin that checks its arguments, calls
//! safe Rust in `module`, and maps the result to a `CK_RV`.
//!
//! This is the only place with `unsafe`. Every export is written with
//! [`cryptoki_fn!`], which adds `#[no_mangle]`, a `tracing` span and the
//! panic guard: nothing panics across the C ABI into the application (a
//! browser), a bug becomes `CKR_GENERAL_ERROR`. Every dereference sits in
//! its own `unsafe {}` block saying why it holds; the helpers below carry
//! the PKCS#11 conventions (NULL checks, the size query) once.
#![allow(non_snake_case)]

use std::os::raw::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use cryptoki_sys::*;

use crate::error::{Error, Result};
use crate::module::Module;

/// An exported PKCS#11 function: `#[no_mangle]`, a `tracing` span named
/// after the function, and the body run by [`guard`].
///
/// The span records the function's name only, never its arguments, so a
/// PIN or a plaintext passed to the function never reaches a log.
macro_rules! cryptoki_fn {
    ($(#[$attr:meta])* fn $name:ident($($arg:tt: $ty:ty),* $(,)?) $body:block) => {
        $(#[$attr])*
        ///
        /// # Safety
        ///
        /// The pointers must be as PKCS#11 3.0 specifies for this function.
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> CK_RV {
            let span = tracing::trace_span!(target: "firma_pkcs11", stringify!($name));
            let _entered = span.enter();
            $crate::ffi::guard(|| $body)
        }
    };
}

mod decrypt;
mod derive;
mod general;
mod interface;
mod object;
mod random;
mod session;
mod sign;
mod slot;
mod unsupported;

pub use decrypt::*;
pub use derive::*;
pub use general::*;
pub use interface::*;
pub use object::*;
pub use random::*;
pub use session::*;
pub use sign::*;
pub use slot::*;
pub use unsupported::*;

// ---------------------------------------------------------------------------
// The module's state

/// The module of one process. A forked child makes its own on its first
/// call and never touches its parent's: a lock that a parent thread held at
/// the fork would stay locked forever in the child (the thread is not
/// there to release it). Instances are never freed, so a pointer to one
/// stays valid.
struct Instance {
    pid: u32,
    /// Taken for a moment by each call, to clone the module out.
    module: RwLock<Option<Arc<Module>>>,
    /// The application's mutex (PKCS#11 §5.4, case 3), destroyed when the
    /// last call holding it ends after C_Finalize took it away.
    app: Mutex<Option<Arc<AppMutex>>>,
    /// Bumped by C_Finalize so that a thread waiting in C_WaitForSlotEvent returns.
    generation: AtomicU64,
}

static CURRENT: AtomicPtr<Instance> = AtomicPtr::new(std::ptr::null_mut());

/// This process's instance, made on first use (and first in a forked
/// child, after wiping the PINs the parent had cached).
fn instance() -> &'static Instance {
    let pid = std::process::id();
    loop {
        let current = CURRENT.load(Ordering::Acquire);
        // SAFETY: a non-NULL pointer comes from `Box::into_raw` below and is
        // never freed once published.
        if let Some(i) = unsafe { current.as_ref() } {
            if i.pid == pid {
                return i;
            }
            crate::pin_cache::wipe_all();
        }
        let new = Box::into_raw(Box::new(Instance {
            pid,
            module: RwLock::new(None),
            app: Mutex::new(None),
            generation: AtomicU64::new(0),
        }));
        match CURRENT.compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: just published, never freed.
            Ok(_) => return unsafe { &*new },
            // SAFETY: ours, never published: freed once, here.
            Err(_) => drop(unsafe { Box::from_raw(new) }),
        }
    }
}

/// The initialized module, or CKR_CRYPTOKI_NOT_INITIALIZED.
fn module() -> Result<Arc<Module>> {
    instance()
        .module
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or(Error::NOT_INITIALIZED)
}

/// Checks C_Initialize came first: every export that looks at its
/// arguments before the module does this before them.
fn initialized() -> Result<()> {
    module().map(|_| ())
}

/// The application's mutex, when it gave callbacks without
/// CKF_OS_LOCKING_OK: every call then also holds it (PKCS#11 §5.4, case 3).
struct AppMutex {
    mutex: *mut c_void,
    lock: unsafe extern "C" fn(*mut c_void) -> CK_RV,
    unlock: unsafe extern "C" fn(*mut c_void) -> CK_RV,
    destroy: unsafe extern "C" fn(*mut c_void) -> CK_RV,
}

// SAFETY: the application made the mutex for use from any of its threads.
unsafe impl Send for AppMutex {}
// SAFETY: as above; the callbacks are the application's thread-safe ones.
unsafe impl Sync for AppMutex {}

impl AppMutex {
    fn hold(&self) -> Result<AppLock<'_>> {
        // SAFETY: callbacks and mutex as the application gave them to
        // C_Initialize; the mutex lives as long as `self` (see Drop).
        if unsafe { (self.lock)(self.mutex) } != CKR_OK {
            return Err(Error(CKR_CANT_LOCK));
        }
        Ok(AppLock(self))
    }
}

impl Drop for AppMutex {
    fn drop(&mut self) {
        // SAFETY: the last reference: no call holds or waits for the
        // mutex any more, so the application may destroy it.
        unsafe { (self.destroy)(self.mutex) };
    }
}

struct AppLock<'a>(&'a AppMutex);

impl Drop for AppLock<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `hold`; we hold the mutex we locked.
        unsafe { (self.0.unlock)(self.0.mutex) };
    }
}

/// Runs `f` on the initialized module of this process. The module is
/// cloned out of the instance: C_Finalize does not wait for calls in
/// flight, which end on the module they started with.
fn with_module<T>(f: impl FnOnce(&Module) -> Result<T>) -> Result<T> {
    let inst = instance();
    let app = inst.app.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let _held = app.as_deref().map(AppMutex::hold).transpose()?;
    let module = module()?;
    f(&module)
}

/// Every export's body: an error becomes its `CK_RV`, a panic
/// CKR_GENERAL_ERROR.
fn guard(f: impl FnOnce() -> Result<()>) -> CK_RV {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(e)) => {
            tracing::trace!(target: "firma_pkcs11", rv = e.0, "failed");
            e.0
        }
        Err(_) => {
            tracing::error!(target: "firma_pkcs11", "panic caught at the C ABI");
            CKR_GENERAL_ERROR
        }
    }
}

// ---------------------------------------------------------------------------
// Arguments

/// A byte buffer from the caller; NULL is allowed only when empty.
///
/// # Safety
///
/// A non-NULL `p` points to `len` readable bytes that stay valid and
/// unchanged for `'a` (PKCS#11 §5: buffers belong to the caller for the call).
unsafe fn bytes<'a>(p: *const u8, len: CK_ULONG) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::ARGUMENTS_BAD);
    }
    // SAFETY: non-NULL, and the caller promises `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, len as usize) })
}

/// Writes `value` to a non-NULL out-pointer.
///
/// # Safety
///
/// A non-NULL `p` points to memory writable for a `T`.
unsafe fn put<T>(p: *mut T, value: T) -> Result<()> {
    if p.is_null() {
        return Err(Error::ARGUMENTS_BAD);
    }
    // SAFETY: non-NULL and, per the caller's promise, writable for a T.
    unsafe { p.write_unaligned(value) };
    Ok(())
}

/// The PKCS#11 size query (§5.2) for an output of `needed` items: with a
/// NULL buffer, `*len` becomes `needed` and the call stops with `Ok(false)`;
/// with a buffer shorter than `needed`, `*len` becomes `needed` and the call
/// fails with CKR_BUFFER_TOO_SMALL; else `Ok(true)`, the output fits.
///
/// # Safety
///
/// A non-NULL `len` points to a readable and writable `CK_ULONG`.
unsafe fn size_query<T>(needed: usize, out: *mut T, len: *mut CK_ULONG) -> Result<bool> {
    if len.is_null() {
        return Err(Error::ARGUMENTS_BAD);
    }
    // SAFETY: checked non-NULL; the caller gives a readable CK_ULONG.
    let room = unsafe { len.read_unaligned() } as usize;
    if out.is_null() || room < needed {
        // SAFETY: as above, and writable.
        unsafe { len.write_unaligned(needed as CK_ULONG) };
        return if out.is_null() {
            Ok(false)
        } else {
            Err(Error::BUFFER_TOO_SMALL)
        };
    }
    Ok(true)
}

/// Copies `items` to the caller's `out` under the size query: every
/// function returning a list or a byte string ends with this.
///
/// # Safety
///
/// As [`size_query`]; a non-NULL `out` has room for `*len` items of `T`.
unsafe fn output<T: Copy>(items: &[T], out: *mut T, len: *mut CK_ULONG) -> Result<()> {
    // SAFETY: the caller's promise for `len`.
    if !unsafe { size_query(items.len(), out, len) }? {
        return Ok(());
    }
    // SAFETY: `size_query` checked `out` non-NULL with room for
    // `items.len()` items; our slice cannot overlap the caller's buffer.
    unsafe { std::ptr::copy_nonoverlapping(items.as_ptr(), out, items.len()) };
    // SAFETY: `len` checked non-NULL by `size_query`.
    unsafe { len.write_unaligned(items.len() as CK_ULONG) };
    Ok(())
}

/// An attribute template from the caller.
///
/// # Safety
///
/// A non-NULL `attrs` points to `count` attributes valid for `'a`.
unsafe fn template<'a>(attrs: *const CK_ATTRIBUTE, count: CK_ULONG) -> Result<&'a [CK_ATTRIBUTE]> {
    if count == 0 {
        return Ok(&[]);
    }
    if attrs.is_null() {
        return Err(Error::ARGUMENTS_BAD);
    }
    // SAFETY: non-NULL, and the caller passes `count` attributes.
    Ok(unsafe { std::slice::from_raw_parts(attrs, count as usize) })
}

/// One attribute's value bytes.
///
/// # Safety
///
/// The attribute comes from a caller's template: a non-NULL `pValue`
/// points to `ulValueLen` readable bytes.
unsafe fn value<'a>(a: &CK_ATTRIBUTE) -> Result<&'a [u8]> {
    // SAFETY: the caller's promise.
    unsafe { bytes(a.pValue as *const u8, a.ulValueLen) }
}

/// The mechanism the caller points to.
///
/// # Safety
///
/// A non-NULL `m` points to a readable `CK_MECHANISM` valid for `'a`.
unsafe fn mechanism_ref<'a>(m: *const CK_MECHANISM) -> Result<&'a CK_MECHANISM> {
    // SAFETY: NULL is checked by `as_ref`, the rest is the caller's promise.
    unsafe { m.as_ref() }.ok_or(Error::ARGUMENTS_BAD)
}

/// A mechanism's parameter structure, copied.
///
/// # Safety
///
/// `m` comes from the caller: a non-NULL `pParameter` points to
/// `ulParameterLen` readable bytes.
unsafe fn mechanism_param<T: Copy>(m: &CK_MECHANISM) -> Result<T> {
    if m.pParameter.is_null() || m.ulParameterLen as usize != std::mem::size_of::<T>() {
        return Err(Error::MECHANISM_PARAM_INVALID);
    }
    // SAFETY: non-NULL and exactly the size of T, the structure the
    // mechanism defines; read unaligned since the caller owes us no alignment.
    Ok(unsafe { (m.pParameter as *const T).read_unaligned() })
}

// ---------------------------------------------------------------------------
// Values

/// A fixed-size, blank-padded PKCS#11 string, cut at a character boundary.
fn padded<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [b' '; N];
    let mut end = s.len().min(N);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out[..end].copy_from_slice(&s.as_bytes()[..end]);
    out
}

const fn version(major: u8, minor: u8) -> CK_VERSION {
    CK_VERSION { major, minor }
}

/// Whether a slot holds a recognized PIV token (for tests of the skin).
#[doc(hidden)]
pub fn slot_has_piv(slot: CK_SLOT_ID) -> bool {
    with_module(|m| Ok(m.has_piv(slot))).unwrap_or(false)
}
