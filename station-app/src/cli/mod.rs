//! The command line: the global options and the command list here, one
//! file per command group (as cargo lays out its own commands), and what
//! they share: opening the station, finding a reader.

pub mod applications;
pub mod audit;
pub mod ca;
pub mod card;
pub mod cmp;
pub mod generation_code;
pub mod identity;
pub mod init;
pub mod input;
pub mod pin;
pub mod registry;
pub mod revocation;
pub mod values;
pub mod workflow;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use firma_apdu::transport::{self, Transport};
use firma_station_engine::audit::Actor;
use firma_station_engine::ca::{CaError, CertificateAuthority, Issued, LocalCa, RevocationReason};
use firma_station_engine::engine::{Config, RegistryLocation, Station};
use firma_station_engine::error::StationError;
use firma_station_engine::profile::{CertProfile, Holder};
use firma_station_engine::registry::AppKey;
use firma_station_engine::worker::{Connector, PcscReader};

#[derive(Parser)]
#[command(
    name = "firma-station",
    version,
    about = "Firma Station: card activation at a Registration Point",
    after_help = "Exit status: 0 done; 1 card error; 2 bad input (also: some import rows rejected); \
3 no card or card removed (insert it and run again); 4 wrong card or state; 5 CA error; \
6 registry, key vault or file error."
)]
pub struct Cli {
    /// The station's data directory (registry, station key, CA).
    /// Default: the user's data directory, firma-station/.
    #[arg(long, global = true, env = "FIRMA_STATION_DATA")]
    pub data_dir: Option<PathBuf>,
    /// The certificate authority's directory. Default: DATA_DIR/ca.
    #[arg(long, global = true, env = "FIRMA_STATION_CA")]
    pub ca: Option<PathBuf>,
    /// The operator's name for the audit log. Default: the login name.
    #[arg(long, global = true, env = "FIRMA_STATION_OPERATOR")]
    pub operator: Option<String>,
    /// This station's name for the audit log. Default: the host name.
    #[arg(long, global = true, env = "FIRMA_STATION_NAME")]
    pub station: Option<String>,
    /// A central registry shared by a network of stations,
    /// postgres://USER@HOST:PORT/DATABASE. Default: the embedded registry in
    /// DATA_DIR/registry.sqlite.
    #[arg(long, global = true, env = "FIRMA_REGISTRY", value_name = "URL")]
    pub registry: Option<String>,
    /// A file holding the central registry's password (never on the command line).
    #[arg(
        long,
        global = true,
        env = "FIRMA_REGISTRY_PASSWORD_FILE",
        value_name = "FILE"
    )]
    pub registry_password_file: Option<PathBuf>,
    /// Write a diagnostic log (APDUs without their data, steps, timings) to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// A CA reached over CMP (--ca-url and its companions, `cmp.rs`).
    #[command(flatten)]
    pub cmp: cmp::CmpArgs,
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Open the operator's window (the default when no command is given).
    Ui,
    /// Create the station's data directory and its station key (once).
    Init,
    /// List the smart card readers and what is in each.
    Readers,
    /// Show what is on a PIV card: version, serial, PIN and PUK tries, and
    /// each slot's key and certificate.
    Card(card::CardArgs),
    /// Show a card and what the registry knows of it.
    Inspect(card::InspectArgs),
    /// Applications filed online.
    Applications {
        #[command(subcommand)]
        command: applications::AppCmd,
    },
    /// Record the check of the citizen's identity document.
    Identity(identity::IdentityArgs),
    /// The Generation Code of a software certificate, after the identity check.
    GenerationCode {
        #[command(subcommand)]
        command: generation_code::CodeCmd,
    },
    /// Activate (personalize) the citizen's blank card; resumes an activation that stopped.
    Activate(workflow::ActivateArgs),
    /// New keys and certificates on an activated card (from 70 days before expiry).
    Renew(workflow::RenewArgs),
    /// Unblock the PIN with the PUK and set a new PIN.
    Unblock(pin::UnblockArgs),
    /// Change the PIN.
    ChangePin(pin::ChangePinArgs),
    /// Revoke an application's certificates (registry and CRL).
    Revoke(revocation::RevokeArgs),
    /// Reset a card to blank for re-issue (its certificates are revoked).
    ResetCard(revocation::ResetCardArgs),
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCmd,
    },
    /// The station's local certificate authority.
    Ca {
        #[command(subcommand)]
        command: ca::CaCmd,
    },
    /// The central registry's schema.
    Registry {
        #[command(subcommand)]
        command: registry::RegistryCmd,
    },
}

