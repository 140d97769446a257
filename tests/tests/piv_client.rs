//! firma-apdu's PIV client against firma-vcard in process: every operation,
//! every error path, results checked with RustCrypto outside the card.

use firma_apdu::piv::padding::{pkcs1_decrypt_unpad, pkcs1_sign_block, SHA256_PREFIX};
use firma_apdu::piv::{
    container, Algorithm, ApduMode, ImportKey, ManagementKey, MgmAlgorithm, ObjectId, Origin, Pin,
    PinPolicy, PinStatus, Piv, PublicKey, Puk, Slot, TouchPolicy,
};
use firma_apdu::transport::Traced;
use firma_apdu::Error;
use firma_vcard::{Options, VirtualCard};
use sha2::Digest;

fn card() -> Piv<VirtualCard> {
    Piv::open(VirtualCard::blank(4242)).expect("select").0
}

fn pin(s: &str) -> Pin {
    Pin::new(s).unwrap()
}

fn admin(piv: &mut Piv<impl firma_apdu::transport::Transport>) {
    piv.authenticate(&ManagementKey::default_key())
        .expect("default management key");
}

fn rsa_public(pk: &PublicKey) -> rsa::RsaPublicKey {
    match pk {
        PublicKey::Rsa { modulus, exponent } => rsa::RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(modulus),
            rsa::BigUint::from_bytes_be(exponent),
        )
        .unwrap(),
        _ => panic!("not RSA"),
    }
}

#[test]
fn select_reads_the_application_template_and_atr() {
    let (piv, info) = Piv::open(VirtualCard::blank(1)).unwrap();
    assert_eq!(info.pix, vec![0, 0, 0x10, 0, 1, 0]);
    assert_eq!(info.label.as_deref(), Some("Firma Virtual PIV"));
    assert!(info.algorithms.contains(&0x07) && info.algorithms.contains(&0x11));
    assert_eq!(
        piv.mode(),
        ApduMode::Extended,
        "the ATR announces extended length"
    );
}

#[test]
fn pin_down_to_blocked_and_back_with_the_puk() {
    let mut piv = card();
    assert_eq!(piv.pin_status().unwrap(), PinStatus::TriesLeft(3));
    assert!(matches!(
        piv.verify_pin(&pin("000000")),
        Err(Error::WrongPin { tries_left: 2 })
    ));
    piv.verify_pin(&pin("123456")).unwrap();
    assert_eq!(piv.pin_status().unwrap(), PinStatus::Verified);
    piv.unverify_pin().unwrap();
    assert_eq!(piv.pin_status().unwrap(), PinStatus::TriesLeft(3));
    for left in [2, 1] {
        match piv.verify_pin(&pin("000000")) {
            Err(Error::WrongPin { tries_left }) => assert_eq!(tries_left, left),
            other => panic!("{other:?}"),
        }
    }
    let err = piv.verify_pin(&pin("000000")).unwrap_err();
    assert!(matches!(err, Error::PinBlocked), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the PIN is blocked: unblock it with the PUK"
    );
    assert!(matches!(
        piv.verify_pin(&pin("123456")),
        Err(Error::PinBlocked)
    ));
    assert_eq!(piv.pin_status().unwrap(), PinStatus::Blocked);
    let wrong_puk = Puk::new("87654321").unwrap();
    let err = piv.unblock_pin(&wrong_puk, &pin("654321")).unwrap_err();
    assert!(matches!(err, Error::WrongPuk { tries_left: 2 }), "{err:?}");
    assert_eq!(err.to_string(), "PUK incorrect: 2 tries left");
    piv.unblock_pin(&Puk::new("12345678").unwrap(), &pin("654321"))
        .unwrap();
    piv.verify_pin(&pin("654321")).unwrap();
    piv.change_pin(&pin("654321"), &pin("11223344")).unwrap();
    assert!(matches!(
        piv.change_pin(&pin("654321"), &pin("11223344")),
        Err(Error::WrongPin { tries_left: 2 })
    ));
    piv.change_puk(
        &Puk::new("12345678").unwrap(),
        &Puk::new("99887766").unwrap(),
    )
    .unwrap();
    for _ in 0..2 {
        let _ = piv.change_puk(&wrong_puk, &wrong_puk);
    }
    assert!(matches!(
        piv.change_puk(&wrong_puk, &wrong_puk),
        Err(Error::PukBlocked)
    ));
}

