//! `firma-station applications`: import, list, show and expire the
//! applications citizens filed online.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use firma_station_engine::engine::Config;
use firma_station_engine::error::StationError;
use firma_station_engine::{applications, services};

use super::{app_key, open_station, Cli};

#[derive(Subcommand)]
pub enum AppCmd {
    /// Import applications from CSV (header given_name,surnames,nif,email,phone,card_serial) or JSON.
    Import { file: PathBuf },
    /// List the applications.
    List,
    /// Show one application (number or NIF/NIE) with its checks, certificates and journal.
    Show { application: String },
    /// Mark as expired the applications not activated in time and those whose certificates expired.
    Expire,
}

pub fn exec(cli: &Cli, cmd: &AppCmd) -> Result<ExitCode, StationError> {
    let station = &open_station(cli, false, Config::default())?;
    match cmd {
        AppCmd::Import { file } => {
            let report = applications::import(station, file)?;
            for (id, nif) in &report.imported {
                println!("imported application {id}: {nif}");
            }
            for r in &report.rejected {
                eprintln!("rejected row {} ({}): {}", r.row, r.label, r.reason);
            }
            println!(
                "{} imported, {} rejected",
                report.imported.len(),
                report.rejected.len()
            );
            Ok(if report.rejected.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        AppCmd::Expire => {
            let expired = services::expire_due(station)?;
            for (id, why) in &expired {
                println!("application {id} expired: {why}");
            }
            println!("{} application(s) expired", expired.len());
            Ok(ExitCode::SUCCESS)
        }
        AppCmd::List => {
            let apps = station.registry().applications()?;
            if apps.is_empty() {
                println!(
                    "No applications: import them with `firma-station applications import FILE`."
                );
            }
            for a in apps {
                println!(
                    "{:>5}  {:<10} {:<10} {} {}  card {}  requested {}",
                    a.id,
                    a.state.as_str(),
                    a.nif,
                    a.given_name,
                    a.surnames,
                    a.card_serial.map_or("unknown".into(), |s| s.to_string()),
                    a.requested_at.date()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AppCmd::Show { application } => {
            let reg = station.registry();
            let a = reg.application(&app_key(application))?;
            println!("application {}: {}", a.id, a.state);
            println!("  name: {} {}", a.given_name, a.surnames);
            println!("  NIF/NIE: {}", a.nif);
            println!("  e-mail: {}", a.email);
            println!("  phone: {}", a.phone);
            println!(
                "  card: {}",
                a.card_serial
                    .map_or("not known yet".into(), |s| s.to_string())
            );
            println!(
                "  requested: {}, expires if not activated: {}",
                a.requested_at.date(),
                a.expires_at.date()
            );
            for c in reg.identity_checks(a.id)? {
                println!(
                    "  identity checked {} by {}: {} {}, valid until {}",
                    c.checked_at.date(),
                    c.operator,
                    c.document_kind,
                    c.document_number,
                    c.document_expires
                );
            }
            for c in reg.certificates(a.id)? {
                println!(
                    "  certificate {} slot {:02X} on card {}: {}{}, valid {} to {}",
                    c.serial,
                    c.slot.key_reference(),
                    c.card_serial,
                    c.state,
                    c.revocation_reason
                        .map_or(String::new(), |r| format!(" ({r})")),
                    c.not_before.date(),
                    c.not_after.date()
                );
            }
            if let Some(act) = reg.open_activation(a.id)? {
                println!(
                    "  unfinished {} on card {} (run {}): {}",
                    act.kind,
                    act.card_serial,
                    act.runs,
                    act.last_error.as_deref().unwrap_or("stopped")
                );
                for j in reg.journal(act.id)? {
                    println!(
                        "    run {} {} {} {}",
                        j.run,
                        j.step.name(),
                        j.outcome,
                        j.data.chars().take(40).collect::<String>()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
