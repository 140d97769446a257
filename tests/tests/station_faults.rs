//! An activation interrupted anywhere (the card pulled out after any APDU,
//! the station killed after any step) and run again ends with the card
//! personalized once, the registry consistent and the audit chain intact.

use std::time::Duration;

use firma_tests::station::{puk_from_letter, Run, StationDir};
use firma_tests::{ok, CardKind, CardOptions, Pcscd};

const PIN: &str = "502816";
const NIF: &str = "87654321X";

fn application(st: &StationDir, rig: &Pcscd) {
    st.import_csv(
        rig,
        &format!(
            "given_name,surnames,nif,email,phone,card_serial\nLuis,Pérez Gil,{NIF},luis@example.es,600123456,\n"
        ),
    )
    .ok();
    st.identity(rig, NIF);
}

fn activate(st: &StationDir, rig: &Pcscd, reader: u8) -> Run {
    let reader = format!("00 0{reader}");
    st.run(
        rig,
        &[
            "activate",
            "--reader",
            &reader,
            "--application",
            NIF,
            "--pin-stdin",
            "--algorithm",
            "p256",
        ],
        &format!("{PIN}\n"),
    )
}

/// The card, registry and audit log after a successful (resumed) activation.
fn assert_personalized_once(
    st: &StationDir,
    rig: &Pcscd,
    (kind, reader): (CardKind, u8),
    last: &Run,
    context: &str,
) {
    assert_eq!(
        last.code,
        0,
        "{context}: the resumed activation failed:\n{}",
        last.all()
    );
    assert!(
        puk_from_letter(&last.letter).is_some(),
        "{context}: no PUK letter:\n{}",
        last.all()
    );
    let show = st.run(rig, &["applications", "show", NIF], "").ok().stdout;
    assert!(
        show.contains("application 1: activated"),
        "{context}:\n{show}"
    );
    assert_eq!(
        show.matches(": loaded").count(),
        3,
        "{context}: three certificates on the card:\n{show}"
    );
    assert_eq!(
        show.matches(": issued").count(),
        0,
        "{context}: no certificate left behind unrevoked:\n{show}"
    );
    assert!(!show.contains("unfinished"), "{context}:\n{show}");
    let audit = st.run(rig, &["audit", "verify"], "").ok().stdout;
    assert!(audit.contains("intact"), "{context}: {audit}");
    if kind == CardKind::Nitrokey {
        // yubico-piv-tool cannot select Nitrokey's PIV application (it
        // sends a 5-byte AID): OpenSC checks the card instead.
        return assert_certificates_loaded_per_opensc(rig, reader, &show, context);
    }
    let status = ok(&mut rig.yubico(reader, &["-a", "status"]));
    assert_eq!(
        status.matches("Subject DN:").count(),
        3,
        "{context}:\n{status}"
    );
    ok(&mut rig.yubico(reader, &["-a", "verify-pin", "-P", PIN]));
    // Every certificate on the card is one the registry has as loaded.
    let dir = tempfile::tempdir().unwrap();
    for slot in ["9a", "9c", "9d"] {
        let pem = dir.path().join(format!("{slot}.pem"));
        ok(&mut rig.yubico(
            reader,
            &["-a", "read-cert", "-s", slot, "-o", pem.to_str().unwrap()],
        ));
        let serial = firma_tests::oracle::certificate_serial(&pem);
        let line = show
            .lines()
            .find(|l| l.contains(&serial))
            .unwrap_or_else(|| {
                panic!("{context}: {slot}'s certificate {serial} is not in the registry:\n{show}")
            });
        assert!(line.contains(": loaded"), "{context}: {line}");
    }
}

/// OpenSC sees three certificates, each one the registry has as loaded, and
/// the citizen's PIN opens the card.
fn assert_certificates_loaded_per_opensc(rig: &Pcscd, reader: u8, show: &str, context: &str) {
    let dir = tempfile::tempdir().unwrap();
    let listed = ok(&mut rig.opensc(reader, &["--list-objects", "--type", "cert"]));
    assert_eq!(
        listed.matches("Certificate Object").count(),
        3,
        "{context}:\n{listed}"
    );
    ok(&mut rig.opensc(
        reader,
        &[
            "--login",
            "--pin",
            PIN,
            "--list-objects",
            "--type",
            "privkey",
        ],
    ));
    for id in ["01", "02", "03"] {
        let pem = firma_tests::oracle::opensc_certificate(rig, reader, id, dir.path());
        let serial = firma_tests::oracle::certificate_serial(&pem);
        let line = show
            .lines()
            .find(|l| l.contains(&serial))
            .unwrap_or_else(|| {
                panic!("{context}: certificate {id} ({serial}) is not in the registry:\n{show}")
            });
        assert!(line.contains(": loaded"), "{context}: {line}");
    }
}

