//! `firma-station audit`: check the hash chain, print the log.

use std::process::ExitCode;

use clap::Subcommand;
use firma_station_engine::audit;
use firma_station_engine::engine::Config;
use firma_station_engine::error::StationError;

use super::{open_station, Cli};

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain of the whole log.
    Verify,
    /// Print the log.
    Show,
}

pub fn exec(cli: &Cli, command: &AuditCmd) -> Result<ExitCode, StationError> {
    let station = open_station(cli, false, Config::default())?;
    let entries = station.registry().audit_entries()?;
    match command {
        AuditCmd::Verify => match audit::verify(&entries) {
            Ok(n) => {
                println!(
                    "The audit log is intact: {n} entries{}",
                    entries
                        .last()
                        .map_or(String::new(), |e| format!(", last {}", e.hash))
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("firma-station: THE AUDIT LOG WAS TAMPERED WITH: {e}");
                Ok(ExitCode::from(1))
            }
        },
        AuditCmd::Show => {
            for e in entries {
                println!(
                    "{:>5} {} {}@{} {}: {} ({})",
                    e.seq, e.at, e.operator, e.station, e.action, e.subject, e.detail
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
