//! The card's keys only under the module's own login, and each key for its
//! purpose (issue #16): the built `libfirma_pkcs11.so` through the
//! `cryptoki` crate, with other applications (yubico-piv-tool, firma-apdu on
//! its own PC/SC connection) trying the card's keys while a session is
//! logged in, and callers asking keys for what they are not for.
//!
//! libpcsclite reads the pcscd socket path once per process, so this binary
//! has its own `main`: one private pcscd for all its tests, run in turn.

use std::process::ExitCode;

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
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

fn bools(session: &Session, h: ObjectHandle) -> (bool, bool, bool) {
    let attrs = session
        .get_attributes(
            h,
            &[
                AttributeType::Sign,
                AttributeType::Decrypt,
                AttributeType::Derive,
            ],
        )
        .unwrap();
    match &attrs[..] {
        [Attribute::Sign(s), Attribute::Decrypt(d), Attribute::Derive(v)] => (*s, *d, *v),
        other => panic!("{other:?}"),
    }
}

/// 9A and 9C sign and do nothing else, 9D decrypts; the attributes say so.
fn each_key_for_its_purpose(rig: &mut Pcscd) {
    let _card = rig.insert(0, &CardOptions::default()).unwrap();
    let _p = personalize(
        rig,
        0,
        &[("9a", "RSA2048"), ("9c", "RSA2048"), ("9d", "RSA2048")],
        "PROPOSITOS",
    );
    let p11 = load();
    let slot = p11.get_slots_with_token().unwrap()[0];
    let session = p11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin())).unwrap();
    let (k9a, k9c, k9d) = (
        key(&session, ObjectClass::PRIVATE_KEY, 1),
        key(&session, ObjectClass::PRIVATE_KEY, 2),
        key(&session, ObjectClass::PRIVATE_KEY, 3),
    );
    assert_eq!(bools(&session, k9a), (true, false, false), "9A signs");
    assert_eq!(bools(&session, k9c), (true, false, false), "9C signs only");
    assert_eq!(bools(&session, k9d), (false, true, false), "9D decrypts");
    let err = session.decrypt_init(&Mechanism::RsaPkcs, k9c).unwrap_err();
    assert_eq!(rv(err), RvError::KeyFunctionNotPermitted);
    let err = session.decrypt_init(&Mechanism::RsaPkcs, k9a).unwrap_err();
    assert_eq!(rv(err), RvError::KeyFunctionNotPermitted);
    let err = session
        .sign_init(&Mechanism::Sha256RsaPkcs, k9d)
        .unwrap_err();
    assert_eq!(rv(err), RvError::KeyFunctionNotPermitted);
    // Nothing was started by the refusals: 9A still signs.
    session.sign(&Mechanism::Sha256RsaPkcs, k9a, b"ok").unwrap();
}

/// CKM_RSA_PKCS decryption never says whether the padding was good: a bad
/// block decrypts (to a synthetic plaintext, the same each time).
fn bad_padding_is_not_told(rig: &mut Pcscd) {
    use rsa::traits::PublicKeyParts;
    let _card = rig.insert(0, &CardOptions::default()).unwrap();
    let _p = personalize(rig, 0, &[("9d", "RSA2048")], "RELLENO");
    let p11 = load();
    let slot = p11.get_slots_with_token().unwrap()[0];
    let session = p11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin())).unwrap();
    let k9d = key(&session, ObjectClass::PRIVATE_KEY, 3);
    let public = {
        let h = key(&session, ObjectClass::PUBLIC_KEY, 3);
        match &session
            .get_attributes(h, &[AttributeType::Modulus, AttributeType::PublicExponent])
            .unwrap()[..]
        {
            [Attribute::Modulus(n), Attribute::PublicExponent(e)] => rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(n),
                rsa::BigUint::from_bytes_be(e),
            )
            .unwrap(),
            other => panic!("{other:?}"),
        }
    };
    let mut rng = rand::thread_rng();
    let secret = b"clave de sesion AES-128";
    let good = public
        .encrypt(&mut rng, rsa::Pkcs1v15Encrypt, secret)
        .unwrap();
    // A block without the 00 02 header, encrypted raw.
    let k = public.size();
    let raw = |block: &[u8]| {
        let m = rsa::BigUint::from_bytes_be(block);
        let c = m.modpow(public.e(), public.n()).to_bytes_be();
        let mut out = vec![0; k - c.len()];
        out.extend_from_slice(&c);
        out
    };
    let mut block = vec![0x5A; k];
    block[0] = 0;
    let bad = raw(&block);
    block[2] = 0x5B;
    let bad2 = raw(&block);
    let plain = session.decrypt(&Mechanism::RsaPkcs, k9d, &good).unwrap();
    assert_eq!(plain, secret);
    let synthetic = session
        .decrypt(&Mechanism::RsaPkcs, k9d, &bad)
        .expect("bad padding answers CKR_OK, as good padding does");
    assert_eq!(
        session.decrypt(&Mechanism::RsaPkcs, k9d, &bad).unwrap(),
        synthetic,
        "the same ciphertext, the same plaintext"
    );
    assert!(synthetic.len() <= k - 11);
    let other = session.decrypt(&Mechanism::RsaPkcs, k9d, &bad2).unwrap();
    assert_ne!(other, synthetic);
}

