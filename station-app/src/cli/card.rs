//! `firma-station readers`, `card` and `inspect`: what is in the readers,
//! read without changing anything.

use std::process::ExitCode;

use clap::Args;
use firma_apdu::piv::{Origin, PinStatus, Piv, Slot};
use firma_apdu::transport::{self, PcscTransport};
use firma_apdu::Error;
use firma_station_engine::engine::Config;
use firma_station_engine::error::StationError;
use firma_station_engine::inspection::{self, x509_time, CardReport, CertificateReport, Reported};

use super::{connect, find_reader, open_station, Cli};

#[derive(Args)]
pub struct CardArgs {
    /// The reader (its full name, or a part of it); default: every reader with a card.
    #[arg(long)]
    reader: Option<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    #[arg(long)]
    reader: String,
}

pub fn inspect(cli: &Cli, args: &InspectArgs) -> Result<ExitCode, StationError> {
    let station = &open_station(cli, false, Config::default())?;
    let reader = find_reader(&args.reader)?;
    let found = inspection::inspect(station, connect(&reader)?, Slot::all())?;
    println!("{reader}");
    print_report(&found.card);
    let serial = found.card.serial.map_or("?".to_string(), |s| s.to_string());
    match (&found.record, &found.application) {
        (None, _) => println!("  registry: card {serial} is not in this station's registry"),
        (Some(r), app) => {
            println!("  registry: card {serial} {}", r.state);
            if let Some(a) = app {
                println!(
                    "  application {}: {} {} ({}), {}",
                    a.id, a.given_name, a.surnames, a.nif, a.state
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a card in a reader turned out to be, in one line.
fn one_line(ctx: &pcsc::Context, reader: &str) -> String {
    let transport = match PcscTransport::connect(ctx, reader) {
        Ok(c) => c,
        Err(e) => return format!("cannot connect: {e}"),
    };
    let card = match inspection::read_card(&mut Piv::new(transport), []) {
        Ok(card) => card,
        Err(Error::NotFound(_)) => return "not a PIV card".into(),
        Err(e) => return format!("no answer: {e}"),
    };
    let mut parts = vec!["PIV card".to_string()];
    if let Reported::Known(v) = &card.version {
        parts.push(format!("version {v}"));
    }
    if let Some(serial) = card.serial {
        parts.push(format!("serial {serial}"));
    }
    match card.pin.status {
        PinStatus::TriesLeft(n) => parts.push(format!("PIN tries left {n}")),
        PinStatus::Blocked => parts.push("PIN blocked".into()),
        PinStatus::Verified => {}
    }
    parts.join(", ")
}

pub fn readers() -> ExitCode {
    let ctx = match transport::pcsc_context() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("firma-station: {e}");
            return ExitCode::from(3);
        }
    };
    let list = match transport::list_readers(&ctx) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("firma-station: cannot list readers: {e}");
            return ExitCode::from(3);
        }
    };
    if list.is_empty() {
        println!("No smart card reader found. Connect a reader (or start the virtual ones) and try again.");
        return ExitCode::from(1);
    }
    for r in list {
        match &r.atr {
            None => println!("{}: empty", r.name),
            Some(atr) => {
                println!("{}: card present (ATR {})", r.name, hex::encode_upper(atr));
                println!("    {}", one_line(&ctx, &r.name));
            }
        }
    }
    ExitCode::SUCCESS
}

pub fn card(args: &CardArgs) -> ExitCode {
    let wanted = args.reader.as_deref();
    let ctx = match transport::pcsc_context() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("firma-station: {e}");
            return ExitCode::from(3);
        }
    };
    let readers = match transport::list_readers(&ctx) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("firma-station: cannot list readers: {e}");
            return ExitCode::from(3);
        }
    };
    let chosen: Vec<_> = readers
        .iter()
        .filter(|r| wanted.map_or(r.atr.is_some(), |w| r.name.contains(w)))
        .collect();
    if chosen.is_empty() {
        match wanted {
            Some(w) => eprintln!(
                "firma-station: no reader matches {w:?}; `firma-station readers` lists them"
            ),
            None => eprintln!("firma-station: no card in any reader: insert one and try again"),
        }
        return ExitCode::from(1);
    }
    let mut status = ExitCode::SUCCESS;
    for r in chosen {
        println!("{}", r.name);
        if r.atr.is_none() {
            println!("  empty");
            continue;
        }
        if let Err(e) = show_card(&ctx, &r.name) {
            println!("  {e}");
            status = ExitCode::from(1);
        }
    }
    status
}

