//! firma-apdu's PIV client through the real PC/SC stack (pcscd + vpcd +
//! firma-vcard), and interoperability with yubico-piv-tool and OpenSC in
//! both directions.
//!
//! libpcsclite reads the pcscd socket path once per process, so this binary
//! has its own `main`: one private pcscd for all its tests, run one after the
//! other, with libtest's output format.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use firma_apdu::piv::padding::{pkcs1_decrypt_unpad, pkcs1_sign_block, SHA256_PREFIX};
use firma_apdu::piv::{
    container, Algorithm, ApduMode, ManagementKey, MgmAlgorithm, ObjectId, Pin, PinPolicy,
    PinStatus, Piv, PublicKey, Slot, TouchPolicy,
};
use firma_apdu::transport::{self, PcscTransport, TransportError};
use firma_apdu::Error;
use firma_tests::{
    fails, issue_cert, ok, personalize, verify_with_cert, CardOptions, Pcscd, OPENSC_PKCS11,
};
use sha2::Digest;

fn connect(rig: &Pcscd, slot: u8) -> Piv<PcscTransport> {
    let ctx = transport::pcsc_context().expect("pcscd");
    let t = PcscTransport::connect(&ctx, &rig.reader(slot)).expect("connect");
    let mut piv = Piv::new(t);
    piv.select().expect("select");
    piv
}

fn pin(s: &str) -> Pin {
    Pin::new(s).unwrap()
}

fn der_of_pem(pem: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

fn client_through_pcsc(rig: &mut Pcscd) {
    let _card = rig.insert(0, &CardOptions::default()).unwrap();
    for mode in [ApduMode::Extended, ApduMode::Short] {
        let mut piv = connect(rig, 0);
        assert_eq!(
            piv.mode(),
            ApduMode::Extended,
            "the ATR announces extended length"
        );
        piv.set_mode(mode);
        piv.authenticate(&ManagementKey::default_key()).unwrap();
        let pk = piv
            .generate(
                Slot::Authentication,
                Algorithm::Rsa2048,
                PinPolicy::Default,
                TouchPolicy::Default,
            )
            .unwrap();
        let cert: Vec<u8> = (0..1500u32).map(|i| (i % 253) as u8).collect();
        piv.write_certificate(Slot::Authentication, &cert, false)
            .unwrap();
        assert_eq!(
            piv.read_certificate(Slot::Authentication).unwrap(),
            Some(cert)
        );
        piv.verify_pin(&pin("123456")).unwrap();
        let PublicKey::Rsa { modulus, exponent } = pk else {
            panic!()
        };
        let public = rsa::RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(&modulus),
            rsa::BigUint::from_bytes_be(&exponent),
        )
        .unwrap();
        let digest = sha2::Sha256::digest(b"through pcscd");
        let mut info = SHA256_PREFIX.to_vec();
        info.extend_from_slice(&digest);
        let sig = piv
            .private_operation(
                Slot::Authentication,
                Algorithm::Rsa2048,
                &pkcs1_sign_block(&info, 256).unwrap(),
            )
            .unwrap();
        public
            .verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, &sig)
            .expect("verifies");
    }
}

