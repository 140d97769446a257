//! yubico-piv-tool (libykpiv, an independent PIV host) against firma-vcard
//! through pcscd and vpcd.

use std::process::Command;

use firma_tests::{fails, ok, personalize, CardOptions, Pcscd};

fn rig_with_card() -> (Pcscd, firma_tests::Card) {
    let rig = Pcscd::start().expect("rig");
    let card = rig
        .insert(
            0,
            &CardOptions {
                serial: Some(12345678),
                ..Default::default()
            },
        )
        .expect("card");
    (rig, card)
}

#[test]
fn status_of_a_blank_card() {
    let (rig, _card) = rig_with_card();
    let out = ok(&mut rig.yubico(0, &["-a", "status"]));
    assert!(out.contains("Serial Number:\t12345678"), "{out}");
    assert!(out.contains("Version:\t5.4.3"), "{out}");
    assert!(out.contains("PIN tries left:\t3"), "{out}");
    assert!(out.contains("CHUID:\tNo data available"), "{out}");
}

#[test]
fn pin_puk_lifecycle() {
    let (rig, _card) = rig_with_card();
    ok(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "123456"]));
    ok(&mut rig.yubico(0, &["-a", "change-pin", "-P", "123456", "-N", "246810"]));
    let out = fails(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "123456"]));
    assert!(out.contains("2 tries left"), "{out}");
    ok(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "246810"]));
    // Three wrong PINs block it; the right one is then refused too.
    for left in ["2 tries left", "1 tries left"] {
        let out = fails(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "999999"]));
        assert!(out.contains(left), "{out}");
    }
    let out = fails(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "999999"]));
    assert!(out.to_lowercase().contains("blocked"), "{out}");
    let out = fails(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "246810"]));
    assert!(out.to_lowercase().contains("blocked"), "{out}");
    let out = ok(&mut rig.yubico(0, &["-a", "status"]));
    assert!(out.contains("PIN tries left:\t0"), "{out}");
    // The PUK unblocks it with a new PIN, and can itself be changed.
    ok(&mut rig.yubico(0, &["-a", "unblock-pin", "-P", "12345678", "-N", "135790"]));
    ok(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "135790"]));
    ok(&mut rig.yubico(0, &["-a", "change-puk", "-P", "12345678", "-N", "87654321"]));
    fails(&mut rig.yubico(0, &["-a", "unblock-pin", "-P", "12345678", "-N", "111222"]));
    ok(&mut rig.yubico(0, &["-a", "unblock-pin", "-P", "87654321", "-N", "111222"]));
    ok(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "111222"]));
}

#[test]
fn management_key_change_and_objects() {
    let (rig, _card) = rig_with_card();
    let new_key = "0F0E0D0C0B0A090807060504030201000F0E0D0C0B0A0908";
    ok(&mut rig.yubico(0, &["-a", "set-mgm-key", "-n", new_key]));
    // The default key no longer authenticates; the new one does.
    let out = fails(&mut rig.yubico(0, &["-a", "set-chuid"]));
    assert!(out.contains("authentication"), "{out}");
    let with_key = format!("--key={new_key}");
    ok(&mut rig.yubico(0, &[&with_key, "-a", "set-chuid", "-a", "set-ccc"]));
    let out = ok(&mut rig.yubico(0, &["-a", "status"]));
    assert!(!out.contains("CHUID:\tNo data available"), "{out}");
    assert!(!out.contains("CCC:\tNo data available"), "{out}");
    // PIN retries (needs the management key and the PIN) reset PIN and PUK to defaults.
    ok(&mut rig.yubico(
        0,
        &[
            &with_key,
            "-P",
            "123456",
            "-a",
            "verify-pin",
            "-a",
            "pin-retries",
            "--pin-retries",
            "5",
            "--puk-retries",
            "4",
        ],
    ));
    let out = ok(&mut rig.yubico(0, &["-a", "status"]));
    assert!(out.contains("PIN tries left:\t5"), "{out}");
}

