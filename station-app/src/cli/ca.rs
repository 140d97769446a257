//! `firma-station ca`: the station's local certificate authority.

use std::process::ExitCode;

use clap::Subcommand;
use firma_station_engine::ca::LocalCa;
use firma_station_engine::error::StationError;

use super::{ca_dir, Cli};

#[derive(Subcommand)]
pub enum CaCmd {
    /// Create a new local CA in the CA directory.
    Init {
        #[arg(long, default_value = "Firma Station local CA")]
        name: String,
    },
}

pub fn exec(cli: &Cli, command: &CaCmd) -> Result<ExitCode, StationError> {
    match command {
        CaCmd::Init { name } => {
            let dir = ca_dir(cli);
            LocalCa::init(&dir, name)?;
            println!(
                "A new CA is in {}: its certificate is {}",
                dir.display(),
                dir.join("ca.pem").display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
