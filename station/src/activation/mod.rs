//! The activation workflow (and renewal, which is its second half on a card
//! already issued): journaled steps that can stop anywhere (card pulled, CA
//! down, station killed) and resume from the journal.
//!
//! What makes a resumed run safe:
//! - key generation, CHUID/CCC, issuance and loading are recorded when done
//!   and never repeated; a certificate issued but not loaded is reused when
//!   its key is still the card's, and revoked when it is not;
//! - the PIN and PUK are set in the same run that prints the PUK letter: a
//!   run that did not finish lost its PUK, so the next run puts PIN and PUK
//!   back to the card's defaults (SET PIN RETRIES) and sets them again; a
//!   card without SET PIN RETRIES gets its new PUK sealed into the registry
//!   before it takes it, kept only until the activation is finished;
//! - a new management key is sealed into the registry before the card gets
//!   it, so a crash in between never leaves a card nobody can administer;
//! - the application is marked activated only in the last step, in the same
//!   transaction that closes the activation.

use std::fmt;
use std::time::{Duration, Instant};

use firma_apdu::piv::{Pin, Piv, PublicKey, Puk};
use firma_apdu::transport::{Traced, Transport};
use time::OffsetDateTime;

use crate::audit::{Action, Event, Subject};
use crate::ca::RevocationReason;
use crate::engine::Station;
use crate::error::StationError;
use crate::letter::LetterInfo;
use crate::profile::Profile;
use crate::registry::{
    self, ActivationState, AppKey, AppState, Application, CardState, CertRecord, CertState, Change,
    JournalEntry, WorkflowKind,
};
pub use crate::step::{Step, StepOutcome};
pub use keys::journal_key;

mod card;
mod certificates;
mod credentials;
mod keys;

/// The citizen's side of the workflow: the PIN they type and the letter
/// they take home. The CLI reads a prompt; the UI shows a dialog.
pub trait Citizen {
    /// A new PIN, already checked with [`crate::pin::check_new_pin`].
    fn choose_pin(&mut self) -> Result<Pin, StationError>;
    /// The card's current PIN (renewal).
    fn current_pin(&mut self) -> Result<Pin, StationError>;
    /// Prints or shows the PUK letter. An error leaves the card unfinished.
    fn deliver_letter(&mut self, info: &LetterInfo, puk: &Puk) -> Result<(), StationError>;
}

/// What a card lacks, where the operator should hear of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardNote {
    /// No SET PIN RETRIES: the card keeps its own PIN and PUK retry counts.
    NoRetrySetting,
}

impl fmt::Display for CardNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardNote::NoRetrySetting => f.write_str(
                "the card keeps its own retry counts (it cannot set them: no SET PIN RETRIES)",
            ),
        }
    }
}

/// What the workflow reports as it goes.
#[derive(Debug, Clone)]
pub enum Progress {
    Started {
        step: Step,
        index: usize,
        total: usize,
    },
    /// `skipped`: already done in an earlier run; `note`: what the operator
    /// should know about how the card took it.
    Done {
        step: Step,
        skipped: bool,
        elapsed: Duration,
        note: Option<CardNote>,
    },
    Failed {
        step: Step,
        message: String,
    },
}

/// How long a workflow took, and how much of it the card (with the reader
/// and PC/SC) and the CA took.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    pub total: Duration,
    pub card: Duration,
    pub ca: Duration,
}

#[derive(Debug)]
pub struct Outcome {
    pub application: Application,
    pub card_serial: u32,
    pub certificates: Vec<CertRecord>,
    /// 1 for a workflow that ran at once, more when it resumed.
    pub runs: i64,
    pub timing: Timing,
}

type Card<'t> = Piv<&'t mut dyn Transport>;