/// (step, APDUs before it, APDUs in it) from a station log.
fn steps_in_log(log: &str) -> Vec<(String, u64, u64)> {
    let mut steps: Vec<(String, u64, u64)> = Vec::new();
    let mut count = 0;
    for line in log.lines() {
        if let Some(rest) = line.split("step=\"").nth(1) {
            let name = rest.split('"').next().unwrap_or("").to_string();
            steps.push((name, count, 0));
        } else if line.contains("firma_apdu") && line.contains("APDU ") {
            count += 1;
            if let Some(last) = steps.last_mut() {
                last.2 += 1;
            }
        }
    }
    steps
}

#[test]
fn a_card_pulled_out_at_every_step_resumes_to_one_personalized_card() {
    pulled_out_at_every_step(CardKind::Firma);
}

#[test]
fn a_nitrokey_pulled_out_at_every_step_resumes_to_one_personalized_card() {
    pulled_out_at_every_step(CardKind::Nitrokey);
}

fn pulled_out_at_every_step(kind: CardKind) {
    let rig = Pcscd::start().expect("rig");
    // A reference activation tells how many APDUs each step sends.
    let reference = StationDir::new();
    application(&reference, &rig);
    {
        let _card = rig
            .insert(
                1,
                &CardOptions {
                    kind,
                    ..Default::default()
                },
            )
            .unwrap();
        activate(&reference, &rig, 1).ok();
    }
    let log = std::fs::read_to_string(reference.log()).unwrap();
    let steps = steps_in_log(&log);
    assert!(steps.len() >= 15, "{steps:?}");
    let mut points: Vec<(String, u64)> = Vec::new();
    for (name, start, n) in &steps {
        if *n > 0 {
            points.push((name.clone(), *start));
        }
        if *n >= 3 {
            points.push((format!("{name} (middle)"), start + n / 2));
        }
    }
    assert!(points.len() >= 14, "{points:?}");

    let sweep = |reader: u8, points: Vec<(String, u64)>| {
        for (i, (step, fail_after)) in points.into_iter().enumerate() {
            let context = format!("card pulled after {fail_after} APDUs, in {step}");
            let st = StationDir::new();
            application(&st, &rig);
            let state = st.path().join("card");
            let opts = CardOptions {
                kind,
                state: Some(state.clone()),
                serial: Some(kind.serial(Some(7000 + u32::from(reader) * 100 + i as u32))),
                ..Default::default()
            };
            let mut card = rig
                .insert(
                    reader,
                    &CardOptions {
                        fail_after: Some(fail_after),
                        ..opts.clone()
                    },
                )
                .unwrap();
            let first = activate(&st, &rig, reader);
            assert_ne!(
                first.code,
                0,
                "{context}: it should have stopped:\n{}",
                first.all()
            );
            assert!(
                first.stderr.contains("removed") || first.stderr.contains("no card"),
                "{context}: the operator is told the card went away:\n{}",
                first.all()
            );
            assert!(
                matches!(first.code, 3),
                "{context}: exit status {}:\n{}",
                first.code,
                first.all()
            );
            let show = st.run(&rig, &["applications", "show", NIF], "").ok().stdout;
            assert!(
                !show.contains(": activated"),
                "{context}: marked activated too early:\n{show}"
            );
            card.wait_exit(Duration::from_secs(10)).unwrap();
            drop(card);
            let _card = rig.insert(reader, &opts).unwrap();
            let again = activate(&st, &rig, reader);
            assert_personalized_once(&st, &rig, (kind, reader), &again, &context);
        }
    };
    let (even, odd): (Vec<_>, Vec<_>) = points
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let strip = |v: Vec<(usize, (String, u64))>| v.into_iter().map(|(_, p)| p).collect::<Vec<_>>();
    std::thread::scope(|s| {
        let a = s.spawn(|| sweep(0, strip(even)));
        let b = s.spawn(|| sweep(1, strip(odd)));
        a.join().unwrap();
        b.join().unwrap();
    });
}

