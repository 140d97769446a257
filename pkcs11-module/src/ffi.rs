//! The C ABI: every PKCS#11 function, each a thin skin that checks its
//! arguments, calls safe Rust in `module.rs`, maps the result to a `CK_RV`,
//! and never lets a panic cross into the application (a browser).
#![allow(unsafe_code)]
#![allow(
    non_snake_case,
    clippy::missing_safety_doc,
    clippy::not_unsafe_ptr_arg_deref
)]

use std::os::raw::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use cryptoki_sys::*;

use crate::error::{Error, Result};
use crate::mechanism::{parsing, table, DecryptMech, SignMech};
use crate::module::{Module, TokenState};
use crate::object::AttrError;

static STATE: Mutex<Option<Module>> = Mutex::new(None);
/// Bumped by C_Finalize so that a thread waiting in C_WaitForSlotEvent returns.
static GENERATION: AtomicU64 = AtomicU64::new(0);

fn lock() -> MutexGuard<'static, Option<Module>> {
    // A panic in another call poisons the lock; the state is still usable.
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The application's mutex, when it gave callbacks without
/// CKF_OS_LOCKING_OK: every call then also holds it (PKCS#11 §5.4, case 3).
#[derive(Clone, Copy)]
struct AppMutex {
    mutex: *mut c_void,
    lock: unsafe extern "C" fn(*mut c_void) -> CK_RV,
    unlock: unsafe extern "C" fn(*mut c_void) -> CK_RV,
    destroy: unsafe extern "C" fn(*mut c_void) -> CK_RV,
}

// SAFETY: the application made the mutex for use from any of its threads.
unsafe impl Send for AppMutex {}

static APP_MUTEX: Mutex<Option<AppMutex>> = Mutex::new(None);

