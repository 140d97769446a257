//! The card's keys only under the module's own login (issue #16): the
//! built `libfirma_pkcs11.so` through the `cryptoki` crate, with other
//! applications (yubico-piv-tool, firma-apdu on its own PC/SC connection)
//! trying the card's keys while a session is logged in.
//!
//! libpcsclite reads the pcscd socket path once per process, so this binary
//! has its own `main`: one private pcscd for all its tests, run in turn.

use std::process::ExitCode;

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use firma_apdu::piv::{Algorithm, Piv, Slot};
use firma_apdu::transport::PcscTransport;
use firma_tests::{fails, firma_module, personalize, CardOptions, Pcscd, Personalized};

const PIN: &str = "123456";

fn pin() -> AuthPin {
    AuthPin::new(PIN.into())
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

/// A card with 9A RSA-2048, 9C P-256 (PIN always) and 9D RSA-2048.
fn three_keys(rig: &Pcscd) -> (firma_tests::Card, Personalized) {
    let card = rig.insert(0, &CardOptions::default()).unwrap();
    let p = personalize(
        rig,
        0,
        &[("9a", "RSA2048"), ("9c", "ECCP256"), ("9d", "RSA2048")],
        "AUTORIZADA",
    );
    (card, p)
}

/// What another PC/SC client gets from the key in `slot` without a PIN:
/// firma-apdu on its own connection, in this process.
fn other_client(rig: &Pcscd, slot: Slot, alg: Algorithm) -> firma_apdu::Error {
    let ctx = pcsc::Context::establish(pcsc::Scope::User).unwrap();
    let mut piv = Piv::new(PcscTransport::connect(&ctx, &rig.reader(0)).unwrap());
    piv.select().unwrap();
    let input = vec![0x01; alg.size()];
    piv.private_operation(slot, alg, &input)
        .expect_err("the card must not work for another application")
}

/// yubico-piv-tool, another process, without a PIN.
fn other_process(rig: &Pcscd, p: &Personalized, action: &str, slot: &str) -> String {
    fails(&mut rig.yubico(
        0,
        &[
            "-a",
            action,
            "-s",
            slot,
            "-i",
            p.cert(slot).to_str().unwrap(),
        ],
    ))
}

/// While a session is logged in (and between its operations), the card is
/// not verified: another application gets "security status not satisfied"
/// from 9A, 9C and 9D, and the grant of a 9C context login cannot be taken.
fn other_applications_cannot_use_the_keys(rig: &mut Pcscd) {
    let (_card, p) = three_keys(rig);
    let p11 = load();
    let slot = p11.get_slots_with_token().unwrap()[0];
    let session = p11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin())).unwrap();
    let (k9a, k9c, k9d) = (
        key(&session, ObjectClass::PRIVATE_KEY, 1),
        key(&session, ObjectClass::PRIVATE_KEY, 2),
        key(&session, ObjectClass::PRIVATE_KEY, 3),
    );
    session
        .sign(&Mechanism::Sha256RsaPkcs, k9a, b"primera")
        .unwrap();
    for (slot, alg) in [
        (Slot::Authentication, Algorithm::Rsa2048),
        (Slot::Signature, Algorithm::EccP256),
        (Slot::KeyManagement, Algorithm::Rsa2048),
    ] {
        let e = other_client(rig, slot, alg);
        assert!(
            matches!(e, firma_apdu::Error::PinRequired(_)),
            "{slot}: security status not satisfied, got {e:?}"
        );
    }
    let out = other_process(rig, &p, "test-signature", "9a");
    assert!(!out.contains("Successful"), "9a: {out}");
    let out = other_process(rig, &p, "test-decipher", "9d");
    assert!(!out.contains("Successful"), "9d: {out}");

    // 9C: the context-specific login is checked, and its grant is not left
    // on the card for whoever comes first: it goes with the signature.
    session.sign_init(&Mechanism::Ecdsa, k9c).unwrap();
    session
        .login(UserType::ContextSpecific, Some(&pin()))
        .unwrap();
    let e = other_client(rig, Slot::Signature, Algorithm::EccP256);
    assert!(
        matches!(e, firma_apdu::Error::PinRequired(_)),
        "9c after the context login: {e:?}"
    );
    let out = other_process(rig, &p, "test-signature", "9c");
    assert!(!out.contains("Successful"), "9c: {out}");
    session.sign_update(&[0x11; 32]).unwrap();
    let sig = session.sign_final().expect("the grant is still ours");
    assert_eq!(sig.len(), 64);
    // After our operations, still nothing for others.
    session.sign(&Mechanism::RsaPkcs, k9a, b"segunda").unwrap();
    let _ = k9d;
    let e = other_client(rig, Slot::KeyManagement, Algorithm::Rsa2048);
    assert!(matches!(e, firma_apdu::Error::PinRequired(_)), "{e:?}");
    session.logout().unwrap();
    let e = other_client(rig, Slot::Authentication, Algorithm::Rsa2048);
    assert!(matches!(e, firma_apdu::Error::PinRequired(_)), "{e:?}");
}

