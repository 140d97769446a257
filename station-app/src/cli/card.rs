//! `firma-station readers`, `card` and `inspect`: what is in the readers,
//! read without changing anything.

use std::process::ExitCode;

use clap::Args;
use firma_apdu::piv::{PinStatus, Piv, Slot};
use firma_apdu::transport::{self, PcscTransport};
use firma_apdu::Error;
use firma_station_engine::engine::Config;
use firma_station_engine::error::StationError;
use firma_station_engine::registry::AppKey;
use firma_station_engine::services;

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
    let ctx = transport::pcsc_context().map_err(|e| StationError::State(e.to_string()))?;
    println!("{reader}");
    show_card(&ctx, &reader).map_err(|e| StationError::card("reading the card", e))?;
    let mut piv = Piv::new(connect(&reader)?);
    let (serial, record) = services::identify(station, &mut piv)?;
    match record {
        None => println!("  registry: card {serial} is not in this station's registry"),
        Some(r) => {
            println!("  registry: card {serial} {}", r.state);
            if let Some(app) = r.application_id {
                let a = station.application(&AppKey::Id(app))?;
                println!(
                    "  application {}: {} {} ({}), {}",
                    a.id, a.given_name, a.surnames, a.nif, a.state
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a card in a reader turned out to be, in one line, read through
/// firma-apdu's PIV client (SELECT with the full AID, which every card takes).
fn describe_card(ctx: &pcsc::Context, reader: &str) -> String {
    let transport = match PcscTransport::connect(ctx, reader) {
        Ok(c) => c,
        Err(e) => return format!("cannot connect: {e}"),
    };
    let mut piv = match Piv::open(transport) {
        Ok((piv, _)) => piv,
        Err(Error::NotFound(_)) => return "not a PIV card".into(),
        Err(e) => return format!("no answer: {e}"),
    };
    let mut parts = vec!["PIV card".to_string()];
    if let Ok(v) = piv.version() {
        parts.push(format!("version {v}"));
    }
    if let Ok(serial) = piv.serial() {
        parts.push(format!("serial {serial}"));
    }
    match piv.pin_status() {
        Ok(PinStatus::TriesLeft(n)) => parts.push(format!("PIN tries left {n}")),
        Ok(PinStatus::Blocked) => parts.push("PIN blocked".into()),
        _ => {}
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
                println!("    {}", describe_card(&ctx, &r.name));
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
    let (mut piv, info) = Piv::open(PcscTransport::connect(ctx, reader)?)?;
    let label = info.label.unwrap_or_else(|| "PIV".into());
    println!("  application: {label} (APDUs: {:?})", piv.mode());
    match piv.version() {
        Ok(v) => println!("  version: {v}"),
        Err(Error::NotSupportedByCard(_)) => {
            println!("  version: not reported (no Yubico extensions)")
        }
        Err(e) => return Err(e),
    }
    if let Ok(serial) = piv.serial() {
        println!("  serial: {serial}");
    }
    // Metadata is a Yubico extension: cards without it just show less, and
    // say so rather than leave the operator guessing.
    let pin_meta = piv.metadata(0x80);
    let no_metadata = matches!(pin_meta, Err(Error::NotSupportedByCard(_)));
    let pin_meta = pin_meta.ok().flatten();
    match piv.pin_status()? {
        PinStatus::Blocked => println!("  PIN: blocked{}", default_note(&pin_meta)),
        PinStatus::TriesLeft(n) => println!("  PIN: {n} tries left{}", default_note(&pin_meta)),
        PinStatus::Verified => println!("  PIN: verified{}", default_note(&pin_meta)),
    }
    if no_metadata {
        println!("  PUK: tries left {NOT_REPORTED}");
        println!("  management key: algorithm {NOT_REPORTED}");
    }
    if let Some(m) = piv.metadata(0x81).ok().flatten() {
        let (_, left) = m.retries.unwrap_or((0, 0));
        println!("  PUK: {left} tries left{}", default_note(&Some(m.clone())));
    }
    if let Some(m) = piv.metadata(0x9B).ok().flatten() {
        let alg = m.algorithm.and_then(firma_apdu::piv::MgmAlgorithm::from_id);
        let alg = alg.map_or("unknown algorithm".to_string(), |a| a.to_string());
        println!("  management key: {alg}{}", default_note(&Some(m.clone())));
    }
    for slot in Slot::all() {
        let key = match piv.metadata(slot.key_reference()) {
            Ok(Some(m)) => {
                let alg = m
                    .algorithm
                    .and_then(|a| firma_apdu::piv::Algorithm::try_from(a).ok());
                Some(format!(
                    "key {}, {}, PIN {:?}",
                    alg.map_or("unknown".into(), |a| a.to_string()),
                    match m.origin {
                        Some(firma_apdu::piv::Origin::Generated) => "generated on the card",
                        Some(firma_apdu::piv::Origin::Imported) => "imported",
                        None => "origin unknown",
                    },
                    m.pin_policy.unwrap_or(firma_apdu::piv::PinPolicy::Default)
                ))
            }
            _ => None,
        };
        let cert = piv.read_certificate(slot)?;
        if key.is_none() && cert.is_none() {
            continue;
        }
        let key = key.or_else(|| no_metadata.then(|| format!("key: {NOT_REPORTED}")));
        println!("  slot {slot}:");
        if let Some(k) = key {
            println!("    {k}");
        }
        match cert.as_deref().map(describe_certificate) {
            Some(Ok(lines)) => lines.iter().for_each(|l| println!("    {l}")),
            Some(Err(e)) => println!("    certificate: unreadable ({e})"),
            None => println!("    no certificate"),
        }
    }
    Ok(())
}

/// What `card` says of what a card without GET METADATA (Nitrokey 3) keeps to itself.
const NOT_REPORTED: &str = "not reported by this card";

fn default_note(m: &Option<firma_apdu::piv::Metadata>) -> &'static str {
    match m {
        Some(m) if m.is_default == Some(true) => " (still the factory default)",
        _ => "",
    }
}

fn describe_certificate(der: &[u8]) -> Result<Vec<String>, der::Error> {
    use der::Decode;
    let cert = x509_cert::Certificate::from_der(der)?;
    let tbs = &cert.tbs_certificate;
    Ok(vec![
        format!("subject: {}", tbs.subject),
        format!("issuer: {}", tbs.issuer),
        format!(
            "valid: {} to {}",
            tbs.validity.not_before, tbs.validity.not_after
        ),
    ])
}
