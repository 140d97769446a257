//! `firma-station unblock` and `change-pin`.

use std::process::ExitCode;

use clap::Args;
use firma_apdu::piv::Pin;
use firma_station_engine::engine::Config;
use firma_station_engine::error::StationError;
use firma_station_engine::services;

use super::input::{read_new_pin_at, read_secret};
use super::{connect, find_reader, open_station, Cli};

#[derive(Args)]
pub struct UnblockArgs {
    #[arg(long)]
    reader: String,
    /// Read the PUK (first line) and the new PIN (second line) from standard input.
    #[arg(long)]
    stdin: bool,
}

#[derive(Args)]
pub struct ChangePinArgs {
    #[arg(long)]
    reader: String,
    /// Read the current PIN (first line) and the new PIN (second line) from standard input.
    #[arg(long)]
    stdin: bool,
}

pub fn unblock(cli: &Cli, args: &UnblockArgs) -> Result<ExitCode, StationError> {
    let station = open_station(cli, false, Config::default())?;
    let reader = find_reader(&args.reader)?;
    let puk = read_secret(args.stdin, "PUK (from the PUK letter): ", 0)?;
    let puk = firma_station_engine::pin::parse_puk(&puk)?;
    let pin = read_new_pin_at(args.stdin, 1, &[])?;
    let serial = services::unblock(&station, connect(&reader)?, &puk, &pin)?;
    println!("Card {serial}: PIN unblocked, the new PIN is set.");
    Ok(ExitCode::SUCCESS)
}

pub fn change(cli: &Cli, args: &ChangePinArgs) -> Result<ExitCode, StationError> {
    let station = open_station(cli, false, Config::default())?;
    let reader = find_reader(&args.reader)?;
    let old = read_secret(args.stdin, "Current PIN: ", 0)?;
    let old = Pin::new(old.as_bytes()).map_err(StationError::PinFormat)?;
    let new = read_new_pin_at(args.stdin, 1, &[])?;
    let serial = services::change_pin(&station, connect(&reader)?, &old, &new)?;
    println!("Card {serial}: PIN changed.");
    Ok(ExitCode::SUCCESS)
}
