//! Firma's PKCS#11 module driven by independent applications: OpenSC's
//! pkcs11-tool and NSS (the library inside Firefox and Chrome), on cards that
//! yubico-piv-tool personalized; results checked with openssl.

use std::process::Command;

use firma_tests::{
    fails, firma_module, ok, personalize, verify_with_cert, CardOptions, Pcscd, Personalized,
};

const HOLDER: &str = "GARCIA LOPEZ ANA - 12345678Z";

fn card(rig: &Pcscd) -> (firma_tests::Card, Personalized) {
    let card = rig
        .insert(
            0,
            &CardOptions {
                serial: Some(5550123),
                ..Default::default()
            },
        )
        .unwrap();
    let p = personalize(
        rig,
        0,
        &[("9a", "RSA2048"), ("9c", "ECCP256"), ("9d", "RSA2048")],
        HOLDER,
    );
    (card, p)
}

fn tool(rig: &Pcscd, args: &[&str]) -> Command {
    rig.pkcs11_tool(&firma_module(), args)
}

#[test]
fn lists_slots_mechanisms_and_objects() {
    let rig = Pcscd::start().unwrap();
    let (_card, _p) = card(&rig);
    let out = ok(&mut tool(&rig, &["-L"]));
    assert!(
        out.contains("Slot 0 (0x0): Yubico Firma Virtual 00 00"),
        "{out}"
    );
    assert!(
        out.contains(&format!("token label        : {HOLDER}\n")),
        "the holder's name: {out}"
    );
    assert!(out.contains("token manufacturer : Firma"), "{out}");
    assert!(out.contains("serial num         : 5550123"), "{out}");
    assert!(
        out.contains("login required, token initialized, PIN initialized"),
        "{out}"
    );
    assert!(
        out.contains("Slot 1 (0x1): Yubico Firma Virtual 00 01\n  (empty)"),
        "{out}"
    );
    let out = ok(&mut tool(&rig, &["-M"]));
    for m in [
        "RSA-PKCS,",
        "RSA-PKCS-PSS",
        "RSA-PKCS-OAEP",
        "SHA256-RSA-PKCS,",
        "ECDSA,",
        "ECDSA-SHA256",
    ] {
        assert!(out.contains(m), "{m}: {out}");
    }
    // Without login: certificates and public keys, no private key.
    let out = ok(&mut tool(&rig, &["-O"]));
    assert_eq!(out.matches("Certificate Object").count(), 3, "{out}");
    assert_eq!(out.matches("Public Key Object").count(), 3, "{out}");
    assert!(!out.contains("Private Key Object"), "{out}");
    assert!(
        out.contains("subject:    DN: C=ES, CN=GARCIA LOPEZ ANA - 12345678Z"),
        "{out}"
    );
    let out = ok(&mut tool(&rig, &["-O", "--login", "--pin", "123456"]));
    assert_eq!(out.matches("Private Key Object").count(), 3, "{out}");
    assert!(
        out.contains(
            "Access:     always authenticate, sensitive, always sensitive, never extractable"
        ),
        "{out}"
    );
}

