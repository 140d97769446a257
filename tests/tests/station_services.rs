//! The station beyond one activation: two readers at once, bad input
//! refused with nothing changed, PIN change, renewal, revocation with a CRL
//! that openssl reads, card reset for re-issue, and an audit log that
//! detects edits.

use std::process::Command;

use firma_tests::station::{puk_from_letter, Run, StationDir};
use firma_tests::{fails, ok, oracle, CardKind, CardOptions, Pcscd};

const PIN: &str = "730194";

fn activate(st: &StationDir, rig: &Pcscd, reader: u8, app: &str, extra: &[&str]) -> Run {
    let reader = format!("00 0{reader}");
    let mut args = vec![
        "activate",
        "--reader",
        &reader,
        "--application",
        app,
        "--pin-stdin",
        "--algorithm",
        "p256",
    ];
    args.extend_from_slice(extra);
    st.run(rig, &args, &format!("{PIN}\n{PIN}\n"))
}

fn audit_len(st: &StationDir, rig: &Pcscd) -> usize {
    st.run(rig, &["audit", "show"], "")
        .ok()
        .stdout
        .lines()
        .count()
}

fn status(rig: &Pcscd, reader: u8) -> String {
    ok(&mut rig.yubico(reader, &["-a", "status"]))
}

#[test]
fn two_readers_activate_two_cards_at_once() {
    let rig = Pcscd::start().expect("rig");
    let st = StationDir::new();
    st.import_csv(
        &rig,
        "given_name,surnames,nif,email,phone,card_serial\n\
         Ana,García López,12345678Z,ana@example.es,600000001,1001\n\
         Youssef,El Amrani,X1234567L,youssef@example.es,600000002,1002\n",
    )
    .ok();
    st.identity(&rig, "12345678Z");
    st.run(
        &rig,
        &[
            "identity",
            "X1234567L",
            "--kind",
            "NIE",
            "--number",
            "X1234567L",
            "--support",
            "E01234567",
            "--expires",
            "2030-06-30",
            "--seen",
        ],
        "",
    )
    .ok();
    let _a = rig
        .insert(
            0,
            &CardOptions {
                serial: Some(1001),
                keygen_delay_ms: Some(300),
                ..Default::default()
            },
        )
        .unwrap();
    let _b = rig
        .insert(
            1,
            &CardOptions {
                serial: Some(1002),
                keygen_delay_ms: Some(300),
                ..Default::default()
            },
        )
        .unwrap();
    let (ra, rb) = std::thread::scope(|s| {
        let a = s.spawn(|| activate(&st, &rig, 0, "12345678Z", &[]));
        let b = s.spawn(|| activate(&st, &rig, 1, "X1234567L", &[]));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (ra, rb) = (ra.ok(), rb.ok());
    assert_ne!(
        puk_from_letter(&ra.letter),
        puk_from_letter(&rb.letter),
        "each card its own PUK"
    );
    assert!(
        status(&rig, 0).contains("GARC"),
        "card 1001 holds Ana's certificates"
    );
    assert!(
        status(&rig, 1).contains("IDCES-X1234567L"),
        "card 1002 holds Youssef's certificates"
    );
    let list = st.run(&rig, &["applications", "list"], "").ok().stdout;
    assert_eq!(list.matches("activated").count(), 2, "{list}");
    assert!(st
        .run(&rig, &["audit", "verify"], "")
        .ok()
        .stdout
        .contains("intact"));
}

#[test]
fn bad_input_is_refused_clearly_and_changes_nothing() {
    let rig = Pcscd::start().expect("rig");
    let st = StationDir::new();

    // A CSV with broken rows: each one reported, the good rows imported.
    let import = st.import_csv(
        &rig,
        "given_name,surnames,nif,email,phone,card_serial\n\
         Ana,García López,12345678Z,ana@example.es,600000001,2001\n\
         Bea,Ruiz,12345678A,bea@example.es,600000002,\n\
         Carlos,,23456789D,carlos@example.es,600000003,\n\
         Dora,Vidal,X123456L,dora@example.es,600000004,\n\
         Eva,Soler,Y1234567X,not-an-email,600000005,\n\
         Fran,Mora,45678901G,fran@example.es,600000006,12ab\n\
         Gema,Pons,12345678Z,gema@example.es,600000007,\n\
         Hugo,Sanz,Z1234567R,hugo@example.es,600000008\n\
         Irene,Gil,87654321X,irene@example.es,600000009,2002\n",
    );
    assert_eq!(import.code, 2, "some rows rejected: {}", import.all());
    let out = import.all();
    assert!(out.contains("2 imported, 7 rejected"), "{out}");
    for expected in [
        "rejected row 2 (12345678A): 12345678A is not a valid DNI: its control letter should be Z, not A",
        "rejected row 3 (23456789D): surnames is empty",
        "rejected row 4 (X123456L): ",
        "rejected row 5 (Y1234567X): ",
        "rejected row 6 (45678901G): card_serial \"12ab\" is not a card serial number",
        "rejected row 7 (12345678Z): 12345678Z appears twice in the file",
        "rejected row 8 (",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(
        out.contains("has 6 digits"),
        "the NIE's fault is named: {out}"
    );
    assert!(out.contains("it has 5 fields, the header has 6"), "{out}");
    // A JSON file works the same way.
    let json = st.path().join("apps.json");
    std::fs::write(&json, r#"[{"given_name":"Jon","surnames":"Etxeberria","nif":"Y1234567X","email":"jon@example.eus","phone":"600000010","card_serial":3003},{"nif":"bad"}]"#).unwrap();
    let j = st.run(
        &rig,
        &["applications", "import", json.to_str().unwrap()],
        "",
    );
    assert_eq!(j.code, 2, "{}", j.all());
    assert!(j.all().contains("1 imported, 1 rejected"), "{}", j.all());

    // Malformed DNI / NIE at the identity check: exit 2, nothing recorded.
    let before = audit_len(&st, &rig);
    for (number, expires, seen, code, message) in [
        (
            "12345678A",
            "2031-01-01",
            true,
            2,
            "its control letter should be Z, not A",
        ),
        ("X123456L", "2031-01-01", true, 2, "has 6 digits"),
        ("12345678Z", "2020-01-01", true, 2, "expired on 2020-01-01"),
        ("12345678Z", "2031-02-30", true, 2, "2031-02-30"),
        ("87654321X", "2031-01-01", true, 2, "87654321X"),
        ("12345678Z", "2031-01-01", false, 2, "--seen"),
    ] {
        let kind = if number.starts_with('X') {
            "NIE"
        } else {
            "DNI"
        };
        let mut args = vec![
            "identity",
            "12345678Z",
            "--kind",
            kind,
            "--number",
            number,
            "--expires",
            expires,
        ];
        if seen {
            args.push("--seen");
        }
        let bad = st.run(&rig, &args, "");
        assert_eq!(bad.code, code, "{number} {expires}: {}", bad.all());
        assert!(
            bad.stderr.contains(message),
            "{number} {expires}: {}",
            bad.stderr
        );
    }
    assert_eq!(
        audit_len(&st, &rig),
        before,
        "refused checks change nothing"
    );

    let _card = rig
        .insert(
            0,
            &CardOptions {
                serial: Some(2001),
                ..Default::default()
            },
        )
        .unwrap();
    // No identity check yet: refused before the card is touched.
    let r = activate(&st, &rig, 0, "12345678Z", &[]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(
        r.stderr.contains("identity has not been checked"),
        "{}",
        r.stderr
    );
    st.identity(&rig, "12345678Z");

    // A trivial PIN: exit 2, card and registry untouched.
    for trivial in ["123456", "000000", "123123"] {
        let r = st.run(
            &rig,
            &[
                "activate",
                "--reader",
                "00 00",
                "--application",
                "12345678Z",
                "--pin-stdin",
            ],
            &format!("{trivial}\n"),
        );
        assert_eq!(r.code, 2, "{}", r.all());
        assert!(
            r.stderr.contains("the PIN is not acceptable"),
            "{}",
            r.stderr
        );
    }
    // PIN and confirmation differ.
    let r = st.run(
        &rig,
        &[
            "activate",
            "--reader",
            "00 00",
            "--application",
            "12345678Z",
            "--pin-stdin",
        ],
        "281947\n281948\n",
    );
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(r.stderr.contains("different"), "{}", r.stderr);

    // The wrong card: application 2 (Irene) was mailed card 2002.
    st.identity(&rig, "87654321X");
    let r = activate(&st, &rig, 0, "87654321X", &[]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(
        r.stderr
            .contains("wrong card: this is card 2001, but application 2 was mailed card 2002"),
        "{}",
        r.stderr
    );
    let s = status(&rig, 0);
    assert!(!s.contains("Slot 9"), "the card is untouched:\n{s}");
    ok(&mut rig.yubico(0, &["-a", "verify-pin", "-P", "123456"]));

    // An expired application (requested long ago).
    st.import_csv(&rig, "given_name,surnames,nif,email,phone,card_serial,requested_on\nKarl,Old,34567890V,karl@example.es,600000011,,2020-01-01\n").ok();
    st.identity(&rig, "34567890V");
    let r = activate(&st, &rig, 0, "34567890V", &[]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(r.stderr.contains("expired on 2020-03-31"), "{}", r.stderr);

    // A card personalized once cannot be activated again for someone else.
    activate(&st, &rig, 0, "12345678Z", &[]).ok();
    let other = st.import_csv(&rig, "given_name,surnames,nif,email,phone,card_serial\nLola,Flores,56789012B,lola@example.es,600000012,\n").ok();
    assert!(other.stdout.contains("1 imported"));
    st.identity(&rig, "56789012B");
    let r = activate(&st, &rig, 0, "56789012B", &[]);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(
        r.stderr.contains("card 2001 is already personalized"),
        "{}",
        r.stderr
    );
    assert!(st
        .run(&rig, &["audit", "verify"], "")
        .ok()
        .stdout
        .contains("intact"));
}

/// OpenSC's and Firma's module sign ECDSA with 9A and 9C under `pin`;
/// openssl checks each signature with the certificate OpenSC read.
fn both_modules_sign_with_p256(rig: &Pcscd, pin: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::write(&data, b"solicitud firmada").unwrap();
    let firma = firma_tests::firma_module();
    for (id, slot) in [("01", "9a"), ("02", "9c")] {
        let pem = firma_tests::oracle::opensc_certificate(rig, 0, id, dir.path());
        for module in [firma_tests::OPENSC_PKCS11, firma.as_str()] {
            let sig = dir.path().join(format!("{slot}-{}.sig", module.len()));
            let mut cmd = rig.pkcs11_tool(module, &["--slot-description"]);
            cmd.arg(rig.reader(0)).args([
                "--login",
                "--pin",
                pin,
                "--sign",
                "--id",
                id,
                "-m",
                "ECDSA-SHA256",
                "--signature-format",
                "openssl",
                "-i",
                data.to_str().unwrap(),
                "-o",
                sig.to_str().unwrap(),
            ]);
            ok(&mut cmd);
            firma_tests::verify_with_cert(&pem, "sha256", &data, &sig);
        }
    }
}

#[test]
fn pin_change_renewal_revocation_and_reset_for_reissue() {
    services_on(CardKind::Firma);
}

#[test]
fn pin_change_renewal_revocation_and_reset_for_reissue_of_a_nitrokey() {
    services_on(CardKind::Nitrokey);
}

fn services_on(kind: CardKind) {
    let rig = Pcscd::start().expect("rig");
    let st = StationDir::new();
    let serial = kind.serial(Some(3001));
    st.import_csv(&rig, &format!("given_name,surnames,nif,email,phone,card_serial\nMarta,Vila Puig,12345678Z,marta@example.cat,600000020,{serial}\n")).ok();
    st.identity(&rig, "12345678Z");
    let _card = rig
        .insert(
            0,
            &CardOptions {
                kind,
                serial: Some(serial),
                ..Default::default()
            },
        )
        .unwrap();
    // Certificates of 60 days: inside the 70-day renewal window at once.
    let first = firma_tests::station::run(
        st.command(&rig).env("FIRMA_STATION_CERT_DAYS", "60").args([
            "activate",
            "--reader",
            "00 00",
            "--application",
            "12345678Z",
            "--pin-stdin",
            "--algorithm",
            "p256",
        ]),
        &format!("{PIN}\n{PIN}\n"),
    )
    .ok();
    let puk = puk_from_letter(&first.letter).unwrap();
    both_modules_sign_with_p256(&rig, PIN);
    let serials_before = st.run(&rig, &["applications", "show", "1"], "").ok().stdout;

    // PIN change: the citizen's old PIN, a new one.
    let r = st.run(
        &rig,
        &["change-pin", "--reader", "00 00", "--stdin"],
        &format!("{PIN}\n619372\n619372\n"),
    );
    assert_eq!(r.code, 0, "{}", r.all());
    ok(&mut oracle::verify_pin(&rig, 0, kind, "619372"));
    let r = st.run(
        &rig,
        &["change-pin", "--reader", "00 00", "--stdin"],
        "111111\n619372\n",
    );
    assert_ne!(r.code, 0, "a trivial new PIN is refused: {}", r.all());

    // Renewal: new keys and certificates on the same card; the old revoked.
    let r = st.run(
        &rig,
        &[
            "renew",
            "--reader",
            "00 00",
            "--application",
            "12345678Z",
            "--pin-stdin",
            "--algorithm",
            "p256",
        ],
        "619372\n",
    );
    assert_eq!(r.code, 0, "{}", r.all());
    let after = st.run(&rig, &["applications", "show", "1"], "").ok().stdout;
    assert!(after.contains("application 1: renewed"), "{after}");
    assert_eq!(after.matches(": loaded").count(), 3, "{after}");
    assert_eq!(
        after.matches(": revoked (superseded)").count(),
        3,
        "{after}"
    );
    let crl = ok(Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(st.ca().join("crl.pem")));
    for line in serials_before.lines().filter(|l| l.contains(": loaded")) {
        let serial = line.split_whitespace().nth(1).unwrap();
        assert!(crl.contains(serial), "{serial} not in the CRL:\n{crl}");
    }
    // With 3-year certificates, renewal is not open yet.
    let r = st.run(
        &rig,
        &[
            "renew",
            "--reader",
            "00 00",
            "--application",
            "1",
            "--pin-stdin",
        ],
        "619372\n",
    );
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(
        r.stderr.contains("renewal of application 1 opens on"),
        "{}",
        r.stderr
    );

    // Unblock with the PUK of the letter after three wrong PINs.
    oracle::block_pin(&rig, 0, kind);
    let r = st.run(
        &rig,
        &["unblock", "--reader", "00 00", "--stdin"],
        "00000000\n482913\n",
    );
    assert_ne!(r.code, 0, "a wrong PUK");
    assert!(r.stderr.contains("tries left"), "{}", r.stderr);
    let r = st.run(
        &rig,
        &["unblock", "--reader", "00 00", "--stdin"],
        &format!("{puk}\n482913\n"),
    );
    assert_eq!(r.code, 0, "{}", r.all());
    ok(&mut oracle::verify_pin(&rig, 0, kind, "482913"));

    // Revocation: needs --yes; then registry and CRL.
    let r = st.run(
        &rig,
        &["revoke", "--application", "1", "--reason", "key-compromise"],
        "",
    );
    assert_eq!(r.code, 2, "{}", r.all());
    st.run(
        &rig,
        &[
            "revoke",
            "--application",
            "1",
            "--reason",
            "key-compromise",
            "--yes",
        ],
        "",
    )
    .ok();
    let show = st.run(&rig, &["applications", "show", "1"], "").ok().stdout;
    assert!(show.contains("application 1: revoked"), "{show}");
    assert_eq!(show.matches("(key-compromise)").count(), 3, "{show}");
    let crl = ok(Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(st.ca().join("crl.pem")));
    assert_eq!(crl.matches("Key Compromise").count(), 3, "{crl}");
    let verify = ok(Command::new("openssl")
        .args(["crl", "-noout", "-CAfile"])
        .arg(st.ca().join("ca.pem"))
        .arg("-in")
        .arg(st.ca().join("crl.pem")));
    assert!(verify.contains("verify OK"), "{verify}");

    // Reset for re-issue: the card is blank again (factory PIN, no
    // certificates) and the registry knows it.
    let r = st.run(&rig, &["reset-card", "--reader", "00 00"], "");
    assert_eq!(r.code, 2, "needs --yes: {}", r.all());
    st.run(&rig, &["reset-card", "--reader", "00 00", "--yes"], "")
        .ok();
    assert_eq!(oracle::certificate_count(&rig, 0, kind), 0);
    ok(&mut oracle::verify_pin(&rig, 0, kind, "123456"));
    let inspect = st
        .run(&rig, &["inspect", "--reader", "00 00"], "")
        .ok()
        .stdout;
    assert!(
        inspect.contains(&format!("registry: card {serial} reset")),
        "{inspect}"
    );
    assert!(st
        .run(&rig, &["audit", "verify"], "")
        .ok()
        .stdout
        .contains("intact"));
}

#[test]
fn the_audit_log_detects_an_edit_anywhere() {
    let rig = Pcscd::start().expect("rig");
    let st = StationDir::new();
    st.import_csv(&rig, "given_name,surnames,nif,email,phone,card_serial\nAna,García,12345678Z,ana@example.es,600000001,\nBea,Ruiz,87654321X,bea@example.es,600000002,\n").ok();
    st.identity(&rig, "12345678Z");
    st.identity(&rig, "87654321X");
    assert!(st
        .run(&rig, &["audit", "verify"], "")
        .ok()
        .stdout
        .contains("intact: 4 entries"));
    // The log refuses edits through SQL.
    let station = Registry::of(&st);
    assert!(station
        .sql("UPDATE audit SET operator = 'mallory' WHERE seq = 2")
        .is_err());
    assert!(station.sql("DELETE FROM audit WHERE seq = 2").is_err());
    // Someone who drops the guard and edits an entry is found out.
    let owner = station.owner();
    owner.sql(owner.drop_guards()).unwrap();
    owner
        .sql("UPDATE audit SET detail = 'nothing happened' WHERE seq = 2")
        .unwrap();
    let r = st.run(&rig, &["audit", "verify"], "");
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("audit entry 2 was altered"),
        "{}",
        r.stderr
    );
    // Removing an entry is found as well.
    let r2 = StationDir::new();
    r2.import_csv(&rig, "given_name,surnames,nif,email,phone,card_serial\nAna,García,12345678Z,ana@example.es,600000001,\nBea,Ruiz,87654321X,bea@example.es,600000002,\n").ok();
    r2.identity(&rig, "12345678Z");
    let owner2 = Registry::of(&r2).owner();
    owner2.sql(owner2.drop_guards()).unwrap();
    owner2.sql("DELETE FROM audit WHERE seq = 2").unwrap();
    let r = r2.run(&rig, &["audit", "verify"], "");
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(
        r.stderr.contains("THE AUDIT LOG WAS TAMPERED WITH"),
        "{}",
        r.stderr
    );
}

#[test]
fn ca_init_makes_a_ca_once_and_lapsed_applications_expire() {
    let rig = Pcscd::start().expect("rig");
    let st = StationDir::new();
    let ca = st.path().join("new-ca");
    let ca_arg = ca.to_str().unwrap();
    st.run(
        &rig,
        &["--ca", ca_arg, "ca", "init", "--name", "PRU Test CA"],
        "",
    )
    .ok();
    let text = ok(Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-subject",
            "-ext",
            "basicConstraints,keyUsage",
            "-in",
        ])
        .arg(ca.join("ca.pem")));
    assert!(
        text.contains("CN = PRU Test CA")
            && text.contains("CA:TRUE")
            && text.contains("Certificate Sign"),
        "{text}"
    );
    let again = st.run(&rig, &["--ca", ca_arg, "ca", "init"], "");
    assert_ne!(again.code, 0);
    assert!(again.stderr.contains("already exists"), "{}", again.all());
    // A station without a CA says how to make one.
    let missing = st.run(
        &rig,
        &[
            "--ca",
            "/nonexistent/ca",
            "revoke",
            "--application",
            "1",
            "--reason",
            "superseded",
            "--yes",
        ],
        "",
    );
    assert_eq!(missing.code, 5, "{}", missing.all());
    assert!(
        missing.stderr.contains("firma-station ca init"),
        "{}",
        missing.all()
    );

    st.import_csv(&rig, "given_name,surnames,nif,email,phone,card_serial,requested_on\nKarl,Old,34567890V,karl@example.es,600000011,,2020-01-01\nNew,Person,12345678Z,new@example.es,600000012,,\n").ok();
    let out = st.run(&rig, &["applications", "expire"], "").ok().stdout;
    assert!(
        out.contains("application 1 expired: not activated by 2020-03-31"),
        "{out}"
    );
    assert!(out.contains("1 application(s) expired"), "{out}");
    let list = st.run(&rig, &["applications", "list"], "").ok().stdout;
    assert!(
        list.contains("expired") && list.contains("requested"),
        "{list}"
    );
    let _ = fails;
}

/// SQL on a station's registry, as an attacker with access to it would run
/// it: the embedded file, or the central database as the station's role or
/// as its owner.
struct Registry<'a> {
    st: &'a StationDir,
    as_owner: bool,
}

impl<'a> Registry<'a> {
    fn of(st: &'a StationDir) -> Self {
        Self {
            st,
            as_owner: false,
        }
    }

    /// The same registry as the one who owns it (the file's user, the DBA).
    fn owner(&self) -> Self {
        Self {
            st: self.st,
            as_owner: true,
        }
    }

    fn sql(&self, sql: &str) -> Result<(), String> {
        match &self.st.central {
            Some(c) if self.as_owner => c.server.psql(&c.database, sql).map(drop),
            Some(c) => c.server.psql_as_station(&c.database, sql).map(drop),
            None => rusqlite::Connection::open(self.st.path().join("registry.sqlite"))
                .and_then(|db| db.execute_batch(sql))
                .map_err(|e| e.to_string()),
        }
    }

    /// What removes the audit log's append-only triggers.
    fn drop_guards(&self) -> &'static str {
        match self.st.central {
            Some(_) => "ALTER TABLE audit DISABLE TRIGGER USER",
            None => "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;",
        }
    }
}

#[test]
fn an_identity_check_serves_one_activation() {
    let rig = Pcscd::start().expect("rig");
    let _card = rig.insert(0, &CardOptions::default()).unwrap();
    let st = StationDir::new();
    st.import_csv(
        &rig,
        "given_name,surnames,nif,email,phone,card_serial\nAna,García,12345678Z,ana@example.es,600000001,\n",
    )
    .ok();
    st.identity(&rig, "12345678Z");
    activate(&st, &rig, 0, "12345678Z", &[]).ok();
    // Reset for re-issue: the application is open again, its check is not.
    st.run(&rig, &["reset-card", "--reader", "00 00", "--yes"], "")
        .ok();
    // The identity check was the first activation's evidence: a re-issue
    // needs a new one, whatever its age.
    let again = |pin: &str| {
        st.run(
            &rig,
            &[
                "activate",
                "--reader",
                "00 00",
                "--application",
                "12345678Z",
                "--pin-stdin",
            ],
            &format!("{pin}\n{pin}\n"),
        )
    };
    let r = again(PIN);
    assert_eq!(r.code, 4, "{}", r.all());
    assert!(
        r.stderr.contains("identity has not been checked"),
        "{}",
        r.all()
    );
    st.identity(&rig, "12345678Z");
    // Past the identity check now (a trivial PIN stops it before the card).
    let r = again("123456");
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("the PIN is not acceptable"),
        "{}",
        r.all()
    );
}
