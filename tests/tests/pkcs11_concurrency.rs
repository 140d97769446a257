//! Many cards, many threads, forks and finalize (issue #16), through the
//! built `libfirma_pkcs11.so`: its exports called by address (`dlsym`) where
//! the `cryptoki` crate would get in the way (before C_Initialize, in a
//! forked child), the `cryptoki` crate elsewhere.
//!
//! Nothing here asserts a duration: a call that must not wait for a card is
//! shown to return while that card is held by another application's PC/SC
//! transaction; the generous deadlines only turn a hang into a failure.
//!
//! libpcsclite reads the pcscd socket path once per process, so this binary
//! has its own `main`: one private pcscd for all its tests, run in turn.
// Calling the C ABI directly is what this binary tests.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use cryptoki_sys as ck;
use firma_tests::{firma_module, personalize, CardOptions, Pcscd};

/// Long enough for any healthy call on a loaded machine: only a hang reaches it.
const HANG: Duration = Duration::from_secs(30);

fn pin() -> AuthPin {
    AuthPin::new("123456".into())
}

fn load() -> Pkcs11 {
    let p = Pkcs11::new(firma_module()).expect("load libfirma_pkcs11.so");
    p.initialize(CInitializeArgs::OsThreads)
        .expect("C_Initialize");
    p
}

fn key(session: &Session, id: u8) -> ObjectHandle {
    session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(vec![id]),
        ])
        .unwrap()[0]
}

/// The module's exports, by address.
struct So {
    initialize: unsafe extern "C" fn(*mut std::os::raw::c_void) -> ck::CK_RV,
    finalize: unsafe extern "C" fn(*mut std::os::raw::c_void) -> ck::CK_RV,
    get_info: unsafe extern "C" fn(*mut ck::CK_INFO) -> ck::CK_RV,
    get_slot_list:
        unsafe extern "C" fn(ck::CK_BBOOL, *mut ck::CK_SLOT_ID, *mut ck::CK_ULONG) -> ck::CK_RV,
    get_slot_info: unsafe extern "C" fn(ck::CK_SLOT_ID, *mut ck::CK_SLOT_INFO) -> ck::CK_RV,
    sign_init: unsafe extern "C" fn(
        ck::CK_SESSION_HANDLE,
        *mut ck::CK_MECHANISM,
        ck::CK_OBJECT_HANDLE,
    ) -> ck::CK_RV,
    decrypt_init: unsafe extern "C" fn(
        ck::CK_SESSION_HANDLE,
        *mut ck::CK_MECHANISM,
        ck::CK_OBJECT_HANDLE,
    ) -> ck::CK_RV,
    derive_key: unsafe extern "C" fn(
        ck::CK_SESSION_HANDLE,
        *mut ck::CK_MECHANISM,
        ck::CK_OBJECT_HANDLE,
        *mut ck::CK_ATTRIBUTE,
        ck::CK_ULONG,
        *mut ck::CK_OBJECT_HANDLE,
    ) -> ck::CK_RV,
}

/// The export `name` of the library `h`, as a function pointer `T`.
///
/// # Safety
///
/// `T` must be the export's type.
unsafe fn sym<T: Copy>(h: *mut std::os::raw::c_void, name: &str) -> T {
    let n = CString::new(name).unwrap();
    // SAFETY (test): `h` is a library handle from dlopen.
    let p = unsafe { libc::dlsym(h, n.as_ptr()) };
    assert!(!p.is_null(), "{name}");
    assert_eq!(std::mem::size_of::<T>(), std::mem::size_of_val(&p));
    // SAFETY (test): the caller gives the export's own type.
    unsafe { std::mem::transmute_copy(&p) }
}

fn so() -> So {
    let path = CString::new(firma_module()).unwrap();
    // SAFETY (test): the module is a well-formed shared library; the
    // handle is kept for the life of the process.
    unsafe {
        let h = libc::dlopen(path.as_ptr(), libc::RTLD_NOW);
        assert!(!h.is_null(), "dlopen");
        So {
            initialize: sym(h, "C_Initialize"),
            finalize: sym(h, "C_Finalize"),
            get_info: sym(h, "C_GetInfo"),
            get_slot_list: sym(h, "C_GetSlotList"),
            get_slot_info: sym(h, "C_GetSlotInfo"),
            sign_init: sym(h, "C_SignInit"),
            decrypt_init: sym(h, "C_DecryptInit"),
            derive_key: sym(h, "C_DeriveKey"),
        }
    }
}