fn app_mutex() -> Option<AppMutex> {
    *APP_MUTEX.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` on the initialized module of this process.
fn with_module<T>(f: impl FnOnce(&mut Module) -> Result<T>) -> Result<T> {
    let app = app_mutex();
    if let Some(a) = app {
        // SAFETY: callbacks and mutex as the application gave them to C_Initialize.
        if unsafe { (a.lock)(a.mutex) } != CKR_OK {
            return Err(Error(CKR_CANT_LOCK));
        }
    }
    let result = {
        let mut guard = lock();
        match guard.as_mut() {
            // A forked child must not use the parent's PC/SC context.
            Some(m) if m.pid == std::process::id() => f(m),
            _ => Err(Error::NOT_INITIALIZED),
        }
    };
    if let Some(a) = app {
        // SAFETY: as above; we hold the mutex we locked.
        unsafe { (a.unlock)(a.mutex) };
    }
    result
}

/// Every export: a panic becomes CKR_GENERAL_ERROR.
fn guard(f: impl FnOnce() -> Result<()>) -> CK_RV {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(())) => CKR_OK,
        Ok(Err(e)) => e.0,
        Err(_) => CKR_GENERAL_ERROR,
    }
}

/// A byte buffer from the caller; NULL is allowed only when empty.
unsafe fn bytes<'a>(p: *const u8, len: CK_ULONG) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::ARGUMENTS_BAD);
    }
    // SAFETY: the caller promises `p` points to `len` readable bytes (PKCS#11 §5).
    Ok(std::slice::from_raw_parts(p, len as usize))
}

/// Writes `value` to a non-NULL out-pointer.
unsafe fn put<T>(p: *mut T, value: T) -> Result<()> {
    if p.is_null() {
        return Err(Error::ARGUMENTS_BAD);
    }
    // SAFETY: non-NULL and, per the API, pointing to writable memory for a T.
    p.write(value);
    Ok(())
}

/// The size-query convention (PKCS#11 §5.2): with a NULL buffer, report the
/// length; with a short buffer, report it and fail; else copy.
unsafe fn output(data: &[u8], out: *mut u8, out_len: *mut CK_ULONG) -> Result<bool> {
    if out_len.is_null() {
        return Err(Error::ARGUMENTS_BAD);
    }
    // SAFETY: checked non-NULL; the caller gives a writable CK_ULONG.
    let room = *out_len as usize;
    *out_len = data.len() as CK_ULONG;
    if out.is_null() {
        return Ok(false);
    }
    if room < data.len() {
        return Err(Error::BUFFER_TOO_SMALL);
    }
    // SAFETY: `out` has room for at least `data.len()` bytes, checked above.
    std::ptr::copy_nonoverlapping(data.as_ptr(), out, data.len());
    Ok(true)
}

/// Like `output` for a length known before the work is done: `Some(room)`
/// when the caller's buffer is large enough to proceed.
unsafe fn room_for(needed: usize, out: *mut u8, out_len: *mut CK_ULONG) -> Result<bool> {
    if out_len.is_null() {
        return Err(Error::ARGUMENTS_BAD);
    }
    // SAFETY: checked non-NULL.
    let room = *out_len as usize;
    if out.is_null() {
        *out_len = needed as CK_ULONG;
        return Ok(false);
    }
    if room < needed {
        *out_len = needed as CK_ULONG;
        return Err(Error::BUFFER_TOO_SMALL);
    }
    Ok(true)
}

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

const LIBRARY_VERSION: CK_VERSION = version(0, 1);

unsafe fn mechanism_param<T: Copy>(m: &CK_MECHANISM) -> Result<T> {
    if m.pParameter.is_null() || m.ulParameterLen as usize != std::mem::size_of::<T>() {
        return Err(Error::MECHANISM_PARAM_INVALID);
    }
    // SAFETY: the parameter has the size of T, as the mechanism defines it.
    Ok((m.pParameter as *const T).read_unaligned())
}

unsafe fn sign_mechanism(m: *const CK_MECHANISM) -> Result<SignMech> {
    let m = m.as_ref().ok_or(Error::ARGUMENTS_BAD)?;
    parsing::sign_mech(m.mechanism, || mechanism_param(m))
}

unsafe fn decrypt_mechanism(m: *const CK_MECHANISM) -> Result<DecryptMech> {
    let m = m.as_ref().ok_or(Error::ARGUMENTS_BAD)?;
    parsing::decrypt_mech(m.mechanism, || {
        let params: CK_RSA_PKCS_OAEP_PARAMS = mechanism_param(m)?;
        let label = if params.source == CKZ_DATA_SPECIFIED {
            bytes(params.pSourceData as *const u8, params.ulSourceDataLen)?.to_vec()
        } else {
            Vec::new()
        };
        Ok(parsing::OaepParams { params, label })
    })
}

// ---------------------------------------------------------------------------
// General purpose

#[no_mangle]
pub unsafe extern "C" fn C_Initialize(init_args: *mut c_void) -> CK_RV {
    guard(|| {
        if let Some(args) = (init_args as *const CK_C_INITIALIZE_ARGS).as_ref() {
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
                if create(&mut mutex) != CKR_OK || mutex.is_null() {
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
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_Finalize(reserved: *mut c_void) -> CK_RV {
    guard(|| {
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
            // SAFETY: the application's own mutex, no longer used by any call.
            (a.destroy)(a.mutex);
        }
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetInfo(info: *mut CK_INFO) -> CK_RV {
    guard(|| {
        with_module(|_| Ok(()))?;
        put(
            info,
            CK_INFO {
                cryptokiVersion: version(2, 40),
                manufacturerID: padded("Firma"),
                flags: 0,
                libraryDescription: padded("Firma PKCS#11 for PIV cards"),
                libraryVersion: LIBRARY_VERSION,
            },
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionList(list: *mut *mut CK_FUNCTION_LIST) -> CK_RV {
    guard(|| {
        put(
            list,
            std::ptr::addr_of!(FUNCTION_LIST) as *mut CK_FUNCTION_LIST,
        )
    })
}

// ---------------------------------------------------------------------------
// Slots and tokens

#[no_mangle]
pub unsafe extern "C" fn C_GetSlotList(
    token_present: CK_BBOOL,
    list: *mut CK_SLOT_ID,
    count: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let ids = with_module(|m| {
            m.refresh()?;
            Ok((0..m.slots.len())
                .filter(|&i| token_present == 0 || m.slots[i].present)
                .map(|i| i as CK_SLOT_ID)
                .collect::<Vec<_>>())
        })?;
        if count.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        let room = *count as usize;
        *count = ids.len() as CK_ULONG;
        if list.is_null() {
            return Ok(());
        }
        if room < ids.len() {
            return Err(Error::BUFFER_TOO_SMALL);
        }
        std::ptr::copy_nonoverlapping(ids.as_ptr(), list, ids.len());
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetSlotInfo(slot: CK_SLOT_ID, info: *mut CK_SLOT_INFO) -> CK_RV {
    guard(|| {
        if info.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        let value = with_module(|m| {
            m.refresh()?;
            let s = m.slot(slot)?;
            let mut flags = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT;
            if s.present {
                flags |= CKF_TOKEN_PRESENT;
            }
            Ok(CK_SLOT_INFO {
                slotDescription: padded(&s.reader),
                manufacturerID: padded("Firma"),
                flags,
                hardwareVersion: version(0, 0),
                firmwareVersion: version(0, 0),
            })
        })?;
        put(info, value)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetTokenInfo(slot: CK_SLOT_ID, info: *mut CK_TOKEN_INFO) -> CK_RV {
    guard(|| {
        if info.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        let value = with_module(|m| {
            m.refresh()?;
            let sessions = m.sessions.values().filter(|s| s.slot == slot).count() as CK_ULONG;
            let rw = m
                .sessions
                .values()
                .filter(|s| s.slot == slot && s.rw)
                .count() as CK_ULONG;
            // From the state read at insertion and at each login: no APDU here.
            let t = m.token(slot)?;
            let fw = t
                .version
                .map_or(version(0, 0), |v| version(v.0, v.1 * 10 + v.2.min(9)));
            Ok(CK_TOKEN_INFO {
                label: padded(&t.label),
                manufacturerID: padded("Firma"),
                model: padded("PIV"),
                serialNumber: padded(&t.serial),
                flags: t.token_flags(),
                ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
                ulSessionCount: sessions,
                ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
                ulRwSessionCount: rw,
                ulMaxPinLen: 8,
                ulMinPinLen: 6,
                ulTotalPublicMemory: CK_UNAVAILABLE_INFORMATION,
                ulFreePublicMemory: CK_UNAVAILABLE_INFORMATION,
                ulTotalPrivateMemory: CK_UNAVAILABLE_INFORMATION,
                ulFreePrivateMemory: CK_UNAVAILABLE_INFORMATION,
                hardwareVersion: version(0, 0),
                firmwareVersion: fw,
                utcTime: padded(""),
            })
        })?;
        put(info, value)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_WaitForSlotEvent(
    flags: CK_FLAGS,
    slot: *mut CK_SLOT_ID,
    reserved: *mut c_void,
) -> CK_RV {
    guard(|| {
        if slot.is_null() || !reserved.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        let generation = GENERATION.load(Ordering::SeqCst);
        loop {
            // The lock is held only for a look, never while waiting, so that
            // C_Finalize from another thread goes through.
            let event = with_module(|m| {
                m.refresh()?;
                for (i, s) in m.slots.iter_mut().enumerate() {
                    let now = (s.present, s.event_count);
                    if now != s.reported {
                        s.reported = now;
                        return Ok(Some(i as CK_SLOT_ID));
                    }
                }
                Ok(None)
            })?;
            if let Some(id) = event {
                return put(slot, id);
            }
            if flags & CKF_DONT_BLOCK != 0 {
                return Err(Error::NO_EVENT);
            }
            std::thread::sleep(Duration::from_millis(100));
            if GENERATION.load(Ordering::SeqCst) != generation {
                return Err(Error::NOT_INITIALIZED);
            }
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismList(
    slot: CK_SLOT_ID,
    list: *mut CK_MECHANISM_TYPE,
    count: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        with_module(|m| m.slot(slot).map(|_| ()))?;
        if count.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        let kinds = table::kinds();
        let room = *count as usize;
        *count = kinds.len() as CK_ULONG;
        if list.is_null() {
            return Ok(());
        }
        if room < kinds.len() {
            return Err(Error::BUFFER_TOO_SMALL);
        }
        std::ptr::copy_nonoverlapping(kinds.as_ptr(), list, kinds.len());
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetMechanismInfo(
    slot: CK_SLOT_ID,
    kind: CK_MECHANISM_TYPE,
    info: *mut CK_MECHANISM_INFO,
) -> CK_RV {
    guard(|| {
        with_module(|m| m.slot(slot).map(|_| ()))?;
        let offered = table::find(kind).ok_or(Error::MECHANISM_INVALID)?;
        put(
            info,
            CK_MECHANISM_INFO {
                ulMinKeySize: offered.min_bits,
                ulMaxKeySize: offered.max_bits,
                flags: offered.flags,
            },
        )
    })
}

// ---------------------------------------------------------------------------
// Sessions and login

#[no_mangle]
pub unsafe extern "C" fn C_OpenSession(
    slot: CK_SLOT_ID,
    flags: CK_FLAGS,
    _application: *mut c_void,
    _notify: CK_NOTIFY,
    session: *mut CK_SESSION_HANDLE,
) -> CK_RV {
    guard(|| {
        if session.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        let h = with_module(|m| m.open_session(slot, flags))?;
        put(session, h)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_CloseSession(session: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| with_module(|m| m.close_session(session)))
}

#[no_mangle]
pub unsafe extern "C" fn C_CloseAllSessions(slot: CK_SLOT_ID) -> CK_RV {
    guard(|| with_module(|m| m.close_all_sessions(slot)))
}

#[no_mangle]
pub unsafe extern "C" fn C_GetSessionInfo(
    session: CK_SESSION_HANDLE,
    info: *mut CK_SESSION_INFO,
) -> CK_RV {
    guard(|| {
        if info.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        let value = with_module(|m| {
            let (s, t) = m.session_token(session)?;
            let state = match (s.rw, t.user_pin.is_some(), t.so_puk.is_some()) {
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
        put(info, value)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_Login(
    session: CK_SESSION_HANDLE,
    user: CK_USER_TYPE,
    pin: *mut CK_UTF8CHAR,
    len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let pin = zeroize::Zeroizing::new(bytes(pin, len)?.to_vec());
        with_module(|m| m.login(session, user, &pin))
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_Logout(session: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| with_module(|m| m.logout(session)))
}

#[no_mangle]
pub unsafe extern "C" fn C_InitPIN(
    session: CK_SESSION_HANDLE,
    pin: *mut CK_UTF8CHAR,
    len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let pin = zeroize::Zeroizing::new(bytes(pin, len)?.to_vec());
        with_module(|m| m.init_pin(session, &pin))
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_SetPIN(
    session: CK_SESSION_HANDLE,
    old: *mut CK_UTF8CHAR,
    old_len: CK_ULONG,
    new: *mut CK_UTF8CHAR,
    new_len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let old = zeroize::Zeroizing::new(bytes(old, old_len)?.to_vec());
        let new = zeroize::Zeroizing::new(bytes(new, new_len)?.to_vec());
        with_module(|m| m.set_pin(session, &old, &new))
    })
}

// ---------------------------------------------------------------------------
// Objects

unsafe fn template<'a>(attrs: *const CK_ATTRIBUTE, count: CK_ULONG) -> Result<&'a [CK_ATTRIBUTE]> {
    if count == 0 {
        return Ok(&[]);
    }
    if attrs.is_null() {
        return Err(Error::ARGUMENTS_BAD);
    }
    // SAFETY: the caller passes `count` attributes.
    Ok(std::slice::from_raw_parts(attrs, count as usize))
}

#[no_mangle]
pub unsafe extern "C" fn C_FindObjectsInit(
    session: CK_SESSION_HANDLE,
    attrs: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let mut wanted = Vec::new();
        for a in template(attrs, count)? {
            wanted.push((
                a.type_,
                bytes(a.pValue as *const u8, a.ulValueLen)?.to_vec(),
            ));
        }
        with_module(|m| m.find_init(session, &wanted))
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_FindObjects(
    session: CK_SESSION_HANDLE,
    out: *mut CK_OBJECT_HANDLE,
    max: CK_ULONG,
    count: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        if count.is_null() || (out.is_null() && max > 0) {
            return Err(Error::ARGUMENTS_BAD);
        }
        let found = with_module(|m| m.find_next(session, max as usize))?;
        std::ptr::copy_nonoverlapping(found.as_ptr(), out, found.len());
        put(count, found.len() as CK_ULONG)
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_FindObjectsFinal(session: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| with_module(|m| m.find_final(session)))
}

#[no_mangle]
pub unsafe extern "C" fn C_GetAttributeValue(
    session: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
    attrs: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
) -> CK_RV {
    guard(|| {
        if attrs.is_null() && count > 0 {
            return Err(Error::ARGUMENTS_BAD);
        }
        // SAFETY: `attrs` holds `count` attributes, checked non-NULL.
        let attrs: &mut [CK_ATTRIBUTE] = if count == 0 {
            &mut []
        } else {
            std::slice::from_raw_parts_mut(attrs, count as usize)
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
                    std::ptr::copy_nonoverlapping(v.as_ptr(), a.pValue as *mut u8, v.len());
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
    })
}

// ---------------------------------------------------------------------------
// Signatures and decryption

#[no_mangle]
pub unsafe extern "C" fn C_SignInit(
    session: CK_SESSION_HANDLE,
    mechanism: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        let mech = sign_mechanism(mechanism)?;
        with_module(|m| m.sign_init(session, mech, key))
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_Sign(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
    sig: *mut CK_BYTE,
    sig_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let data = bytes(data, len)?;
        with_module(|m| {
            if !room_for(m.sign_len(session)?, sig, sig_len)? {
                return Ok(());
            }
            m.sign_update(session, data)?;
            let s = m.sign_final(session)?;
            output(&s, sig, sig_len).map(|_| ())
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_SignUpdate(
    session: CK_SESSION_HANDLE,
    data: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        let data = bytes(data, len)?;
        with_module(|m| m.sign_update(session, data))
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_SignFinal(
    session: CK_SESSION_HANDLE,
    sig: *mut CK_BYTE,
    sig_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        with_module(|m| {
            if !room_for(m.sign_len(session)?, sig, sig_len)? {
                return Ok(());
            }
            let s = m.sign_final(session)?;
            output(&s, sig, sig_len).map(|_| ())
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_DecryptInit(
    session: CK_SESSION_HANDLE,
    mechanism: *mut CK_MECHANISM,
    key: CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        let mech = decrypt_mechanism(mechanism)?;
        with_module(|m| m.decrypt_init(session, mech, key))
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_Decrypt(
    session: CK_SESSION_HANDLE,
    cipher: *mut CK_BYTE,
    len: CK_ULONG,
    out: *mut CK_BYTE,
    out_len: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        let cipher = bytes(cipher, len)?;
        with_module(|m| {
            // The plaintext is at most as long as the modulus.
            if !room_for(m.decrypt_len(session)?, out, out_len)? {
                return Ok(());
            }
            let plain = m.decrypt(session, cipher)?;
            output(&plain, out, out_len).map(|_| ())
        })
    })
}

// ---------------------------------------------------------------------------
// What Firma does not offer: present, and saying so.

macro_rules! not_supported {
    ($($name:ident($($arg:ty),*);)*) => {
        $(
            #[no_mangle]
            pub unsafe extern "C" fn $name($(_: $arg),*) -> CK_RV {
                guard(|| {
                    with_module(|_| Ok(()))?;
                    Err(Error::FUNCTION_NOT_SUPPORTED)
                })
            }
        )*
    };
}

not_supported! {
    C_InitToken(CK_SLOT_ID, *mut CK_UTF8CHAR, CK_ULONG, *mut CK_UTF8CHAR);
    C_GetOperationState(CK_SESSION_HANDLE, *mut CK_BYTE, *mut CK_ULONG);
    C_SetOperationState(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE);
    C_CreateObject(CK_SESSION_HANDLE, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
    C_CopyObject(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
    C_GetObjectSize(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, *mut CK_ULONG);
    C_SetAttributeValue(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, *mut CK_ATTRIBUTE, CK_ULONG);
    C_EncryptInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_Encrypt(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_EncryptUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_EncryptFinal(CK_SESSION_HANDLE, *mut CK_BYTE, *mut CK_ULONG);
    C_DecryptUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DecryptFinal(CK_SESSION_HANDLE, *mut CK_BYTE, *mut CK_ULONG);
    C_DigestInit(CK_SESSION_HANDLE, *mut CK_MECHANISM);
    C_Digest(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DigestUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG);
    C_DigestKey(CK_SESSION_HANDLE, CK_OBJECT_HANDLE);
    C_DigestFinal(CK_SESSION_HANDLE, *mut CK_BYTE, *mut CK_ULONG);
    C_SignRecoverInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_SignRecover(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_VerifyInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_Verify(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    C_VerifyUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG);
    C_VerifyFinal(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG);
    C_VerifyRecoverInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_VerifyRecover(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DigestEncryptUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DecryptDigestUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_SignEncryptUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DecryptVerifyUpdate(CK_SESSION_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_GenerateKey(CK_SESSION_HANDLE, *mut CK_MECHANISM, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
    C_GenerateKeyPair(CK_SESSION_HANDLE, *mut CK_MECHANISM, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_OBJECT_HANDLE, *mut CK_OBJECT_HANDLE);
    C_WrapKey(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE, *mut CK_BYTE, *mut CK_ULONG);
    C_UnwrapKey(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE, *mut CK_BYTE, CK_ULONG, *mut CK_ATTRIBUTE, CK_ULONG, *mut CK_OBJECT_HANDLE);
    C_LoginUser(CK_SESSION_HANDLE, CK_USER_TYPE, *mut CK_UTF8CHAR, CK_ULONG, *mut CK_UTF8CHAR, CK_ULONG);
    C_SessionCancel(CK_SESSION_HANDLE, CK_FLAGS);
    C_MessageEncryptInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_EncryptMessage(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_EncryptMessageBegin(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    C_EncryptMessageNext(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG, CK_FLAGS);
    C_MessageEncryptFinal(CK_SESSION_HANDLE);
    C_MessageDecryptInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_DecryptMessage(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_DecryptMessageBegin(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    C_DecryptMessageNext(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG, CK_FLAGS);
    C_MessageDecryptFinal(CK_SESSION_HANDLE);
    C_MessageSignInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_SignMessage(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_SignMessageBegin(CK_SESSION_HANDLE, *mut c_void, CK_ULONG);
    C_SignMessageNext(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, *mut CK_ULONG);
    C_MessageSignFinal(CK_SESSION_HANDLE);
    C_MessageVerifyInit(CK_SESSION_HANDLE, *mut CK_MECHANISM, CK_OBJECT_HANDLE);
    C_VerifyMessage(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    C_VerifyMessageBegin(CK_SESSION_HANDLE, *mut c_void, CK_ULONG);
    C_VerifyMessageNext(CK_SESSION_HANDLE, *mut c_void, CK_ULONG, *mut CK_BYTE, CK_ULONG, *mut CK_BYTE, CK_ULONG);
    C_MessageVerifyFinal(CK_SESSION_HANDLE);
}

#[no_mangle]
pub unsafe extern "C" fn C_SeedRandom(
    session: CK_SESSION_HANDLE,
    _seed: *mut CK_BYTE,
    _len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        with_module(|m| m.session_token(session).map(|_| ()))?;
        Err(Error(CKR_RANDOM_SEED_NOT_SUPPORTED))
    })
}

/// Random bytes from the card's generator.
#[no_mangle]
pub unsafe extern "C" fn C_GenerateRandom(
    session: CK_SESSION_HANDLE,
    out: *mut CK_BYTE,
    len: CK_ULONG,
) -> CK_RV {
    guard(|| {
        if out.is_null() && len > 0 {
            return Err(Error::ARGUMENTS_BAD);
        }
        let random = with_module(|m| m.random(session, len as usize))?;
        std::ptr::copy_nonoverlapping(random.as_ptr(), out, random.len());
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_DestroyObject(
    session: CK_SESSION_HANDLE,
    object: CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| with_module(|m| m.destroy(session, object)))
}

/// CKM_ECDH1_DERIVE with the null KDF: the shared secret becomes a generic
/// secret session object (sensitive if the template asks for it).
#[no_mangle]
pub unsafe extern "C" fn C_DeriveKey(
    session: CK_SESSION_HANDLE,
    mechanism: *mut CK_MECHANISM,
    base: CK_OBJECT_HANDLE,
    attrs: *mut CK_ATTRIBUTE,
    count: CK_ULONG,
    key: *mut CK_OBJECT_HANDLE,
) -> CK_RV {
    guard(|| {
        let m = mechanism.as_ref().ok_or(Error::ARGUMENTS_BAD)?;
        if key.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        let params = parsing::ecdh_mech(m.mechanism, || mechanism_param(m))?;
        let peer = bytes(params.pPublicData, params.ulPublicDataLen)?.to_vec();
        let mut sensitive = false;
        for a in template(attrs, count)? {
            if a.type_ == CKA_SENSITIVE {
                sensitive = bytes(a.pValue as *const u8, a.ulValueLen)?
                    .first()
                    .is_some_and(|&b| b != 0);
            }
        }
        let h = with_module(|m| m.derive_ecdh(session, base, &peer, sensitive))?;
        put(key, h)
    })
}

/// Legacy parallel functions: always "not parallel" (PKCS#11 §5.16).
#[no_mangle]
pub unsafe extern "C" fn C_GetFunctionStatus(_session: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        with_module(|_| Ok(()))?;
        Err(Error(CKR_FUNCTION_NOT_PARALLEL))
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_CancelFunction(_session: CK_SESSION_HANDLE) -> CK_RV {
    guard(|| {
        with_module(|_| Ok(()))?;
        Err(Error(CKR_FUNCTION_NOT_PARALLEL))
    })
}

// ---------------------------------------------------------------------------
// Function lists and interfaces (2.40 and 3.0)

macro_rules! function_list {
    ($ty:ident, $version:expr, { $($extra:ident),* }) => {
        $ty {
            version: $version,
            C_Initialize: Some(C_Initialize),
            C_Finalize: Some(C_Finalize),
            C_GetInfo: Some(C_GetInfo),
            C_GetFunctionList: Some(C_GetFunctionList),
            C_GetSlotList: Some(C_GetSlotList),
            C_GetSlotInfo: Some(C_GetSlotInfo),
            C_GetTokenInfo: Some(C_GetTokenInfo),
            C_GetMechanismList: Some(C_GetMechanismList),
            C_GetMechanismInfo: Some(C_GetMechanismInfo),
            C_InitToken: Some(C_InitToken),
            C_InitPIN: Some(C_InitPIN),
            C_SetPIN: Some(C_SetPIN),
            C_OpenSession: Some(C_OpenSession),
            C_CloseSession: Some(C_CloseSession),
            C_CloseAllSessions: Some(C_CloseAllSessions),
            C_GetSessionInfo: Some(C_GetSessionInfo),
            C_GetOperationState: Some(C_GetOperationState),
            C_SetOperationState: Some(C_SetOperationState),
            C_Login: Some(C_Login),
            C_Logout: Some(C_Logout),
            C_CreateObject: Some(C_CreateObject),
            C_CopyObject: Some(C_CopyObject),
            C_DestroyObject: Some(C_DestroyObject),
            C_GetObjectSize: Some(C_GetObjectSize),
            C_GetAttributeValue: Some(C_GetAttributeValue),
            C_SetAttributeValue: Some(C_SetAttributeValue),
            C_FindObjectsInit: Some(C_FindObjectsInit),
            C_FindObjects: Some(C_FindObjects),
            C_FindObjectsFinal: Some(C_FindObjectsFinal),
            C_EncryptInit: Some(C_EncryptInit),
            C_Encrypt: Some(C_Encrypt),
            C_EncryptUpdate: Some(C_EncryptUpdate),
            C_EncryptFinal: Some(C_EncryptFinal),
            C_DecryptInit: Some(C_DecryptInit),
            C_Decrypt: Some(C_Decrypt),
            C_DecryptUpdate: Some(C_DecryptUpdate),
            C_DecryptFinal: Some(C_DecryptFinal),
            C_DigestInit: Some(C_DigestInit),
            C_Digest: Some(C_Digest),
            C_DigestUpdate: Some(C_DigestUpdate),
            C_DigestKey: Some(C_DigestKey),
            C_DigestFinal: Some(C_DigestFinal),
            C_SignInit: Some(C_SignInit),
            C_Sign: Some(C_Sign),
            C_SignUpdate: Some(C_SignUpdate),
            C_SignFinal: Some(C_SignFinal),
            C_SignRecoverInit: Some(C_SignRecoverInit),
            C_SignRecover: Some(C_SignRecover),
            C_VerifyInit: Some(C_VerifyInit),
            C_Verify: Some(C_Verify),
            C_VerifyUpdate: Some(C_VerifyUpdate),
            C_VerifyFinal: Some(C_VerifyFinal),
            C_VerifyRecoverInit: Some(C_VerifyRecoverInit),
            C_VerifyRecover: Some(C_VerifyRecover),
            C_DigestEncryptUpdate: Some(C_DigestEncryptUpdate),
            C_DecryptDigestUpdate: Some(C_DecryptDigestUpdate),
            C_SignEncryptUpdate: Some(C_SignEncryptUpdate),
            C_DecryptVerifyUpdate: Some(C_DecryptVerifyUpdate),
            C_GenerateKey: Some(C_GenerateKey),
            C_GenerateKeyPair: Some(C_GenerateKeyPair),
            C_WrapKey: Some(C_WrapKey),
            C_UnwrapKey: Some(C_UnwrapKey),
            C_DeriveKey: Some(C_DeriveKey),
            C_SeedRandom: Some(C_SeedRandom),
            C_GenerateRandom: Some(C_GenerateRandom),
            C_GetFunctionStatus: Some(C_GetFunctionStatus),
            C_CancelFunction: Some(C_CancelFunction),
            C_WaitForSlotEvent: Some(C_WaitForSlotEvent),
            $($extra: Some($extra),)*
        }
    };
}

static FUNCTION_LIST: CK_FUNCTION_LIST = function_list!(CK_FUNCTION_LIST, version(2, 40), {});

static FUNCTION_LIST_3_0: CK_FUNCTION_LIST_3_0 = function_list!(CK_FUNCTION_LIST_3_0, version(3, 0), {
    C_GetInterfaceList, C_GetInterface, C_LoginUser, C_SessionCancel,
    C_MessageEncryptInit, C_EncryptMessage, C_EncryptMessageBegin, C_EncryptMessageNext, C_MessageEncryptFinal,
    C_MessageDecryptInit, C_DecryptMessage, C_DecryptMessageBegin, C_DecryptMessageNext, C_MessageDecryptFinal,
    C_MessageSignInit, C_SignMessage, C_SignMessageBegin, C_SignMessageNext, C_MessageSignFinal,
    C_MessageVerifyInit, C_VerifyMessage, C_VerifyMessageBegin, C_VerifyMessageNext, C_MessageVerifyFinal
});

const INTERFACE_NAME: &[u8] = b"PKCS 11\0";

/// The interfaces we offer; raw pointers to statics, never written through.
struct Interfaces([CK_INTERFACE; 2]);
// SAFETY: the pointers refer to immutable statics; callers only read them.
unsafe impl Sync for Interfaces {}

static INTERFACES: Interfaces = Interfaces([
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: std::ptr::addr_of!(FUNCTION_LIST_3_0) as *mut c_void,
        flags: 0,
    },
    CK_INTERFACE {
        pInterfaceName: INTERFACE_NAME.as_ptr() as *mut CK_CHAR,
        pFunctionList: std::ptr::addr_of!(FUNCTION_LIST) as *mut c_void,
        flags: 0,
    },
]);

#[no_mangle]
pub unsafe extern "C" fn C_GetInterfaceList(
    list: *mut CK_INTERFACE,
    count: *mut CK_ULONG,
) -> CK_RV {
    guard(|| {
        if count.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        let n = INTERFACES.0.len();
        let room = *count as usize;
        *count = n as CK_ULONG;
        if list.is_null() {
            return Ok(());
        }
        if room < n {
            return Err(Error::BUFFER_TOO_SMALL);
        }
        for (i, itf) in INTERFACES.0.iter().enumerate() {
            list.add(i).write(CK_INTERFACE {
                pInterfaceName: itf.pInterfaceName,
                pFunctionList: itf.pFunctionList,
                flags: itf.flags,
            });
        }
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn C_GetInterface(
    name: *mut CK_UTF8CHAR,
    wanted: *mut CK_VERSION,
    out: *mut *mut CK_INTERFACE,
    flags: CK_FLAGS,
) -> CK_RV {
    guard(|| {
        if out.is_null() {
            return Err(Error::ARGUMENTS_BAD);
        }
        if !name.is_null() {
            // SAFETY: a NUL-terminated string per the API.
            let given = std::ffi::CStr::from_ptr(name as *const std::os::raw::c_char);
            if given.to_bytes_with_nul() != INTERFACE_NAME {
                return Err(Error(CKR_ARGUMENTS_BAD));
            }
        }
        if flags != 0 {
            return Err(Error(CKR_ARGUMENTS_BAD));
        }
        let index = match wanted.as_ref() {
            None => 0,
            Some(v) if (v.major, v.minor) == (3, 0) => 0,
            Some(v) if v.major == 2 => 1,
            Some(_) => return Err(Error(CKR_ARGUMENTS_BAD)),
        };
        put(
            out,
            std::ptr::addr_of!(INTERFACES.0[index]) as *mut CK_INTERFACE,
        )
    })
}

/// Whether a slot holds a recognized PIV token (for tests of the skin).
#[doc(hidden)]
pub fn slot_has_piv(slot: CK_SLOT_ID) -> bool {
    with_module(|m| {
        Ok(matches!(
            m.slots.get(slot as usize).and_then(|s| s.token.as_ref()),
            Some(TokenState::Piv(_))
        ))
    })
    .unwrap_or(false)
}
