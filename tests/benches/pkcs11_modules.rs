//! Firma's PKCS#11 module against OpenSC's and Yubico's on the same virtual
//! card through pcscd + vpcd, for both card kinds (firma-vcard, and
//! Nitrokey 3's PIV application): time and APDU count for what a browser
//! does. APDUs are counted from the card's own log (`--log-apdus`).
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
use firma_tests::station::StationDir;
use firma_tests::{firma_module, personalize, CardKind, CardOptions, Pcscd, OPENSC_PKCS11, YKCS11};

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

/// Where the keys are: the reader of the RSA key (and of the start-up rows)
/// and the reader of the P-256 key, each with the card's APDU log, and the PIN.
struct Keys<'a> {
    rsa: (&'a str, &'a Path),
    ec: (&'a str, &'a Path),
    pin: &'a str,
}

fn slot_of(p11: &Pkcs11, reader: &str) -> cryptoki::slot::Slot {
    p11.get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| p11.get_slot_info(*s).unwrap().slot_description() == reader)
        .unwrap_or_else(|| panic!("no token in {reader}"))
}

fn run(module: &str, keys: &Keys<'_>) -> Vec<Row> {
    let mut rows = Vec::new();
    let (rsa_reader, log) = keys.rsa;
    let (p11, session) = measure(
        log,
        &mut rows,
        "load, initialize, slots, token info, find all",
        || {
            let p11 = Pkcs11::new(module).expect("load module");
            p11.initialize(CInitializeArgs::OsThreads).unwrap();
            let slot = slot_of(&p11, rsa_reader);
            p11.get_token_info(slot).unwrap();
            let session = p11.open_ro_session(slot).unwrap();
            session.find_objects(&[]).unwrap();
            (p11, session)
        },
    );
    let pin = || AuthPin::new(keys.pin.into());
    measure(log, &mut rows, "C_Login", || {
        session.login(UserType::User, Some(&pin())).unwrap()
    });
    // By key type: the modules number their objects differently.
    let key = |session: &cryptoki::session::Session, kind: KeyType| {
        session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(kind),
            ])
            .unwrap()[0]
    };
    let rsa = key(&session, KeyType::RSA);
    measure(log, &mut rows, "C_Sign RSA-2048 (SHA256-RSA-PKCS)", || {
        session
            .sign(&Mechanism::Sha256RsaPkcs, rsa, b"benchmark")
            .unwrap()
    });
    let (ec_reader, ec_log) = keys.ec;
    let ec_session = if ec_reader == rsa_reader {
        None
    } else {
        let s = p11.open_ro_session(slot_of(&p11, ec_reader)).unwrap();
        s.login(UserType::User, Some(&pin())).unwrap();
        Some(s)
    };
    let ec_session_ref = ec_session.as_ref().unwrap_or(&session);
    let ec = key(ec_session_ref, KeyType::EC);
    // CKM_ECDSA on a hash: the mechanism every module offers for this key.
    measure(
        ec_log,
        &mut rows,
        "C_Sign P-256 (ECDSA of a SHA-256 hash)",
        || {
            ec_session_ref
                .sign(&Mechanism::Ecdsa, ec, &[0x5A; 32])
                .unwrap()
        },
    );
    drop(ec_session);
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

fn table(card: &str, results: &[(&str, Vec<Row>)]) {
    println!("\n{card}\n");
    print!("| operation |");
    for (name, _) in results {
        print!(" {name} time | {name} APDUs |");
    }
    println!();
    println!("|---|{}", "---:|---:|".repeat(results.len()));
    for i in 0..results[0].1.len() {
        print!("| {} |", results[0].1[i].what);
        for (_, rows) in results {
            print!(
                " {:.1} ms | {} |",
                rows[i].time.as_secs_f64() * 1e3,
                rows[i].apdus
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
    let bench =
        |keys: &Keys<'_>, modules: &[(&'static str, String)]| -> Vec<(&'static str, Vec<Row>)> {
            modules
                .iter()
                .map(|(name, path)| {
                    eprintln!("benchmarking {name}");
                    (*name, run(path, keys))
                })
                .collect()
        };

    let log = dir.path().join("apdus.log");
    let opts = CardOptions {
        state: Some(dir.path().join("card.json")),
        log_apdus: Some(log.clone()),
        ..Default::default()
    };
    let card = rig.insert(0, &opts).unwrap();
    let _p = personalize(
        &rig,
        0,
        &[("9a", "RSA2048"), ("9e", "ECCP256")],
        "BENCHMARK",
    );
    let reader = rig.reader(0);
    let keys = Keys {
        rsa: (&reader, &log),
        ec: (&reader, &log),
        pin: "123456",
    };
    table(
        "firma-vcard (RSA-2048 in 9A, P-256 in 9E)",
        &bench(&keys, &modules),
    );
    card.remove().unwrap();

    // Nitrokey 3's PIV application: ykcs11 cannot select it (5-byte AID).
    let (rsa_log, ec_log) = (dir.path().join("nk-rsa.log"), dir.path().join("nk-ec.log"));
    let _rsa = activated_nitrokey(&rig, 0, "rsa2048", &rsa_log);
    let _ec = activated_nitrokey(&rig, 1, "p256", &ec_log);
    let (r0, r1) = (rig.reader(0), rig.reader(1));
    let keys = Keys {
        rsa: (&r0, &rsa_log),
        ec: (&r1, &ec_log),
        pin: NITROKEY_PIN,
    };
    table(
        "Nitrokey 3 PIV (RSA-2048 card in one reader, P-256 card in the other)",
        &bench(&keys, &modules[..2]),
    );
}
