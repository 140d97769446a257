//! `firma-ca`: Firma's CA as its own program, away from the station. The
//! same `LocalCa` engine (profiles, serials, CRL) in its own directory,
//! serving CMP over HTTP to the registration authorities it is configured
//! with. No window, no card stack: only the engine's CA and CMP modules.
#![forbid(unsafe_code)]

mod cli;
mod http;
mod request;
mod responder;
mod responder_cert;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FIRMA_CA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match cli::exec(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firma-ca: {e}");
            ExitCode::from(1)
        }
    }
}