/// A card that only yubico-piv-tool prepared: keys, certificates, a new PIN
/// and a new management key. The client reads, verifies, signs and decrypts;
/// openssl checks the results against the certificates.
fn reads_and_uses_what_yubico_piv_tool_wrote(rig: &mut Pcscd) {
    let _card = rig.insert(0, &CardOptions::default()).unwrap();
    let keys = personalize(
        rig,
        0,
        &[("9a", "RSA2048"), ("9c", "ECCP256"), ("9d", "RSA2048")],
        "INTEROP",
    );
    let certs: Vec<_> = keys.certs.iter().map(|(_, c)| c.clone()).collect();
    ok(&mut rig.yubico(0, &["-a", "change-pin", "-P", "123456", "-N", "314159"]));
    let mgm = "A1A2A3A4A5A6A7A8B1B2B3B4B5B6B7B8C1C2C3C4C5C6C7C8";
    ok(&mut rig.yubico(0, &["-a", "set-mgm-key", "-n", mgm]));

    let mut piv = connect(rig, 0);
    for (slot, cert) in [Slot::Authentication, Slot::Signature, Slot::KeyManagement]
        .into_iter()
        .zip(&certs)
    {
        assert_eq!(
            piv.read_certificate(slot).unwrap(),
            Some(der_of_pem(cert)),
            "{slot}"
        );
    }
    assert!(matches!(
        piv.verify_pin(&pin("123456")),
        Err(Error::WrongPin { tries_left: 2 })
    ));
    piv.verify_pin(&pin("314159")).unwrap();
    let data = keys.path("data");
    std::fs::write(&data, b"interoperabilidad").unwrap();
    let digest = sha2::Sha256::digest(b"interoperabilidad");
    let mut info = SHA256_PREFIX.to_vec();
    info.extend_from_slice(&digest);
    let sig = piv
        .private_operation(
            Slot::Authentication,
            Algorithm::Rsa2048,
            &pkcs1_sign_block(&info, 256).unwrap(),
        )
        .unwrap();
    let sig_file = keys.path("9a.sig");
    std::fs::write(&sig_file, &sig[..]).unwrap();
    verify_with_cert(&certs[0], "sha256", &data, &sig_file);
    let sig = piv
        .transaction(|p| {
            p.verify_pin(&pin("314159"))?;
            p.private_operation(Slot::Signature, Algorithm::EccP256, &digest)
        })
        .unwrap();
    let sig_file = keys.path("9c.sig");
    std::fs::write(&sig_file, &sig[..]).unwrap();
    verify_with_cert(&certs[1], "sha256", &data, &sig_file);
    let enc = keys.path("enc");
    ok(Command::new("openssl")
        .args(["pkeyutl", "-encrypt", "-certin", "-inkey"])
        .arg(&certs[2])
        .arg("-in")
        .arg(&data)
        .arg("-out")
        .arg(&enc));
    let block = piv
        .private_operation(
            Slot::KeyManagement,
            Algorithm::Rsa2048,
            &std::fs::read(&enc).unwrap(),
        )
        .unwrap();
    assert_eq!(
        &pkcs1_decrypt_unpad(&block).unwrap()[..],
        b"interoperabilidad"
    );
    assert!(matches!(
        piv.authenticate(&ManagementKey::default_key()),
        Err(Error::WrongManagementKey)
    ));
    piv.authenticate(&ManagementKey::from_hex(MgmAlgorithm::TripleDes, mgm).unwrap())
        .unwrap();
}

/// The other way round: what the client writes, yubico-piv-tool and OpenSC read.
fn tools_read_what_the_client_wrote(rig: &mut Pcscd) {
    let _card = rig.insert(0, &CardOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut piv = connect(rig, 0);
    piv.authenticate(&ManagementKey::default_key()).unwrap();
    piv.write_object(ObjectId::CHUID, &container::chuid(&[0x5A; 16], "20301231"))
        .unwrap();
    piv.write_object(ObjectId::CCC, &container::ccc(&[7; 14]))
        .unwrap();
    let pk = piv
        .generate(
            Slot::Authentication,
            Algorithm::EccP256,
            PinPolicy::Default,
            TouchPolicy::Default,
        )
        .unwrap();
    let PublicKey::Ec { point, .. } = pk else {
        panic!()
    };
    let spki = p256::PublicKey::from_sec1_bytes(&point).unwrap();
    let pubkey = dir.path().join("pub.pem");
    use p256::pkcs8::EncodePublicKey;
    std::fs::write(&pubkey, spki.to_public_key_pem(Default::default()).unwrap()).unwrap();
    let cert = dir.path().join("crt.pem");
    issue_cert(&pubkey, "/CN=written by firma-apdu", &cert);
    piv.write_certificate(Slot::Authentication, &der_of_pem(&cert), false)
        .unwrap();
    piv.change_pin(&pin("123456"), &pin("271828")).unwrap();
    let new_key = ManagementKey::random(MgmAlgorithm::TripleDes);
    piv.set_management_key(&new_key, false).unwrap();
    drop(piv);

    let out = ok(&mut rig.yubico(0, &["-a", "status"]));
    assert!(
        !out.contains("CHUID:\tNo data available") && !out.contains("CCC:\tNo data available"),
        "{out}"
    );
    assert!(
        out.contains("Subject DN:\tCN=written by firma-apdu"),
        "{out}"
    );
    let back = ok(&mut rig.yubico(0, &["-a", "read-certificate", "-s", "9a"]));
    assert_eq!(back.trim(), std::fs::read_to_string(&cert).unwrap().trim());
    fails(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "123456"]));
    ok(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "271828"]));
    let key = format!("--key={}", hex::encode(new_key.key_bytes()));
    ok(&mut rig.yubico(0, &[&key, "-a", "set-chuid"]));
    // OpenSC signs with the key the client generated, under the client's PIN.
    let data = dir.path().join("data");
    std::fs::write(&data, b"x").unwrap();
    let sig = dir.path().join("sig");
    ok(&mut rig.pkcs11_tool(
        OPENSC_PKCS11,
        &[
            "--login",
            "--pin",
            "271828",
            "--sign",
            "--id",
            "01",
            "-m",
            "ECDSA-SHA256",
            "--signature-format",
            "openssl",
            "-i",
            data.to_str().unwrap(),
            "-o",
            sig.to_str().unwrap(),
        ],
    ));
    verify_with_cert(&cert, "sha256", &data, &sig);
    // A compressed certificate reads back through OpenSC too.
    let mut piv = connect(rig, 0);
    piv.authenticate(&new_key).unwrap();
    piv.write_certificate(Slot::Authentication, &der_of_pem(&cert), true)
        .unwrap();
    drop(piv);
    let out = ok(&mut rig.pkcs11_tool(OPENSC_PKCS11, &["-O", "--type", "cert"]));
    assert!(out.contains("written by firma-apdu"), "{out}");
}