/// CKU_CONTEXT_SPECIFIC is for the operation of the session that asked,
/// only on an always-authenticate key, only on top of CKU_USER.
fn context_login_belongs_to_its_operation(rig: &mut Pcscd) {
    let (_card, _p) = three_keys(rig);
    let p11 = load();
    let slot = p11.get_slots_with_token().unwrap()[0];
    let a = p11.open_ro_session(slot).unwrap();
    let b = p11.open_ro_session(slot).unwrap();
    // Not without the user's login (no key is even usable then).
    let err = a
        .login(UserType::ContextSpecific, Some(&pin()))
        .unwrap_err();
    assert_eq!(rv(err), RvError::UserNotLoggedIn);
    a.login(UserType::User, Some(&pin())).unwrap();
    let (k9a, k9c) = (
        key(&a, ObjectClass::PRIVATE_KEY, 1),
        key(&a, ObjectClass::PRIVATE_KEY, 2),
    );
    // Without an operation, or for a key that does not ask for it: refused.
    let err = a
        .login(UserType::ContextSpecific, Some(&pin()))
        .unwrap_err();
    assert_eq!(rv(err), RvError::OperationNotInitialized);
    a.sign_init(&Mechanism::Sha256RsaPkcs, k9a).unwrap();
    let err = a
        .login(UserType::ContextSpecific, Some(&pin()))
        .unwrap_err();
    assert_eq!(rv(err), RvError::OperationNotInitialized);
    a.sign_update(b"x").unwrap();
    a.sign_final().unwrap();
    // A's grant is A's: B's signature with 9C does not consume it.
    a.sign_init(&Mechanism::Ecdsa, k9c).unwrap();
    a.login(UserType::ContextSpecific, Some(&pin())).unwrap();
    let err = b.sign(&Mechanism::Ecdsa, k9c, &[0x22; 32]).unwrap_err();
    assert_eq!(
        rv(err),
        RvError::UserNotLoggedIn,
        "the cached PIN does not unlock 9C"
    );
    a.sign_update(&[0x22; 32]).unwrap();
    a.sign_final().expect("A signs with its own grant");
    // One grant, one signature.
    let err = a.sign(&Mechanism::Ecdsa, k9c, &[0x23; 32]).unwrap_err();
    assert_eq!(rv(err), RvError::UserNotLoggedIn);
    // A wrong PIN at the context login costs a try and says so.
    a.sign_init(&Mechanism::Ecdsa, k9c).unwrap();
    let err = a
        .login(
            UserType::ContextSpecific,
            Some(&AuthPin::new("000000".into())),
        )
        .unwrap_err();
    assert_eq!(rv(err), RvError::PinIncorrect);
    a.login(UserType::ContextSpecific, Some(&pin())).unwrap();
    a.sign_update(&[0x24; 32]).unwrap();
    a.sign_final().unwrap();
}

/// A private key's handle is refused at C_SignInit / C_DecryptInit when
/// the session cannot see it (logged out), not only at the operation.
fn private_keys_refused_at_init_without_login(rig: &mut Pcscd) {
    let (_card, _p) = three_keys(rig);
    let p11 = load();
    let slot = p11.get_slots_with_token().unwrap()[0];
    let session = p11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin())).unwrap();
    let (k9a, k9d) = (
        key(&session, ObjectClass::PRIVATE_KEY, 1),
        key(&session, ObjectClass::PRIVATE_KEY, 3),
    );
    session.logout().unwrap();
    let err = session
        .sign_init(&Mechanism::Sha256RsaPkcs, k9a)
        .unwrap_err();
    assert_eq!(rv(err), RvError::UserNotLoggedIn);
    let err = session
        .decrypt(&Mechanism::RsaPkcs, k9d, &[1; 256])
        .unwrap_err();
    assert_eq!(rv(err), RvError::UserNotLoggedIn);
    // Logged in again, the same handles work.
    session.login(UserType::User, Some(&pin())).unwrap();
    session
        .sign(&Mechanism::Sha256RsaPkcs, k9a, b"de nuevo")
        .unwrap();
}

/// Leaves nothing behind for the next test: each test's Pkcs11 finalizes
/// on drop.
fn nothing() {}

fn main() -> ExitCode {
    let tests: [(&str, firma_tests::SharedRigTest); 3] = [
        (
            "other_applications_cannot_use_the_keys",
            other_applications_cannot_use_the_keys,
        ),
        (
            "context_login_belongs_to_its_operation",
            context_login_belongs_to_its_operation,
        ),
        (
            "private_keys_refused_at_init_without_login",
            private_keys_refused_at_init_without_login,
        ),
    ];
    firma_tests::run_with_shared_rig(&tests, nothing)
}
