//! `firma-station generation-code`: the Generation Code of a software
//! certificate, issued after the identity check, on paper or by SMS.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use firma_station_engine::engine::Config;
use firma_station_engine::error::StationError;
use firma_station_engine::generation_code::{self, letter, CodeError, Delivery, SmsGateway};
use firma_station_engine::registry::CodeState;
use time::OffsetDateTime;

use super::{app_key, open_station, Cli};

#[derive(Subcommand)]
pub enum CodeCmd {
    /// Issue a code on the citizen's identity check of today (voids the previous code).
    Issue(IssueArgs),
    /// An application's codes: number, delivery, state, expiry (never the code).
    List {
        /// The application: its number or the NIF/NIE.
        application: String,
    },
}

#[derive(Args)]
pub struct IssueArgs {
    /// The application: its number or the NIF/NIE.
    application: String,
    /// Send the code by SMS to the application's phone instead of on paper.
    #[arg(long)]
    sms: bool,
    /// The SMS provider's gateway (http://...): a JSON POST {"to", "text"}.
    #[arg(long, env = "FIRMA_SMS_GATEWAY", value_name = "URL")]
    sms_gateway: Option<String>,
    /// Write each SMS to a file in DIR instead of sending it (a demonstration station).
    #[arg(
        long,
        env = "FIRMA_SMS_OUTBOX",
        value_name = "DIR",
        conflicts_with = "sms_gateway"
    )]
    sms_outbox: Option<PathBuf>,
    /// Write the letter as a PDF to FILE (created private) instead of printing it on standard output.
    #[arg(long, value_name = "FILE", conflicts_with = "sms")]
    letter: Option<PathBuf>,
    /// The generation portal's address, as the letter names it.
    #[arg(
        long,
        env = "FIRMA_PORTAL_URL",
        default_value = "https://firma-portal.example/"
    )]
    portal: String,
}

pub fn exec(cli: &Cli, command: &CodeCmd) -> Result<ExitCode, StationError> {
    match command {
        CodeCmd::Issue(args) => issue(cli, args),
        CodeCmd::List { application } => list(cli, application),
    }
}

fn delivery(args: &IssueArgs) -> Result<Delivery, StationError> {
    if !args.sms {
        return Ok(Delivery::Paper);
    }
    match (&args.sms_gateway, &args.sms_outbox) {
        (Some(url), _) => Ok(Delivery::Sms(SmsGateway::Http { url: url.clone() })),
        (None, Some(dir)) => Ok(Delivery::Sms(SmsGateway::Outbox { dir: dir.clone() })),
        (None, None) => Err(CodeError::NoSmsGateway.into()),
    }
}

fn issue(cli: &Cli, args: &IssueArgs) -> Result<ExitCode, StationError> {
    let delivery = delivery(args)?;
    let station = open_station(cli, false, Config::default())?;
    let issued = generation_code::issue(&station, &app_key(&args.application), &delivery)?;
    let record = &issued.record;
    eprintln!(
        "Generation Code {} issued for application {} ({}), valid until {} UTC{}.",
        record.id,
        issued.application.id,
        issued.application.nif,
        record.expires_at.date(),
        if issued.voided.is_empty() {
            String::new()
        } else {
            format!("; the previous code is void ({:?})", issued.voided)
        }
    );
    if let Delivery::Sms(_) = delivery {
        eprintln!(
            "Sent by SMS to {}.",
            generation_code::sms::masked(&issued.application.phone)
        );
        return Ok(ExitCode::SUCCESS);
    }
    let info = issued.letter_info(&station.actor.station, &args.portal);
    // A letter that did not come out leaves no live code behind.
    let fail = |e: String| {
        let voided = station.registry().void_code(
            issued.record.id,
            "the letter was not delivered",
            &station.actor,
        );
        match voided {
            Ok(()) => StationError::from(CodeError::Letter(e)),
            Err(v) => v.into(),
        }
    };
    match &args.letter {
        None => {
            let text = letter::text(&info, &issued.code);
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .map_err(|e| fail(e.to_string()))?;
        }
        Some(path) => {
            let pdf = letter::pdf(&info, &issued.code);
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            opts.open(path)
                .and_then(|mut f| f.write_all(&pdf).and_then(|_| f.sync_all()))
                .map_err(|e| fail(format!("{}: {e}", path.display())))?;
            eprintln!(
                "The letter is in {}: print it, hand it over, then delete the file.",
                path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list(cli: &Cli, application: &str) -> Result<ExitCode, StationError> {
    let station = open_station(cli, false, Config::default())?;
    let app = station.application(&app_key(application))?;
    let now = OffsetDateTime::now_utc();
    let codes = station.registry().codes(app.id)?;
    if codes.is_empty() {
        println!("Application {} has no Generation Code.", app.id);
    }
    for c in codes {
        let state = match c.state {
            CodeState::Live if !c.usable_at(now) => "expired",
            s => s.as_str(),
        };
        println!(
            "code {}: {}, issued {}, valid until {}, {state}, {} wrong",
            c.id,
            c.delivery,
            c.issued_at.date(),
            c.expires_at.date(),
            c.failures
        );
    }
    Ok(ExitCode::SUCCESS)
}
