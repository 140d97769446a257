//! The central registry as a network of Registration Points uses it: a real
//! PostgreSQL server of the rig's own, stations on different data
//! directories sharing one database, racing each other, and the server
//! going away in the middle of an activation.

use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use firma_tests::postgres::PgServer;
use firma_tests::station::{Central, Run, StationDir};
use firma_tests::{oracle, CardKind, CardOptions, Pcscd};

const PIN: &str = "730194";
const APPS: &str = "given_name,surnames,nif,email,phone,card_serial\n\
                    Ana,García López,12345678Z,ana@example.es,600000001,\n";

fn activate_args(reader: u8) -> Vec<String> {
    [
        "activate",
        "--reader",
        &format!("00 0{reader}"),
        "--application",
        "12345678Z",
        "--pin-stdin",
        "--algorithm",
        "p256",
    ]
    .map(String::from)
    .to_vec()
}

fn activate(st: &StationDir, rig: &Pcscd, reader: u8) -> Run {
    let args = activate_args(reader);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    st.run(rig, &args, &format!("{PIN}\n{PIN}\n"))
}

/// Two stations (two data directories, two vaults) on one database.
fn two_stations() -> (Central, StationDir, StationDir) {
    let server = Arc::new(PgServer::start().expect("PostgreSQL"));
    let central = Central::new(server);
    let a = StationDir::with_registry(Some(central.clone()));
    let b = StationDir::with_registry(Some(central.clone()));
    (central, a, b)
}

fn count(central: &Central, sql: &str) -> i64 {
    central
        .server
        .psql(&central.database, sql)
        .expect("psql")
        .trim()
        .parse()
        .expect("a count")
}

#[test]
fn two_stations_activating_one_application_at_once_leave_one_card_personalized() {
    let rig = Pcscd::start().expect("rig");
    let (central, a, b) = two_stations();
    a.import_csv(&rig, APPS).ok();
    b.identity(&rig, "12345678Z");
    let slow = |serial| CardOptions {
        serial: Some(serial),
        keygen_delay_ms: Some(300),
        ..Default::default()
    };
    let _card_a = rig.insert(0, &slow(2001)).unwrap();
    let _card_b = rig.insert(1, &slow(2002)).unwrap();
    let audit_before = count(&central, "SELECT count(*) FROM audit");
    let (ra, rb) = std::thread::scope(|s| {
        let ra = s.spawn(|| activate(&a, &rig, 0));
        let rb = s.spawn(|| activate(&b, &rig, 1));
        (ra.join().unwrap(), rb.join().unwrap())
    });
    // Exactly one proceeds; the other is told, with the state's exit code.
    let (won, lost, lost_reader) = match (ra.code, rb.code) {
        (0, _) => (ra, rb, 1),
        (_, 0) => (rb, ra, 0),
        _ => panic!("neither activated:\n{}\n{}", ra.all(), rb.all()),
    };
    assert_eq!(lost.code, 4, "{}", lost.all());
    assert!(
        lost.stderr.contains("another station")
            || lost.stderr.contains("already")
            || lost.stderr.contains("card"),
        "the refusal says why: {}",
        lost.stderr
    );
    assert!(won.letter.contains("PUK"), "{}", won.all());
    // The loser's card is as blank as it came, and the registry holds one
    // activation, one personalized card and its three certificates.
    assert_eq!(
        oracle::certificate_count(&rig, lost_reader, CardKind::Firma),
        0
    );
    assert_eq!(count(&central, "SELECT count(*) FROM activations"), 1);
    assert_eq!(
        count(
            &central,
            "SELECT count(*) FROM cards WHERE state = 'personalized'"
        ),
        1
    );
    assert_eq!(count(&central, "SELECT count(*) FROM certificates"), 3);
    assert!(count(&central, "SELECT count(*) FROM audit") > audit_before);
    // One chain for the network, whichever station verifies it, with both
    // stations' entries in it.
    for st in [&a, &b] {
        let verify = st.run(&rig, &["audit", "verify"], "").ok();
        assert!(verify.stdout.contains("intact"), "{}", verify.all());
    }
}

#[test]
fn many_stations_at_once_lose_no_identity_check_and_keep_one_chain() {
    let rig = Pcscd::start().expect("rig");
    let server = Arc::new(PgServer::start().expect("PostgreSQL"));
    let central = Central::new(server);
    let stations: Vec<StationDir> = (0..4)
        .map(|_| StationDir::with_registry(Some(central.clone())))
        .collect();
    // Each station imports its own citizens, all at the same time.
    let dnis = |i: u32| -> Vec<String> {
        let letters = b"TRWAGMYFPDXBNJZSQVHLCKE";
        (0..3)
            .map(|j| {
                let n = 10_000_000 + i * 100 + j;
                format!("{n:08}{}", letters[(n % 23) as usize] as char)
            })
            .collect()
    };
    std::thread::scope(|s| {
        for (i, st) in stations.iter().enumerate() {
            let rig = &rig;
            s.spawn(move || {
                let mut csv = String::from("given_name,surnames,nif,email,phone,card_serial\n");
                for nif in dnis(i as u32) {
                    csv.push_str(&format!("Ana,García,{nif},a@example.es,600000000,\n"));
                }
                st.import_csv(rig, &csv).ok();
                for nif in dnis(i as u32) {
                    st.identity(rig, &nif);
                }
            });
        }
    });
    assert_eq!(count(&central, "SELECT count(*) FROM applications"), 12);
    assert_eq!(count(&central, "SELECT count(*) FROM identity_checks"), 12);
    // 12 imports and 12 identity checks, each in the one chain.
    assert_eq!(count(&central, "SELECT count(*) FROM audit"), 24);
    let verify = stations[3].run(&rig, &["audit", "verify"], "").ok();
    assert!(
        verify.stdout.contains("intact: 24 entries"),
        "{}",
        verify.all()
    );
}