/// Before C_Initialize, the careless caller learns that first, whatever
/// its arguments.
fn before_initialize_first_things_first(_rig: &mut Pcscd) {
    let so = so();
    let mut mech = ck::CK_MECHANISM {
        mechanism: ck::CKM_ECDSA,
        pParameter: std::ptr::null_mut(),
        ulParameterLen: 0,
    };
    let mut out: ck::CK_OBJECT_HANDLE = 0;
    // SAFETY (test): valid or NULL pointers, as each case says.
    unsafe {
        assert_eq!(
            (so.sign_init)(1, &mut mech, 1),
            ck::CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(
            (so.sign_init)(1, std::ptr::null_mut(), 1),
            ck::CKR_CRYPTOKI_NOT_INITIALIZED
        );
        mech.mechanism = ck::CKM_RSA_PKCS;
        assert_eq!(
            (so.decrypt_init)(1, &mut mech, 1),
            ck::CKR_CRYPTOKI_NOT_INITIALIZED
        );
        mech.mechanism = ck::CKM_ECDH1_DERIVE;
        assert_eq!(
            (so.derive_key)(1, &mut mech, 1, std::ptr::null_mut(), 0, &mut out),
            ck::CKR_CRYPTOKI_NOT_INITIALIZED
        );
        assert_eq!(
            (so.get_slot_info)(0, std::ptr::null_mut()),
            ck::CKR_CRYPTOKI_NOT_INITIALIZED
        );
    }
}

/// Runs `f` on a thread; its result, or a failure if it hangs.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what} did not return"))
}

/// While another application holds card 0 in a PC/SC transaction, a
/// signature on it waits, and meanwhile C_GetSlotInfo answers and card 1
/// signs: the lock is per slot, and slot polling takes none of a card's.
fn slot_info_and_another_card_while_a_card_waits(rig: &mut Pcscd) {
    let _c0 = rig.insert(0, &CardOptions::default()).unwrap();
    let _c1 = rig
        .insert(
            1,
            &CardOptions {
                serial: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
    let _p0 = personalize(rig, 0, &[("9a", "ECCP256")], "LECTOR CERO");
    let _p1 = personalize(rig, 1, &[("9a", "ECCP256")], "LECTOR UNO");
    let p11 = std::sync::Arc::new(load());
    let slots = p11.get_slots_with_token().unwrap();
    assert_eq!(slots.len(), 2);
    let open = |slot| {
        let s = p11.open_ro_session(slot).unwrap();
        s.login(UserType::User, Some(&pin())).unwrap();
        s
    };
    let (s0, s1) = (open(slots[0]), open(slots[1]));
    let (k0, k1) = (key(&s0, 1), key(&s1, 1));

    // Another application takes card 0 for itself.
    let ctx = pcsc::Context::establish(pcsc::Scope::User).unwrap();
    let reader = CString::new(rig.reader(0)).unwrap();
    let mut other = ctx
        .connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let tx = other.transaction().unwrap();
        let done = &done;
        let waiting = scope.spawn(move || {
            let sig = s0.sign(&Mechanism::Ecdsa, k0, &[7; 32]);
            done.store(true, Ordering::SeqCst);
            sig
        });
        std::thread::sleep(Duration::from_millis(200));
        let p = p11.clone();
        let (slot0, slot1) = (slots[0], slots[1]);
        let info = within("C_GetSlotInfo", move || p.get_slot_info(slot0).map(|_| ()));
        assert!(info.is_ok(), "{info:?}");
        assert!(
            !done.load(Ordering::SeqCst),
            "the signature on card 0 is still waiting for the card"
        );
        let p = p11.clone();
        let present = within("C_GetSlotList", move || p.get_slots_with_token());
        assert_eq!(present.unwrap().len(), 2);
        let _ = slot1;
        // Card 1 signs meanwhile (same thread as its session, held here).
        s1.sign(&Mechanism::Ecdsa, k1, &[8; 32])
            .expect("card 1 signs while card 0 waits");
        assert!(!done.load(Ordering::SeqCst));
        tx.end(pcsc::Disposition::LeaveCard)
            .map_err(|(_, e)| e)
            .unwrap();
        let sig = waiting.join().unwrap();
        assert_eq!(sig.expect("card 0 signs once it is free").len(), 64);
    });
}