/// Runs workflow `kind` for application `key` on the card behind
/// `transport`, resuming one that stopped: `Activate` personalizes a blank
/// card; `Renew` puts new keys and certificates on an activated card and
/// revokes the old certificates.
pub fn run<T: Transport>(
    station: &Station,
    transport: T,
    reader: &str,
    key: &AppKey,
    kind: WorkflowKind,
    citizen: &mut dyn Citizen,
    progress: &mut dyn FnMut(Progress),
) -> Result<Outcome, StationError> {
    let started = Instant::now();
    let app = station.application(key)?;
    match kind {
        WorkflowKind::Activate => station.check_activatable(&app)?,
        WorkflowKind::Renew => check_renewable(station, &app)?,
    }
    // The worker's transport logs the APDUs already; this one times them.
    let mut piv = Piv::new(Traced::quiet(transport));
    let mut work = Run {
        station,
        app,
        kind,
        reader: reader.to_string(),
        citizen,
        progress,
        activation: None,
        serial: 0,
        pin: None,
        pin_on_card: false,
        note: None,
        puk: None,
        keys: Default::default(),
        certs: Default::default(),
        ca_time: Duration::ZERO,
    };
    // One PC/SC transaction: no other application's APDU comes between the
    // steps. After another application resets the card, the closure runs
    // again and resumes from the journal.
    piv.transaction(|card| work.steps(card))?;
    let timing = Timing {
        total: started.elapsed(),
        card: piv.transport().busy(),
        ca: work.ca_time,
    };
    let certificates = work.certs.iter().flatten().cloned().collect();
    let activation = work.activation.expect("the steps opened an activation");
    let application = station.application(&AppKey::Id(work.app.id))?;
    tracing::info!(
        application = application.id,
        card = work.serial,
        total_ms = timing.total.as_millis() as u64,
        card_ms = timing.card.as_millis() as u64,
        ca_ms = timing.ca.as_millis() as u64,
        "{kind} finished"
    );
    Ok(Outcome {
        application,
        card_serial: work.serial,
        certificates,
        runs: activation.runs,
        timing,
    })
}

/// Fault injection for the tests (the `test-knobs` feature only).
fn crash_point(step: &str) {
    crate::knobs::crash_point(step);
}

fn check_renewable(station: &Station, app: &Application) -> Result<(), StationError> {
    if !matches!(app.state, AppState::Activated | AppState::Renewed) {
        return Err(StationError::NotRenewable {
            application: app.id,
            state: app.state,
        });
    }
    let open = station.registry().open_activation(app.id)?;
    if open.is_some_and(|a| a.kind == WorkflowKind::Renew) {
        return Ok(()); // resuming a renewal that already passed this check
    }
    let (opens, expiry) =
        station
            .renewal_window(app.id)?
            .ok_or(StationError::NoCertificateOnCard {
                application: app.id,
            })?;
    if OffsetDateTime::now_utc() < opens {
        return Err(StationError::RenewalNotOpen {
            application: app.id,
            opens: opens.date(),
            expires: expiry.date(),
            days: crate::profile::RENEWAL_WINDOW_DAYS,
        });
    }
    Ok(())
}

struct Run<'a> {
    station: &'a Station,
    app: Application,
    kind: WorkflowKind,
    reader: String,
    citizen: &'a mut dyn Citizen,
    progress: &'a mut dyn FnMut(Progress),
    activation: Option<registry::Activation>,
    serial: u32,
    /// The citizen's PIN, taken once per run.
    pin: Option<Pin>,
    /// Whether the card holds the citizen's PIN (as far as this run knows).
    pin_on_card: bool,
    /// What the running step found the card lacks (see [`Progress::Done`]).
    note: Option<CardNote>,
    /// The PUK set in this run: only this run can print the letter.
    puk: Option<Puk>,
    keys: [Option<PublicKey>; 3],
    certs: [Option<CertRecord>; 3],
    ca_time: Duration,
}

fn index(p: Profile) -> usize {
    match p {
        Profile::Authentication => 0,
        Profile::Signature => 1,
        Profile::KeyManagement => 2,
    }
}