#[test]
fn stations_may_append_to_the_audit_log_and_nothing_else() {
    let rig = Pcscd::start().expect("rig");
    let (central, a, _) = two_stations();
    a.import_csv(&rig, APPS).ok();
    let as_station = |sql: &str| central.server.psql_as_station(&central.database, sql);
    for sql in [
        "UPDATE audit SET operator = 'mallory'",
        "DELETE FROM audit",
        "TRUNCATE audit",
        "ALTER TABLE audit DISABLE TRIGGER USER",
        "DROP TABLE audit",
    ] {
        let refused = as_station(sql).expect_err(sql);
        assert!(
            refused.contains("permission denied") || refused.contains("must be owner"),
            "{sql}: {refused}"
        );
    }
    // What a station does need, it may.
    assert_eq!(
        as_station("SELECT count(*) FROM audit").unwrap().trim(),
        "1"
    );
    // Even the owner cannot change an entry while the triggers stand.
    let owner = central
        .server
        .psql(&central.database, "UPDATE audit SET operator = 'mallory'")
        .unwrap_err();
    assert!(owner.contains("append-only"), "{owner}");
}

#[test]
fn a_registry_that_is_not_migrated_says_who_migrates_it() {
    let rig = Pcscd::start().expect("rig");
    let server = Arc::new(PgServer::start().expect("PostgreSQL"));
    let database = server.create_database().unwrap();
    let central = Central {
        server: server.clone(),
        database: database.clone(),
    };
    let st = StationDir::with_registry(Some(central));
    let r = st.run(&rig, &["applications", "list"], "");
    assert_eq!(r.code, 6, "{}", r.all());
    assert!(r.stderr.contains("registry migrate"), "{}", r.stderr);
    // The owner migrates it, once; the second run has nothing to do.
    let admin = server.admin_url(&database);
    let migrate = || {
        std::process::Command::new(firma_tests::bin("firma-station"))
            .arg("--data-dir")
            .arg(st.path())
            .args(["--registry", &admin, "registry", "migrate"])
            .output()
            .unwrap()
    };
    let out = migrate();
    let text = String::from_utf8_lossy(&out.stdout);
    let ran: usize = text
        .strip_prefix("Ran ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(out.status.success() && ran >= 1, "{text}");
    let again = migrate();
    assert!(String::from_utf8_lossy(&again.stdout).contains("already"));
    server
        .psql(
            &database,
            &format!(
                "GRANT firma_station TO {}",
                firma_tests::postgres::STATION_ROLE
            ),
        )
        .unwrap();
    st.run(&rig, &["applications", "list"], "").ok();
}

#[test]
fn the_registry_going_away_mid_activation_stops_it_and_the_next_run_finishes() {
    let rig = Pcscd::start().expect("rig");
    let (central, st, _) = two_stations();
    st.import_csv(&rig, APPS).ok();
    st.identity(&rig, "12345678Z");
    let _card = rig
        .insert(
            0,
            &CardOptions {
                serial: Some(3001),
                keygen_delay_ms: Some(1500),
                ..Default::default()
            },
        )
        .unwrap();
    let mut child = st
        .command(&rig)
        .args(activate_args(0))
        .arg("--letter")
        .arg(st.path().join("unfinished-letter.pdf"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PIN}\n{PIN}\n").as_bytes())
        .unwrap();
    // The server goes away once the first key is journaled.
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(
        &central,
        "SELECT count(*) FROM journal WHERE step = 'generate-9a'",
    ) == 0
    {
        assert!(Instant::now() < deadline, "no key was generated");
        std::thread::sleep(Duration::from_millis(50));
    }
    central.server.stop();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("cannot be reached") && stderr.contains("run the same command again"),
        "{stderr}"
    );
    // Back: the same command finishes without making the first key again.
    central.server.restart().unwrap();
    let again = activate(&st, &rig, 0).ok();
    assert!(again.letter.contains("PUK"), "{}", again.all());
    assert_eq!(
        count(
            &central,
            "SELECT count(*) FROM journal WHERE step = 'generate-9a' AND outcome = 'done'"
        ),
        1,
        "the key generated before the outage was kept"
    );
    assert_eq!(oracle::certificate_count(&rig, 0, CardKind::Firma), 3);
    assert!(st
        .run(&rig, &["audit", "verify"], "")
        .ok()
        .stdout
        .contains("intact"));
}
