//! `firma-station activate` and `renew`: the journaled workflow on the
//! reader's worker, with progress on stderr and the PUK letter in a new
//! private PDF file or on the printer, never on the screen.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::channel;
use std::sync::Arc;

use clap::Args;
use firma_apdu::piv::{Pin, Puk};
use firma_station_engine::activation::{Citizen, Progress};
use firma_station_engine::datadir;
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
    /// Write the PUK letter as a PDF to FILE, a new file (mode 600; never
    /// over an existing file or through a link). The PUK is never shown on
    /// the screen.
    #[arg(long, value_name = "FILE", required_unless_present = "print")]
    letter: Option<PathBuf>,
    /// Send the PUK letter to the default printer (`lp`), through a pipe.
    #[arg(long, conflicts_with = "letter")]
    print: bool,
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
    let letter = match &args.letter {
        Some(path) => {
            // Refused before the card is touched, not after its PUK is set.
            if path.symlink_metadata().is_ok() {
                return Err(StationError::Letter(format!(
                    "{} already exists: name a new file (the letter never replaces one)",
                    path.display()
                )));
            }
            LetterTo::File(path.clone())
        }
        None => LetterTo::Printer,
    };
    let pin = read_new_pin(args.pin_stdin, &station.personal_numbers(&found)?)?;
    let citizen = CliCitizen {
        pin: Some(pin),
        letter,
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
                letter: LetterTo::Printer,
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

/// Where the CLI puts the PUK letter: never on the screen.
enum LetterTo {
    /// A new private file.
    File(PathBuf),
    /// The default printer, through a pipe (the PDF never touches a disk).
    Printer,
}

/// The citizen at the CLI: the PIN read before the card work began, and the
/// letter written as a new private PDF file or sent to the printer.
struct CliCitizen {
    pin: Option<Pin>,
    letter: LetterTo,
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
        let pdf = Zeroizing::new(letter::pdf(info, puk));
        match &self.letter {
            LetterTo::Printer => {
                print(&pdf)?;
                eprintln!("The PUK letter went to the printer: hand it over.");
            }
            LetterTo::File(path) => {
                datadir::create_private(path)
                    .and_then(|mut f| f.write_all(&pdf).and_then(|_| f.sync_all()))
                    .map_err(|e| StationError::Letter(format!("{}: {e}", path.display())))?;
                eprintln!(
                    "The PUK letter is in {}: print it, hand it over, then delete the file.",
                    path.display()
                );
            }
        }
        Ok(())
    }
}

/// `lp -` with the PDF on its standard input.
fn print(pdf: &[u8]) -> Result<(), StationError> {
    let failed = |e: &dyn std::fmt::Display| StationError::Letter(format!("the printer (lp): {e}"));
    let mut child = std::process::Command::new("lp")
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| failed(&e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(pdf).map_err(|e| failed(&e))?;
    }
    let out = child.wait_with_output().map_err(|e| failed(&e))?;
    if !out.status.success() {
        return Err(failed(&String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}
