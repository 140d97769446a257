//! Firma's PKCS#11 module the way applications load it: the built
//! `libfirma_pkcs11.so` through the `cryptoki` crate, and the C ABI called
//! directly with bad arguments, from threads and from a forked child.
//!
//! libpcsclite reads the pcscd socket path once per process, so this binary
//! has its own `main`: one private pcscd for all its tests, run in turn.
// Calling the C ABI directly is what this binary tests.
#![allow(unsafe_code)]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use cryptoki_sys as ck;
use firma_pkcs11::ffi;
use firma_tests::{firma_module, personalize, CardOptions, Pcscd};
use sha2::Digest;

fn pin(s: &str) -> AuthPin {
    AuthPin::new(s.into())
}

fn rv(e: CkError) -> RvError {
    match e {
        CkError::Pkcs11(rv, _) => rv,
        other => panic!("not a PKCS#11 error: {other:?}"),
    }
}

fn load() -> Pkcs11 {
    let p = Pkcs11::new(firma_module()).expect("load libfirma_pkcs11.so");
    p.initialize(CInitializeArgs::OsThreads)
        .expect("C_Initialize");
    p
}

fn key(session: &Session, class: ObjectClass, id: u8) -> ObjectHandle {
    let found = session
        .find_objects(&[Attribute::Class(class), Attribute::Id(vec![id])])
        .unwrap();
    assert_eq!(found.len(), 1, "one {class:?} with id {id}");
    found[0]
}

fn rsa_public(session: &Session, id: u8) -> rsa::RsaPublicKey {
    let h = key(session, ObjectClass::PUBLIC_KEY, id);
    let attrs = session
        .get_attributes(h, &[AttributeType::Modulus, AttributeType::PublicExponent])
        .unwrap();
    match &attrs[..] {
        [Attribute::Modulus(n), Attribute::PublicExponent(e)] => rsa::RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(n),
            rsa::BigUint::from_bytes_be(e),
        )
        .unwrap(),
        other => panic!("{other:?}"),
    }
}

/// A child forked after C_Initialize must not use the parent's PC/SC state.
fn forked_child_is_not_initialized(_rig: &mut Pcscd) {
    unsafe {
        assert_eq!(ffi::C_Initialize(std::ptr::null_mut()), ck::CKR_OK);
        let mut info = std::mem::zeroed::<ck::CK_INFO>();
        assert_eq!(ffi::C_GetInfo(&mut info), ck::CKR_OK);
        // SAFETY (test): the child only calls the module and exits.
        let pid = libc::fork();
        if pid == 0 {
            let in_child = ffi::C_GetInfo(&mut info);
            let again = ffi::C_Initialize(std::ptr::null_mut());
            let after = ffi::C_GetInfo(&mut info);
            let ok = in_child == ck::CKR_CRYPTOKI_NOT_INITIALIZED
                && again == ck::CKR_OK
                && after == ck::CKR_OK;
            libc::_exit(if ok { 0 } else { 1 });
        }
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child saw {status}"
        );
        assert_eq!(
            ffi::C_GetInfo(&mut info),
            ck::CKR_OK,
            "the parent is unaffected"
        );
        assert_eq!(ffi::C_Finalize(std::ptr::null_mut()), ck::CKR_OK);
    }
}

static LOCKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static UNLOCKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static DESTROYED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

unsafe extern "C" fn create_mutex(out: *mut *mut std::os::raw::c_void) -> ck::CK_RV {
    *out = std::ptr::addr_of!(LOCKS) as *mut _;
    ck::CKR_OK
}
unsafe extern "C" fn destroy_mutex(_: *mut std::os::raw::c_void) -> ck::CK_RV {
    DESTROYED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    ck::CKR_OK
}
unsafe extern "C" fn lock_mutex(_: *mut std::os::raw::c_void) -> ck::CK_RV {
    LOCKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    ck::CKR_OK
}
unsafe extern "C" fn unlock_mutex(_: *mut std::os::raw::c_void) -> ck::CK_RV {
    UNLOCKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    ck::CKR_OK
}