fn show_card(ctx: &pcsc::Context, reader: &str) -> Result<(), Error> {
    let card = inspection::read_card(
        &mut Piv::new(PcscTransport::connect(ctx, reader)?),
        Slot::all(),
    )?;
    print_report(&card);
    Ok(())
}

/// The report, one fact a line; what a card without GET METADATA or GET
/// VERSION keeps to itself is said, not left out.
fn print_report(card: &CardReport) {
    let label = card.label.as_deref().unwrap_or("PIV");
    println!("  application: {label} (APDUs: {:?})", card.mode);
    match &card.version {
        Reported::Known(v) => println!("  version: {v}"),
        Reported::NotReported => println!("  version: not reported (no Yubico extensions)"),
    }
    if let Some(serial) = card.serial {
        println!("  serial: {serial}");
    }
    let default = default_note(card.pin.factory_default);
    match card.pin.status {
        PinStatus::Blocked => println!("  PIN: blocked{default}"),
        PinStatus::TriesLeft(n) => println!("  PIN: {n} tries left{default}"),
        PinStatus::Verified => println!("  PIN: verified{default}"),
    }
    match &card.puk {
        Some(Reported::Known(p)) => {
            let left = match p.status {
                PinStatus::TriesLeft(n) => n,
                _ => 0,
            };
            println!(
                "  PUK: {left} tries left{}",
                default_note(p.factory_default)
            );
        }
        Some(Reported::NotReported) => println!("  PUK: tries left {NOT_REPORTED}"),
        None => {}
    }
    match &card.management_key {
        Some(Reported::Known(m)) => {
            let alg = m
                .algorithm
                .map_or("unknown algorithm".to_string(), |a| a.to_string());
            println!("  management key: {alg}{}", default_note(m.factory_default));
        }
        Some(Reported::NotReported) => println!("  management key: algorithm {NOT_REPORTED}"),
        None => {}
    }
    for slot in &card.slots {
        println!("  slot {}:", slot.slot);
        match &slot.key {
            Some(Reported::Known(k)) => println!(
                "    key {}, {}, PIN {:?}",
                k.algorithm.map_or("unknown".into(), |a| a.to_string()),
                match k.origin {
                    Some(Origin::Generated) => "generated on the card",
                    Some(Origin::Imported) => "imported",
                    None => "origin unknown",
                },
                k.pin_policy
            ),
            Some(Reported::NotReported) => println!("    key: {NOT_REPORTED}"),
            None => {}
        }
        match &slot.certificate {
            Some(CertificateReport::Readable {
                subject,
                issuer,
                not_before,
                not_after,
            }) => {
                println!("    subject: {subject}");
                println!("    issuer: {issuer}");
                println!(
                    "    valid: {} to {}",
                    x509_time(*not_before),
                    x509_time(*not_after)
                );
            }
            Some(CertificateReport::Unreadable(e)) => println!("    certificate: unreadable ({e})"),
            None => println!("    no certificate"),
        }
    }
}

/// What `card` says of what a card without GET METADATA (Nitrokey 3) keeps to itself.
const NOT_REPORTED: &str = "not reported by this card";

fn default_note(factory_default: Option<bool>) -> &'static str {
    match factory_default {
        Some(true) => " (still the factory default)",
        _ => "",
    }
}