#[test]
fn a_malformed_pin_is_refused_before_anything_is_sent() {
    assert!(matches!(Pin::new("12345"), Err(Error::InvalidInput { .. })));
    assert!(matches!(
        Pin::new("123456789"),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        Pin::new("12345\u{e9}"),
        Err(Error::InvalidInput { .. })
    ));
    let mut piv = Piv::new(Traced::new(VirtualCard::blank(1)));
    piv.select().unwrap();
    let before = piv.transport().count();
    let _ = Pin::new("1").map(|p| piv.verify_pin(&p));
    assert_eq!(piv.transport().count(), before);
    assert_eq!(
        piv.pin_status().unwrap(),
        PinStatus::TriesLeft(3),
        "no try was spent"
    );
}

#[test]
fn management_key_wrong_then_changed_to_aes() {
    let mut piv = card();
    let wrong = ManagementKey::new(MgmAlgorithm::TripleDes, &[0x11; 24]).unwrap();
    assert!(matches!(
        piv.authenticate(&wrong),
        Err(Error::WrongManagementKey)
    ));
    let aes = ManagementKey::random(MgmAlgorithm::Aes256);
    assert!(
        matches!(piv.authenticate(&aes), Err(Error::WrongManagementKey)),
        "algorithm mismatch"
    );
    // Without authentication, writes are refused with an error that says why.
    let err = piv
        .write_object(ObjectId::CHUID, &container::chuid(&[1; 16], "20301231"))
        .unwrap_err();
    assert!(matches!(err, Error::ManagementKeyRequired(_)), "{err:?}");
    admin(&mut piv);
    piv.set_management_key(&aes, false).unwrap();
    assert!(matches!(
        piv.authenticate(&ManagementKey::default_key()),
        Err(Error::WrongManagementKey)
    ));
    piv.authenticate(&aes).unwrap();
    let meta = piv.metadata(0x9B).unwrap().unwrap();
    assert_eq!(meta.algorithm, Some(0x0C));
    assert_eq!(meta.is_default, Some(false));
}

#[test]
fn objects_and_certificates_round_trip() {
    let mut piv = card();
    assert_eq!(piv.read_certificate(Slot::Authentication).unwrap(), None);
    assert_eq!(piv.read_object(ObjectId::CHUID).unwrap(), None);
    let err = piv.read_object(ObjectId::PRINTED_INFORMATION).unwrap_err();
    assert!(matches!(err, Error::PinRequired(_)), "{err:?}");
    admin(&mut piv);
    let chuid = container::chuid(&[0xAB; 16], "20301231");
    piv.write_object(ObjectId::CHUID, &chuid).unwrap();
    piv.write_object(ObjectId::CCC, &container::ccc(&[3; 14]))
        .unwrap();
    assert_eq!(
        container::chuid_guid(&piv.read_object(ObjectId::CHUID).unwrap().unwrap()),
        Some([0xAB; 16])
    );
    let cert: Vec<u8> = (0..1500u32).map(|i| (i * 7 % 251) as u8).collect();
    for (slot, compress) in [
        (Slot::Authentication, false),
        (Slot::Signature, true),
        (Slot::Retired(0x95), false),
    ] {
        piv.write_certificate(slot, &cert, compress).unwrap();
        assert_eq!(
            piv.read_certificate(slot).unwrap().as_deref(),
            Some(&cert[..]),
            "{slot}"
        );
    }
    piv.delete_certificate(Slot::Signature).unwrap();
    assert_eq!(piv.read_certificate(Slot::Signature).unwrap(), None);
    let d = piv.discovery().unwrap().unwrap();
    assert_eq!(d.aid, firma_apdu::piv::PIV_AID);
    assert_eq!(d.pin_policy, Some([0x40, 0x00]));
}

