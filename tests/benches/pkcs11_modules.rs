//! Firma's PKCS#11 module against OpenSC's and Yubico's on the same virtual
//! card (firma-vcard through pcscd + vpcd): time and APDU count for what a
//! browser does. APDUs are counted from the card's own log (`--log-apdus`).
//!
//! Run with `scripts/bench.sh`. The readers' names start with "Yubico" so
//! that ykcs11 2.2 sees them.

use std::path::Path;
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use firma_tests::{firma_module, personalize, CardOptions, Pcscd, OPENSC_PKCS11, YKCS11};

fn apdus(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

struct Row {
    what: &'static str,
    time: Duration,
    apdus: usize,
}

fn measure<T>(log: &Path, rows: &mut Vec<Row>, what: &'static str, f: impl FnOnce() -> T) -> T {
    let before = apdus(log);
    let start = Instant::now();
    let out = f();
    let time = start.elapsed();
    rows.push(Row {
        what,
        time,
        apdus: apdus(log) - before,
    });
    out
}

fn run(module: &str, log: &Path) -> Vec<Row> {
    let mut rows = Vec::new();
    let (p11, session) = measure(
        log,
        &mut rows,
        "load, initialize, slots, token info, find all",
        || {
            let p11 = Pkcs11::new(module).expect("load module");
            p11.initialize(CInitializeArgs::OsThreads).unwrap();
            let slot = p11.get_slots_with_token().unwrap()[0];
            p11.get_token_info(slot).unwrap();
            let session = p11.open_ro_session(slot).unwrap();
            session.find_objects(&[]).unwrap();
            (p11, session)
        },
    );
    measure(log, &mut rows, "C_Login", || {
        session
            .login(UserType::User, Some(&AuthPin::new("123456".into())))
            .unwrap()
    });
    // By key type: the modules number their objects differently. The EC key
    // is in 9E: OpenSC offers 9D EC keys for key agreement only.
    let key = |kind: KeyType| {
        session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(kind),
            ])
            .unwrap()[0]
    };
    let (rsa, ec) = (key(KeyType::RSA), key(KeyType::EC));
    measure(log, &mut rows, "C_Sign RSA-2048 (SHA256-RSA-PKCS)", || {
        session
            .sign(&Mechanism::Sha256RsaPkcs, rsa, b"benchmark")
            .unwrap()
    });
    // CKM_ECDSA on a hash: the mechanism all three modules offer for this key.
    measure(
        log,
        &mut rows,
        "C_Sign P-256 (ECDSA of a SHA-256 hash)",
        || session.sign(&Mechanism::Ecdsa, ec, &[0x5A; 32]).unwrap(),
    );
    measure(
        log,
        &mut rows,
        "1000 x C_Sign RSA-2048, one session",
        || {
            for i in 0..1000u32 {
                session
                    .sign(&Mechanism::Sha256RsaPkcs, rsa, &i.to_be_bytes())
                    .unwrap();
            }
        },
    );
    drop(session);
    drop(p11);
    rows
}

fn main() {
    let rig = Pcscd::start().expect("rig");
    // libpcsclite reads the socket path once per process, before any thread.
    std::env::set_var("PCSCLITE_CSOCK_NAME", rig.socket());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("card.json");
    let log = dir.path().join("apdus.log");
    let opts = CardOptions {
        state: Some(state.clone()),
        log_apdus: Some(log.clone()),
        ..Default::default()
    };
    let _card = rig.insert(0, &opts).unwrap();
    let _p = personalize(
        &rig,
        0,
        &[("9a", "RSA2048"), ("9e", "ECCP256")],
        "BENCHMARK",
    );
    let modules = [
        ("Firma", firma_module()),
        ("OpenSC", OPENSC_PKCS11.to_string()),
        ("ykcs11", YKCS11.to_string()),
    ];
    let results: Vec<(&str, Vec<Row>)> = modules
        .iter()
        .map(|(name, path)| {
            eprintln!("benchmarking {name}");
            (*name, run(path, &log))
        })
        .collect();
    print!("| operation |");
    for (name, _) in &results {
        print!(" {name} time | {name} APDUs |");
    }
    println!();
    println!("|---|{}", "---:|---:|".repeat(results.len()));
    for i in 0..results[0].1.len() {
        print!("| {} |", results[0].1[i].what);
        for (_, rows) in &results {
            print!(
                " {:.1} ms | {} |",
                rows[i].time.as_secs_f64() * 1e3,
                rows[i].apdus
            );
        }
        println!();
    }
}