impl Run<'_> {
    fn steps(&mut self, card: &mut Card<'_>) -> Result<(), StationError> {
        let plan = Step::plan(self.kind);
        let total = plan.len();
        for (i, step) in plan.into_iter().enumerate() {
            (self.progress)(Progress::Started {
                step,
                index: i + 1,
                total,
            });
            tracing::info!(step = step.name().as_str(), "step started");
            let t = Instant::now();
            match self.step(card, step) {
                Ok(skipped) => (self.progress)(Progress::Done {
                    step,
                    skipped,
                    elapsed: t.elapsed(),
                    note: self.note.take(),
                }),
                Err(e) => {
                    (self.progress)(Progress::Failed {
                        step,
                        message: e.to_string(),
                    });
                    self.record_failure(step, &e);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn activation_id(&self) -> i64 {
        self.activation.as_ref().map_or(0, |a| a.id)
    }

    fn run_number(&self) -> i64 {
        self.activation.as_ref().map_or(0, |a| a.runs)
    }

    fn journal(&self) -> Result<Vec<JournalEntry>, StationError> {
        Ok(self.station.registry().journal(self.activation_id())?)
    }

    /// The latest journal entry of `step`, from any run.
    fn last_entry(&self, step: Step) -> Result<Option<JournalEntry>, StationError> {
        Ok(self.journal()?.into_iter().rev().find(|e| e.step == step))
    }

    fn done_before(&self, step: Step) -> Result<Option<JournalEntry>, StationError> {
        Ok(self
            .last_entry(step)?
            .filter(|e| e.outcome == StepOutcome::Done))
    }

    fn entry(&self, step: Step, outcome: StepOutcome, data: String) -> JournalEntry {
        JournalEntry {
            activation_id: self.activation_id(),
            run: self.run_number(),
            step,
            outcome,
            data,
            at: OffsetDateTime::now_utc(),
        }
    }

    fn subject(&self) -> Subject {
        Subject::Application(self.app.id)
    }

    /// Journals `step` as done with `changes`, in one transaction.
    fn record(&self, step: Step, data: String, changes: &[Change]) -> Result<(), StationError> {
        let detail = if data.is_empty() {
            format!("card {}", self.serial)
        } else {
            format!("card {}: {data}", self.serial)
        };
        self.station.registry().commit(
            &self.station.actor,
            Some(&self.entry(step, StepOutcome::Done, data)),
            changes,
            &Event::new(Action::StepDone(self.kind, step), self.subject(), detail),
        )?;
        crash_point(&step.name());
        Ok(())
    }

    fn record_failure(&self, step: Step, e: &StationError) {
        if self.activation.is_none() {
            return; // nothing started: nothing to journal
        }
        let message = e.to_string();
        let result = self.station.registry().commit(
            &self.station.actor,
            Some(&self.entry(step, StepOutcome::Failed, String::new())),
            &[Change::ActivationState {
                id: self.activation_id(),
                state: ActivationState::Running,
                error: Some(message.clone()),
            }],
            &Event::new(
                Action::StepFailed(self.kind, step),
                self.subject(),
                format!("card {}: {message}", self.serial),
            ),
        );
        if let Err(db) = result {
            tracing::error!("could not journal the failure of {}: {db}", step.name());
        }
    }

    /// Runs one step; `Ok(true)` when an earlier run had done it.
    fn step(&mut self, card: &mut Card<'_>, step: Step) -> Result<bool, StationError> {
        match step {
            Step::CheckCard => self.check_card(card).map(|_| false),
            Step::Authenticate => self.authenticate(card).map(|_| false),
            Step::ChuidCcc => self.chuid_ccc(card),
            Step::Generate(p) => self.generate(card, p),
            Step::PinPuk => self.pin_puk(card).map(|_| false),
            Step::Issue(p) => self.issue(card, p),
            Step::CheckCertificates => self.check_certificates(card),
            Step::LoadCertificates => self.load_certificates(card),
            Step::ManagementKey => {
                if self.done_before(step)?.is_some() {
                    return Ok(true);
                }
                self.replace_management_key(card)
            }
            Step::SelfTest => self.self_test(card),
            Step::PukLetter => self.puk_letter(card),
            Step::Finish => self.finish().map(|_| false),
        }
    }

    fn finish(&mut self) -> Result<(), StationError> {
        // The PUK is the citizen's now: the station keeps no copy.
        let mut changes = vec![Change::SealedPuks {
            serial: self.serial,
            sealed: None,
        }];
        changes.push(Change::ActivationState {
            id: self.activation_id(),
            state: ActivationState::Done,
            error: None,
        });
        let (state, action) = match self.kind {
            WorkflowKind::Activate => {
                changes.push(Change::Card {
                    serial: self.serial,
                    application_id: Some(self.app.id),
                    state: CardState::Personalized,
                });
                // The identity check was this activation's evidence.
                changes.push(Change::IdentityChecksUsed {
                    application_id: self.app.id,
                    activation_id: self.activation_id(),
                });
                (AppState::Activated, Action::CardActivated)
            }
            WorkflowKind::Renew => {
                // The previous certificates give way to the new ones.
                let old: Vec<CertRecord> = self
                    .station
                    .registry()
                    .certificates(self.app.id)?
                    .into_iter()
                    .filter(|c| {
                        c.activation_id != self.activation_id() && c.state != CertState::Revoked
                    })
                    .collect();
                for c in old {
                    self.station
                        .revoke_at_ca(&c.serial, RevocationReason::Superseded)?;
                    changes.push(Change::CertificateState {
                        serial: c.serial,
                        state: CertState::Revoked,
                        reason: Some(RevocationReason::Superseded),
                    });
                }
                (AppState::Renewed, Action::CertificatesRenewed)
            }
        };
        changes.push(Change::ApplicationState(self.app.id, state));
        let serials: Vec<&str> = self
            .certs
            .iter()
            .flatten()
            .map(|c| c.serial.as_str())
            .collect();
        self.station.registry().commit(
            &self.station.actor,
            Some(&self.entry(Step::Finish, StepOutcome::Done, String::new())),
            &changes,
            &Event::new(
                action,
                self.subject(),
                format!("card {}, certificates {}", self.serial, serials.join(", ")),
            ),
        )?;
        Ok(())
    }
}
