//! Firma Station's activation: how long one card takes, split into the
//! card's time (key generation and signatures, with the reader), the
//! embedded CA's and Firma's own; and cards per hour with 1, 2 and 4
//! readers working at once.
//!
//! The card is `firma-vcard` with `--keygen-delay-ms` (default 1500 ms per
//! key, `FIRMA_BENCH_KEYGEN_MS` to change) so key generation costs what it
//! does on a real card. One activation goes through pcscd + vpcd with the
//! CLI; the throughput runs use in-process readers (one worker per reader,
//! as the station runs them), since vpcd gives two readers per pcscd.
//!
//! Run with `scripts/bench.sh`.

use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

use firma_apdu::piv::{Pin, Puk};
use firma_station_engine::activation::{Citizen, Timing};
use firma_station_engine::engine::{Config, Station};
use firma_station_engine::error::StationError;
use firma_station_engine::identity::IdentityDocument;
use firma_station_engine::letter::{self, LetterInfo};
use firma_station_engine::registry::{AppKey, NewApplication};
use firma_station_engine::services;
use firma_station_engine::worker::{Job, Report, Worker};
use firma_tests::readers::FreshCards;
use firma_tests::station::StationDir;
use firma_tests::{CardOptions, Pcscd};

fn keygen_delay() -> Duration {
    Duration::from_millis(
        std::env::var("FIRMA_BENCH_KEYGEN_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1500),
    )
}

struct BenchCitizen;

impl Citizen for BenchCitizen {
    fn choose_pin(&mut self) -> Result<Pin, StationError> {
        Ok(Pin::new("281947").unwrap())
    }
    fn current_pin(&mut self) -> Result<Pin, StationError> {
        self.choose_pin()
    }
    fn deliver_letter(&mut self, info: &LetterInfo, puk: &Puk) -> Result<(), StationError> {
        std::hint::black_box(letter::pdf(info, puk));
        Ok(())
    }
}

/// A valid DNI for a number.
fn dni(n: u32) -> String {
    let letters = b"TRWAGMYFPDXBNJZSQVHLCKE";
    format!("{n:08}{}", letters[(n % 23) as usize] as char)
}

fn station(st: &StationDir) -> Station {
    st.open_station("bench", "bench", Config::default())
}

fn prepare(station: &Station, cards: u32, base: u32) -> Vec<String> {
    let now = time::OffsetDateTime::now_utc();
    let apps: Vec<NewApplication> = (0..cards)
        .map(|i| NewApplication {
            given_name: "Ana".into(),
            surnames: "García López".into(),
            nif: dni(base + i),
            email: "ana@example.es".into(),
            phone: "600000000".into(),
            card_serial: None,
            requested_at: now,
            expires_at: now + time::Duration::days(90),
        })
        .collect();
    station.registry().import(&apps, &station.actor).unwrap();
    for a in &apps {
        let doc = IdentityDocument::check("DNI", &a.nif, None, "2035-01-01", now.date()).unwrap();
        services::record_identity_check(station, &AppKey::Nif(a.nif.clone()), &doc, true).unwrap();
    }
    apps.into_iter().map(|a| a.nif).collect()
}

fn throughput(readers: u32, cards_per_reader: u32) -> (f64, Timing) {
    let st = StationDir::new();
    let station = Arc::new(station(&st));
    let nifs = prepare(&station, readers * cards_per_reader, 10_000_000 * readers);
    let (tx, rx) = channel();
    let workers: Vec<Worker> = (0..readers)
        .map(|r| {
            Worker::spawn(
                station.clone(),
                Box::new(FreshCards {
                    name: format!("in-process {r}"),
                    next_serial: 100_000 * (r + 1),
                    keygen_delay: keygen_delay(),
                }),
                tx.clone(),
            )
        })
        .collect();
    let start = Instant::now();
    for (i, nif) in nifs.iter().enumerate() {
        workers[i % readers as usize].submit(Job::Activate {
            application: AppKey::Nif(nif.clone()),
            citizen: Box::new(BenchCitizen),
        });
    }
    let mut done = 0;
    let mut sum = Timing::default();
    while done < nifs.len() {
        if let Report::Finished(_, result) = rx.recv().unwrap() {
            let outcome = (*result).expect("activation");
            sum.total += outcome.timing.total;
            sum.card += outcome.timing.card;
            sum.ca += outcome.timing.ca;
            done += 1;
        }
    }
    let elapsed = start.elapsed();
    drop(workers);
    let n = nifs.len() as u32;
    let avg = Timing {
        total: sum.total / n,
        card: sum.card / n,
        ca: sum.ca / n,
    };
    (f64::from(n) * 3600.0 / elapsed.as_secs_f64(), avg)
}

fn row(what: &str, t: &Timing) {
    let own = t.total.saturating_sub(t.card + t.ca);
    println!(
        "| {what:<34} | {:>7.2} s | {:>7.2} s | {:>6.3} s | {:>6.3} s ({:>4.1} %) |",
        t.total.as_secs_f64(),
        t.card.as_secs_f64(),
        t.ca.as_secs_f64(),
        own.as_secs_f64(),
        100.0 * own.as_secs_f64() / t.total.as_secs_f64()
    );
}

/// One activation with the CLI through pcscd + vpcd: its own summary line
/// ("in X s (Y s card, Z s CA)").
fn through_pcscd() -> Timing {
    let rig = Pcscd::start().expect("rig");
    let st = StationDir::new();
    let nif = dni(4242);
    st.import_csv(
        &rig,
        &format!("given_name,surnames,nif,email,phone,card_serial\nAna,García,{nif},ana@example.es,600000000,\n"),
    )
    .ok();
    st.identity(&rig, &nif);
    let _card = rig
        .insert(
            0,
            &CardOptions {
                keygen_delay_ms: Some(keygen_delay().as_millis() as u64),
                ..Default::default()
            },
        )
        .unwrap();
    let run = st
        .run(
            &rig,
            &[
                "activate",
                "--reader",
                "00 00",
                "--application",
                &nif,
                "--pin-stdin",
            ],
            "281947\n",
        )
        .ok();
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains(" s card, "))
        .expect("summary line")
        .to_string();
    let secs = |before: &str| -> Duration {
        let head = line.split(before).next().unwrap();
        let num = head.rsplit([' ', '(']).next().unwrap();
        Duration::from_secs_f64(num.parse().unwrap())
    };
    Timing {
        total: secs(" s ("),
        card: secs(" s card"),
        ca: secs(" s CA"),
    }
}

fn main() {
    let delay = keygen_delay();
    println!(
        "\nFirma Station activation, RSA-2048 keys, card key generation +{} ms per key\n",
        delay.as_millis()
    );
    println!("| activation                         |   total   | card      | CA       | Firma's own        |");
    println!("|------------------------------------|----------:|----------:|---------:|-------------------:|");
    row("CLI, pcscd + vpcd + firma-vcard", &through_pcscd());
    let mut rates = Vec::new();
    for readers in [1, 2, 4] {
        let (rate, avg) = throughput(readers, 2);
        row(&format!("in-process, {readers} reader(s), mean"), &avg);
        rates.push((readers, rate));
    }
    println!("\n| readers | cards per hour |");
    println!("|--------:|---------------:|");
    for (readers, rate) in rates {
        println!("| {readers:>7} | {rate:>14.0} |");
    }
}
