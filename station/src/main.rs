//! Firma Station. The activation workflow and the operator's window are not
//! built yet; today the program shows the PC/SC readers and the cards in them.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use firma_apdu::transport::{self, PcscTransport, Transport};
use firma_apdu::Command;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Cmd::Readers) {
        Cmd::Readers => readers(),
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
