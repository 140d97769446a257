//! Firma Station. The activation workflow and the operator's window are not
//! built yet; today the program shows the PC/SC readers and the cards in them.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use firma_apdu::piv::{PinStatus, Piv, Slot};
use firma_apdu::transport::{self, PcscTransport, Transport};
use firma_apdu::{Command, Error};

#[derive(Parser)]
#[command(
    version,
    about = "Firma Station: card activation at a Registration Point"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// List the smart card readers and what is in each.
    Readers,
    /// Show what is on a PIV card: version, serial, PIN and PUK tries, and
    /// each slot's key and certificate.
    Card {
        /// The reader (its full name, or a part of it); default: every reader with a card.
        #[arg(long)]
        reader: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Cmd::Readers) {
        Cmd::Readers => readers(),
        Cmd::Card { reader } => card(reader.as_deref()),
    }
}

/// What a card in a reader turned out to be.
fn describe_card(ctx: &pcsc::Context, reader: &str) -> String {
    let mut card = match PcscTransport::connect(ctx, reader) {
        Ok(c) => c,
        Err(e) => return format!("cannot connect: {e}"),
    };
    let select = Command::new(0, 0xA4, 4, 0)
        .with_data(vec![0xA0, 0, 0, 3, 8])
        .with_le(256);
    match card.transmit(&select) {
        Ok((_, sw)) if sw.is_success() => {}
        Ok((_, sw)) => return format!("not a PIV card (SELECT answered {sw})"),
        Err(e) => return format!("no answer: {e}"),
    }
    let mut parts = vec!["PIV card".to_string()];
    if let Ok((v, sw)) = card.transmit(&Command::new(0, 0xFD, 0, 0).with_le(256)) {
        if sw.is_success() && v.len() == 3 {
            parts.push(format!("version {}.{}.{}", v[0], v[1], v[2]));
        }
    }
    if let Ok((s, sw)) = card.transmit(&Command::new(0, 0xF8, 0, 0).with_le(256)) {
        if let (true, Ok(b)) = (sw.is_success(), <[u8; 4]>::try_from(&s[..])) {
            parts.push(format!("serial {}", u32::from_be_bytes(b)));
        }
    }
    if let Ok((_, sw)) = card.transmit(&Command::new(0, 0x20, 0, 0x80)) {
        match sw.tries_left() {
            Some(n) => parts.push(format!("PIN tries left {n}")),
            None if sw.0 == 0x6983 => parts.push("PIN blocked".into()),
            None => {}
        }
    }
    parts.join(", ")
}

fn readers() -> ExitCode {
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

fn card(wanted: Option<&str>) -> ExitCode {
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
    // Metadata is a Yubico extension: cards without it just show less.
    let pin_meta = piv.metadata(0x80).ok().flatten();
    match piv.pin_status()? {
        PinStatus::Blocked => println!("  PIN: blocked{}", default_note(&pin_meta)),
        PinStatus::TriesLeft(n) => println!("  PIN: {n} tries left{}", default_note(&pin_meta)),
        PinStatus::Verified => println!("  PIN: verified{}", default_note(&pin_meta)),
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