/// ECDH: the peer point is checked on the curve before the card sees it,
/// the secret is sensitive unless asked otherwise, and template attributes
/// the module cannot honour are refused.
fn ecdh_points_and_templates(rig: &mut Pcscd) {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let _card = rig.insert(0, &CardOptions::default()).unwrap();
    let _p = personalize(rig, 0, &[("9a", "ECCP256"), ("9d", "ECCP256")], "ACUERDO");
    let p11 = load();
    let slot = p11.get_slots_with_token().unwrap()[0];
    let session = p11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin())).unwrap();
    let (k9a, k9d) = (
        key(&session, ObjectClass::PRIVATE_KEY, 1),
        key(&session, ObjectClass::PRIVATE_KEY, 3),
    );
    assert_eq!(bools(&session, k9d), (false, false, true), "9D derives");
    assert_eq!(bools(&session, k9a), (true, false, false), "9A signs");
    let peer = p256::SecretKey::random(&mut rand::thread_rng());
    let point = peer
        .public_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec();
    let derive = |base, point: &[u8], template: &[Attribute]| {
        let mech = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), point));
        session.derive_key(&mech, base, template)
    };
    let secret = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
    ];
    // Off the curve: y + 1.
    let mut off = point.clone();
    off[64] ^= 1;
    assert_eq!(
        rv(derive(k9d, &off, &secret).unwrap_err()),
        RvError::MechanismParamInvalid
    );
    assert_eq!(
        rv(derive(k9a, &point, &secret).unwrap_err()),
        RvError::KeyFunctionNotPermitted,
        "9A does not agree keys"
    );
    // By default: sensitive, not extractable.
    let h = derive(k9d, &point, &secret).unwrap();
    let err = session.get_attributes(h, &[AttributeType::Value]);
    assert!(
        matches!(&err.as_deref(), Ok([]) | Err(_)),
        "the value is not readable: {err:?}"
    );
    let attrs = session
        .get_attributes(h, &[AttributeType::Sensitive, AttributeType::Extractable])
        .unwrap();
    assert_eq!(
        attrs,
        vec![Attribute::Sensitive(true), Attribute::Extractable(false)]
    );
    // Asked for: readable, and the same secret as the peer computes.
    let mut open = secret.to_vec();
    open.extend([
        Attribute::Sensitive(false),
        Attribute::Extractable(true),
        Attribute::Token(false),
    ]);
    let h = derive(k9d, &point, &open).unwrap();
    let value = match &session.get_attributes(h, &[AttributeType::Value]).unwrap()[..] {
        [Attribute::Value(v)] => v.clone(),
        other => panic!("{other:?}"),
    };
    let card_point = match &session
        .get_attributes(
            key(&session, ObjectClass::PUBLIC_KEY, 3),
            &[AttributeType::EcPoint],
        )
        .unwrap()[..]
    {
        [Attribute::EcPoint(p)] => p[2..].to_vec(),
        other => panic!("{other:?}"),
    };
    let card_public = p256::PublicKey::from_sec1_bytes(&card_point).unwrap();
    let shared = p256::ecdh::diffie_hellman(peer.to_nonzero_scalar(), card_public.as_affine());
    assert_eq!(value, shared.raw_secret_bytes().to_vec());
    // What the module cannot honour is refused, not ignored.
    let mut on_token = secret.to_vec();
    on_token.push(Attribute::Token(true));
    assert_eq!(
        rv(derive(k9d, &point, &on_token).unwrap_err()),
        RvError::TemplateInconsistent
    );
    let mut aes = secret.to_vec();
    aes[1] = Attribute::KeyType(KeyType::AES);
    assert_eq!(
        rv(derive(k9d, &point, &aes).unwrap_err()),
        RvError::TemplateInconsistent
    );
    let mut unknown = secret.to_vec();
    unknown.push(Attribute::Trusted(true));
    assert_eq!(
        rv(derive(k9d, &point, &unknown).unwrap_err()),
        RvError::AttributeTypeInvalid
    );
}