#[test]
fn signs_with_every_mechanism() {
    let rig = Pcscd::start().unwrap();
    let (_card, p) = card(&rig);
    let data = p.path("data");
    std::fs::write(&data, b"modelo 100 ejercicio 2026").unwrap();
    let cases = [
        ("01", "9a", "SHA256-RSA-PKCS", "sha256"),
        ("01", "9a", "SHA384-RSA-PKCS", "sha384"),
        ("01", "9a", "SHA1-RSA-PKCS", "sha1"),
        ("02", "9c", "ECDSA-SHA256", "sha256"),
        ("02", "9c", "ECDSA-SHA384", "sha384"),
    ];
    for (id, slot, mech, digest) in cases {
        let sig = p.path(&format!("{mech}.sig"));
        ok(&mut tool(
            &rig,
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
    // PSS, checked by openssl with the certificate's key.
    let sig = p.path("pss.sig");
    ok(&mut tool(
        &rig,
        &[
            "--login",
            "--pin",
            "123456",
            "--sign",
            "--id",
            "01",
            "-m",
            "SHA256-RSA-PKCS-PSS",
            "--mgf",
            "MGF1-SHA256",
            "-i",
            data.to_str().unwrap(),
            "-o",
            sig.to_str().unwrap(),
        ],
    ));
    let key = p.path("9a.key.pem");
    std::fs::write(
        &key,
        ok(Command::new("openssl")
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(p.cert("9a"))),
    )
    .unwrap();
    let out = ok(Command::new("openssl")
        .args([
            "dgst",
            "-sha256",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:-1",
            "-verify",
        ])
        .arg(&key)
        .arg("-signature")
        .arg(&sig)
        .arg(&data));
    assert!(out.contains("Verified OK"), "{out}");
}

#[test]
fn decrypts_pkcs1_and_oaep() {
    let rig = Pcscd::start().unwrap();
    let (_card, p) = card(&rig);
    let plain = p.path("plain");
    std::fs::write(&plain, b"clave de sesion AES").unwrap();
    for (mech, pad) in [("RSA-PKCS", "pkcs1"), ("RSA-PKCS-OAEP", "oaep")] {
        let enc = p.path(&format!("{mech}.enc"));
        let dec = p.path(&format!("{mech}.dec"));
        ok(Command::new("openssl")
            .args([
                "pkeyutl",
                "-encrypt",
                "-certin",
                "-pkeyopt",
                &format!("rsa_padding_mode:{pad}"),
                "-inkey",
            ])
            .arg(p.cert("9d"))
            .arg("-in")
            .arg(&plain)
            .arg("-out")
            .arg(&enc));
        let mut args = vec![
            "--login",
            "--pin",
            "123456",
            "--decrypt",
            "--id",
            "03",
            "-m",
            mech,
        ];
        if mech == "RSA-PKCS-OAEP" {
            args.extend(["--hash-algorithm", "SHA-1", "--mgf", "MGF1-SHA1"]);
        }
        args.extend(["-i", enc.to_str().unwrap(), "-o", dec.to_str().unwrap()]);
        ok(&mut tool(&rig, &args));
        assert_eq!(
            std::fs::read(&dec).unwrap(),
            b"clave de sesion AES",
            "{mech}"
        );
    }
}

#[test]
fn pins_wrong_blocked_unblocked_changed() {
    let rig = Pcscd::start().unwrap();
    let (_card, p) = card(&rig);
    let data = p.path("d");
    std::fs::write(&data, b"x").unwrap();
    let sign = |pin: &str| {
        tool(
            &rig,
            &[
                "--login",
                "--pin",
                pin,
                "--sign",
                "--id",
                "01",
                "-m",
                "SHA256-RSA-PKCS",
                "-i",
                data.to_str().unwrap(),
                "-o",
                "/dev/null",
            ],
        )
    };
    let out = fails(&mut sign("654321"));
    assert!(out.contains("CKR_PIN_INCORRECT"), "{out}");
    let out = ok(&mut tool(&rig, &["-L"]));
    assert!(out.contains("user PIN count low"), "{out}");
    fails(&mut sign("654321"));
    let out = ok(&mut tool(&rig, &["-L"]));
    assert!(out.contains("final user PIN try"), "{out}");
    let out = fails(&mut sign("654321"));
    assert!(
        out.contains("CKR_PIN_INCORRECT") || out.contains("CKR_PIN_LOCKED"),
        "{out}"
    );
    let out = fails(&mut sign("123456"));
    assert!(out.contains("CKR_PIN_LOCKED"), "{out}");
    let out = ok(&mut tool(&rig, &["-L"]));
    assert!(out.contains("user PIN locked"), "{out}");
    // The PUK (security officer) unblocks it with a new PIN.
    // (pkcs11-tool's --unlock-pin is OpenSC's own convention; C_Login(SO) +
    // C_InitPIN is the standard way.)
    ok(&mut tool(
        &rig,
        &[
            "--login",
            "--login-type",
            "so",
            "--so-pin",
            "12345678",
            "--init-pin",
            "--new-pin",
            "246810",
        ],
    ));
    ok(&mut sign("246810"));
    // OpenSC's own way: --unlock-pin with the PUK while the PIN is blocked.
    for _ in 0..3 {
        fails(&mut sign("000000"));
    }
    let out = fails(&mut tool(
        &rig,
        &["--unlock-pin", "--puk", "87654321", "--new-pin", "246810"],
    ));
    assert!(out.contains("CKR_PIN_INCORRECT"), "a wrong PUK: {out}");
    ok(&mut tool(
        &rig,
        &["--unlock-pin", "--puk", "12345678", "--new-pin", "246810"],
    ));
    ok(&mut sign("246810"));
    ok(&mut tool(
        &rig,
        &["--change-pin", "--pin", "246810", "--new-pin", "135790"],
    ));
    fails(&mut sign("246810"));
    ok(&mut sign("135790"));
    // The change is on the card: yubico-piv-tool agrees.
    ok(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "135790"]));
    // A wrong PUK is refused and counted.
    let out = fails(&mut tool(
        &rig,
        &[
            "--session-rw",
            "--login",
            "--login-type",
            "so",
            "--so-pin",
            "11111111",
            "-O",
        ],
    ));
    assert!(out.contains("CKR_PIN_INCORRECT"), "{out}");
}

#[test]
fn pkcs11_tool_self_test() {
    let rig = Pcscd::start().unwrap();
    let (_card, _p) = card(&rig);
    let out = ok(&mut tool(&rig, &["--test", "--login", "--pin", "123456"]));
    assert!(out.contains("No errors"), "{out}");
}

#[test]
fn nss_lists_the_certificates() {
    let rig = Pcscd::start().unwrap();
    let (_card, _p) = card(&rig);
    let db = tempfile::tempdir().unwrap();
    let dbarg = firma_tests::nss::db(&rig, db.path());
    let out = ok(rig.command("modutil").args(["-dbdir", &dbarg, "-list"]));
    assert!(out.contains("Yubico Firma Virtual 00 00"), "{out}");
    let out = ok(rig
        .command("certutil")
        .args(["-d", &dbarg, "-L", "-h", "all"]));
    assert_eq!(
        out.matches("GARCIA LOPEZ ANA").count(),
        3,
        "three certificates on the card's token: {out}"
    );
}

/// TLS client authentication the way a browser does it: NSS's tstclnt with
/// the card's 9A key against `openssl s_server -Verify 1`.
#[test]
fn nss_authenticates_over_tls_with_the_card() {
    let rig = Pcscd::start().unwrap();
    let (_card, _p) = card(&rig);
    firma_tests::nss::assert_tls_client_auth(
        &rig,
        &firma_tests::fixtures().join("test-ca").join("ca.pem"),
        &format!("{HOLDER}:Certificate for PIV Authentication"),
        "123456",
        "depth=0 C = ES, CN = GARCIA LOPEZ ANA - 12345678Z",
    );
}

/// OpenSSL (through libp11's engine) signs with a `pkcs11:` URI; GnuTLS lists the objects.
#[test]
fn openssl_engine_and_gnutls() {
    let rig = Pcscd::start().unwrap();
    let (_card, p) = card(&rig);
    let conf = p.path("openssl.cnf");
    std::fs::write(
        &conf,
        format!(
            "openssl_conf = init\n[init]\nengines = engines\n[engines]\npkcs11 = pkcs11\n[pkcs11]\nengine_id = pkcs11\n\
             dynamic_path = /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so\nMODULE_PATH = {}\ninit = 0\n",
            firma_module()
        ),
    )
    .unwrap();
    let data = p.path("data");
    std::fs::write(&data, b"firmado con OpenSSL").unwrap();
    let sig = p.path("openssl.sig");
    ok(rig
        .command("openssl")
        .env("OPENSSL_CONF", &conf)
        .args([
            "dgst",
            "-sha256",
            "-engine",
            "pkcs11",
            "-keyform",
            "engine",
            "-sign",
            "pkcs11:id=%01;type=private;pin-value=123456",
            "-out",
        ])
        .arg(&sig)
        .arg(&data));
    verify_with_cert(p.cert("9a"), "sha256", &data, &sig);
    let out = ok(rig
        .command("p11tool")
        .args(["--provider", &firma_module(), "--list-all"]));
    assert!(
        out.contains("Certificate for PIV Authentication")
            && out.contains("Public key for Digital Signature"),
        "{out}"
    );
}

/// The install command registers the module with p11-kit, Chrome's NSS
/// database and Firefox profiles, and removes it again.
#[test]
fn register_and_unregister_for_a_user() {
    let home = tempfile::tempdir().unwrap();
    let profile = home
        .path()
        .join(".mozilla/firefox/abcd1234.default-release");
    std::fs::create_dir_all(&profile).unwrap();
    ok(Command::new("certutil").args([
        "-N",
        "-d",
        &format!("sql:{}", profile.display()),
        "--empty-password",
    ]));
    let register = || {
        let mut c = Command::new(firma_tests::bin("firma-pkcs11-register"));
        c.env("HOME", home.path()).env_remove("XDG_CONFIG_HOME");
        c
    };
    let listed = |db: &std::path::Path| {
        Command::new("modutil")
            .args(["-dbdir", &format!("sql:{}", db.display()), "-list", "Firma"])
            .output()
            .unwrap()
            .status
            .success()
    };
    let out = ok(register().args(["install", "--module", &firma_module()]));
    let chrome = home.path().join(".pki/nssdb");
    assert!(listed(&chrome) && listed(&profile), "{out}");
    let p11kit =
        std::fs::read_to_string(home.path().join(".config/pkcs11/modules/firma.module")).unwrap();
    assert!(
        p11kit.contains(&format!(
            "module: {}",
            std::fs::canonicalize(firma_module()).unwrap().display()
        )),
        "{p11kit}"
    );
    let again = ok(register().args(["install", "--module", &firma_module()]));
    assert!(again.contains("already registered"), "{again}");
    ok(register().arg("uninstall"));
    assert!(!listed(&chrome) && !listed(&profile));
    assert!(!home
        .path()
        .join(".config/pkcs11/modules/firma.module")
        .exists());
    let out = ok(register().arg("status"));
    assert!(out.contains("p11-kit: not registered"), "{out}");
    let err = firma_tests::fails(register().args(["install", "--module", "/nonexistent/lib.so"]));
    assert!(err.contains("/nonexistent/lib.so"), "{err}");
}

/// ECDH with the card's 9D P-256 key: pkcs11-tool derives, openssl derives
/// the same secret from the other side.
#[test]
fn derives_an_ecdh_secret() {
    let rig = Pcscd::start().unwrap();
    let _card = rig.insert(0, &CardOptions::default()).unwrap();
    let p = personalize(&rig, 0, &[("9d", "ECCP256")], HOLDER);
    let (peer_key, peer_pub) = (p.path("peer.key"), p.path("peer.pub.der"));
    ok(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&peer_key));
    ok(Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&peer_key)
        .arg("-out")
        .arg(&peer_pub));
    let from_card = p.path("card.secret");
    ok(&mut tool(
        &rig,
        &[
            "--login",
            "--pin",
            "123456",
            "--derive",
            "-m",
            "ECDH1-DERIVE",
            "--id",
            "03",
            "-i",
            peer_pub.to_str().unwrap(),
            "-o",
            from_card.to_str().unwrap(),
        ],
    ));
    let card_pub = p.path("card.pub.pem");
    std::fs::write(
        &card_pub,
        ok(Command::new("openssl")
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(p.cert("9d"))),
    )
    .unwrap();
    let from_peer = p.path("peer.secret");
    ok(Command::new("openssl")
        .args(["pkeyutl", "-derive", "-inkey"])
        .arg(&peer_key)
        .arg("-peerkey")
        .arg(&card_pub)
        .arg("-out")
        .arg(&from_peer));
    let secret = std::fs::read(&from_card).unwrap();
    assert_eq!(secret.len(), 32);
    assert_eq!(secret, std::fs::read(&from_peer).unwrap());
}
