//! Firma Station activates a blank card through pcscd and vpcd (firma-vcard,
//! and Nitrokey 3's PIV application), and tools independent of Firma check
//! the result: OpenSC's pkcs11-tool and piv-tool, yubico-piv-tool, NSS and
//! openssl.

use std::path::Path;
use std::process::Command;

use firma_tests::station::{puk_from_letter, StationDir};
use firma_tests::{
    fails, firma_module, ok, verify_with_cert, CardKind, CardOptions, Pcscd, NITROKEY_SERIAL,
    OPENSC_PKCS11,
};

const PIN: &str = "281947";
const NIF: &str = "12345678Z";

fn csv_one(serial: &str) -> String {
    format!(
        "given_name,surnames,nif,email,phone,card_serial\n\
         María José,Núñez Ibáñez,{NIF},mjose@example.es,+34 600 111 222,{serial}\n"
    )
}

fn openssl(args: &[&str]) -> String {
    ok(Command::new("openssl").args(args))
}

/// Every byte of the files under `dir` (registry, WAL, logs, APDU traces).
fn everything_written(paths: &[&Path]) -> Vec<u8> {
    let mut all = Vec::new();
    for p in paths {
        if p.is_dir() {
            for e in std::fs::read_dir(p).unwrap().flatten() {
                let path = e.path();
                if path.is_file() && path.extension().is_none_or(|x| x != "pdf") {
                    all.extend(std::fs::read(&path).unwrap_or_default());
                }
            }
        } else {
            all.extend(std::fs::read(p).unwrap_or_default());
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn activation_gives_a_card_that_opensc_and_yubico_use_with_the_citizens_pin() {
    let rig = Pcscd::start().expect("rig");
    let trace_dir = tempfile::tempdir().unwrap();
    let trace = trace_dir.path().join("apdus.log");
    let _card = rig
        .insert(
            0,
            &CardOptions {
                serial: Some(4242),
                log_apdus: Some(trace.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    let st = StationDir::new();
    let import = st.import_csv(&rig, &csv_one("4242")).ok();
    assert!(
        import.stdout.contains("1 imported, 0 rejected"),
        "{}",
        import.all()
    );
    st.identity(&rig, NIF);

    let run = st.activate(&rig, NIF, PIN).ok();
    let puk = puk_from_letter(&run.letter)
        .unwrap_or_else(|| panic!("no PUK in the letter:\n{}", run.letter));
    assert!(
        run.letter.contains("NÚÑEZ") || run.letter.contains("Núñez"),
        "{}",
        run.letter
    );
    // The letter is the one place the PUK is: not on the operator's screen.
    assert!(
        !run.all().contains(&puk) && !run.all().contains(&format!("{} {}", &puk[..4], &puk[4..])),
        "the PUK was on the screen:\n{}",
        run.all()
    );
    assert!(
        run.stderr.contains("generating the signature (9C) key"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("is activated: 3 certificates loaded"),
        "{}",
        run.stderr
    );

    // OpenSC lists three certificates with the applicant's subject.
    let objects = ok(&mut rig.pkcs11_tool(OPENSC_PKCS11, &["--list-objects", "--type", "cert"]));
    let subjects = objects
        .matches("NÚÑEZ IBÁÑEZ MARÍA JOSÉ - 12345678Z")
        .count()
        + objects.matches("N\\xC3\\x9A\\xC3\\x91EZ").count();
    assert!(
        objects.matches("Certificate Object").count() == 3,
        "{objects}"
    );
    assert!(
        subjects >= 3 || objects.contains("serialNumber"),
        "{objects}"
    );

    let work = tempfile::tempdir().unwrap();
    let w = |n: &str| work.path().join(n);
    std::fs::write(w("data"), b"a document the citizen signs").unwrap();
    for (id, slot) in [("01", "9a"), ("02", "9c")] {
        // Each certificate chains to the CA and holds the design's subject.
        let cert_der = w(&format!("{slot}.der"));
        ok(&mut rig.pkcs11_tool(
            OPENSC_PKCS11,
            &[
                "--read-object",
                "--type",
                "cert",
                "--id",
                id,
                "-o",
                cert_der.to_str().unwrap(),
            ],
        ));
        let cert = w(&format!("{slot}.pem"));
        openssl(&[
            "x509",
            "-inform",
            "DER",
            "-in",
            cert_der.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ]);
        let ca = st.ca().join("ca.pem");
        let verified = openssl(&[
            "verify",
            "-CAfile",
            ca.to_str().unwrap(),
            cert.to_str().unwrap(),
        ]);
        assert!(verified.contains(": OK"), "{verified}");
        let text = openssl(&[
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "RFC2253,-esc_msb",
            "-in",
            cert.to_str().unwrap(),
        ]);
        for part in [
            "C=ES",
            "GN=MARÍA JOSÉ",
            "SN=NÚÑEZ IBÁÑEZ",
            "serialNumber=IDCES-12345678Z",
            "CN=NÚÑEZ IBÁÑEZ MARÍA JOSÉ - 12345678Z",
        ] {
            assert!(text.contains(part), "{part} missing in {text}");
        }
        // OpenSC signs with the citizen's PIN (9C: a second login for the signature).
        let sig = w(&format!("{slot}.sig"));
        ok(&mut rig.pkcs11_tool(
            OPENSC_PKCS11,
            &[
                "--login",
                "--pin",
                PIN,
                "--sign",
                "--id",
                id,
                "-m",
                "SHA256-RSA-PKCS",
                "-i",
                w("data").to_str().unwrap(),
                "-o",
                sig.to_str().unwrap(),
            ],
        ));
        verify_with_cert(&cert, "sha256", &w("data"), &sig);
    }
    let keys = ok(&mut rig.pkcs11_tool(
        OPENSC_PKCS11,
        &[
            "--login",
            "--pin",
            PIN,
            "--list-objects",
            "--type",
            "privkey",
        ],
    ));
    assert!(
        keys.contains("always authenticate"),
        "9C asks the PIN before every signature:\n{keys}"
    );

    // yubico-piv-tool sees the same three certificates.
    let status = ok(&mut rig.yubico(0, &["-a", "status"]));
    for slot in ["Slot 9a", "Slot 9c", "Slot 9d"] {
        assert!(status.contains(slot), "{slot} missing:\n{status}");
    }
    assert!(
        status.contains("IDCES-12345678Z") || status.contains("12345678Z"),
        "{status}"
    );

    // None of the factory secrets opens the card any more.
    let out = firma_tests::fails(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "123456"]));
    assert!(out.to_lowercase().contains("pin"), "{out}");
    let out = firma_tests::fails(
        &mut rig.yubico(0, &["-a", "change-puk", "-P", "12345678", "-N", "87654321"]),
    );
    assert!(out.to_lowercase().contains("puk"), "{out}");
    let out = firma_tests::fails(&mut rig.yubico(0, &["-a", "set-chuid"]));
    assert!(out.to_lowercase().contains("authenticat"), "{out}");
    // ...while the citizen's PIN does.
    ok(&mut rig.yubico(0, &["-a", "verify-pin", "-P", PIN]));

    // The registry says activated; the audit chain holds.
    let show = st.run(&rig, &["applications", "show", NIF], "").ok();
    assert!(
        show.stdout.contains("application 1: activated"),
        "{}",
        show.stdout
    );
    assert_eq!(
        show.stdout.matches(": loaded").count(),
        3,
        "{}",
        show.stdout
    );
    let verify = st.run(&rig, &["audit", "verify"], "").ok();
    assert!(
        verify.stdout.contains("The audit log is intact"),
        "{}",
        verify.stdout
    );

    // The PIN and the PUK are nowhere: registry, WAL, log, audit, APDU trace.
    let audit = st.run(&rig, &["audit", "show"], "").ok();
    let mut written = everything_written(&[st.path(), &trace, &st.ca()]);
    written.extend(audit.all().as_bytes());
    written.extend(run.stderr.as_bytes());
    assert!(
        std::fs::metadata(&trace).unwrap().len() > 1000,
        "the APDU trace was written"
    );
    assert!(
        std::fs::metadata(st.log()).unwrap().len() > 1000,
        "the station log was written"
    );
    for secret in [PIN, puk.as_str()] {
        assert!(
            !contains(&written, secret),
            "{secret} was written somewhere"
        );
        let hex_padded = hex::encode_upper(secret.as_bytes());
        assert!(
            !contains(&written, &hex_padded),
            "{secret} was written as hex somewhere"
        );
    }

    // The PUK from the letter unblocks the PIN.
    for _ in 0..3 {
        let _ = rig
            .yubico(0, &["-a", "verify-pin", "-P", "999999"])
            .output();
    }
    let unblock = st.run(
        &rig,
        &["unblock", "--reader", "00 00", "--stdin"],
        &format!("{puk}\n583920\n583920\n"),
    );
    assert_eq!(unblock.code, 0, "{}", unblock.all());
    ok(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "583920"]));
}

/// OpenSC's piv-tool authenticates with the factory management key (3DES,
/// mutual authentication).
fn factory_management_key(rig: &Pcscd, dir: &Path) -> Command {
    let key = dir.join("factory-9b.hex");
    std::fs::write(&key, ["01:02:03:04:05:06:07:08"; 3].join(":")).unwrap();
    let mut cmd = rig.command("piv-tool");
    cmd.env("PIV_EXT_AUTH_KEY", &key)
        .args(["-r", &rig.reader(0), "-A", "M:9B:03"]);
    cmd
}

/// A card Firma did not write: the station activates Nitrokey 3's PIV
/// application, and OpenSC, Firma's module and NSS use it with the PIN.
#[test]
fn a_nitrokey_activated_by_the_station_works_with_opensc_firmas_module_and_nss() {
    let rig = Pcscd::start().expect("rig");
    let trace_dir = tempfile::tempdir().unwrap();
    let trace = trace_dir.path().join("apdus.log");
    let _card = rig
        .insert(
            0,
            &CardOptions {
                kind: CardKind::Nitrokey,
                log_apdus: Some(trace.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = |n: &str| work.path().join(n);
    // The blank card takes the factory management key (the check below
    // would prove nothing if piv-tool could not authenticate at all).
    ok(&mut factory_management_key(&rig, work.path()));

    let st = StationDir::new();
    st.import_csv(&rig, &csv_one(&NITROKEY_SERIAL.to_string()))
        .ok();
    st.identity(&rig, NIF);
    let run = st.activate(&rig, NIF, PIN).ok();
    let puk = puk_from_letter(&run.letter).expect("a PUK letter");
    assert!(
        run.stderr.contains("is activated: 3 certificates loaded"),
        "{}",
        run.stderr
    );
    // The operator hears what this card cannot do.
    assert!(
        run.stderr
            .contains("note: the card keeps its own retry counts"),
        "{}",
        run.stderr
    );

    // Both modules list the three certificates and sign with 9A and 9C
    // (RSA-2048) under the citizen's PIN; openssl checks each signature
    // against the certificate OpenSC read, which chains to the CA.
    std::fs::write(w("data"), b"a document the citizen signs").unwrap();
    let ca = st.ca().join("ca.pem");
    for (id, slot) in [("01", "9a"), ("02", "9c"), ("03", "9d")] {
        let pem = firma_tests::oracle::opensc_certificate(&rig, 0, id, work.path());
        std::fs::copy(&pem, w(&format!("{slot}.pem"))).unwrap();
        let verified = openssl(&[
            "verify",
            "-CAfile",
            ca.to_str().unwrap(),
            pem.to_str().unwrap(),
        ]);
        assert!(verified.contains(": OK"), "{verified}");
    }
    let firma = firma_module();
    for module in [OPENSC_PKCS11, firma.as_str()] {
        let tool = |args: &[&str]| {
            let mut cmd = rig.pkcs11_tool(module, &["--slot-description"]);
            cmd.arg(rig.reader(0)).args(args);
            cmd
        };
        let listed = ok(&mut tool(&["--list-objects", "--type", "cert"]));
        assert_eq!(
            listed.matches("Certificate Object").count(),
            3,
            "{module}: {listed}"
        );
        for (id, slot) in [("01", "9a"), ("02", "9c")] {
            let sig = w(&format!("{slot}-{}.sig", module.len()));
            ok(&mut tool(&[
                "--login",
                "--pin",
                PIN,
                "--sign",
                "--id",
                id,
                "-m",
                "SHA256-RSA-PKCS",
                "-i",
                w("data").to_str().unwrap(),
                "-o",
                sig.to_str().unwrap(),
            ]));
            verify_with_cert(&w(&format!("{slot}.pem")), "sha256", &w("data"), &sig);
        }
        // 9D decrypts what openssl encrypted to its certificate.
        let (enc, dec) = (w("key.enc"), w(&format!("key-{}.dec", module.len())));
        std::fs::write(w("key"), b"clave de sesion AES").unwrap();
        openssl(&[
            "pkeyutl",
            "-encrypt",
            "-certin",
            "-inkey",
            w("9d.pem").to_str().unwrap(),
            "-in",
            w("key").to_str().unwrap(),
            "-out",
            enc.to_str().unwrap(),
        ]);
        ok(&mut tool(&[
            "--login",
            "--pin",
            PIN,
            "--decrypt",
            "--id",
            "03",
            "-m",
            "RSA-PKCS",
            "-i",
            enc.to_str().unwrap(),
            "-o",
            dec.to_str().unwrap(),
        ]));
        assert_eq!(
            std::fs::read(&dec).unwrap(),
            b"clave de sesion AES",
            "{module}"
        );
    }
    // NSS (Firefox, Chrome) authenticates over TLS with the 9A key.
    firma_tests::nss::assert_tls_client_auth(
        &rig,
        &ca,
        // The token's label is the holder's name cut to PKCS#11's 32 bytes.
        "NÚÑEZ IBÁÑEZ MARÍA JOSÉ -:Certificate for PIV Authentication",
        PIN,
        "CN = N\\C3\\9A\\C3\\91EZ",
    );

    // None of the factory secrets opens the card any more.
    let out = fails(&mut rig.opensc(0, &["--login", "--pin", "123456", "--list-objects"]));
    assert!(out.contains("CKR_PIN_INCORRECT"), "{out}");
    let out = fails(&mut rig.pkcs11_tool(
        &firma,
        &[
            "--session-rw",
            "--login",
            "--login-type",
            "so",
            "--so-pin",
            "12345678",
            "-O",
        ],
    ));
    assert!(out.contains("CKR_PIN_INCORRECT"), "the factory PUK: {out}");
    fails(&mut factory_management_key(&rig, work.path()));
    ok(&mut rig.opensc(0, &["--login", "--pin", PIN, "--list-objects"]));

    // The PIN and the PUK are nowhere: registry, WAL, log, audit, APDU trace
    // (the PUK is sealed in the registry only while the activation runs).
    let audit = st.run(&rig, &["audit", "show"], "").ok();
    let mut written = everything_written(&[st.path(), &trace, &st.ca()]);
    written.extend(audit.all().as_bytes());
    written.extend(run.stderr.as_bytes());
    for secret in [PIN, puk.as_str()] {
        assert!(
            !contains(&written, secret),
            "{secret} was written somewhere"
        );
        assert!(
            !contains(&written, &hex::encode_upper(secret.as_bytes())),
            "{secret} was written as hex somewhere"
        );
    }
    let verify = st.run(&rig, &["audit", "verify"], "").ok();
    assert!(verify.stdout.contains("intact"), "{}", verify.stdout);

    // The PUK from the letter unblocks the PIN.
    firma_tests::oracle::block_pin(&rig, 0, CardKind::Nitrokey);
    let unblock = st.run(
        &rig,
        &["unblock", "--reader", "00 00", "--stdin"],
        &format!("{puk}\n583920\n583920\n"),
    );
    assert_eq!(unblock.code, 0, "{}", unblock.all());
    ok(&mut firma_tests::oracle::verify_pin(
        &rig,
        0,
        CardKind::Nitrokey,
        "583920",
    ));
    // Firma's module counts a wrong PIN, and unblocks with the PUK as
    // pkcs11-tool --unlock-pin asks.
    let firma_tool = |args: &[&str]| rig.pkcs11_tool(&firma, args);
    let out = fails(&mut firma_tool(&[
        "--login",
        "--pin",
        "999999",
        "--list-objects",
    ]));
    assert!(out.contains("CKR_PIN_INCORRECT"), "{out}");
    firma_tests::oracle::block_pin(&rig, 0, CardKind::Nitrokey);
    let out = fails(&mut firma_tool(&[
        "--login",
        "--pin",
        "583920",
        "--list-objects",
    ]));
    assert!(out.contains("CKR_PIN_LOCKED"), "{out}");
    ok(&mut firma_tool(&[
        "--unlock-pin",
        "--puk",
        &puk,
        "--new-pin",
        "468024",
    ]));
    ok(&mut firma_tool(&[
        "--login",
        "--pin",
        "468024",
        "--list-objects",
    ]));
}

/// A Nitrokey whose PIN someone already changed is turned away at the first
/// step: the card keeps no metadata, so the station tries the factory PIN
/// before it generates anything.
#[test]
fn a_used_nitrokey_is_turned_away_before_any_key_is_made() {
    let rig = Pcscd::start().expect("rig");
    let _card = rig
        .insert(
            0,
            &CardOptions {
                kind: CardKind::Nitrokey,
                ..Default::default()
            },
        )
        .unwrap();
    ok(&mut rig.opensc(
        0,
        &["--change-pin", "--pin", "123456", "--new-pin", "246813"],
    ));
    let st = StationDir::new();
    st.import_csv(&rig, &csv_one(&NITROKEY_SERIAL.to_string()))
        .ok();
    st.identity(&rig, NIF);
    let run = st.activate(&rig, NIF, PIN);
    assert_eq!(run.code, 4, "{}", run.all());
    assert!(
        run.stderr.contains("its PIN is not the factory PIN"),
        "{}",
        run.all()
    );
    assert!(!run.stderr.contains("generating"), "{}", run.all());
    // Nothing was started for the application: no activation to resume.
    let show = st.run(&rig, &["applications", "show", NIF], "").ok().stdout;
    assert!(!show.contains("unfinished"), "{show}");
    assert!(show.contains("application 1: requested"), "{show}");
}