#[test]
fn rsa_keys_sign_and_decrypt_in_short_and_extended_mode() {
    for mode in [ApduMode::Short, ApduMode::Extended] {
        let mut piv = Piv::new(Traced::new(VirtualCard::blank(1)));
        piv.set_mode(mode);
        piv.select().unwrap();
        admin(&mut piv);
        let pk = piv
            .generate(
                Slot::Authentication,
                Algorithm::Rsa2048,
                PinPolicy::Default,
                TouchPolicy::Default,
            )
            .unwrap();
        let public = rsa_public(&pk);
        let digest = sha2::Sha256::digest(b"firmar esto");
        let mut info = SHA256_PREFIX.to_vec();
        info.extend_from_slice(&digest);
        let block = pkcs1_sign_block(&info, 256).unwrap();
        let err = piv
            .private_operation(Slot::Authentication, Algorithm::Rsa2048, &block)
            .unwrap_err();
        assert!(matches!(err, Error::PinRequired(_)), "{err:?}");
        piv.verify_pin(&pin("123456")).unwrap();
        piv.transport().reset_count();
        let sig = piv
            .private_operation(Slot::Authentication, Algorithm::Rsa2048, &block)
            .unwrap();
        let apdus = piv.transport().count();
        assert_eq!(
            apdus,
            if mode == ApduMode::Short { 3 } else { 1 },
            "{mode:?}: chained command + GET RESPONSE"
        );
        public
            .verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, &sig)
            .expect("verifies");
        // Decryption: the card's raw operation undoes an encryption made outside.
        let ct = public
            .encrypt(&mut rand::rngs::OsRng, rsa::Pkcs1v15Encrypt, b"clave")
            .unwrap();
        let block = piv
            .private_operation(Slot::Authentication, Algorithm::Rsa2048, &ct)
            .unwrap();
        assert_eq!(&pkcs1_decrypt_unpad(&block).unwrap()[..], b"clave");
        // Wrong sizes and wrong algorithms never reach the card or are refused clearly.
        assert!(matches!(
            piv.private_operation(Slot::Authentication, Algorithm::Rsa2048, &[1; 10]),
            Err(Error::InvalidInput { .. })
        ));
        let err = piv
            .private_operation(Slot::KeyManagement, Algorithm::EccP256, &[1; 32])
            .unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    }
}

