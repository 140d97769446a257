//! firma-vcard as hardware that is unplugged and plugged back: `--state`
//! keeps the card across restarts, `--fail-after` pulls it out mid-operation.

use std::time::Duration;

use firma_tests::{fails, issue_cert, ok, CardOptions, Pcscd, OPENSC_PKCS11};

#[test]
fn state_survives_a_restart() {
    let rig = Pcscd::start().expect("rig");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card.json");
    let opts = CardOptions {
        state: Some(state.clone()),
        serial: Some(777),
        ..Default::default()
    };
    let card = rig.insert(0, &opts).unwrap();
    let pubkey = dir.path().join("9a.pub.pem");
    let cert = dir.path().join("9a.crt.pem");
    ok(&mut rig.yubico(
        0,
        &[
            "-a",
            "generate",
            "-s",
            "9a",
            "-A",
            "ECCP256",
            "-o",
            pubkey.to_str().unwrap(),
        ],
    ));
    issue_cert(&pubkey, "/CN=persisted", &cert);
    ok(&mut rig.yubico(
        0,
        &[
            "-a",
            "import-certificate",
            "-s",
            "9a",
            "-i",
            cert.to_str().unwrap(),
        ],
    ));
    ok(&mut rig.yubico(0, &["-a", "change-pin", "-P", "123456", "-N", "908172"]));
    card.remove().unwrap();
    // The file is private to its owner: it is the card's memory, secrets included.
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&state).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "state file mode {mode:o}");

    let _card = rig.insert(0, &opts).unwrap();
    let out = ok(&mut rig.yubico(0, &["-a", "status"]));
    assert!(out.contains("Serial Number:\t777"), "{out}");
    assert!(out.contains("Subject DN:\tCN=persisted"), "{out}");
    fails(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "123456"]));
    let out = ok(&mut rig.yubico(
        0,
        &[
            "-P",
            "908172",
            "-a",
            "verify-pin",
            "-a",
            "test-signature",
            "-s",
            "9a",
            "-i",
            cert.to_str().unwrap(),
        ],
    ));
    assert!(out.contains("Successful ECDSA verification"), "{out}");
}

/// Pulls the card out after `n` APDUs of a key generation, checks the tool
/// fails and the reader shows empty, then plugs the same card back in.
fn generate_interrupted_after(n: u64) {
    let rig = Pcscd::start().expect("rig");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card.json");
    let opts = CardOptions {
        state: Some(state.clone()),
        ..Default::default()
    };
    let mut card = rig
        .insert(
            0,
            &CardOptions {
                fail_after: Some(n),
                ..opts.clone()
            },
        )
        .unwrap();
    let out = fails(&mut rig.yubico(0, &["-a", "generate", "-s", "9a", "-A", "RSA2048"]));
    assert!(out.to_lowercase().contains("fail"), "{out}");
    assert!(card.wait_exit(Duration::from_secs(10)).unwrap().success());
    card.wait_present(false, Duration::from_secs(10)).unwrap();
    let out = ok(&mut rig.pkcs11_tool(OPENSC_PKCS11, &["-L"]));
    assert!(
        out.contains("Yubico Firma Virtual 00 00\n  (empty)"),
        "{out}"
    );

    // The same card, plugged back in, is whole and usable.
    let _card = rig.insert(0, &opts).unwrap();
    let out = ok(&mut rig.yubico(0, &["-a", "status"]));
    assert!(out.contains("PIN tries left:\t3"), "{out}");
    ok(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "123456"]));
    ok(&mut rig.yubico(0, &["-a", "generate", "-s", "9a", "-A", "ECCP256"]));
}

#[test]
fn card_pulled_before_key_generation() {
    // select, empty verify, version, serial, two authentication steps.
    generate_interrupted_after(6);
}

#[test]
fn card_pulled_during_authentication() {
    generate_interrupted_after(5);
}

#[test]
fn card_pulled_during_an_opensc_signature() {
    let rig = Pcscd::start().expect("rig");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card.json");
    let opts = CardOptions {
        state: Some(state.clone()),
        ..Default::default()
    };
    let card = rig.insert(0, &opts).unwrap();
    let pubkey = dir.path().join("pub.pem");
    let cert = dir.path().join("crt.pem");
    ok(&mut rig.yubico(
        0,
        &[
            "-a",
            "generate",
            "-s",
            "9a",
            "-A",
            "RSA2048",
            "-o",
            pubkey.to_str().unwrap(),
        ],
    ));
    issue_cert(&pubkey, "/CN=pulled", &cert);
    ok(&mut rig.yubico(
        0,
        &[
            "-a",
            "import-certificate",
            "-s",
            "9a",
            "-i",
            cert.to_str().unwrap(),
        ],
    ));
    card.remove().unwrap();
    // Count the APDUs of a whole signature, then pull the card one before the end.
    let log = dir.path().join("apdus.log");
    let counted = rig
        .insert(
            0,
            &CardOptions {
                log_apdus: Some(log.clone()),
                ..opts.clone()
            },
        )
        .unwrap();
    let data = dir.path().join("data");
    std::fs::write(&data, b"x").unwrap();
    let sign = [
        "--login",
        "--pin",
        "123456",
        "--sign",
        "--id",
        "01",
        "-m",
        "SHA256-RSA-PKCS",
        "-i",
        data.to_str().unwrap(),
    ];
    ok(&mut rig.pkcs11_tool(OPENSC_PKCS11, &sign));
    counted.remove().unwrap();
    let total = std::fs::read_to_string(&log).unwrap().lines().count() as u64;
    assert!(
        total > 5,
        "a signature takes more than 5 APDUs, saw {total}"
    );
    let mut card = rig
        .insert(
            0,
            &CardOptions {
                fail_after: Some(total - 1),
                ..opts.clone()
            },
        )
        .unwrap();
    let out = fails(&mut rig.pkcs11_tool(OPENSC_PKCS11, &sign));
    // vpcd reports the vanished card to pcscd as a failed transmit
    // (SCARD_E_NOT_TRANSACTED), which OpenSC maps to a general error; the
    // reader then shows empty.
    assert!(
        out.contains("C_Sign") && out.contains("failed: rv = CKR_"),
        "{out}"
    );
    card.wait_exit(Duration::from_secs(10)).unwrap();
    card.wait_present(false, Duration::from_secs(10)).unwrap();
    // The log never holds the PIN: only headers, lengths and status words.
    let lines = std::fs::read_to_string(&log).unwrap();
    assert!(
        !lines.contains("313233343536") && !lines.contains("123456"),
        "{lines}"
    );
    let _card = rig.insert(0, &opts).unwrap();
    ok(&mut rig.pkcs11_tool(OPENSC_PKCS11, &sign));
}
