//! `firma-station identity`: record the check of the citizen's document.

use std::process::ExitCode;

use clap::Args;
use firma_station_engine::engine::Config;
use firma_station_engine::error::StationError;
use firma_station_engine::identity::IdentityDocument;
use firma_station_engine::services;

use super::{app_key, open_station, Cli};

#[derive(Args)]
pub struct IdentityArgs {
    /// The application: its number or the NIF/NIE.
    application: String,
    /// DNI or NIE.
    #[arg(long)]
    kind: String,
    /// The document's number (the DNI or NIE).
    #[arg(long)]
    number: String,
    /// The support number (IDESP on a DNI; E or C and 8 digits on a NIE document).
    #[arg(long)]
    support: Option<String>,
    /// The document's expiry date, DD/MM/YYYY as the document prints it, or YYYY-MM-DD.
    #[arg(long)]
    expires: String,
    /// Confirms you saw the document and that it shows the person in front of you.
    #[arg(long)]
    seen: bool,
}

pub fn exec(cli: &Cli, args: &IdentityArgs) -> Result<ExitCode, StationError> {
    let station = open_station(cli, false, Config::default())?;
    let today = time::OffsetDateTime::now_utc().date();
    let doc = IdentityDocument::check(
        &args.kind,
        &args.number,
        args.support.as_deref(),
        &args.expires,
        today,
    )?;
    let app =
        services::record_identity_check(&station, &app_key(&args.application), &doc, args.seen)?;
    println!(
        "Identity checked for application {} ({} {}): {} {}, valid until {}",
        app.id, app.given_name, app.surnames, doc.kind, doc.number, doc.expires
    );
    Ok(ExitCode::SUCCESS)
}
