//! OpenSC's and Yubico's PKCS#11 modules, driven by OpenSC's pkcs11-tool,
//! against a firma-vcard that yubico-piv-tool personalized; signatures and
//! decryptions are checked with openssl against the certificates.

use std::process::Command;

use firma_tests::{
    ok, personalize, verify_with_cert, CardOptions, Pcscd, Personalized, OPENSC_PKCS11, YKCS11,
};

/// A card that yubico-piv-tool personalized: 9a RSA-2048, 9c P-256, 9d RSA-2048.
struct Prepared {
    rig: Pcscd,
    _card: firma_tests::Card,
    keys: Personalized,
}

fn personalized() -> Prepared {
    let rig = Pcscd::start().expect("rig");
    let card = rig.insert(0, &CardOptions::default()).expect("card");
    let keys = personalize(
        &rig,
        0,
        &[("9a", "RSA2048"), ("9c", "ECCP256"), ("9d", "RSA2048")],
        "ESPAÑOL ESPAÑOL JUAN - 00000000T",
    );
    Prepared {
        rig,
        _card: card,
        keys,
    }
}

impl std::ops::Deref for Prepared {
    type Target = Personalized;
    fn deref(&self) -> &Personalized {
        &self.keys
    }
}

/// PKCS#11 object ids: OpenSC numbers the PIV slots 01, 02, 03; ykcs11 too.
const ID_9A: &str = "01";
const ID_9C: &str = "02";
const ID_9D: &str = "03";

fn sign_and_check(p: &Prepared, module: &str) {
    let data = p.path("tbs.txt");
    std::fs::write(&data, b"declaracion de la renta 2026").unwrap();
    let cases = [
        (ID_9A, "9a", "SHA256-RSA-PKCS", "sha256"),
        (ID_9C, "9c", "ECDSA-SHA256", "sha256"),
    ];
    for (id, slot, mech, digest) in cases {
        let sig = p.path(&format!("{slot}-{}.sig", module.len()));
        ok(&mut p.rig.pkcs11_tool(
            module,
            &[
                "--login",
                "--pin",
                "123456",
                "--sign",
                "--id",
                id,
                "-m",
                mech,
                "--signature-format",
                "openssl",
                "-i",
                data.to_str().unwrap(),
                "-o",
                sig.to_str().unwrap(),
            ],
        ));
        verify_with_cert(p.cert(slot), digest, &data, &sig);
    }
}

#[test]
fn opensc_lists_and_signs() {
    let p = personalized();
    let out = ok(&mut p.rig.pkcs11_tool(OPENSC_PKCS11, &["-L"]));
    assert!(out.contains("Yubico Firma Virtual 00 00"), "{out}");
    assert!(out.contains("token initialized, PIN initialized"), "{out}");
    let out = ok(&mut p.rig.pkcs11_tool(OPENSC_PKCS11, &["-O"]));
    for name in [
        "Certificate for PIV Authentication",
        "Certificate for Digital Signature",
        "Certificate for Key Management",
    ] {
        assert!(out.contains(name), "{name}: {out}");
    }
    assert!(out.contains("RSA 2048 bits"), "{out}");
    sign_and_check(&p, OPENSC_PKCS11);
}

#[test]
fn opensc_decrypts_with_key_management_key() {
    let p = personalized();
    let plain = p.path("secret.txt");
    let cipher = p.path("secret.enc");
    let back = p.path("secret.dec");
    std::fs::write(&plain, b"clave de sesion").unwrap();
    ok(Command::new("openssl")
        .args(["pkeyutl", "-encrypt", "-certin", "-inkey"])
        .arg(p.cert("9d"))
        .arg("-in")
        .arg(&plain)
        .arg("-out")
        .arg(&cipher));
    ok(&mut p.rig.pkcs11_tool(
        OPENSC_PKCS11,
        &[
            "--login",
            "--pin",
            "123456",
            "--decrypt",
            "--id",
            ID_9D,
            "-m",
            "RSA-PKCS",
            "-i",
            cipher.to_str().unwrap(),
            "-o",
            back.to_str().unwrap(),
        ],
    ));
    assert_eq!(std::fs::read(&back).unwrap(), b"clave de sesion");
}

#[test]
fn opensc_wrong_pin_is_refused_and_counted() {
    let p = personalized();
    let out = firma_tests::fails(&mut p.rig.pkcs11_tool(
        OPENSC_PKCS11,
        &[
            "--login",
            "--pin",
            "654321",
            "--sign",
            "--id",
            ID_9A,
            "-m",
            "SHA256-RSA-PKCS",
            "-i",
            "/dev/null",
        ],
    ));
    assert!(out.contains("CKR_PIN_INCORRECT"), "{out}");
    let out = ok(&mut p.rig.yubico(0, &["-a", "status"]));
    assert!(out.contains("PIN tries left:\t2"), "{out}");
}

#[test]
fn ykcs11_lists_and_signs() {
    let p = personalized();
    let out = ok(&mut p.rig.pkcs11_tool(YKCS11, &["-L"]));
    assert!(out.contains("Yubico Firma Virtual 00 00"), "{out}");
    assert!(out.contains("serial num         : 10000001"), "{out}");
    let out = ok(&mut p.rig.pkcs11_tool(YKCS11, &["-O", "--type", "cert"]));
    assert!(out.contains("ESPA"), "{out}");
    sign_and_check(&p, YKCS11);
}