/// An application that gives mutex callbacks without CKF_OS_LOCKING_OK has
/// its mutex held around every call.
fn application_mutex_callbacks_are_used(_rig: &mut Pcscd) {
    use std::sync::atomic::Ordering::SeqCst;
    unsafe {
        let mut args = ck::CK_C_INITIALIZE_ARGS {
            CreateMutex: Some(create_mutex),
            DestroyMutex: Some(destroy_mutex),
            LockMutex: Some(lock_mutex),
            UnlockMutex: Some(unlock_mutex),
            flags: 0,
            pReserved: std::ptr::null_mut(),
        };
        assert_eq!(ffi::C_Initialize(&mut args as *mut _ as *mut _), ck::CKR_OK);
        let mut count: ck::CK_ULONG = 0;
        assert_eq!(
            ffi::C_GetSlotList(0, std::ptr::null_mut(), &mut count),
            ck::CKR_OK
        );
        assert_eq!(ffi::C_GetSlotInfo(0, &mut std::mem::zeroed()), ck::CKR_OK);
        let (locks, unlocks) = (LOCKS.load(SeqCst), UNLOCKS.load(SeqCst));
        assert!(
            locks >= 2 && locks == unlocks,
            "locked {locks}, unlocked {unlocks}"
        );
        assert_eq!(ffi::C_Finalize(std::ptr::null_mut()), ck::CKR_OK);
        assert_eq!(DESTROYED.load(SeqCst), 1);
        // With CKF_OS_LOCKING_OK the callbacks are not needed.
        args.flags = ck::CKF_OS_LOCKING_OK;
        assert_eq!(ffi::C_Initialize(&mut args as *mut _ as *mut _), ck::CKR_OK);
        let before = LOCKS.load(SeqCst);
        assert_eq!(
            ffi::C_GetSlotList(0, std::ptr::null_mut(), &mut count),
            ck::CKR_OK
        );
        assert_eq!(LOCKS.load(SeqCst), before);
        assert_eq!(ffi::C_Finalize(std::ptr::null_mut()), ck::CKR_OK);
    }
}

