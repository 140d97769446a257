//! The generation portal under load: software certificates issued per
//! second with server-side keys (P-256 and RSA-2048: key, certificate,
//! PKCS#12 with 600,000 PBKDF2 iterations, registry transaction), with as
//! many clients at once as the machine has cores, and the portal's memory
//! (peak resident set) under 100 downloads at once.
//!
//! Each issuance redeems a code of its own: the station imports one
//! application per issuance and checks each identity and issues each code
//! with the CLI beforehand. Clients are curl processes over HTTP/1.1,
//! from one address (the portal runs with `--per-address` raised).
//!
//! Run with `scripts/bench.sh` (release build), or `cargo bench -p
//! firma-tests --bench portal` on the dev build (dependencies optimized).

#[path = "../tests/portal_rig/mod.rs"]
mod portal_rig;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use firma_tests::station::StationDir;
use portal_rig::*;

/// A valid DNI for a number.
fn dni(n: u32) -> String {
    let letters = b"TRWAGMYFPDXBNJZSQVHLCKE";
    format!("{n:08}{}", letters[(n % 23) as usize] as char)
}

/// A station with `n` applications, each with a live code.
fn station_with_codes(n: u32) -> (StationDir, Vec<(String, String)>) {
    let dir = StationDir::new();
    let mut csv = String::from("given_name,surnames,nif,email,phone,card_serial\n");
    let nifs: Vec<String> = (0..n).map(|i| dni(30_000_000 + i)).collect();
    for (i, nif) in nifs.iter().enumerate() {
        // Names are letters only: the number spelt in letters a to j.
        let name: String = format!("{i:03}")
            .bytes()
            .map(|d| char::from(b'a' + d - b'0'))
            .collect();
        csv.push_str(&format!(
            "Persona {name},Apellido Prueba,{nif},p{i}@example.es,+34600{i:06},\n"
        ));
    }
    let file = dir.path().join("apps.csv");
    std::fs::write(&file, csv).unwrap();
    cli(&dir, &["applications", "import", file.to_str().unwrap()]).ok();
    let codes = nifs
        .into_iter()
        .map(|nif| {
            let code = new_code_for(&dir, &nif);
            (nif, code)
        })
        .collect();
    (dir, codes)
}

/// A curl that redeems `code` with `nif` for a key of `key`, saving the
/// file in `out`.
fn download(portal: &Portal, nif: &str, code: &str, key: &str, out: &std::path::Path) -> Child {
    let mut cmd = Command::new("curl");
    cmd.args(["-k", "-s", "--http1.1", "-o"])
        .arg(out)
        .args(["-w", "%{http_code}"]);
    for (k, v) in [
        ("csrf", token(portal)),
        ("nif", nif.to_string()),
        ("code", code.to_string()),
        ("password", PASSWORD.to_string()),
        ("password2", PASSWORD.to_string()),
        ("key", key.to_string()),
    ] {
        cmd.arg("--data-urlencode").arg(format!("{k}={v}"));
    }
    cmd.arg(format!("{}generate", portal.url))
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl")
}

fn finish(child: Child) {
    let out = child.wait_with_output().unwrap();
    let status = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status, "200", "a download failed");
}

/// `VmHWM` and `VmRSS` of `pid`, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// `codes` redeemed with `clients` downloads running at once; the time.
fn run(
    dir: &StationDir,
    portal: &Portal,
    codes: &[(String, String)],
    key: &str,
    clients: usize,
) -> Duration {
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let start = Instant::now();
    for batch in codes.chunks(clients) {
        let running: Vec<Child> = batch
            .iter()
            .map(|(nif, code)| download(portal, nif, code, key, &out.join(format!("{nif}.p12"))))
            .collect();
        running.into_iter().for_each(finish);
    }
    start.elapsed()
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_key = 12;
    let burst = 100;
    let (dir, codes) = station_with_codes((2 * per_key + burst) as u32);
    let portal = start_portal_with(&dir, false, &[], &["--per-address", "100000"]);
    let idle = memory(portal.pid()).1;

    println!("firma-portal, server-side keys, {cores} clients at once ({cores} cores):");
    println!("| key      |   n |  per issuance |   issuances/s |");
    println!("|----------|-----|---------------|---------------|");
    for (i, key) in ["p256", "rsa2048"].into_iter().enumerate() {
        let mine = &codes[i * per_key..(i + 1) * per_key];
        let took = run(&dir, &portal, mine, key, cores);
        let n = mine.len() as f64;
        println!(
            "| {key:<8} | {:>3} | {:>10.0} ms | {:>13.2} |",
            mine.len(),
            took.as_secs_f64() * 1000.0 / n * cores as f64,
            n / took.as_secs_f64()
        );
    }
    let before = memory(portal.pid());
    let took = run(&dir, &portal, &codes[2 * per_key..], "p256", burst);
    let after = memory(portal.pid());
    println!();
    println!(
        "{burst} P-256 downloads at once: all done in {:.1} s; the portal's resident set: \
         {:.1} MiB idle, peak {:.1} MiB (peak before the burst {:.1} MiB)",
        took.as_secs_f64(),
        idle as f64 / 1024.0,
        after.0 as f64 / 1024.0,
        before.0 as f64 / 1024.0,
    );
}
