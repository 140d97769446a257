//! The station's data directory holds citizens' personal data and the key
//! every card's management key is sealed with: only the station's user may
//! read it, the station refuses to start on looser modes, the station key
//! is made by `init` alone and never replaced, the PUK letter is a new
//! private file and never the screen, and a PIN taken from the citizen's
//! own document is refused.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use firma_tests::station::{puk_from_letter, StationDir};
use firma_tests::{bin, Pcscd};

const NIF: &str = "48291537R";
const PIN: &str = "730194";
const APPS: &str = "given_name,surnames,nif,email,phone,card_serial\n\
                    Ana,García López,48291537R,ana@example.es,600000001,\n";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

fn activate<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "activate",
        "--reader",
        "00 00",
        "--application",
        NIF,
        "--pin-stdin",
        "--algorithm",
        "p256",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn only_init_makes_the_station_key_and_nothing_starts_without_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("station");
    let station = |args: &[&str]| {
        firma_tests::station::run(
            std::process::Command::new(bin("firma-station"))
                .arg("--data-dir")
                .arg(&dir)
                .args(args),
            "",
        )
    };
    // A command on a directory never initialized: refused, nothing made.
    let r = station(&["applications", "list"]);
    assert_eq!(r.code, 6, "{}", r.all());
    assert!(r.stderr.contains("init"), "says what to run: {}", r.all());
    assert!(!dir.join("station.key").exists() && !dir.join("registry.sqlite").exists());

    let r = station(&["init"]).ok();
    assert!(r.stdout.contains("back the key up"), "{}", r.all());
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("station.key")), 0o600);
    let key = std::fs::read(dir.join("station.key")).unwrap();
    let again = station(&["init"]);
    assert_eq!(again.code, 6, "{}", again.all());
    assert!(again.stderr.contains("never replaced"), "{}", again.all());
    assert_eq!(std::fs::read(dir.join("station.key")).unwrap(), key);
    station(&["applications", "list"]).ok();
}

#[test]
fn registry_log_and_letter_are_private_and_looser_modes_are_refused() {
    let rig = Pcscd::start().expect("rig");
    let _card = rig.insert(0, &Default::default()).unwrap();
    let st = StationDir::new();
    st.import_csv(&rig, APPS).ok();
    st.identity(&rig, NIF);

    // A PIN from the citizen's document: refused before the card is touched.
    for pin in ["291537", "010135"] {
        let r = st.run(&rig, &activate(&[]), &format!("{pin}\n{pin}\n"));
        assert_eq!(r.code, 2, "{pin}: {}", r.all());
        assert!(r.stderr.contains("NIF/NIE or a date"), "{}", r.all());
    }
    // A letter file that exists (or a link planted there) is refused, also
    // before the card is touched.
    let planted = st.path().join("planted.pdf");
    let target = st.path().join("elsewhere");
    std::os::unix::fs::symlink(&target, &planted).unwrap();
    let r = st.run(
        &rig,
        &activate(&["--letter", planted.to_str().unwrap()]),
        &format!("{PIN}\n{PIN}\n"),
    );
    assert_ne!(r.code, 0, "{}", r.all());
    assert!(r.stderr.contains("already exists"), "{}", r.all());
    assert!(!target.exists());

    let letter = st.path().join("letter.pdf");
    let r = st
        .run(
            &rig,
            &activate(&["--letter", letter.to_str().unwrap()]),
            &format!("{PIN}\n{PIN}\n"),
        )
        .ok();
    let puk = puk_from_letter(&firma_tests::station::pdf_text(&letter)).expect("a PUK letter");
    let spaced = format!("{} {}", &puk[..4], &puk[4..]);
    assert!(
        !r.all().contains(&puk) && !r.all().contains(&spaced),
        "the PUK was on the screen: {}",
        r.all()
    );
    assert_eq!(mode(&letter), 0o600);
    for f in [
        "registry.sqlite",
        "registry.sqlite-wal",
        "registry.sqlite-shm",
        "station.log",
    ] {
        let p = st.path().join(f);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{f}");
        }
    }
    assert!(st.log().exists());
    assert_eq!(mode(st.path()), 0o700);

    // Looser modes: the station refuses, naming the chmod.
    let registry = st.path().join("registry.sqlite");
    if st.central.is_none() {
        chmod(&registry, 0o644);
        let r = st.run(&rig, &["applications", "list"], "");
        assert_eq!(r.code, 6, "{}", r.all());
        assert!(
            r.stderr
                .contains(&format!("chmod 600 {}", registry.display())),
            "{}",
            r.all()
        );
        chmod(&registry, 0o600);
    }
    chmod(st.path(), 0o755);
    let r = st.run(&rig, &["applications", "list"], "");
    assert_eq!(r.code, 6, "{}", r.all());
    assert!(
        r.stderr
            .contains(&format!("chmod 700 {}", st.path().display())),
        "{}",
        r.all()
    );
    chmod(st.path(), 0o700);

    // The key lost while a card depends on it: nothing starts, and init
    // refuses to make a new one (it could not administer the card).
    let key = st.path().join("station.key");
    let saved = std::fs::read(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    let r = st.run(&rig, &["applications", "list"], "");
    assert_eq!(r.code, 6, "{}", r.all());
    if st.central.is_none() {
        let r = st.run(&rig, &["init"], "");
        assert_eq!(r.code, 6, "{}", r.all());
        assert!(r.stderr.contains("restore station.key"), "{}", r.all());
        assert!(!key.exists());
    }
    std::fs::write(&key, saved).unwrap();
    chmod(&key, 0o600);
    st.run(&rig, &["applications", "list"], "").ok();
}