#[test]
fn a_station_killed_after_any_step_resumes_to_one_personalized_card() {
    killed_after_any_step(CardKind::Firma);
}

#[test]
fn a_station_killed_after_any_step_resumes_a_nitrokey_to_one_personalized_card() {
    killed_after_any_step(CardKind::Nitrokey);
}

fn killed_after_any_step(kind: CardKind) {
    let rig = Pcscd::start().expect("rig");
    let mut crash_points = vec![
        "check-card",
        "chuid-ccc",
        "generate-9c",
        "pin-puk",
        "issue-9a",
        "issue-9d",
        "load-certificates",
        "management-key-sealed",
        "management-key",
        "self-test",
        "puk-letter",
    ];
    if kind == CardKind::Nitrokey {
        // Without SET PIN RETRIES the new PUK is sealed before the card
        // takes it: killed in between, the next run must still change it.
        crash_points.push("puk-sealed");
    }
    let run_points = |reader: u8, points: &[&str]| {
        for (i, step) in points.iter().enumerate() {
            let context = format!("station killed after {step}");
            let st = StationDir::new();
            application(&st, &rig);
            let _card = rig
                .insert(
                    reader,
                    &CardOptions {
                        kind,
                        serial: Some(kind.serial(Some(8000 + u32::from(reader) * 100 + i as u32))),
                        ..Default::default()
                    },
                )
                .unwrap();
            let killed = firma_tests::station::run(
                st.command(&rig)
                    .env("FIRMA_STATION_CRASH_AFTER", step)
                    .args([
                        "activate",
                        "--reader",
                        &format!("00 0{reader}"),
                        "--application",
                        NIF,
                        "--pin-stdin",
                        "--algorithm",
                        "p256",
                    ]),
                &format!("{PIN}\n"),
            );
            assert_ne!(killed.code, 0, "{context}: {}", killed.all());
            assert!(
                killed.stderr.contains("killed after"),
                "{context}: {}",
                killed.all()
            );
            let again = activate(&st, &rig, reader);
            assert_personalized_once(&st, &rig, (kind, reader), &again, &context);
            if *step == "puk-letter" {
                // The letter of the killed run holds a PUK the card no longer has.
                let old =
                    puk_from_letter(&killed.letter).expect("the killed run printed its letter");
                let new = puk_from_letter(&again.letter).unwrap();
                assert_ne!(
                    old, new,
                    "{context}: a new PUK replaces the one of the lost letter"
                );
            }
        }
    };
    let (a, b) = crash_points.split_at(crash_points.len() / 2);
    std::thread::scope(|s| {
        let x = s.spawn(|| run_points(0, a));
        let y = s.spawn(|| run_points(1, b));
        x.join().unwrap();
        y.join().unwrap();
    });
}

#[test]
fn a_ca_outage_mid_activation_stops_cleanly_and_the_next_run_finishes() {
    let rig = Pcscd::start().expect("rig");
    let st = StationDir::new();
    application(&st, &rig);
    let _card = rig
        .insert(
            0,
            &CardOptions {
                serial: Some(9100),
                ..Default::default()
            },
        )
        .unwrap();
    // The CA cannot store what it issues: every issuance fails.
    let blocker = st.ca().join("issued");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let first = activate(&st, &rig, 0);
    assert_eq!(first.code, 5, "{}", first.all());
    assert!(
        first.stderr.contains("the certificate authority failed"),
        "{}",
        first.all()
    );
    assert!(
        first.stderr.contains("run the same command again"),
        "{}",
        first.all()
    );
    let show = st.run(&rig, &["applications", "show", NIF], "").ok().stdout;
    assert!(show.contains("application 1: requested"), "{show}");
    assert!(show.contains("unfinished activate on card 9100"), "{show}");
    assert!(
        show.contains("issue-9a failed"),
        "the journal says where it stopped:\n{show}"
    );
    // The CA is back: the same command finishes the card.
    std::fs::remove_file(&blocker).unwrap();
    let again = activate(&st, &rig, 0);
    assert_personalized_once(&st, &rig, (CardKind::Firma, 0), &again, "after a CA outage");
    assert!(
        again.stderr.contains("already done"),
        "keys were not generated twice:\n{}",
        again.stderr
    );
}
