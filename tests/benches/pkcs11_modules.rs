//! Firma's PKCS#11 module against OpenSC's and Yubico's on the same virtual
//! cards through pcscd + vpcd, for both card kinds (firma-vcard, and
//! Nitrokey 3's PIV application): for what a browser does, the wall time,
//! the host's share (wall time minus the card's own time, which firma-vcard
//! logs per APDU) and the APDUs, counted from the card's own log
//! (`--log-apdus`). Per-operation rows are medians of 3 x 200. Then two
//! cards in two readers signing from two threads, against one alone.
//!
//! Run with `scripts/bench.sh`. The readers' names start with "Yubico" so
//! that ykcs11 2.2 sees them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use firma_tests::station::StationDir;
use firma_tests::{firma_module, personalize, CardKind, CardOptions, Pcscd, OPENSC_PKCS11, YKCS11};

/// What a card's log says so far: APDUs, and the card's own time when the
/// card logs it (firma-vcard does, the Nitrokey runner does not).
#[derive(Clone, Copy, Default)]
struct Log {
    apdus: usize,
    card: Duration,
    timed: bool,
}

fn read_log(path: &Path) -> Log {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut log = Log::default();
    for line in text.lines() {
        log.apdus += 1;
        if let Some(ms) = line
            .rsplit_once(" card ")
            .and_then(|(_, t)| t.strip_suffix(" ms"))
            .and_then(|t| t.parse::<f64>().ok())
        {
            log.card += Duration::from_secs_f64(ms / 1e3);
            log.timed = true;
        }
    }
    log
}

/// One row of a table: wall time, the host's share if known, APDUs.
struct Row {
    what: String,
    wall: Duration,
    host: Option<Duration>,
    apdus: f64,
}

/// Times `f` once.
fn once<T>(logs: &[&Path], rows: &mut Vec<Row>, what: &str, f: impl FnOnce() -> T) -> T {
    let before: Vec<Log> = logs.iter().map(|l| read_log(l)).collect();
    let start = Instant::now();
    let out = f();
    let wall = start.elapsed();
    let (mut apdus, mut card, mut timed) = (0, Duration::ZERO, true);
    for (l, b) in logs.iter().zip(&before) {
        let a = read_log(l);
        apdus += a.apdus - b.apdus;
        card += a.card.saturating_sub(b.card);
        timed &= a.timed || a.apdus == b.apdus;
    }
    rows.push(Row {
        what: what.into(),
        wall,
        host: timed.then(|| wall.saturating_sub(card)),
        apdus: apdus as f64,
    });
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Times `f` 3 x 200 times, one call at a time: the medians.
fn per_op(log: &Path, rows: &mut Vec<Row>, what: &str, mut f: impl FnMut(u32)) {
    let (mut walls, mut hosts, mut apdus, mut timed) = (Vec::new(), Vec::new(), 0, true);
    for i in 0..600u32 {
        let before = read_log(log);
        let start = Instant::now();
        f(i);
        let wall = start.elapsed();
        let after = read_log(log);
        walls.push(wall);
        hosts.push(wall.saturating_sub(after.card.saturating_sub(before.card)));
        apdus += after.apdus - before.apdus;
        timed &= after.timed;
    }
    rows.push(Row {
        what: what.into(),
        wall: median(walls),
        host: timed.then(|| median(hosts)),
        apdus: apdus as f64 / 600.0,
    });
}

/// A key to sign with: on `reader`, object id `id` (01 9A, 04 9E: the
/// numbering all three modules share), with its card's log.
struct Key<'a> {
    label: &'a str,
    reader: &'a str,
    log: &'a Path,
    id: u8,
    mech: fn() -> Mechanism<'static>,
    data: &'a [u8],
}

fn slot_of(p11: &Pkcs11, reader: &str) -> Slot {
    p11.get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| p11.get_slot_info(*s).unwrap().slot_description() == reader)
        .unwrap_or_else(|| panic!("no token in {reader}"))
}

fn private_key(session: &Session, id: u8) -> ObjectHandle {
    session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(vec![id]),
        ])
        .unwrap()
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no private key with id {id}"))
}

fn logged_in(p11: &Pkcs11, reader: &str, pin: &str) -> Session {
    let s = p11.open_ro_session(slot_of(p11, reader)).unwrap();
    s.login(UserType::User, Some(&AuthPin::new(pin.into())))
        .unwrap();
    s
}