fn bad_arguments_are_refused(rig: &mut Pcscd) {
    let _card = rig.insert(0, &CardOptions::default()).unwrap();
    unsafe {
        let mut info = std::mem::zeroed::<ck::CK_INFO>();
        assert_eq!(ffi::C_GetInfo(&mut info), ck::CKR_CRYPTOKI_NOT_INITIALIZED);
        let mut reserved = 1u8;
        let mut args = ck::CK_C_INITIALIZE_ARGS {
            CreateMutex: None,
            DestroyMutex: None,
            LockMutex: None,
            UnlockMutex: None,
            flags: ck::CKF_OS_LOCKING_OK,
            pReserved: &mut reserved as *mut u8 as *mut _,
        };
        assert_eq!(
            ffi::C_Initialize(&mut args as *mut _ as *mut _),
            ck::CKR_ARGUMENTS_BAD
        );
        args.pReserved = std::ptr::null_mut();
        assert_eq!(ffi::C_Initialize(&mut args as *mut _ as *mut _), ck::CKR_OK);
        assert_eq!(
            ffi::C_Initialize(std::ptr::null_mut()),
            ck::CKR_CRYPTOKI_ALREADY_INITIALIZED
        );
        assert_eq!(ffi::C_GetInfo(std::ptr::null_mut()), ck::CKR_ARGUMENTS_BAD);
        assert_eq!(
            ffi::C_GetSlotList(0, std::ptr::null_mut(), std::ptr::null_mut()),
            ck::CKR_ARGUMENTS_BAD
        );
        let mut count: ck::CK_ULONG = 0;
        assert_eq!(
            ffi::C_GetSlotList(0, std::ptr::null_mut(), &mut count),
            ck::CKR_OK
        );
        assert_eq!(count, 2);
        let mut one = [0 as ck::CK_SLOT_ID; 1];
        let mut room: ck::CK_ULONG = 1;
        assert_eq!(
            ffi::C_GetSlotList(0, one.as_mut_ptr(), &mut room),
            ck::CKR_BUFFER_TOO_SMALL
        );
        assert_eq!(room, 2, "the needed size is reported");
        assert_eq!(
            ffi::C_GetSlotInfo(99, &mut std::mem::zeroed()),
            ck::CKR_SLOT_ID_INVALID
        );
        assert_eq!(
            ffi::C_GetTokenInfo(0, std::ptr::null_mut()),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_GetTokenInfo(1, &mut std::mem::zeroed()),
            ck::CKR_TOKEN_NOT_PRESENT
        );
        assert_eq!(
            ffi::C_OpenSession(
                0,
                ck::CKF_SERIAL_SESSION,
                std::ptr::null_mut(),
                None,
                std::ptr::null_mut()
            ),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_OpenSession(0, 0, std::ptr::null_mut(), None, &mut 0),
            ck::CKR_SESSION_PARALLEL_NOT_SUPPORTED
        );
        let mut h: ck::CK_SESSION_HANDLE = 0;
        assert_eq!(
            ffi::C_OpenSession(
                0,
                ck::CKF_SERIAL_SESSION,
                std::ptr::null_mut(),
                None,
                &mut h
            ),
            ck::CKR_OK
        );
        assert_eq!(
            ffi::C_Login(h + 100, ck::CKU_USER, b"123456".as_ptr() as *mut _, 6),
            ck::CKR_SESSION_HANDLE_INVALID
        );
        assert_eq!(
            ffi::C_Login(h, ck::CKU_USER, std::ptr::null_mut(), 6),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_Login(h, ck::CKU_USER, b"123".as_ptr() as *mut _, 3),
            ck::CKR_PIN_LEN_RANGE
        );
        assert_eq!(
            ffi::C_Login(h, 7, b"123456".as_ptr() as *mut _, 6),
            ck::CKR_USER_TYPE_INVALID
        );
        assert_eq!(
            ffi::C_FindObjects(h, std::ptr::null_mut(), 1, &mut count),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_FindObjects(h, [0; 1].as_mut_ptr(), 1, &mut count),
            ck::CKR_OPERATION_NOT_INITIALIZED
        );
        let mut sig = [0u8; 4];
        let mut sig_len: ck::CK_ULONG = 4;
        assert_eq!(
            ffi::C_Sign(
                h,
                b"x".as_ptr() as *mut _,
                1,
                sig.as_mut_ptr(),
                &mut sig_len
            ),
            ck::CKR_OPERATION_NOT_INITIALIZED
        );
        let mut mech = ck::CK_MECHANISM {
            mechanism: 0x7FFF_FFFF,
            pParameter: std::ptr::null_mut(),
            ulParameterLen: 0,
        };
        assert_eq!(ffi::C_SignInit(h, &mut mech, 1), ck::CKR_MECHANISM_INVALID);
        assert_eq!(
            ffi::C_SignInit(h, std::ptr::null_mut(), 1),
            ck::CKR_ARGUMENTS_BAD
        );
        mech.mechanism = ck::CKM_RSA_PKCS_PSS;
        assert_eq!(
            ffi::C_SignInit(h, &mut mech, 1),
            ck::CKR_MECHANISM_PARAM_INVALID
        );
        mech.mechanism = ck::CKM_SHA256_RSA_PKCS;
        assert_eq!(
            ffi::C_SignInit(h, &mut mech, 0xDEAD),
            ck::CKR_KEY_HANDLE_INVALID
        );
        assert_eq!(
            ffi::C_GetAttributeValue(h, 0xDEAD, std::ptr::null_mut(), 0),
            ck::CKR_OBJECT_HANDLE_INVALID
        );
        assert_eq!(
            ffi::C_EncryptInit(h, &mut mech, 1),
            ck::CKR_FUNCTION_NOT_SUPPORTED
        );
        assert_eq!(ffi::C_GetFunctionStatus(h), ck::CKR_FUNCTION_NOT_PARALLEL);
        let mut list: *mut ck::CK_FUNCTION_LIST = std::ptr::null_mut();
        assert_eq!(ffi::C_GetFunctionList(&mut list), ck::CKR_OK);
        assert_eq!((*list).version.major, 2);
        let mut n: ck::CK_ULONG = 0;
        assert_eq!(
            ffi::C_GetInterfaceList(std::ptr::null_mut(), &mut n),
            ck::CKR_OK
        );
        assert_eq!(n, 2);
        let mut itf: *mut ck::CK_INTERFACE = std::ptr::null_mut();
        assert_eq!(
            ffi::C_GetInterface(
                c"PKCS 11".as_ptr() as *mut _,
                std::ptr::null_mut(),
                &mut itf,
                0
            ),
            ck::CKR_OK
        );
        let list3 = (*itf).pFunctionList as *const ck::CK_FUNCTION_LIST_3_0;
        assert_eq!(((*list3).version.major, (*list3).version.minor), (3, 0));
        assert_eq!(
            ffi::C_GetInterface(
                c"Vendor X".as_ptr() as *mut _,
                std::ptr::null_mut(),
                &mut itf,
                0
            ),
            ck::CKR_ARGUMENTS_BAD
        );
        // NULL where an output or input is required, for every function that has one.
        let null_ulong: *mut ck::CK_ULONG = std::ptr::null_mut();
        assert_eq!(
            ffi::C_GetMechanismList(0, std::ptr::null_mut(), null_ulong),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_GetMechanismInfo(0, ck::CKM_RSA_PKCS, std::ptr::null_mut()),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_GetMechanismInfo(0, 0x7FFF_FFFF, &mut std::mem::zeroed()),
            ck::CKR_MECHANISM_INVALID
        );
        assert_eq!(
            ffi::C_GetSessionInfo(h, std::ptr::null_mut()),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_SetPIN(h, std::ptr::null_mut(), 6, std::ptr::null_mut(), 6),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_InitPIN(h, std::ptr::null_mut(), 6),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_SignFinal(h, sig.as_mut_ptr(), null_ulong),
            ck::CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(
            ffi::C_SignUpdate(h, std::ptr::null_mut(), 5),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_DecryptInit(h, std::ptr::null_mut(), 1),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_Decrypt(h, std::ptr::null_mut(), 5, sig.as_mut_ptr(), &mut sig_len),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_FindObjectsInit(h, std::ptr::null_mut(), 2),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_FindObjectsFinal(h),
            ck::CKR_OPERATION_NOT_INITIALIZED
        );
        assert_eq!(
            ffi::C_GetAttributeValue(h, 1, std::ptr::null_mut(), 3),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_DeriveKey(h, std::ptr::null_mut(), 1, std::ptr::null_mut(), 0, &mut 0),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_GenerateRandom(h, std::ptr::null_mut(), 8),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_WaitForSlotEvent(0, std::ptr::null_mut(), std::ptr::null_mut()),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_GetInterfaceList(std::ptr::null_mut(), null_ulong),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_GetInterface(
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0
            ),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(
            ffi::C_GetFunctionList(std::ptr::null_mut()),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(ffi::C_Logout(h), ck::CKR_USER_NOT_LOGGED_IN);
        assert_eq!(
            ffi::C_DestroyObject(h, 0xDEAD),
            ck::CKR_OBJECT_HANDLE_INVALID
        );
        assert_eq!(ffi::C_CloseAllSessions(99), ck::CKR_SLOT_ID_INVALID);
        assert_eq!(ffi::C_CloseSession(h), ck::CKR_OK);
        assert_eq!(ffi::C_CloseSession(h), ck::CKR_SESSION_HANDLE_INVALID);
        assert_eq!(
            ffi::C_Finalize(&mut reserved as *mut u8 as *mut _),
            ck::CKR_ARGUMENTS_BAD
        );
        assert_eq!(ffi::C_Finalize(std::ptr::null_mut()), ck::CKR_OK);
        assert_eq!(
            ffi::C_Finalize(std::ptr::null_mut()),
            ck::CKR_CRYPTOKI_NOT_INITIALIZED
        );
    }
}

fn signs_and_verifies_outside(rig: &mut Pcscd) {
    let _card = rig
        .insert(
            0,
            &CardOptions {
                serial: Some(777001),
                ..Default::default()
            },
        )
        .unwrap();
    let _p = personalize(
        rig,
        0,
        &[("9a", "RSA2048"), ("9c", "ECCP256")],
        "PEREZ RUIZ LUIS - X1234567L",
    );
    let p11 = load();
    let info = p11.get_library_info().unwrap();
    assert_eq!(info.manufacturer_id(), "Firma");
    let slots = p11.get_slots_with_token().unwrap();
    assert_eq!(slots.len(), 1);
    let token = p11.get_token_info(slots[0]).unwrap();
    assert_eq!(token.label(), "PEREZ RUIZ LUIS - X1234567L");
    assert_eq!(token.serial_number(), "777001");
    assert!(token.user_pin_initialized() && !token.user_pin_count_low());
    let session = p11.open_ro_session(slots[0]).unwrap();
    assert!(
        session
            .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
            .unwrap()
            .is_empty(),
        "hidden before login"
    );
    let err = session
        .login(UserType::User, Some(&pin("000000")))
        .unwrap_err();
    assert_eq!(rv(err), RvError::PinIncorrect);
    assert!(p11.get_token_info(slots[0]).unwrap().user_pin_count_low());
    session.login(UserType::User, Some(&pin("123456"))).unwrap();
    assert!(
        !p11.get_token_info(slots[0]).unwrap().user_pin_count_low(),
        "count restored"
    );

    let data = b"declaracion";
    let sig = session
        .sign(
            &Mechanism::Sha256RsaPkcs,
            key(&session, ObjectClass::PRIVATE_KEY, 1),
            data,
        )
        .unwrap();
    rsa_public(&session, 1)
        .verify(
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            &sha2::Sha256::digest(data),
            &sig,
        )
        .expect("RSA signature verifies");
    // Multi-part signing gives a verifiable signature too.
    session
        .sign_init(
            &Mechanism::Sha256RsaPkcs,
            key(&session, ObjectClass::PRIVATE_KEY, 1),
        )
        .unwrap();
    session.sign_update(b"decla").unwrap();
    session.sign_update(b"racion").unwrap();
    let sig = session.sign_final().unwrap();
    rsa_public(&session, 1)
        .verify(
            rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            &sha2::Sha256::digest(data),
            &sig,
        )
        .expect("multi-part signature verifies");

    // 9C: PIN always. Without the context-specific login the card is not asked.
    let sign_key = key(&session, ObjectClass::PRIVATE_KEY, 2);
    let attrs = session
        .get_attributes(sign_key, &[AttributeType::AlwaysAuthenticate])
        .unwrap();
    assert_eq!(attrs, vec![Attribute::AlwaysAuthenticate(true)]);
    let err = session
        .sign(&Mechanism::EcdsaSha256, sign_key, data)
        .unwrap_err();
    assert_eq!(rv(err), RvError::UserNotLoggedIn);
    session
        .sign_init(&Mechanism::EcdsaSha256, sign_key)
        .unwrap();
    session
        .login(UserType::ContextSpecific, Some(&pin("123456")))
        .unwrap();
    // NSS and Thunderbird ask for token info in between: it must not spoil the signature.
    p11.get_token_info(slots[0]).unwrap();
    let sig = session.sign_final_after_update(data);
    let point = match &session
        .get_attributes(
            key(&session, ObjectClass::PUBLIC_KEY, 2),
            &[AttributeType::EcPoint],
        )
        .unwrap()[..]
    {
        [Attribute::EcPoint(p)] => p[2..].to_vec(),
        other => panic!("{other:?}"),
    };
    use p256::ecdsa::signature::Verifier;
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    vk.verify(data, &p256::ecdsa::Signature::from_slice(&sig).unwrap())
        .expect("ECDSA signature verifies");
    let random = session.generate_random_vec(40).unwrap();
    assert_eq!(random.len(), 40);
    assert_ne!(random, vec![0; 40]);
}

trait SignAfterUpdate {
    fn sign_final_after_update(&self, data: &[u8]) -> Vec<u8>;
}

impl SignAfterUpdate for Session {
    fn sign_final_after_update(&self, data: &[u8]) -> Vec<u8> {
        self.sign_update(data).unwrap();
        self.sign_final().unwrap()
    }
}

fn concurrent_signing_from_eight_threads(rig: &mut Pcscd) {
    let _card = rig.insert(0, &CardOptions::default()).unwrap();
    let _p = personalize(rig, 0, &[("9a", "ECCP256")], "CONCURRENTE");
    let p11 = load();
    let slot = p11.get_slots_with_token().unwrap()[0];
    let first = p11.open_ro_session(slot).unwrap();
    first.login(UserType::User, Some(&pin("123456"))).unwrap();
    let point = match &first
        .get_attributes(
            key(&first, ObjectClass::PUBLIC_KEY, 1),
            &[AttributeType::EcPoint],
        )
        .unwrap()[..]
    {
        [Attribute::EcPoint(p)] => p[2..].to_vec(),
        other => panic!("{other:?}"),
    };
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    std::thread::scope(|s| {
        for t in 0..8u8 {
            let p11 = &p11;
            let vk = &vk;
            s.spawn(move || {
                let session = p11.open_ro_session(slot).unwrap();
                let k = key(&session, ObjectClass::PRIVATE_KEY, 1);
                for i in 0..10u8 {
                    let msg = [t, i, 42];
                    let sig = session.sign(&Mechanism::EcdsaSha256, k, &msg).unwrap();
                    use p256::ecdsa::signature::Verifier;
                    vk.verify(&msg, &p256::ecdsa::Signature::from_slice(&sig).unwrap())
                        .expect("verifies");
                }
            });
        }
    });
}

fn card_removed_and_another_inserted(rig: &mut Pcscd) {
    let card = rig
        .insert(
            1,
            &CardOptions {
                serial: Some(1111),
                ..Default::default()
            },
        )
        .unwrap();
    let _p = personalize(rig, 1, &[("9a", "ECCP256")], "PRIMERA");
    let p11 = load();
    let slots = p11.get_all_slots().unwrap();
    let slot = slots[1];
    let session = p11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin("123456"))).unwrap();
    let k = key(&session, ObjectClass::PRIVATE_KEY, 1);
    session.sign(&Mechanism::EcdsaSha256, k, b"1").unwrap();
    card.remove().unwrap();
    let err = rv(session.sign(&Mechanism::EcdsaSha256, k, b"2").unwrap_err());
    assert!(
        matches!(
            err,
            RvError::DeviceRemoved | RvError::TokenNotPresent | RvError::SessionHandleInvalid
        ),
        "{err:?}"
    );
    assert_eq!(
        rv(session.sign(&Mechanism::EcdsaSha256, k, b"3").unwrap_err()),
        RvError::SessionHandleInvalid,
        "sessions are gone"
    );
    assert!(!p11.get_slots_with_token().unwrap().contains(&slot));
    assert_eq!(p11.get_all_slots().unwrap().len(), 2, "the slot stays");
    let _other = rig
        .insert(
            1,
            &CardOptions {
                serial: Some(2222),
                ..Default::default()
            },
        )
        .unwrap();
    let _p2 = personalize(rig, 1, &[("9a", "ECCP256")], "SEGUNDA");
    let token = p11.get_token_info(slot).unwrap();
    assert_eq!(
        (token.label(), token.serial_number()),
        ("SEGUNDA", "2222"),
        "a new token"
    );
    drop(session);
}

fn slot_events_and_finalize_while_waiting(rig: &mut Pcscd) {
    unsafe {
        assert_eq!(ffi::C_Initialize(std::ptr::null_mut()), ck::CKR_OK);
        let mut slot: ck::CK_SLOT_ID = 99;
        // Drain what happened before: then nothing more.
        while ffi::C_WaitForSlotEvent(ck::CKF_DONT_BLOCK, &mut slot, std::ptr::null_mut())
            == ck::CKR_OK
        {}
        assert_eq!(
            ffi::C_WaitForSlotEvent(ck::CKF_DONT_BLOCK, &mut slot, std::ptr::null_mut()),
            ck::CKR_NO_EVENT
        );
        // Blocks until an event; the reader of an earlier test may still be
        // settling (pcscd polls every 400 ms), so wait for slot 0's.
        let waiter = std::thread::spawn(|| loop {
            let mut slot: ck::CK_SLOT_ID = 99;
            let rv = ffi::C_WaitForSlotEvent(0, &mut slot, std::ptr::null_mut());
            if rv != ck::CKR_OK || slot == 0 {
                return (rv, slot);
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        let card = rig.insert(0, &CardOptions::default()).unwrap();
        assert_eq!(
            waiter.join().unwrap(),
            (ck::CKR_OK, 0),
            "the insertion in slot 0 is reported"
        );
        // A thread blocked in C_WaitForSlotEvent does not keep C_Finalize waiting.
        let waiter = std::thread::spawn(|| {
            let mut slot: ck::CK_SLOT_ID = 99;
            ffi::C_WaitForSlotEvent(0, &mut slot, std::ptr::null_mut())
        });
        std::thread::sleep(Duration::from_millis(300));
        let start = Instant::now();
        assert_eq!(ffi::C_Finalize(std::ptr::null_mut()), ck::CKR_OK);
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(waiter.join().unwrap(), ck::CKR_CRYPTOKI_NOT_INITIALIZED);
        drop(card);
    }
}

/// Another application resets the card (the PIN state is lost) and pcscd
/// restarts: the module verifies again with the PIN it keeps for the
/// session, and finds the reader again with a new PC/SC context.
fn other_applications_and_a_pcscd_restart(rig: &mut Pcscd) {
    let card = rig.insert(0, &CardOptions::default()).unwrap();
    let _p = personalize(rig, 0, &[("9a", "ECCP256")], "RESILIENTE");
    let p11 = load();
    let slot = p11.get_slots_with_token().unwrap()[0];
    let session = p11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin("123456"))).unwrap();
    let k = key(&session, ObjectClass::PRIVATE_KEY, 1);
    session.sign(&Mechanism::Ecdsa, k, &[1; 32]).unwrap();
    // Another application resets the card under us.
    let ctx = pcsc::Context::establish(pcsc::Scope::User).unwrap();
    let reader = std::ffi::CString::new(rig.reader(0)).unwrap();
    let other = ctx
        .connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .unwrap();
    other
        .disconnect(pcsc::Disposition::ResetCard)
        .map_err(|(_, e)| e)
        .unwrap();
    session
        .sign(&Mechanism::Ecdsa, k, &[2; 32])
        .expect("signs after the reset");
    // Others use the card in between (yubico-piv-tool selects, reads, disconnects).
    firma_tests::ok(&mut rig.yubico(0, &["-a", "status"]));
    session
        .sign(&Mechanism::Ecdsa, k, &[3; 32])
        .expect("signs after another application");
    drop(ctx);
    // pcscd goes away and comes back.
    rig.restart().unwrap();
    card.wait_present(true, Duration::from_secs(10)).unwrap();
    assert!(
        session.sign(&Mechanism::Ecdsa, k, &[4; 32]).is_err(),
        "the old session is gone"
    );
    let before = slot;
    let start = Instant::now();
    let slot = loop {
        if let Some(s) = p11
            .get_slots_with_token()
            .ok()
            .and_then(|s| s.first().copied())
        {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the module finds the reader again"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // The readers went away with pcscd and came back: same slots, none added.
    assert_eq!(slot, before);
    assert_eq!(p11.get_all_slots().unwrap().len(), 2);
    let session = p11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin("123456"))).unwrap();
    let k = key(&session, ObjectClass::PRIVATE_KEY, 1);
    session
        .sign(&Mechanism::Ecdsa, k, &[5; 32])
        .expect("signs after pcscd restarted");
    drop(card);
}

/// Leaves the module uninitialized for the next test, whatever happened.
fn finalize_module() {
    unsafe {
        ffi::C_Finalize(std::ptr::null_mut());
    }
}

fn main() -> ExitCode {
    let tests: [(&str, firma_tests::SharedRigTest); 8] = [
        (
            "forked_child_is_not_initialized",
            forked_child_is_not_initialized,
        ),
        ("bad_arguments_are_refused", bad_arguments_are_refused),
        ("signs_and_verifies_outside", signs_and_verifies_outside),
        (
            "concurrent_signing_from_eight_threads",
            concurrent_signing_from_eight_threads,
        ),
        (
            "card_removed_and_another_inserted",
            card_removed_and_another_inserted,
        ),
        (
            "slot_events_and_finalize_while_waiting",
            slot_events_and_finalize_while_waiting,
        ),
        (
            "application_mutex_callbacks_are_used",
            application_mutex_callbacks_are_used,
        ),
        (
            "other_applications_and_a_pcscd_restart",
            other_applications_and_a_pcscd_restart,
        ),
    ];
    firma_tests::run_with_shared_rig(&tests, finalize_module)
}
