//! The rig's helper: waits for PC/SC reader events (used by the tests, which
//! cannot use PC/SC in-process with several private pcscd at once) and runs
//! the demo environment of the README.

use std::process::ExitCode;
use std::time::{Duration, Instant};

fn usage() -> ExitCode {
    eprintln!("usage: firma-rig wait-card READER present|absent TIMEOUT_MS\n       firma-rig demo [--once]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["wait-card", reader, state, timeout] => {
            let Ok(ms) = timeout.parse::<u64>() else {
                return usage();
            };
            wait_card(reader, state == "present", Duration::from_millis(ms))
        }
        ["demo"] => demo(false),
        ["demo", "--once"] => demo(true),
        _ => usage(),
    }
}

fn wait_card(reader: &str, present: bool, timeout: Duration) -> ExitCode {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(ctx) = firma_apdu::transport::pcsc_context() {
            if let Ok(readers) = firma_apdu::transport::list_readers(&ctx) {
                if readers
                    .iter()
                    .any(|r| r.name == reader && r.atr.is_some() == present)
                {
                    return ExitCode::SUCCESS;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    ExitCode::FAILURE
}

/// Two readers with blank virtual cards, and the station on them.
/// The demo station: the test CA and the demo applications of `fixtures/`,
/// the first time only (what the operator did survives a restart).
fn prepare_station(dir: &std::path::Path) -> std::io::Result<()> {
    if !dir.join("station.key").exists() {
        // `firma-station init`: the private data directory and its key.
        let status = std::process::Command::new(firma_tests::bin("firma-station"))
            .arg("--data-dir")
            .arg(dir)
            .arg("init")
            .status()?;
        if !status.success() {
            return Err(std::io::Error::other("firma-station init failed"));
        }
    }
    let ca = dir.join("ca");
    std::fs::create_dir_all(&ca)?;
    for f in ["ca.key", "ca.pem"] {
        if !ca.join(f).exists() {
            std::fs::copy(firma_tests::fixtures().join("test-ca").join(f), ca.join(f))?;
        }
    }
    if !dir.join("registry.sqlite").exists() {
        let status = std::process::Command::new(firma_tests::bin("firma-station"))
            .arg("--data-dir")
            .arg(dir)
            .args([
                "--operator",
                "demo",
                "--station",
                "PRU demo",
                "applications",
                "import",
            ])
            .arg(firma_tests::fixtures().join("demo-applications.csv"))
            .status()?;
        if !status.success() {
            return Err(std::io::Error::other(
                "importing the demo applications failed",
            ));
        }
    }
    Ok(())
}

fn demo(once: bool) -> ExitCode {
    let rig = match firma_tests::Pcscd::start() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("firma-rig: cannot start pcscd with the vpcd driver: {e}");
            return ExitCode::FAILURE;
        }
    };
    let data = std::env::var_os("FIRMA_DEMO_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("firma-demo"));
    let _ = std::fs::create_dir_all(&data);
    let mut cards = Vec::new();
    for slot in 0..2u8 {
        let opts = firma_tests::CardOptions {
            state: Some(data.join(format!("card{slot}.json"))),
            serial: Some(20_000_001 + u32::from(slot)),
            ..Default::default()
        };
        match rig.insert(slot, &opts) {
            Ok(c) => cards.push(c),
            Err(e) => {
                eprintln!("firma-rig: cannot insert a virtual card: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let status = rig
        .command(firma_tests::bin("firma-station"))
        .arg("readers")
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        return ExitCode::FAILURE;
    }
    if once {
        return ExitCode::SUCCESS;
    }
    let station_dir = data.join("station");
    if let Err(e) = prepare_station(&station_dir) {
        eprintln!(
            "firma-rig: cannot prepare the demo station in {}: {e}",
            station_dir.display()
        );
        return ExitCode::FAILURE;
    }
    // Generation Codes sent by SMS land as files here, unless a gateway is set.
    let outbox = data.join("sms-outbox");
    let sms_configured = ["FIRMA_SMS_GATEWAY", "FIRMA_SMS_OUTBOX"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    let station = |cmd: &mut std::process::Command| {
        cmd.arg("--data-dir").arg(&station_dir).args([
            "--operator",
            "demo",
            "--station",
            "PRU demo",
        ]);
        if !sms_configured {
            cmd.env("FIRMA_SMS_OUTBOX", &outbox);
        }
    };
    println!(
        "\nThe virtual cards are kept in {}, the demo station (registry, test CA) in {}.\n\
         Other PC/SC programs reach these readers with\n  export PCSCLITE_CSOCK_NAME={}\n\
         (for example: yubico-piv-tool -r Yubico -a status).",
        data.display(),
        station_dir.display(),
        rig.socket().display()
    );
    let has_display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
    if has_display {
        println!("Opening Firma Station. Close its window (or press Ctrl-C here) to stop.");
        let mut cmd = rig.command(firma_tests::bin("firma-station"));
        station(&mut cmd);
        let ui = cmd.spawn();
        if let Ok(child) = ui {
            // Shared, so that a Ctrl-C or SIGTERM to the rig closes the
            // window too before the readers go (it would stay open on
            // readers that no longer exist).
            let child = std::sync::Arc::new(std::sync::Mutex::new(child));
            let (tx, rx) = std::sync::mpsc::channel();
            let tx2 = tx.clone();
            let _ = ctrlc::set_handler(move || {
                let _ = tx2.send(());
            });
            let watched = child.clone();
            std::thread::spawn(move || loop {
                let exited = watched
                    .lock()
                    .map(|mut c| c.try_wait().map_or(true, |status| status.is_some()))
                    .unwrap_or(true);
                if exited {
                    let _ = tx.send(());
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            });
            let _ = rx.recv();
            if let Ok(mut window) = child.lock() {
                let _ = window.kill();
                let _ = window.wait();
            }
            drop(cards);
            drop(rig);
            eprintln!("firma-rig: stopped");
            return ExitCode::SUCCESS;
        }
    } else {
        println!(
            "\nThere is no display here, so the station's window cannot open. The same work, headless:\n  \
             export PCSCLITE_CSOCK_NAME={sock}\n  \
             S=\"{bin} --data-dir {dir}\"\n  \
             $S applications list\n  \
             $S identity 12345678Z --kind DNI --number 12345678Z --expires 2031-05-17 --seen\n  \
             $S activate --reader \"00 00\" --application 12345678Z --letter puk-letter.pdf\n",
            sock = rig.socket().display(),
            bin = firma_tests::bin("firma-station").display(),
            dir = station_dir.display()
        );
    }
    println!("Press Ctrl-C to stop.");
    // Wait for Ctrl-C or SIGTERM, then stop the cards and pcscd and remove
    // the rig's directory (the cards' state files in `data` stay).
    let (tx, rx) = std::sync::mpsc::channel();
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = tx.send(());
    }) {
        eprintln!("firma-rig: cannot catch Ctrl-C ({e}); stop me with kill");
    }
    let _ = rx.recv();
    drop(cards);
    drop(rig);
    eprintln!("firma-rig: stopped");
    ExitCode::SUCCESS
}