fn run(module: &str, keys: &[Key<'_>], pin: &str) -> Vec<Row> {
    let mut rows = Vec::new();
    let first = &keys[0];
    let (p11, session) = once(
        &[first.log],
        &mut rows,
        "load, initialize, slots, token info, find all",
        || {
            let p11 = Pkcs11::new(module).expect("load module");
            p11.initialize(CInitializeArgs::OsThreads).unwrap();
            let slot = slot_of(&p11, first.reader);
            p11.get_token_info(slot).unwrap();
            let session = p11.open_ro_session(slot).unwrap();
            session.find_objects(&[]).unwrap();
            (p11, session)
        },
    );
    once(&[first.log], &mut rows, "C_Login", || {
        session
            .login(UserType::User, Some(&AuthPin::new(pin.into())))
            .unwrap()
    });
    let k = private_key(&session, first.id);
    once(
        &[first.log],
        &mut rows,
        &format!("first C_Sign, {}", first.label),
        || session.sign(&(first.mech)(), k, first.data).unwrap(),
    );
    drop(session);
    for key in keys {
        let session = logged_in(&p11, key.reader, pin);
        let k = private_key(&session, key.id);
        per_op(
            key.log,
            &mut rows,
            &format!("C_Sign {}, per op", key.label),
            |_| {
                session.sign(&(key.mech)(), k, key.data).unwrap();
            },
        );
    }
    rows
}

/// Two cards in two readers, a thread each, against the slower alone.
fn parallel(module: &str, a: &Key<'_>, b: &Key<'_>, pin: &str) -> (Duration, Duration) {
    let p11 = Pkcs11::new(module).expect("load module");
    p11.initialize(CInitializeArgs::OsThreads).unwrap();
    let sign_n = |key: &Key<'_>| {
        let session = logged_in(&p11, key.reader, pin);
        let k = private_key(&session, key.id);
        let start = Instant::now();
        for _ in 0..200 {
            session.sign(&(key.mech)(), k, key.data).unwrap();
        }
        start.elapsed()
    };
    let alone = sign_n(a).max(sign_n(b));
    let start = Instant::now();
    std::thread::scope(|s| {
        let ta = s.spawn(|| sign_n(a));
        let tb = s.spawn(|| sign_n(b));
        ta.join().unwrap();
        tb.join().unwrap();
    });
    (alone, start.elapsed())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn table(card: &str, results: &[(&str, Vec<Row>)]) {
    println!("\n{card}\n");
    print!("| operation |");
    for (name, _) in results {
        print!(" {name} wall | {name} host | {name} APDUs |");
    }
    println!();
    println!("|---|{}", "---:|---:|---:|".repeat(results.len()));
    for i in 0..results[0].1.len() {
        print!("| {} |", results[0].1[i].what);
        for (_, rows) in results {
            let r = &rows[i];
            let apdus = if r.apdus.fract() == 0.0 {
                format!("{}", r.apdus)
            } else {
                format!("{:.2}", r.apdus)
            };
            print!(
                " {} | {} | {} |",
                ms(r.wall),
                r.host.map_or("–".into(), ms),
                apdus
            );
        }
        println!();
    }
}

/// A Nitrokey card in `reader` activated by the station with `algorithm`
/// (yubico-piv-tool cannot select it, and OpenSC's piv-tool cannot read
/// back an EC key under OpenSSL 3, so the station personalizes it).
fn activated_nitrokey(rig: &Pcscd, reader: u8, algorithm: &str, log: &Path) -> firma_tests::Card {
    let card = rig
        .insert(
            reader,
            &CardOptions {
                kind: CardKind::Nitrokey,
                log_apdus: Some(log.to_path_buf()),
                ..Default::default()
            },
        )
        .unwrap();
    let st = StationDir::new();
    st.import_csv(
        rig,
        "given_name,surnames,nif,email,phone,card_serial\nBench,Mark,12345678Z,b@example.es,600000000,\n",
    )
    .ok();
    st.identity(rig, "12345678Z");
    st.run(
        rig,
        &[
            "activate",
            "--reader",
            &format!("00 0{reader}"),
            "--application",
            "12345678Z",
            "--pin-stdin",
            "--algorithm",
            algorithm,
        ],
        &format!("{NITROKEY_PIN}\n{NITROKEY_PIN}\n"),
    )
    .ok();
    card
}

const NITROKEY_PIN: &str = "482915";

fn firma_vcard(rig: &Pcscd, dir: &Path, modules: &[(&'static str, String)]) {
    std::fs::create_dir_all(dir).unwrap();
    let (log0, log1): (PathBuf, PathBuf) = (dir.join("apdus0.log"), dir.join("apdus1.log"));
    let opts = |log: &Path, serial| CardOptions {
        serial: Some(serial),
        log_apdus: Some(log.to_path_buf()),
        ..Default::default()
    };
    let _c0 = rig.insert(0, &opts(&log0, 10_000_001)).unwrap();
    let _c1 = rig.insert(1, &opts(&log1, 10_000_002)).unwrap();
    let _p0 = personalize(rig, 0, &[("9a", "RSA2048"), ("9e", "ECCP256")], "BENCHMARK");
    let _p1 = personalize(rig, 1, &[("9a", "ECCP256")], "BENCHMARK");
    let (r0, r1) = (rig.reader(0), rig.reader(1));
    let hash = [0x5A; 32];
    let p256_9a = Key {
        label: "P-256 in 9A (PIN once per session)",
        reader: &r1,
        log: &log1,
        id: 1,
        mech: || Mechanism::Ecdsa,
        data: &hash,
    };
    let p256_9e = Key {
        label: "P-256 in 9E (PIN never)",
        reader: &r0,
        log: &log0,
        id: 4,
        mech: || Mechanism::Ecdsa,
        data: &hash,
    };
    let rsa_9a = Key {
        label: "RSA-2048 in 9A (SHA256-RSA-PKCS)",
        reader: &r0,
        log: &log0,
        id: 1,
        mech: || Mechanism::Sha256RsaPkcs,
        data: b"benchmark",
    };
    let keys = [p256_9a, p256_9e, rsa_9a];
    let results: Vec<_> = modules
        .iter()
        .map(|(name, path)| {
            eprintln!("benchmarking {name}");
            (*name, run(path, &keys, "123456"))
        })
        .collect();
    table(
        "firma-vcard (reader 0: RSA-2048 in 9A, P-256 in 9E; reader 1: P-256 in 9A)",
        &results,
    );
    println!("\nTwo cards, a thread each, 200 P-256 signatures per card\n");
    println!("| module | slower card alone | both at once | ratio |");
    println!("|---|---:|---:|---:|");
    for (name, path) in modules {
        let (alone, both) = parallel(path, &keys[0], &keys[1], "123456");
        println!(
            "| {name} | {} | {} | {:.2} |",
            ms(alone),
            ms(both),
            both.as_secs_f64() / alone.as_secs_f64()
        );
    }
}

fn nitrokey(rig: &Pcscd, dir: &Path, modules: &[(&'static str, String)]) {
    // Nitrokey 3's PIV application: ykcs11 cannot select it (5-byte AID).
    std::fs::create_dir_all(dir).unwrap();
    let (rsa_log, ec_log) = (dir.join("nk-rsa.log"), dir.join("nk-ec.log"));
    let _rsa = activated_nitrokey(rig, 0, "rsa2048", &rsa_log);
    let _ec = activated_nitrokey(rig, 1, "p256", &ec_log);
    let (r0, r1) = (rig.reader(0), rig.reader(1));
    let hash = [0x5A; 32];
    let keys = [
        Key {
            label: "P-256 in 9A (PIN once per session)",
            reader: &r1,
            log: &ec_log,
            id: 1,
            mech: || Mechanism::Ecdsa,
            data: &hash,
        },
        Key {
            label: "RSA-2048 in 9A (SHA256-RSA-PKCS)",
            reader: &r0,
            log: &rsa_log,
            id: 1,
            mech: || Mechanism::Sha256RsaPkcs,
            data: b"benchmark",
        },
    ];
    let results: Vec<_> = modules
        .iter()
        .map(|(name, path)| {
            eprintln!("benchmarking {name}");
            (*name, run(path, &keys, NITROKEY_PIN))
        })
        .collect();
    table(
        "Nitrokey 3 PIV (RSA-2048 card in reader 0, P-256 card in reader 1; the runner logs no card time)",
        &results,
    );
}

fn main() {
    let rig = Pcscd::start().expect("rig");
    // libpcsclite reads the socket path once per process, before any thread.
    std::env::set_var("PCSCLITE_CSOCK_NAME", rig.socket());
    let dir = tempfile::tempdir().unwrap();
    let modules = [
        ("Firma", firma_module()),
        ("OpenSC", OPENSC_PKCS11.to_string()),
        ("ykcs11", YKCS11.to_string()),
    ];
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    if only.as_deref() != Some("nitrokey") {
        firma_vcard(&rig, &dir.path().join("vcard"), &modules);
    }
    if only.as_deref() != Some("vcard") {
        nitrokey(&rig, &dir.path().join("nitrokey"), &modules[..2]);
    }
}
