//! `firma-station activate` and `renew`: the journaled workflow on the
//! reader's worker, with progress on stderr and the PUK letter on stdout
//! or in a PDF.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::channel;
use std::sync::Arc;

use clap::Args;
use firma_apdu::piv::{Pin, Puk};
use firma_station_engine::activation::{Citizen, Progress};
use firma_station_engine::engine::Station;
use firma_station_engine::error::StationError;
use firma_station_engine::letter::{self, LetterInfo};
use firma_station_engine::worker::{Job, PcscReader, Report, Worker};
use zeroize::Zeroizing;

use super::input::{read_new_pin, read_secret};
use super::values::KeyAlgorithm;
use super::{app_key, config, find_reader, open_station, Cli};

#[derive(Args)]
pub struct ActivateArgs {
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
    /// Key algorithm.
    #[arg(long, value_enum, ignore_case = true, default_value_t = KeyAlgorithm::Rsa2048)]
    algorithm: KeyAlgorithm,
}

#[derive(Args)]
pub struct RenewArgs {
    #[arg(long)]
    reader: String,
    #[arg(long)]
    application: String,
    /// Read the card's current PIN from standard input.
    #[arg(long)]
    pin_stdin: bool,
    /// Key algorithm of the new keys.
    #[arg(long, value_enum, ignore_case = true, default_value_t = KeyAlgorithm::Rsa2048)]
    algorithm: KeyAlgorithm,
}

pub fn activate(cli: &Cli, args: &ActivateArgs) -> Result<ExitCode, StationError> {
    let station = open_station(cli, true, config(args.algorithm))?;
    let reader = find_reader(&args.reader)?;
    let app = app_key(&args.application);
    // Checked before the card is touched: nothing changes on a refusal.
    let found = station.application(&app)?;
    station.check_activatable(&found)?;
    let pin = read_new_pin(args.pin_stdin)?;
    let citizen = CliCitizen {
        pin: Some(pin),
        letter: args.letter.clone(),
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

pub fn renew(cli: &Cli, args: &RenewArgs) -> Result<ExitCode, StationError> {
    let station = open_station(cli, true, config(args.algorithm))?;
    let reader = find_reader(&args.reader)?;
    let pin = read_secret(args.pin_stdin, "The card's PIN: ", 0)?;
    let pin = Pin::new(pin.as_bytes()).map_err(StationError::PinFormat)?;
    drive(
        station,
        &reader,
        Job::Renew {
            application: app_key(&args.application),
            citizen: Box::new(CliCitizen {
                pin: Some(pin),
                letter: None,
            }),
        },
    )
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
    Err(StationError::WorkerStopped)
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
        let pin = self.pin.as_ref().ok_or(StationError::NoPinGiven)?;
        Pin::new(pin.as_bytes()).map_err(StationError::PinFormat)
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
