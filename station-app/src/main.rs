//! `firma-station`: the station's engine from the command line, for scripts,
//! batch work and tests, and the operator's window (the default). Each
//! command group lives in its own file under `cli/`.
#![forbid(unsafe_code)]

mod cli;

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Cmd};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log = init_log(cli.log.as_deref());
    let result = match &cli.command {
        None | Some(Cmd::Ui) => cli::ui(&cli),
        Some(Cmd::Init) => cli::init::exec(&cli),
        Some(Cmd::Readers) => return cli::card::readers(),
        Some(Cmd::Card(args)) => return cli::card::card(args),
        Some(Cmd::Inspect(args)) => cli::card::inspect(&cli, args),
        Some(Cmd::Applications { command }) => cli::applications::exec(&cli, command),
        Some(Cmd::Identity(args)) => cli::identity::exec(&cli, args),
        Some(Cmd::GenerationCode { command }) => cli::generation_code::exec(&cli, command),
        Some(Cmd::Activate(args)) => cli::workflow::activate(&cli, args),
        Some(Cmd::Renew(args)) => cli::workflow::renew(&cli, args),
        Some(Cmd::Unblock(args)) => cli::pin::unblock(&cli, args),
        Some(Cmd::ChangePin(args)) => cli::pin::change(&cli, args),
        Some(Cmd::Revoke(args)) => cli::revocation::revoke(&cli, args),
        Some(Cmd::ResetCard(args)) => cli::revocation::reset_card(&cli, args),
        Some(Cmd::Audit { command }) => cli::audit::exec(&cli, command),
        Some(Cmd::Ca { command }) => cli::ca::exec(&cli, command),
        Some(Cmd::Registry { command }) => cli::registry::exec(&cli, command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::warn!("{e}");
            eprintln!("firma-station: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Diagnostics go to `--log FILE` (debug level, or `FIRMA_LOG`), else
/// warnings to stderr. APDU traces never carry data but for public reads.
fn init_log(path: Option<&Path>) -> Option<()> {
    use tracing_subscriber::EnvFilter;
    match path {
        Some(p) => {
            // The log names citizens: private, like the registry.
            let mut opts = std::fs::OpenOptions::new();
            opts.create(true).append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let file = opts
                .open(p)
                .map_err(|e| eprintln!("firma-station: cannot open the log {}: {e}", p.display()))
                .ok()?;
            if let Err(e) = firma_station_engine::datadir::check_mode(p, 0o600) {
                eprintln!("firma-station: {e}");
                std::process::exit(6);
            }
            let filter =
                EnvFilter::try_from_env("FIRMA_LOG").unwrap_or_else(|_| EnvFilter::new("debug"));
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(file))
                .init();
        }
        None => {
            let filter =
                EnvFilter::try_from_env("FIRMA_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .init();
        }
    }
    Some(())
}