/// A P-256 key signs a SHA-1-sized (20-byte) digest, as ECDSA allows.
fn ecdsa_p256_signs_a_short_digest(rig: &mut Pcscd) {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let _card = rig.insert(0, &CardOptions::default()).unwrap();
    let _p = personalize(rig, 0, &[("9a", "ECCP256")], "CORTO");
    let p11 = load();
    let slot = p11.get_slots_with_token().unwrap()[0];
    let session = p11.open_ro_session(slot).unwrap();
    session.login(UserType::User, Some(&pin())).unwrap();
    let k = key(&session, ObjectClass::PRIVATE_KEY, 1);
    let digest = [0xA5; 20];
    let sig = session.sign(&Mechanism::Ecdsa, k, &digest).unwrap();
    let point = match &session
        .get_attributes(
            key(&session, ObjectClass::PUBLIC_KEY, 1),
            &[AttributeType::EcPoint],
        )
        .unwrap()[..]
    {
        [Attribute::EcPoint(p)] => p[2..].to_vec(),
        other => panic!("{other:?}"),
    };
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    vk.verify_prehash(&digest, &p256::ecdsa::Signature::from_slice(&sig).unwrap())
        .expect("the signature of the short digest verifies");
}

/// A card that refuses VERIFY with P1=FF: the module never leaves it
/// verified; it says so with an error and resets the card through PC/SC.
fn a_card_without_pin_reset_is_not_left_verified(rig: &mut Pcscd) {
    // firma-vcard as a card without the reset, in reader 0 (the rig's
    // insert has no such option): started by hand, after the reader has
    // been seen empty.
    std::thread::sleep(std::time::Duration::from_millis(900));
    let mut vcard = std::process::Command::new(firma_tests::bin("firma-vcard"))
        .args([
            "--vpcd",
            &rig.vpcd_addr(0),
            "--wait",
            "10",
            "--refuse-pin-reset",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ctx = pcsc::Context::establish(pcsc::Scope::User).unwrap();
    let start = std::time::Instant::now();
    while !firma_apdu::transport::list_readers(&ctx)
        .unwrap_or_default()
        .iter()
        .any(|r| r.name == rig.reader(0) && r.atr.is_some())
    {
        assert!(start.elapsed().as_secs() < 10, "the card shows in reader 0");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _p = personalize(rig, 0, &[("9a", "ECCP256")], "SIN REINICIO");
    let p11 = load();
    let slot = p11.get_slots_with_token().unwrap()[0];
    let session = p11.open_ro_session(slot).unwrap();
    let err = session.login(UserType::User, Some(&pin())).unwrap_err();
    assert_eq!(rv(err), RvError::DeviceError, "a failed reset is an error");
    let e = other_client(rig, Slot::Authentication, Algorithm::EccP256);
    assert!(
        matches!(e, firma_apdu::Error::PinRequired(_)),
        "the card was reset, not left verified: {e:?}"
    );
    drop(session);
    drop(p11);
    let _ = vcard.kill();
    let _ = vcard.wait();
}

/// Leaves nothing behind for the next test: each test's Pkcs11 finalizes
/// on drop.
fn nothing() {}

fn main() -> ExitCode {
    let tests: [(&str, firma_tests::SharedRigTest); 8] = [
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
        ("each_key_for_its_purpose", each_key_for_its_purpose),
        ("bad_padding_is_not_told", bad_padding_is_not_told),
        ("ecdh_points_and_templates", ecdh_points_and_templates),
        (
            "ecdsa_p256_signs_a_short_digest",
            ecdsa_p256_signs_a_short_digest,
        ),
        (
            "a_card_without_pin_reset_is_not_left_verified",
            a_card_without_pin_reset_is_not_left_verified,
        ),
    ];
    firma_tests::run_with_shared_rig(&tests, nothing)
}