/// A card pulled out in the middle of a chained PUT DATA.
fn card_pulled_mid_chain(rig: &mut Pcscd) {
    // SELECT, two authentication steps, then the third piece of the chain.
    let _card = rig
        .insert(
            0,
            &CardOptions {
                fail_after: Some(6),
                ..Default::default()
            },
        )
        .unwrap();
    let mut piv = connect(rig, 0);
    piv.set_mode(ApduMode::Short);
    piv.authenticate(&ManagementKey::default_key()).unwrap();
    let cert = vec![0x42; 1500];
    let err = piv
        .write_certificate(Slot::Authentication, &cert, false)
        .unwrap_err();
    assert!(
        matches!(err, Error::Transport(TransportError::CardRemoved)),
        "{err:?}"
    );
    assert!(err.is_card_gone());
    assert_eq!(err.to_string(), "the card was removed from the reader");
}

/// Another application resets the card: the client reconnects, selects PIV
/// again and reports the PIN as no longer verified.
fn survives_a_reset_by_another_application(rig: &mut Pcscd) {
    let _card = rig.insert(1, &CardOptions::default()).unwrap();
    let mut piv = connect(rig, 1);
    piv.verify_pin(&pin("123456")).unwrap();
    assert_eq!(piv.pin_status().unwrap(), PinStatus::Verified);
    let ctx = transport::pcsc_context().unwrap();
    let reader = std::ffi::CString::new(rig.reader(1)).unwrap();
    let other = ctx
        .connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .unwrap();
    other
        .disconnect(pcsc::Disposition::ResetCard)
        .map_err(|(_, e)| e)
        .unwrap();
    assert_eq!(piv.pin_status().unwrap(), PinStatus::TriesLeft(3));
    assert_eq!(piv.resets_seen(), 1);
    // And inside a transaction the body runs again after SELECT.
    let other = ctx
        .connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .unwrap();
    other
        .disconnect(pcsc::Disposition::ResetCard)
        .map_err(|(_, e)| e)
        .unwrap();
    let status = piv
        .transaction(|p| {
            p.verify_pin(&pin("123456"))?;
            p.pin_status()
        })
        .unwrap();
    assert_eq!(status, PinStatus::Verified);
}

fn waits_for_reader_changes(rig: &mut Pcscd) {
    let ctx = transport::pcsc_context().unwrap();
    // Cards of earlier tests may still be leaving (pcscd polls every 400 ms).
    let settle = Instant::now();
    let before = loop {
        let now = transport::list_readers(&ctx).unwrap();
        if now.iter().all(|r| r.atr.is_none()) || settle.elapsed() > Duration::from_secs(5) {
            break now;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(before.len(), 2);
    assert!(before.iter().all(|r| r.atr.is_none()), "{before:?}");
    let idle = Instant::now();
    let same = transport::wait_for_change(&ctx, &before, Duration::from_millis(300)).unwrap();
    assert_eq!(same, before);
    assert!(idle.elapsed() >= Duration::from_millis(250), "it waited");
    let watcher = std::thread::spawn(move || {
        let ctx = transport::pcsc_context().unwrap();
        transport::wait_for_change(&ctx, &before, Duration::from_secs(10)).unwrap()
    });
    std::thread::sleep(Duration::from_millis(200));
    let card = rig.insert(0, &CardOptions::default()).unwrap();
    let after = watcher.join().unwrap();
    assert!(
        after
            .iter()
            .any(|r| r.name == rig.reader(0) && r.atr.is_some()),
        "{after:?}"
    );
    card.remove().unwrap();
    let gone = transport::wait_for_change(&ctx, &after, Duration::from_secs(5)).unwrap();
    assert!(
        gone.iter()
            .any(|r| r.name == rig.reader(0) && r.atr.is_none()),
        "{gone:?}"
    );
}

fn main() -> ExitCode {
    let tests: [(&str, firma_tests::SharedRigTest); 6] = [
        ("client_through_pcsc", client_through_pcsc),
        (
            "reads_and_uses_what_yubico_piv_tool_wrote",
            reads_and_uses_what_yubico_piv_tool_wrote,
        ),
        (
            "tools_read_what_the_client_wrote",
            tools_read_what_the_client_wrote,
        ),
        ("card_pulled_mid_chain", card_pulled_mid_chain),
        (
            "survives_a_reset_by_another_application",
            survives_a_reset_by_another_application,
        ),
        ("waits_for_reader_changes", waits_for_reader_changes),
    ];
    firma_tests::run_with_shared_rig(&tests, || {})
}
