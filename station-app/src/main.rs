//! `firma-station`: the station's engine from the command line, for scripts,
//! batch work and tests. The operator's window drives the same library.
#![forbid(unsafe_code)]

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::channel;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use firma_apdu::piv::{Pin, PinStatus, Piv, Puk, Slot};
use firma_apdu::transport::{self, PcscTransport, Transport};
use firma_apdu::{Command, Error};
use firma_station_engine::activation::{self, Citizen, Progress};
use firma_station_engine::ca::{
    CaError, CertificateAuthority, Holder, Issued, LocalCa, Profile, RevocationReason,
};
use firma_station_engine::engine::{Config, Station};
use firma_station_engine::error::StationError;
use firma_station_engine::identity::IdentityDocument;
use firma_station_engine::letter::{self, LetterInfo};
use firma_station_engine::registry::{Actor, AppKey};
use firma_station_engine::worker::{Connector, Job, PcscReader, Report, Worker};
use firma_station_engine::{applications, audit, pin, services};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    version,
    about = "Firma Station: card activation at a Registration Point",
    after_help = "Exit status: 0 done; 1 card error; 2 bad input (also: some import rows rejected); \
3 no card or card removed (insert it and run again); 4 wrong card or state; 5 CA error; \
6 registry, key vault or file error."
)]
struct Cli {
    /// The station's data directory (registry, station key, CA).
    /// Default: the user's data directory, firma-station/.
    #[arg(long, global = true, env = "FIRMA_STATION_DATA")]
    data_dir: Option<PathBuf>,
    /// The certificate authority's directory. Default: DATA_DIR/ca.
    #[arg(long, global = true, env = "FIRMA_STATION_CA")]
    ca: Option<PathBuf>,
    /// The operator's name for the audit log. Default: the login name.
    #[arg(long, global = true, env = "FIRMA_STATION_OPERATOR")]
    operator: Option<String>,
    /// This station's name for the audit log. Default: the host name.
    #[arg(long, global = true, env = "FIRMA_STATION_NAME")]
    station: Option<String>,
    /// Validity in days of the certificates the local CA issues (default: 3 years).
    /// Shorter only for tests and demonstrations of renewal.
    #[arg(long, global = true, env = "FIRMA_STATION_CERT_DAYS", hide = true)]
    cert_days: Option<i64>,
    /// Write a diagnostic log (APDUs without their data, steps, timings) to FILE.
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Open the operator's window (the default when no command is given).
    Ui,
    /// List the smart card readers and what is in each.
    Readers,
    /// Show what is on a PIV card: version, serial, PIN and PUK tries, and
    /// each slot's key and certificate.
    Card {
        /// The reader (its full name, or a part of it); default: every reader with a card.
        #[arg(long)]
        reader: Option<String>,
    },
    /// Show a card and what the registry knows of it.
    Inspect {
        #[arg(long)]
        reader: String,
    },
    /// Applications filed online.
    Applications {
        #[command(subcommand)]
        command: AppCmd,
    },
    /// Record the check of the citizen's identity document.
    Identity {
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
        /// The document's expiry date, YYYY-MM-DD.
        #[arg(long)]
        expires: String,
        /// Confirms you saw the document and that it shows the person in front of you.
        #[arg(long)]
        seen: bool,
    },
    /// Activate (personalize) the citizen's blank card; resumes an activation that stopped.
    Activate {
        #[arg(long)]
        reader: String,
        /// The application: its number or the NIF/NIE.
        #[arg(long)]
        application: String,
        /// Read the citizen's new PIN from standard input (first line; a second line, if any, must repeat it).
        #[arg(long)]
        pin_stdin: bool,
        /// Write the PUK letter as a PDF to FILE (created private) instead of printing it on standard output.
        #[arg(long, value_name = "FILE")]
        letter: Option<PathBuf>,
        /// Key algorithm: rsa2048 (default), p256 or p384.
        #[arg(long, default_value = "rsa2048")]
        algorithm: String,
    },
    /// New keys and certificates on an activated card (from 70 days before expiry).
    Renew {
        #[arg(long)]
        reader: String,
        #[arg(long)]
        application: String,
        /// Read the card's current PIN from standard input.
        #[arg(long)]
        pin_stdin: bool,
        #[arg(long, default_value = "rsa2048")]
        algorithm: String,
    },
    /// Unblock the PIN with the PUK and set a new PIN.
    Unblock {
        #[arg(long)]
        reader: String,
        /// Read the PUK (first line) and the new PIN (second line) from standard input.
        #[arg(long)]
        stdin: bool,
    },
    /// Change the PIN.
    ChangePin {
        #[arg(long)]
        reader: String,
        /// Read the current PIN (first line) and the new PIN (second line) from standard input.
        #[arg(long)]
        stdin: bool,
    },
    /// Revoke an application's certificates (registry and CRL).
    Revoke {
        #[arg(long)]
        application: String,
        /// unspecified, key-compromise, affiliation-changed, superseded or cessation-of-operation.
        #[arg(long)]
        reason: String,
        /// Confirms: revocation cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// Reset a card to blank for re-issue (its certificates are revoked).
    ResetCard {
        #[arg(long)]
        reader: String,
        #[arg(long, default_value = "superseded")]
        reason: String,
        /// Confirms: the keys on the card are destroyed.
        #[arg(long)]
        yes: bool,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCmd,
    },
    /// The station's local certificate authority.
    Ca {
        #[command(subcommand)]
        command: CaCmd,
    },
}

#[derive(Subcommand)]
enum AppCmd {
    /// Import applications from CSV (header given_name,surnames,nif,email,phone,card_serial) or JSON.
    Import { file: PathBuf },
    /// List the applications.
    List,
    /// Show one application (number or NIF/NIE) with its checks, certificates and journal.
    Show { application: String },
    /// Mark as expired the applications not activated in time and those whose certificates expired.
    Expire,
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the hash chain of the whole log.
    Verify,
    /// Print the log.
    Show,
}

#[derive(Subcommand)]
enum CaCmd {
    /// Create a new local CA in the CA directory.
    Init {
        #[arg(long, default_value = "Firma Station local CA")]
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log = init_log(cli.log.as_deref());
    let result = match cli.command {
        None | Some(Cmd::Ui) => ui(&cli),
        Some(Cmd::Readers) => return readers(),
        Some(Cmd::Card { ref reader }) => return card(reader.as_deref()),
        Some(ref cmd) => run(&cli, cmd),
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
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| eprintln!("firma-station: cannot open the log {}: {e}", p.display()))
                .ok()?;
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

fn data_dir(cli: &Cli) -> PathBuf {
    cli.data_dir.clone().unwrap_or_else(|| {
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("firma-station")
    })
}

fn ca_dir(cli: &Cli) -> PathBuf {
    cli.ca.clone().unwrap_or_else(|| data_dir(cli).join("ca"))
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
    fn issue(&self, _: &[u8], _: &Holder, _: Profile) -> Result<Issued, CaError> {
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

fn open_station(cli: &Cli, needs_ca: bool, config: Config) -> Result<Station, StationError> {
    let ca: Box<dyn CertificateAuthority> = match LocalCa::open(&ca_dir(cli)) {
        Ok(ca) => match cli.cert_days {
            Some(days) => Box::new(ca.with_validity(time::Duration::days(days))),
            None => Box::new(ca),
        },
        Err(e) if needs_ca => return Err(e.into()),
        Err(e) => Box::new(NoCa(CaErrorText(e.to_string()))),
    };
    Station::open(&data_dir(cli), ca, actor(cli), config)
}

fn config(algorithm: &str) -> Result<Config, StationError> {
    Ok(Config {
        algorithm: activation::parse_algorithm(algorithm)?,
        ..Config::default()
    })
}

fn run(cli: &Cli, cmd: &Cmd) -> Result<ExitCode, StationError> {
    match cmd {
        Cmd::Ui | Cmd::Readers | Cmd::Card { .. } => unreachable!("handled in main"),
        Cmd::Ca {
            command: CaCmd::Init { name },
        } => {
            let dir = ca_dir(cli);
            LocalCa::init(&dir, name)?;
            println!(
                "A new CA is in {}: its certificate is {}",
                dir.display(),
                dir.join("ca.pem").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Applications { command } => {
            let station = open_station(cli, false, Config::default())?;
            applications_cmd(&station, command)
        }
        Cmd::Identity {
            application,
            kind,
            number,
            support,
            expires,
            seen,
        } => {
            let station = open_station(cli, false, Config::default())?;
            let today = time::OffsetDateTime::now_utc().date();
            let doc = IdentityDocument::check(kind, number, support.as_deref(), expires, today)?;
            let app =
                services::record_identity_check(&station, &app_key(application), &doc, *seen)?;
            println!(
                "Identity checked for application {} ({} {}): {} {}, valid until {}",
                app.id, app.given_name, app.surnames, doc.kind, doc.number, doc.expires
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Inspect { reader } => {
            let station = open_station(cli, false, Config::default())?;
            inspect(&station, reader)
        }
        Cmd::Activate {
            reader,
            application,
            pin_stdin,
            letter,
            algorithm,
        } => {
            let station = open_station(cli, true, config(algorithm)?)?;
            let reader = find_reader(reader)?;
            let app = app_key(application);
            // Checked before the card is touched: nothing changes on a refusal.
            let found = station.application(&app)?;
            station.check_activatable(&found)?;
            let pin = read_new_pin(*pin_stdin)?;
            let citizen = CliCitizen {
                pin: Some(pin),
                letter: letter.clone(),
            };
            drive(
                station,
                &reader,
                Job::Activate {
                    application: app,
                    citizen: Box::new(citizen),
                },
            )
        }
        Cmd::Renew {
            reader,
            application,
            pin_stdin,
            algorithm,
        } => {
            let station = open_station(cli, true, config(algorithm)?)?;
            let reader = find_reader(reader)?;
            let pin = read_secret(*pin_stdin, "The card's PIN: ", 0)?;
            let pin = Pin::new(pin.as_bytes()).map_err(|e| StationError::Input(e.to_string()))?;
            drive(
                station,
                &reader,
                Job::Renew {
                    application: app_key(application),
                    citizen: Box::new(CliCitizen {
                        pin: Some(pin),
                        letter: None,
                    }),
                },
            )
        }
        Cmd::Unblock { reader, stdin } => {
            let station = open_station(cli, false, Config::default())?;
            let reader = find_reader(reader)?;
            let puk = read_secret(*stdin, "PUK (from the PUK letter): ", 0)?;
            let puk = Puk::new(puk.as_bytes())
                .map_err(|e| StationError::Input(format!("the PUK is not valid: {e}")))?;
            let pin = read_new_pin_at(*stdin, 1)?;
            let serial = services::unblock(&station, connect(&reader)?, &puk, &pin)?;
            println!("Card {serial}: PIN unblocked, the new PIN is set.");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::ChangePin { reader, stdin } => {
            let station = open_station(cli, false, Config::default())?;
            let reader = find_reader(reader)?;
            let old = read_secret(*stdin, "Current PIN: ", 0)?;
            let old = Pin::new(old.as_bytes())
                .map_err(|e| StationError::Input(format!("the current PIN is not valid: {e}")))?;
            let new = read_new_pin_at(*stdin, 1)?;
            let serial = services::change_pin(&station, connect(&reader)?, &old, &new)?;
            println!("Card {serial}: PIN changed.");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Revoke {
            application,
            reason,
            yes,
        } => {
            let reason: RevocationReason = reason.parse()?;
            if !yes {
                return Err(StationError::Input(
                    "revocation cannot be undone: add --yes to confirm".into(),
                ));
            }
            let station = open_station(cli, true, Config::default())?;
            let serials = services::revoke(&station, &app_key(application), reason)?;
            println!(
                "Revoked ({reason}): {} certificate(s) {}. The CRL is {}",
                serials.len(),
                serials.join(", "),
                ca_dir(cli).join("crl.pem").display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::ResetCard {
            reader,
            reason,
            yes,
        } => {
            let reason: RevocationReason = reason.parse()?;
            if !yes {
                return Err(StationError::Input(
                    "resetting destroys the card's keys and revokes its certificates: add --yes to confirm".into(),
                ));
            }
            let station = open_station(cli, true, Config::default())?;
            let reader = find_reader(reader)?;
            let report = services::reset_card(&station, connect(&reader)?, reason)?;
            println!(
                "Card {} is blank again{}; certificates revoked: {}",
                report.serial,
                report.application.map_or(String::new(), |a| format!(
                    " (application {a} can be issued again)"
                )),
                if report.revoked.is_empty() {
                    "none".into()
                } else {
                    report.revoked.join(", ")
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Audit { command } => {
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
    }
}

/// The operator's window, on the machine's PC/SC readers.
fn ui(cli: &Cli) -> Result<ExitCode, StationError> {
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
        .map_err(StationError::State)?;
    Ok(ExitCode::SUCCESS)
}

fn app_key(s: &str) -> AppKey {
    s.parse().expect("infallible")
}

fn applications_cmd(station: &Station, cmd: &AppCmd) -> Result<ExitCode, StationError> {
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
                    "  certificate {} slot {} on card {}: {}{}, valid {} to {}",
                    c.serial,
                    c.slot,
                    c.card_serial,
                    c.state,
                    c.revocation_reason
                        .as_deref()
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
                        j.step,
                        j.outcome,
                        j.data.chars().take(40).collect::<String>()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The reader whose name contains `part`, if exactly one does.
fn find_reader(part: &str) -> Result<String, StationError> {
    let ctx = transport::pcsc_context().map_err(|e| StationError::State(e.to_string()))?;
    let readers = transport::list_readers(&ctx).map_err(|e| StationError::State(e.to_string()))?;
    let matching: Vec<_> = readers.iter().filter(|r| r.name.contains(part)).collect();
    match matching.as_slice() {
        [one] => Ok(one.name.clone()),
        [] => Err(StationError::Input(format!(
            "no reader matches {part:?}: `firma-station readers` lists them"
        ))),
        many => Err(StationError::Input(format!(
            "several readers match {part:?}: {}; give more of the name",
            many.iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn connect(reader: &str) -> Result<Box<dyn Transport + Send>, StationError> {
    PcscReader {
        reader: reader.to_string(),
    }
    .connect()
}

/// Runs a job on the reader's worker, showing progress on stderr.
fn drive(station: Station, reader: &str, job: Job) -> Result<ExitCode, StationError> {
    let (tx, rx) = channel();
    let worker = Worker::spawn(
        Arc::new(station),
        Box::new(PcscReader {
            reader: reader.to_string(),
        }),
        tx,
    );
    worker.submit(job);
    for report in rx {
        match report {
            Report::Progress(_, Progress::Started { step, index, total }) => {
                eprint!("[{index:>2}/{total}] {step}… ");
                let _ = std::io::stderr().flush();
            }
            Report::Progress(_, Progress::Done { skipped: true, .. }) => {
                eprintln!("already done");
            }
            Report::Progress(_, Progress::Done { elapsed, note, .. }) => {
                eprintln!("done ({:.1} s)", elapsed.as_secs_f64());
                if let Some(note) = note {
                    eprintln!("        note: {note}");
                }
            }
            Report::Progress(_, Progress::Failed { .. }) => eprintln!("FAILED"),
            Report::ServiceDone(..) => {}
            Report::Finished(_, result) => {
                let outcome = (*result)?;
                eprintln!(
                    "Card {} of application {} ({} {}) is {}: {} certificates loaded, in {:.2} s ({:.2} s card, {:.3} s CA){}",
                    outcome.card_serial,
                    outcome.application.id,
                    outcome.application.given_name,
                    outcome.application.surnames,
                    outcome.application.state,
                    outcome.certificates.len(),
                    outcome.timing.total.as_secs_f64(),
                    outcome.timing.card.as_secs_f64(),
                    outcome.timing.ca.as_secs_f64(),
                    if outcome.runs > 1 { format!(", after {} runs", outcome.runs) } else { String::new() }
                );
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
    Err(StationError::State(
        "the card worker stopped unexpectedly".into(),
    ))
}

/// The citizen at the CLI: the PIN read before the card work began, and the
/// letter printed on stdout or written as a PDF.
struct CliCitizen {
    pin: Option<Pin>,
    letter: Option<PathBuf>,
}

impl Citizen for CliCitizen {
    fn choose_pin(&mut self) -> Result<Pin, StationError> {
        self.current_pin()
    }

    fn current_pin(&mut self) -> Result<Pin, StationError> {
        let pin = self
            .pin
            .as_ref()
            .ok_or_else(|| StationError::Input("no PIN was given".into()))?;
        Pin::new(pin.as_bytes()).map_err(|e| StationError::Input(e.to_string()))
    }

    fn deliver_letter(&mut self, info: &LetterInfo, puk: &Puk) -> Result<(), StationError> {
        match &self.letter {
            None => {
                let text = letter::text(info, puk);
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())
                    .and_then(|_| out.flush())
                    .map_err(|e| StationError::Letter(e.to_string()))
            }
            Some(path) => {
                let pdf = Zeroizing::new(letter::pdf(info, puk));
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                opts.open(path)
                    .and_then(|mut f| f.write_all(&pdf).and_then(|_| f.sync_all()))
                    .map_err(|e| StationError::Letter(format!("{}: {e}", path.display())))?;
                eprintln!(
                    "The PUK letter is in {}: print it, hand it over, then delete the file.",
                    path.display()
                );
                Ok(())
            }
        }
    }
}

/// Line `n` (0-based) of standard input, read once for the whole process.
fn stdin_line(n: usize) -> Result<Option<Zeroizing<String>>, StationError> {
    use std::sync::OnceLock;
    static LINES: OnceLock<Vec<Zeroizing<String>>> = OnceLock::new();
    let lines = LINES.get_or_init(|| {
        std::io::stdin()
            .lock()
            .lines()
            .map_while(Result::ok)
            .map(|l| Zeroizing::new(l.trim().to_string()))
            .collect()
    });
    Ok(lines.get(n).cloned())
}

fn read_secret(
    from_stdin: bool,
    prompt: &str,
    line: usize,
) -> Result<Zeroizing<String>, StationError> {
    if from_stdin {
        return stdin_line(line)?.ok_or_else(|| {
            StationError::Input(format!(
                "standard input has no line {} ({})",
                line + 1,
                prompt.trim_end_matches([':', ' '])
            ))
        });
    }
    rpassword::prompt_password(prompt)
        .map(|s| Zeroizing::new(s.trim().to_string()))
        .map_err(|source| StationError::Io {
            what: "cannot read from the terminal (use the --stdin options in scripts)".into(),
            source,
        })
}

/// A new PIN, checked against the rules and typed twice.
fn read_new_pin_at(from_stdin: bool, line: usize) -> Result<Pin, StationError> {
    if !from_stdin {
        eprintln!("The citizen chooses a PIN: {}.", pin::RULES);
    }
    let first = read_secret(from_stdin, "New PIN: ", line)?;
    let pin = pin::check_new_pin(&first)?;
    let again = if from_stdin {
        stdin_line(line + 1)?
    } else {
        Some(read_secret(false, "New PIN again: ", 0)?)
    };
    if let Some(again) = again {
        if again.as_str() != first.as_str() {
            return Err(StationError::PinRule(
                "the two PINs typed are different".into(),
            ));
        }
    }
    Ok(pin)
}

fn read_new_pin(from_stdin: bool) -> Result<Pin, StationError> {
    read_new_pin_at(from_stdin, 0)
}

fn inspect(station: &Station, part: &str) -> Result<ExitCode, StationError> {
    let reader = find_reader(part)?;
    let ctx = transport::pcsc_context().map_err(|e| StationError::State(e.to_string()))?;
    println!("{reader}");
    show_card(&ctx, &reader).map_err(|e| StationError::card("reading the card", e))?;
    let mut piv = Piv::new(connect(&reader)?);
    let (serial, record) = services::identify(station, &mut piv)?;
    match record {
        None => println!("  registry: card {serial} is not in this station's registry"),
        Some(r) => {
            println!("  registry: card {serial} {}", r.state);
            if let Some(app) = r.application_id {
                let a = station.application(&AppKey::Id(app))?;
                println!(
                    "  application {}: {} {} ({}), {}",
                    a.id, a.given_name, a.surnames, a.nif, a.state
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a card in a reader turned out to be.
fn describe_card(ctx: &pcsc::Context, reader: &str) -> String {
    let mut card = match PcscTransport::connect(ctx, reader) {
        Ok(c) => c,
        Err(e) => return format!("cannot connect: {e}"),
    };
    let select = Command::new(0, 0xA4, 4, 0)
        .with_data(vec![0xA0, 0, 0, 3, 8])
        .with_le(256);
    match card.transmit(&select) {
        Ok((_, sw)) if sw.is_success() => {}
        Ok((_, sw)) => return format!("not a PIV card (SELECT answered {sw})"),
        Err(e) => return format!("no answer: {e}"),
    }
    let mut parts = vec!["PIV card".to_string()];
    if let Ok((v, sw)) = card.transmit(&Command::new(0, 0xFD, 0, 0).with_le(256)) {
        if sw.is_success() && v.len() == 3 {
            parts.push(format!("version {}.{}.{}", v[0], v[1], v[2]));
        }
    }
    if let Ok((s, sw)) = card.transmit(&Command::new(0, 0xF8, 0, 0).with_le(256)) {
        if let (true, Ok(b)) = (sw.is_success(), <[u8; 4]>::try_from(&s[..])) {
            parts.push(format!("serial {}", u32::from_be_bytes(b)));
        }
    }
    if let Ok((_, sw)) = card.transmit(&Command::new(0, 0x20, 0, 0x80)) {
        match sw.tries_left() {
            Some(n) => parts.push(format!("PIN tries left {n}")),
            None if sw.0 == 0x6983 => parts.push("PIN blocked".into()),
            None => {}
        }
    }
    parts.join(", ")
}

fn readers() -> ExitCode {
    let ctx = match transport::pcsc_context() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("firma-station: {e}");
            return ExitCode::from(3);
        }
    };
    let list = match transport::list_readers(&ctx) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("firma-station: cannot list readers: {e}");
            return ExitCode::from(3);
        }
    };
    if list.is_empty() {
        println!("No smart card reader found. Connect a reader (or start the virtual ones) and try again.");
        return ExitCode::from(1);
    }
    for r in list {
        match &r.atr {
            None => println!("{}: empty", r.name),
            Some(atr) => {
                println!("{}: card present (ATR {})", r.name, hex::encode_upper(atr));
                println!("    {}", describe_card(&ctx, &r.name));
            }
        }
    }
    ExitCode::SUCCESS
}

fn card(wanted: Option<&str>) -> ExitCode {
    let ctx = match transport::pcsc_context() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("firma-station: {e}");
            return ExitCode::from(3);
        }
    };
    let readers = match transport::list_readers(&ctx) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("firma-station: cannot list readers: {e}");
            return ExitCode::from(3);
        }
    };
    let chosen: Vec<_> = readers
        .iter()
        .filter(|r| wanted.map_or(r.atr.is_some(), |w| r.name.contains(w)))
        .collect();
    if chosen.is_empty() {
        match wanted {
            Some(w) => eprintln!(
                "firma-station: no reader matches {w:?}; `firma-station readers` lists them"
            ),
            None => eprintln!("firma-station: no card in any reader: insert one and try again"),
        }
        return ExitCode::from(1);
    }
    let mut status = ExitCode::SUCCESS;
    for r in chosen {
        println!("{}", r.name);
        if r.atr.is_none() {
            println!("  empty");
            continue;
        }
        if let Err(e) = show_card(&ctx, &r.name) {
            println!("  {e}");
            status = ExitCode::from(1);
        }
    }
    status
}

fn show_card(ctx: &pcsc::Context, reader: &str) -> Result<(), Error> {
    let (mut piv, info) = Piv::open(PcscTransport::connect(ctx, reader)?)?;
    let label = info.label.unwrap_or_else(|| "PIV".into());
    println!("  application: {label} (APDUs: {:?})", piv.mode());
    match piv.version() {
        Ok(v) => println!("  version: {v}"),
        Err(Error::NotSupportedByCard(_)) => {
            println!("  version: not reported (no Yubico extensions)")
        }
        Err(e) => return Err(e),
    }
    if let Ok(serial) = piv.serial() {
        println!("  serial: {serial}");
    }
    // Metadata is a Yubico extension: cards without it just show less, and
    // say so rather than leave the operator guessing.
    let pin_meta = piv.metadata(0x80);
    let no_metadata = matches!(pin_meta, Err(Error::NotSupportedByCard(_)));
    let pin_meta = pin_meta.ok().flatten();
    match piv.pin_status()? {
        PinStatus::Blocked => println!("  PIN: blocked{}", default_note(&pin_meta)),
        PinStatus::TriesLeft(n) => println!("  PIN: {n} tries left{}", default_note(&pin_meta)),
        PinStatus::Verified => println!("  PIN: verified{}", default_note(&pin_meta)),
    }
    if no_metadata {
        println!("  PUK: tries left {NOT_REPORTED}");
        println!("  management key: algorithm {NOT_REPORTED}");
    }
    if let Some(m) = piv.metadata(0x81).ok().flatten() {
        let (_, left) = m.retries.unwrap_or((0, 0));
        println!("  PUK: {left} tries left{}", default_note(&Some(m.clone())));
    }
    if let Some(m) = piv.metadata(0x9B).ok().flatten() {
        let alg = m.algorithm.and_then(firma_apdu::piv::MgmAlgorithm::from_id);
        let alg = alg.map_or("unknown algorithm".to_string(), |a| a.to_string());
        println!("  management key: {alg}{}", default_note(&Some(m.clone())));
    }
    for slot in Slot::all() {
        let key = match piv.metadata(slot.key_reference()) {
            Ok(Some(m)) => {
                let alg = m
                    .algorithm
                    .and_then(|a| firma_apdu::piv::Algorithm::try_from(a).ok());
                Some(format!(
                    "key {}, {}, PIN {:?}",
                    alg.map_or("unknown".into(), |a| a.to_string()),
                    match m.origin {
                        Some(firma_apdu::piv::Origin::Generated) => "generated on the card",
                        Some(firma_apdu::piv::Origin::Imported) => "imported",
                        None => "origin unknown",
                    },
                    m.pin_policy.unwrap_or(firma_apdu::piv::PinPolicy::Default)
                ))
            }
            _ => None,
        };
        let cert = piv.read_certificate(slot)?;
        if key.is_none() && cert.is_none() {
            continue;
        }
        let key = key.or_else(|| no_metadata.then(|| format!("key: {NOT_REPORTED}")));
        println!("  slot {slot}:");
        if let Some(k) = key {
            println!("    {k}");
        }
        match cert.as_deref().map(describe_certificate) {
            Some(Ok(lines)) => lines.iter().for_each(|l| println!("    {l}")),
            Some(Err(e)) => println!("    certificate: unreadable ({e})"),
            None => println!("    no certificate"),
        }
    }
    Ok(())
}

/// What `card` says of what a card without GET METADATA (Nitrokey 3) keeps to itself.
const NOT_REPORTED: &str = "not reported by this card";

fn default_note(m: &Option<firma_apdu::piv::Metadata>) -> &'static str {
    match m {
        Some(m) if m.is_default == Some(true) => " (still the factory default)",
        _ => "",
    }
}

fn describe_certificate(der: &[u8]) -> Result<Vec<String>, der::Error> {
    use der::Decode;
    let cert = x509_cert::Certificate::from_der(der)?;
    let tbs = &cert.tbs_certificate;
    Ok(vec![
        format!("subject: {}", tbs.subject),
        format!("issuer: {}", tbs.issuer),
        format!(
            "valid: {} to {}",
            tbs.validity.not_before, tbs.validity.not_after
        ),
    ])
}