/// Forks while a thread signs: each child's C_Initialize works (whatever
/// lock a parent thread held at the fork), the parent's state is not the
/// child's; some children use the card and reset it on their way out. The
/// parent's sessions and key handles carry on (re-select, re-verify).
fn fork_stress_200_rounds(rig: &mut Pcscd) {
    let _card = rig.insert(0, &CardOptions::default()).unwrap();
    let _p = personalize(rig, 0, &[("9a", "ECCP256")], "HORQUILLA");
    let so = so();
    let p11 = load();
    let slot = p11.get_slots_with_token().unwrap()[0];
    let session = p11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin())).unwrap();
    let k = key(&session, 1);
    let stop = AtomicBool::new(false);
    let signed = AtomicUsize::new(0);
    let reader = CString::new(rig.reader(0)).unwrap();
    /// Stops the signer however the loop ends (a failed round panics).
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    std::thread::scope(|scope| {
        let _stop = Stop(&stop);
        let signer = scope.spawn(|| {
            let mine = p11.open_ro_session(slot).unwrap();
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match mine.sign(&Mechanism::Ecdsa, k, &[1; 32]) {
                    Ok(_) => {
                        signed.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => failures.push(format!("{e}")),
                }
                let _ = p11.get_slot_info(slot);
            }
            failures
        });
        for round in 0..200 {
            let uses_card = round % 20 == 19;
            // SAFETY (test): the child calls the module and libc, then _exit.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let ok = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    child_round(&so, uses_card, &reader)
                })) {
                    Ok(Ok(())) => true,
                    Ok(Err(why)) => {
                        eprintln!("round {round}, child: {why}");
                        false
                    }
                    Err(_) => false,
                };
                // SAFETY (test): leaves without running the parent's destructors.
                unsafe { libc::_exit(if ok { 0 } else { 1 }) };
            }
            let start = Instant::now();
            let status = loop {
                let mut status = 0;
                // SAFETY (test): our child.
                if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
                    break status;
                }
                if start.elapsed() > HANG {
                    // Where it hangs, if gdb is there to say.
                    if let Ok(out) = std::process::Command::new("gdb")
                        .args(["-p", &pid.to_string(), "-batch", "-ex", "bt 30"])
                        .output()
                    {
                        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
                    }
                    // SAFETY (test): our child.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    panic!("round {round}: the child hung (a lock held at the fork?)");
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "round {round}: the child failed ({status})"
            );
        }
        stop.store(true, Ordering::SeqCst);
        let failures = signer.join().unwrap();
        assert!(
            failures.is_empty(),
            "the parent's signer failed: {failures:?}"
        );
    });
    assert!(signed.load(Ordering::SeqCst) > 0);
    session
        .sign(&Mechanism::Ecdsa, k, &[2; 32])
        .expect("the parent's session and handle still sign");
}

/// One forked child: the parent's module is not its own; it initializes
/// its own, and, if `uses_card`, signs and resets the card on its way out.
fn child_round(so: &So, uses_card: bool, reader: &CString) -> Result<(), String> {
    let mut info = unsafe { std::mem::zeroed::<ck::CK_INFO>() };
    let expect = |what: &str, rv: ck::CK_RV, want: ck::CK_RV| {
        if rv == want {
            Ok(())
        } else {
            Err(format!("{what}: {rv:#x}"))
        }
    };
    // SAFETY (test): valid pointers.
    unsafe {
        let not_ours = (so.get_info)(&mut info);
        expect(
            "C_GetInfo before C_Initialize",
            not_ours,
            ck::CKR_CRYPTOKI_NOT_INITIALIZED,
        )?;
        expect(
            "C_Initialize",
            (so.initialize)(std::ptr::null_mut()),
            ck::CKR_OK,
        )?;
        // The module's own state only: libpcsclite takes a global mutex in
        // every call, so a child forked while a parent thread is inside one
        // can hang in its first PC/SC call, whatever the module does. The
        // rounds that use the card go through PC/SC.
        expect("C_GetInfo", (so.get_info)(&mut info), ck::CKR_OK)?;
        expect(
            "C_Finalize",
            (so.finalize)(std::ptr::null_mut()),
            ck::CKR_OK,
        )?;
    }
    if uses_card {
        let p11 = load();
        let slot = p11.get_slots_with_token().map_err(|e| e.to_string())?[0];
        let session = p11.open_ro_session(slot).map_err(|e| e.to_string())?;
        session
            .login(UserType::User, Some(&pin()))
            .map_err(|e| format!("login: {e}"))?;
        session
            .sign(&Mechanism::Ecdsa, key(&session, 1), &[3; 32])
            .map_err(|e| format!("sign: {e}"))?;
        drop(session);
        drop(p11);
        // As a child that exits resets the card for everyone.
        let ctx = pcsc::Context::establish(pcsc::Scope::User).unwrap();
        if let Ok(card) = ctx.connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY) {
            let _ = card.disconnect(pcsc::Disposition::ResetCard);
        }
    }
    Ok(())
}

static INITS: AtomicUsize = AtomicUsize::new(0);
static DESTROYS: AtomicUsize = AtomicUsize::new(0);
static AFTER_DESTROY: AtomicUsize = AtomicUsize::new(0);

/// The application's mutex, as an application would make it, that knows
/// when it is used after its destruction.
struct AppMutex {
    raw: std::sync::Mutex<bool>,
    cond: std::sync::Condvar,
    destroyed: AtomicBool,
}