fn pem(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn generate_import_read_and_sign() {
    let (rig, _card) = rig_with_card();
    let keys = personalize(
        &rig,
        0,
        &[("9a", "RSA2048"), ("9c", "ECCP256"), ("9d", "ECCP256")],
        "TEST HOLDER",
    );
    let (c9a, c9c, c9d) = (keys.cert("9a"), keys.cert("9c"), keys.cert("9d"));
    let out = ok(&mut rig.yubico(0, &["-a", "status"]));
    assert!(out.contains("Slot 9a:\t\n\tAlgorithm:\tRSA2048"), "{out}");
    assert!(out.contains("Slot 9c:\t\n\tAlgorithm:\tECCP256"), "{out}");
    assert!(out.contains("Slot 9d:\t\n\tAlgorithm:\tECCP256"), "{out}");
    for (slot, cert) in [("9a", c9a), ("9c", c9c), ("9d", c9d)] {
        let back = ok(&mut rig.yubico(0, &["-a", "read-certificate", "-s", slot]));
        assert_eq!(back.trim(), pem(cert).trim(), "slot {slot}");
    }
    // yubico-piv-tool signs with each key and checks the signature against
    // the certificate; for 9c (PIN policy "always") it verifies right before.
    for (slot, cert) in [("9a", c9a), ("9c", c9c)] {
        let cert = cert.to_str().unwrap();
        let out = ok(&mut rig.yubico(
            0,
            &[
                "-P",
                "123456",
                "-a",
                "verify-pin",
                "-a",
                "test-signature",
                "-s",
                slot,
                "-i",
                cert,
            ],
        ));
        assert!(
            out.contains("Successful RSA verification")
                || out.contains("Successful ECDSA verification"),
            "{slot}: {out}"
        );
    }
    // Without the PIN the 9c key refuses to sign.
    fails(&mut rig.yubico(
        0,
        &[
            "-a",
            "test-signature",
            "-s",
            "9c",
            "-i",
            c9c.to_str().unwrap(),
        ],
    ));
    // ECDH on 9d: yubico-piv-tool's decipher test derives with the card and checks in software.
    let out = ok(&mut rig.yubico(
        0,
        &[
            "-P",
            "123456",
            "-a",
            "verify-pin",
            "-a",
            "test-decipher",
            "-s",
            "9d",
            "-i",
            c9d.to_str().unwrap(),
        ],
    ));
    assert!(out.contains("Successfully performed ECDH"), "{out}");
    // Attestation: the F9 certificate vouches for the 9a key.
    let att = keys.path("att.pem");
    let f9 = keys.path("f9.pem");
    std::fs::write(&att, ok(&mut rig.yubico(0, &["-a", "attest", "-s", "9a"]))).unwrap();
    std::fs::write(
        &f9,
        ok(&mut rig.yubico(0, &["-a", "read-certificate", "-s", "f9"])),
    )
    .unwrap();
    ok(Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(&f9)
        .arg(&att));
    let att_key = ok(Command::new("openssl")
        .args(["x509", "-noout", "-pubkey", "-in"])
        .arg(&att));
    let cert_key = ok(Command::new("openssl")
        .args(["x509", "-noout", "-pubkey", "-in"])
        .arg(c9a));
    assert_eq!(att_key, cert_key);
}

#[test]
fn reset_only_after_pin_and_puk_are_blocked() {
    let (rig, _card) = rig_with_card();
    let _keys = personalize(&rig, 0, &[("9a", "ECCP256")], "TEST HOLDER");
    let out = fails(&mut rig.yubico(0, &["-a", "reset"]));
    assert!(out.to_lowercase().contains("reset"), "{out}");
    for _ in 0..3 {
        fails(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "000000"]));
    }
    for _ in 0..3 {
        fails(&mut rig.yubico(0, &["-a", "unblock-pin", "-P", "00000000", "-N", "111111"]));
    }
    ok(&mut rig.yubico(0, &["-a", "reset"]));
    let out = ok(&mut rig.yubico(0, &["-a", "status"]));
    assert!(!out.contains("Slot 9a"), "{out}");
    assert!(out.contains("PIN tries left:\t3"), "{out}");
    ok(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "123456"]));
    ok(&mut rig.yubico(0, &["-a", "set-chuid"]));
}
