//! `firma-station init`: the station's data directory (0700) and its
//! station key (0600), once. The only command that creates the key: a
//! station whose key is missing refuses to start rather than make a new
//! one its cards' sealed management keys would not open with.

use std::process::ExitCode;

use firma_station_engine::datadir::{self, DataDirError};
use firma_station_engine::engine::EMBEDDED_REGISTRY;
use firma_station_engine::error::StationError;
use firma_station_engine::registry::{AppState, Registry, SqliteRegistry};

use super::{data_dir, Cli};

pub fn exec(cli: &Cli) -> Result<ExitCode, StationError> {
    let dir = data_dir(cli);
    let registry = dir.join(EMBEDDED_REGISTRY);
    if registry.exists() && !dir.join(datadir::STATION_KEY).exists() {
        // A registry with issued cards and no key: the key was lost, and a
        // new one would strand every card. Restore it instead.
        let apps = SqliteRegistry::open(&registry)?.applications()?;
        let cards = apps
            .iter()
            .filter(|a| !matches!(a.state, AppState::Requested | AppState::Expired))
            .count() as u64;
        if cards > 0 {
            return Err(DataDirError::KeyLost { dir, cards }.into());
        }
    }
    let key = datadir::init(&dir)?;
    println!(
        "The station's data directory is {} (mode 700), its station key {} (mode 600): back the key up; \
         without it the cards activated here cannot be administered.",
        dir.display(),
        key.display()
    );
    Ok(ExitCode::SUCCESS)
}