unsafe extern "C" fn create(out: *mut *mut std::os::raw::c_void) -> ck::CK_RV {
    INITS.fetch_add(1, Ordering::SeqCst);
    let m = Box::new(AppMutex {
        raw: std::sync::Mutex::new(false),
        cond: std::sync::Condvar::new(),
        destroyed: AtomicBool::new(false),
    });
    // Never freed: a use after destroy is counted, not a crash.
    *out = Box::into_raw(m) as *mut _;
    ck::CKR_OK
}
unsafe extern "C" fn destroy(m: *mut std::os::raw::c_void) -> ck::CK_RV {
    let m = &*(m as *const AppMutex);
    if m.destroyed.swap(true, Ordering::SeqCst) {
        AFTER_DESTROY.fetch_add(1, Ordering::SeqCst);
    }
    DESTROYS.fetch_add(1, Ordering::SeqCst);
    ck::CKR_OK
}
unsafe extern "C" fn lock(m: *mut std::os::raw::c_void) -> ck::CK_RV {
    let m = &*(m as *const AppMutex);
    let mut held = m.raw.lock().unwrap();
    while *held {
        held = m.cond.wait(held).unwrap();
    }
    *held = true;
    if m.destroyed.load(Ordering::SeqCst) {
        AFTER_DESTROY.fetch_add(1, Ordering::SeqCst);
    }
    ck::CKR_OK
}
unsafe extern "C" fn unlock(m: *mut std::os::raw::c_void) -> ck::CK_RV {
    let m = &*(m as *const AppMutex);
    if m.destroyed.load(Ordering::SeqCst) {
        AFTER_DESTROY.fetch_add(1, Ordering::SeqCst);
    }
    *m.raw.lock().unwrap() = false;
    m.cond.notify_one();
    ck::CKR_OK
}

/// C_Finalize while other threads call in, 200 times, with the
/// application's own mutex: it is never locked, unlocked or destroyed
/// again after its destruction, and every call answers.
fn finalize_stress_200_rounds(rig: &mut Pcscd) {
    let _card = rig.insert(0, &CardOptions::default()).unwrap();
    let so = so();
    let stop = AtomicBool::new(false);
    let calls = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    let mut count: ck::CK_ULONG = 0;
                    let mut info = unsafe { std::mem::zeroed::<ck::CK_SLOT_INFO>() };
                    // SAFETY (test): valid pointers.
                    let rv = unsafe {
                        (so.get_slot_list)(0, std::ptr::null_mut(), &mut count);
                        (so.get_slot_info)(0, &mut info)
                    };
                    assert!(
                        matches!(
                            rv,
                            ck::CKR_OK | ck::CKR_CRYPTOKI_NOT_INITIALIZED | ck::CKR_SLOT_ID_INVALID
                        ),
                        "{rv:#x}"
                    );
                    calls.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
        for _ in 0..200 {
            let mut args = ck::CK_C_INITIALIZE_ARGS {
                CreateMutex: Some(create),
                DestroyMutex: Some(destroy),
                LockMutex: Some(lock),
                UnlockMutex: Some(unlock),
                flags: 0,
                pReserved: std::ptr::null_mut(),
            };
            // SAFETY (test): a valid CK_C_INITIALIZE_ARGS.
            unsafe {
                assert_eq!((so.initialize)(&mut args as *mut _ as *mut _), ck::CKR_OK);
            }
            // Some calls come in while the module is up.
            let (before, start) = (calls.load(Ordering::SeqCst), Instant::now());
            while calls.load(Ordering::SeqCst) < before + 3 {
                assert!(start.elapsed() < HANG, "the other threads' calls hang");
                std::thread::yield_now();
            }
            // SAFETY (test): NULL is the only valid argument.
            unsafe {
                assert_eq!((so.finalize)(std::ptr::null_mut()), ck::CKR_OK);
            }
        }
        stop.store(true, Ordering::SeqCst);
    });
    assert!(calls.load(Ordering::SeqCst) > 0);
    assert_eq!(
        AFTER_DESTROY.load(Ordering::SeqCst),
        0,
        "used after destroy"
    );
    assert_eq!(
        DESTROYS.load(Ordering::SeqCst),
        INITS.load(Ordering::SeqCst),
        "every mutex destroyed once"
    );
}

/// Leaves the module uninitialized for the next test, whatever happened.
fn finalize_module() {
    let so = so();
    // SAFETY (test): NULL is the only valid argument.
    unsafe {
        (so.finalize)(std::ptr::null_mut());
    }
}

fn main() -> ExitCode {
    let tests: [(&str, firma_tests::SharedRigTest); 4] = [
        (
            "before_initialize_first_things_first",
            before_initialize_first_things_first,
        ),
        (
            "slot_info_and_another_card_while_a_card_waits",
            slot_info_and_another_card_while_a_card_waits,
        ),
        ("fork_stress_200_rounds", fork_stress_200_rounds),
        ("finalize_stress_200_rounds", finalize_stress_200_rounds),
    ];
    firma_tests::run_with_shared_rig(&tests, finalize_module)
}