#[test]
fn ec_keys_sign_with_pin_always_and_agree_keys() {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let mut piv = card();
    admin(&mut piv);
    let pk = piv
        .generate(
            Slot::Signature,
            Algorithm::EccP256,
            PinPolicy::Default,
            TouchPolicy::Default,
        )
        .unwrap();
    let PublicKey::Ec { point, .. } = &pk else {
        panic!()
    };
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).unwrap();
    let hash = sha2::Sha256::digest(b"contrato");
    // PIN policy "always": VERIFY and the signature in one transaction.
    let sig = piv
        .transaction(|p| {
            p.verify_pin(&pin("123456"))?;
            p.private_operation(Slot::Signature, Algorithm::EccP256, &hash)
        })
        .unwrap();
    vk.verify_prehash(&hash, &p256::ecdsa::Signature::from_der(&sig).unwrap())
        .expect("verifies");
    let err = piv
        .private_operation(Slot::Signature, Algorithm::EccP256, &hash)
        .unwrap_err();
    assert!(
        matches!(err, Error::PinRequired(_)),
        "the PIN is needed again: {err:?}"
    );

    let pk = piv
        .generate(
            Slot::KeyManagement,
            Algorithm::EccP384,
            PinPolicy::Once,
            TouchPolicy::Never,
        )
        .unwrap();
    let PublicKey::Ec { point, .. } = &pk else {
        panic!()
    };
    let card_pk = p384::PublicKey::from_sec1_bytes(point).unwrap();
    let mine = p384::SecretKey::random(&mut rand::rngs::OsRng);
    use p384::elliptic_curve::sec1::ToEncodedPoint;
    piv.verify_pin(&pin("123456")).unwrap();
    let shared = piv
        .ecdh(
            Slot::KeyManagement,
            Algorithm::EccP384,
            mine.public_key().to_encoded_point(false).as_bytes(),
        )
        .unwrap();
    let expected = p384::ecdh::diffie_hellman(mine.to_nonzero_scalar(), card_pk.as_affine());
    assert_eq!(&shared[..], &expected.raw_secret_bytes()[..]);
    assert!(matches!(
        piv.ecdh(Slot::KeyManagement, Algorithm::EccP384, &[4; 10]),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn yubico_extensions_version_serial_metadata_attest() {
    let mut piv = card();
    assert_eq!(piv.version().unwrap().to_string(), "5.4.3");
    assert_eq!(piv.serial().unwrap(), 4242);
    let m = piv.metadata(0x80).unwrap().unwrap();
    assert_eq!((m.is_default, m.retries), (Some(true), Some((3, 3))));
    assert_eq!(piv.metadata(0x9A).unwrap(), None, "empty slot");
    admin(&mut piv);
    let pk = piv
        .generate(
            Slot::Authentication,
            Algorithm::EccP256,
            PinPolicy::Never,
            TouchPolicy::Never,
        )
        .unwrap();
    let m = piv.metadata(0x9A).unwrap().unwrap();
    assert_eq!(m.public_key.as_ref(), Some(&pk));
    assert_eq!(
        (m.pin_policy, m.origin),
        (Some(PinPolicy::Never), Some(Origin::Generated))
    );
    // The attestation certificate certifies this very key and is issued by F9.
    use der::Decode;
    let att = x509_cert::Certificate::from_der(&piv.attest(Slot::Authentication).unwrap()).unwrap();
    let f9 = x509_cert::Certificate::from_der(
        &piv.read_certificate(Slot::Attestation).unwrap().unwrap(),
    )
    .unwrap();
    assert_eq!(att.tbs_certificate.issuer, f9.tbs_certificate.subject);
    let PublicKey::Ec { point, .. } = &pk else {
        panic!()
    };
    assert_eq!(
        att.tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes(),
        &point[..]
    );
    assert!(matches!(
        piv.attest(Slot::Signature),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn imported_keys_work_and_cannot_be_attested() {
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    let mut piv = card();
    admin(&mut piv);
    let key = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let primes = key.primes();
    let be = |n: &rsa::BigUint| {
        let mut v = n.to_bytes_be();
        while v.len() < 128 {
            v.insert(0, 0);
        }
        v
    };
    let (p, q) = (be(&primes[0]), be(&primes[1]));
    let (dp, dq) = (be(key.dp().unwrap()), be(key.dq().unwrap()));
    let qinv = be(&key.crt_coefficient().unwrap());
    piv.import_key(
        Slot::Retired(0x82),
        Algorithm::Rsa2048,
        ImportKey::Rsa {
            p: &p,
            q: &q,
            dp: &dp,
            dq: &dq,
            qinv: &qinv,
        },
        PinPolicy::Once,
        TouchPolicy::Never,
    )
    .unwrap();
    piv.verify_pin(&pin("123456")).unwrap();
    let digest = sha2::Sha256::digest(b"x");
    let mut info = SHA256_PREFIX.to_vec();
    info.extend_from_slice(&digest);
    let sig = piv
        .private_operation(
            Slot::Retired(0x82),
            Algorithm::Rsa2048,
            &pkcs1_sign_block(&info, 256).unwrap(),
        )
        .unwrap();
    key.to_public_key()
        .verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, &sig)
        .unwrap();
    assert_eq!(
        piv.metadata(0x82).unwrap().unwrap().origin,
        Some(Origin::Imported)
    );
    assert!(piv.attest(Slot::Retired(0x82)).is_err());
    assert_eq!(key.size(), 256);
    let scalar = p256::SecretKey::random(&mut rand::rngs::OsRng);
    piv.import_key(
        Slot::CardAuthentication,
        Algorithm::EccP256,
        ImportKey::Ec {
            scalar: &scalar.to_bytes(),
        },
        PinPolicy::Default,
        TouchPolicy::Default,
    )
    .unwrap();
    let m = piv.metadata(0x9E).unwrap().unwrap();
    assert_eq!(
        m.pin_policy,
        Some(PinPolicy::Never),
        "9E defaults to no PIN"
    );
}

#[test]
fn pin_retries_and_reset() {
    let mut piv = card();
    admin(&mut piv);
    let err = piv.set_pin_retries(5, 4).unwrap_err();
    assert!(
        matches!(err, Error::ManagementKeyRequired(_)),
        "needs the PIN too: {err:?}"
    );
    piv.verify_pin(&pin("123456")).unwrap();
    piv.set_pin_retries(5, 4).unwrap();
    assert_eq!(piv.pin_status().unwrap(), PinStatus::TriesLeft(5));
    admin(&mut piv);
    piv.generate(
        Slot::Authentication,
        Algorithm::EccP256,
        PinPolicy::Default,
        TouchPolicy::Default,
    )
    .unwrap();
    let err = piv.reset().unwrap_err();
    assert!(matches!(err, Error::ConditionsNotSatisfied(_)), "{err:?}");
    for _ in 0..5 {
        let _ = piv.verify_pin(&pin("000000"));
    }
    for _ in 0..4 {
        let _ = piv.unblock_pin(&Puk::new("00000000").unwrap(), &pin("000000"));
    }
    piv.reset().unwrap();
    assert_eq!(piv.metadata(0x9A).unwrap(), None, "keys are gone");
    piv.verify_pin(&pin("123456")).unwrap();
}

#[test]
fn a_card_without_yubico_extensions_says_so() {
    let mut card = VirtualCard::blank(1);
    card.set_options(Options {
        plain_piv: true,
        ..Default::default()
    });
    let (mut piv, _) = Piv::open(card).unwrap();
    let err = piv.serial().unwrap_err();
    assert!(matches!(err, Error::NotSupportedByCard(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the card does not support GET SERIAL (a Yubico extension)"
    );
    assert!(matches!(piv.version(), Err(Error::NotSupportedByCard(_))));
    assert!(matches!(
        piv.metadata(0x9A),
        Err(Error::NotSupportedByCard(_))
    ));
    admin(&mut piv);
    assert!(matches!(
        piv.set_management_key(&ManagementKey::random(MgmAlgorithm::Aes128), false),
        Err(Error::NotSupportedByCard(_))
    ));
    // The standard commands still work.
    piv.generate(
        Slot::Authentication,
        Algorithm::EccP256,
        PinPolicy::Default,
        TouchPolicy::Default,
    )
    .unwrap();
}

#[test]
fn traces_never_show_secrets() {
    use firma_apdu::transport::describe_apdu;
    let verify = [
        0x00, 0x20, 0x00, 0x80, 0x08, b'1', b'2', b'3', b'4', b'5', b'6', 0xFF, 0xFF,
    ];
    let shown = describe_apdu(&verify);
    assert!(
        !shown.contains("313233") && shown.contains("redacted"),
        "{shown}"
    );
    let key = [
        0x00, 0xFF, 0xFF, 0xFF, 0x1B, 0x03, 0x9B, 0x18, 0x01, 0x02, 0x03, 0x04,
    ];
    assert!(!describe_apdu(&key).contains("010203"));
    let get_data = [
        0x00, 0xCB, 0x3F, 0xFF, 0x05, 0x5C, 0x03, 0x5F, 0xC1, 0x05, 0x00,
    ];
    assert!(describe_apdu(&get_data).contains("5C035FC105"));
}

#[test]
fn a_piv_card_is_a_citizen_card_by_key_role() {
    use firma_apdu::card::{self, CitizenCard, KeyRole};
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let mut piv = card();
    admin(&mut piv);
    // The design's profile: one key per role, each slot's certificate apart.
    let mut keys = Vec::new();
    for (slot, cert) in [
        (Slot::Authentication, b"cert-9a".to_vec()),
        (Slot::Signature, b"cert-9c".to_vec()),
        (Slot::KeyManagement, b"cert-9d".to_vec()),
    ] {
        let pk = piv
            .generate(
                slot,
                Algorithm::EccP256,
                PinPolicy::Default,
                TouchPolicy::Never,
            )
            .unwrap();
        piv.write_certificate(slot, &cert, false).unwrap();
        keys.push(pk);
    }
    let mut citizen: Box<dyn CitizenCard> = card::open(piv.into_transport()).unwrap();
    assert_eq!(citizen.serial().unwrap(), 4242);
    assert_eq!(citizen.pin_status().unwrap(), PinStatus::TriesLeft(3));
    for (role, cert) in KeyRole::ALL
        .into_iter()
        .zip(["cert-9a", "cert-9c", "cert-9d"])
    {
        assert_eq!(
            citizen.certificate(role).unwrap().as_deref(),
            Some(cert.as_bytes()),
            "{role:?}"
        );
    }
    assert!(citizen.pin_before_each_use(KeyRole::Signature));
    assert!(!citizen.pin_before_each_use(KeyRole::Authentication));

    // Each role's key is the one its slot generated.
    let hash = sha2::Sha256::digest(b"contrato");
    citizen.verify_pin(&pin("123456")).unwrap();
    let sig = citizen
        .private_operation(KeyRole::Signature, Algorithm::EccP256, &hash)
        .unwrap();
    let PublicKey::Ec { point, .. } = &keys[1] else {
        panic!()
    };
    p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
        .unwrap()
        .verify_prehash(&hash, &p256::ecdsa::Signature::from_der(&sig).unwrap())
        .expect("the signature key signed");
    let mine = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let shared = citizen
        .key_agreement(
            KeyRole::Encryption,
            Algorithm::EccP256,
            mine.public_key().to_encoded_point(false).as_bytes(),
        )
        .unwrap();
    let PublicKey::Ec { point, .. } = &keys[2] else {
        panic!()
    };
    let theirs = p256::PublicKey::from_sec1_bytes(point).unwrap();
    let expected = p256::ecdh::diffie_hellman(mine.to_nonzero_scalar(), theirs.as_affine());
    assert_eq!(&shared[..], &expected.raw_secret_bytes()[..]);

    // PIN change and unblock through the trait, as the station's services do.
    citizen.change_pin(&pin("123456"), &pin("281947")).unwrap();
    citizen.forget_pin().unwrap();
    assert_eq!(citizen.pin_status().unwrap(), PinStatus::TriesLeft(3));
    for _ in 0..3 {
        let _ = citizen.verify_pin(&pin("000000"));
    }
    assert_eq!(citizen.pin_status().unwrap(), PinStatus::Blocked);
    citizen
        .unblock_pin(&Puk::new("12345678").unwrap(), &pin("135790"))
        .unwrap();
    citizen.verify_pin(&pin("135790")).unwrap();
}