pub fn data_dir(cli: &Cli) -> PathBuf {
    cli.data_dir.clone().unwrap_or_else(|| {
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("firma-station")
    })
}

pub fn ca_dir(cli: &Cli) -> PathBuf {
    cli.ca.clone().unwrap_or_else(|| data_dir(cli).join("ca"))
}

/// Where the registry is (`--registry`, or the embedded one).
pub fn registry_location(cli: &Cli) -> RegistryLocation {
    match &cli.registry {
        Some(url) => RegistryLocation::Central {
            url: url.clone(),
            password_file: cli.registry_password_file.clone(),
        },
        None => RegistryLocation::Embedded,
    }
}

fn actor(cli: &Cli) -> Actor {
    let operator = cli
        .operator
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "operator".into());
    let station = cli.station.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "station".into())
    });
    Actor { operator, station }
}

/// Stands in for the CA in commands that do not need one, and explains
/// itself if one is needed after all.
struct NoCa(CaErrorText);
struct CaErrorText(String);

impl CertificateAuthority for NoCa {
    fn issue(&self, _: &[u8], _: &Holder, _: CertProfile) -> Result<Issued, CaError> {
        Err(CaError::BadCsr(self.0 .0.clone()))
    }
    fn revoke(&self, _: &str, _: RevocationReason) -> Result<(), CaError> {
        Err(CaError::BadCsr(self.0 .0.clone()))
    }
    fn certificate(&self) -> &[u8] {
        &[]
    }
    fn crl(&self) -> Result<Vec<u8>, CaError> {
        Err(CaError::BadCsr(self.0 .0.clone()))
    }
}

pub fn open_station(cli: &Cli, needs_ca: bool, config: Config) -> Result<Station, StationError> {
    if let Some(cmp) = cmp::open(cli) {
        let ca: Box<dyn CertificateAuthority> = match cmp {
            Ok(ca) => Box::new(ca),
            Err(e) if needs_ca => return Err(e.into()),
            Err(e) => Box::new(NoCa(CaErrorText(e.to_string()))),
        };
        return Station::open(&data_dir(cli), ca, actor(cli), config);
    }
    let ca: Box<dyn CertificateAuthority> = match LocalCa::open(&ca_dir(cli)) {
        Ok(ca) => match firma_station_engine::knobs::cert_days() {
            Some(days) => Box::new(ca.with_validity(time::Duration::days(days))),
            None => Box::new(ca),
        },
        Err(e) if needs_ca => return Err(e.into()),
        Err(e) => Box::new(NoCa(CaErrorText(e.to_string()))),
    };
    Station::open_at(
        &data_dir(cli),
        &registry_location(cli),
        ca,
        actor(cli),
        config,
    )
}

pub fn config(algorithm: values::KeyAlgorithm) -> Config {
    Config {
        algorithm: algorithm.into(),
        ..Config::default()
    }
}

/// The operator's window, on the machine's PC/SC readers.
pub fn ui(cli: &Cli) -> Result<ExitCode, StationError> {
    let has_display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
    if !has_display {
        eprintln!(
            "firma-station: there is no display here (neither DISPLAY nor WAYLAND_DISPLAY is set), so the window cannot open.\n\
             Everything the window does is also a command: `firma-station --help` lists them\n\
             (applications list, identity, activate --reader R --application ID, unblock, renew, revoke, reset-card, audit verify)."
        );
        return Ok(ExitCode::from(2));
    }
    let station = Arc::new(open_station(cli, false, Config::default())?);
    firma_station::ui::run(station, Arc::new(firma_station_engine::readers::PcscSource))
        .map_err(StationError::WindowFailed)?;
    Ok(ExitCode::SUCCESS)
}

pub fn app_key(s: &str) -> AppKey {
    s.parse().expect("infallible")
}

/// The reader whose name contains `part`, if exactly one does.
pub fn find_reader(part: &str) -> Result<String, StationError> {
    let ctx = transport::pcsc_context().map_err(StationError::Pcsc)?;
    let readers = transport::list_readers(&ctx).map_err(StationError::Pcsc)?;
    let matching: Vec<_> = readers.iter().filter(|r| r.name.contains(part)).collect();
    match matching.as_slice() {
        [one] => Ok(one.name.clone()),
        [] => Err(StationError::NoReaderMatches(part.to_string())),
        many => Err(StationError::ManyReadersMatch {
            part: part.to_string(),
            readers: many
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

pub fn connect(reader: &str) -> Result<Box<dyn Transport + Send>, StationError> {
    PcscReader {
        reader: reader.to_string(),
    }
    .connect()
}
