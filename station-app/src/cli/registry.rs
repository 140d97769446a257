//! `firma-station registry`: the central registry's schema, for its
//! administrator.

use std::process::ExitCode;

use clap::Subcommand;
use firma_station_engine::engine::RegistryLocation;
use firma_station_engine::error::StationError;
use firma_station_engine::registry::PostgresRegistry;

use super::{registry_location, Cli};

#[derive(Subcommand)]
pub enum RegistryCmd {
    /// Bring the central registry (--registry) to this station's schema:
    /// the numbered migrations it has not run, and the firma_station role.
    /// Run it as the database's owner, not as a station.
    Migrate,
}

pub fn exec(cli: &Cli, command: &RegistryCmd) -> Result<ExitCode, StationError> {
    match command {
        RegistryCmd::Migrate => match registry_location(cli) {
            RegistryLocation::Embedded => {
                println!(
                    "The embedded registry migrates itself when the station opens it: \
                     give --registry postgres://... to migrate a central one."
                );
                Ok(ExitCode::SUCCESS)
            }
            RegistryLocation::Central { url, password_file } => {
                let mut registry =
                    PostgresRegistry::connect_unchecked(&url, password_file.as_deref())?;
                match registry.migrate()? {
                    0 => println!("The central registry is already at this station's schema."),
                    n => println!("Ran {n} migration(s): the central registry is up to date."),
                }
                Ok(ExitCode::SUCCESS)
            }
        },
    }
}
