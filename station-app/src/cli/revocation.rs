//! `firma-station revoke` and `reset-card`: both need `--yes`.

use std::process::ExitCode;

use clap::Args;
use firma_station_engine::ca::RevocationReason;
use firma_station_engine::engine::Config;
use firma_station_engine::error::StationError;
use firma_station_engine::services;

use super::values::Reason;
use super::{app_key, ca_dir, connect, find_reader, open_station, Cli};

#[derive(Args)]
pub struct RevokeArgs {
    #[arg(long)]
    application: String,
    /// Why (RFC 5280 CRLReason).
    #[arg(long, value_enum)]
    reason: Reason,
    /// Confirms: revocation cannot be undone.
    #[arg(long)]
    yes: bool,
}

#[derive(Args)]
pub struct ResetCardArgs {
    #[arg(long)]
    reader: String,
    /// Why the certificates the card carried are revoked.
    #[arg(long, value_enum, default_value_t = Reason::Superseded)]
    reason: Reason,
    /// Confirms: the keys on the card are destroyed.
    #[arg(long)]
    yes: bool,
}

pub fn revoke(cli: &Cli, args: &RevokeArgs) -> Result<ExitCode, StationError> {
    let reason = RevocationReason::from(args.reason);
    if !args.yes {
        return Err(StationError::RevocationNotConfirmed);
    }
    let station = open_station(cli, true, Config::default())?;
    let serials = services::revoke(&station, &app_key(&args.application), reason)?;
    let crl = match &cli.cmp.ca_url {
        // A CA reached over CMP publishes its own CRL.
        Some(url) => format!("published by the CA at {url}"),
        None => ca_dir(cli).join("crl.pem").display().to_string(),
    };
    println!(
        "Revoked ({reason}): {} certificate(s) {}. The CRL is {crl}",
        serials.len(),
        serials.join(", "),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn reset_card(cli: &Cli, args: &ResetCardArgs) -> Result<ExitCode, StationError> {
    let reason = RevocationReason::from(args.reason);
    if !args.yes {
        return Err(StationError::ResetNotConfirmed);
    }
    let station = open_station(cli, true, Config::default())?;
    let reader = find_reader(&args.reader)?;
    let report = services::reset_card(&station, connect(&reader)?, reason)?;
    println!(
        "Card {} is blank again{}; certificates revoked: {}",
        report.serial,
        report.application.map_or(String::new(), |a| format!(
            " (application {a} can be issued again)"
        )),
        if report.revoked.is_empty() {
            "none".into()
        } else {
            report.revoked.join(", ")
        }
    );
    Ok(ExitCode::SUCCESS)
}
