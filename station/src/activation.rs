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

use der::{Decode, Encode};
use firma_apdu::piv::pin::{DEFAULT_PIN, DEFAULT_PUK};
use firma_apdu::piv::{
    ManagementKey, MgmAlgorithm, Pin, PinStatus, Piv, PublicKey, Puk, Slot, TouchPolicy,
};
use firma_apdu::transport::{Traced, Transport};
use firma_apdu::{Error as CardError, StatusWord};
use spki::SubjectPublicKeyInfoOwned;
use time::OffsetDateTime;
use x509_cert::Certificate;

use crate::audit::Event;
use crate::ca::RevocationReason;
use crate::csr;
use crate::engine::Station;
use crate::error::{CardTask, StationError};
use crate::letter::LetterInfo;
use crate::profile::Profile;
use crate::registry::{
    self, ActivationState, AppKey, AppState, Application, CardState, CertRecord, CertState, Change,
    JournalEntry, RegistryError, WorkflowKind,
};
pub use crate::step::Step;

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

/// Fault injection for the tests of a station killed mid-activation:
/// `FIRMA_STATION_CRASH_AFTER=STEP` kills the process the moment STEP is
/// journaled, as a power cut would.
fn crash_point(step: &str) {
    if std::env::var("FIRMA_STATION_CRASH_AFTER").is_ok_and(|s| s == step) {
        eprintln!("firma-station: killed after {step} (FIRMA_STATION_CRASH_AFTER)");
        std::process::abort();
    }
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
        let name = step.name();
        Ok(self.journal()?.into_iter().rev().find(|e| e.step == name))
    }

    fn done_before(&self, step: Step) -> Result<Option<JournalEntry>, StationError> {
        Ok(self.last_entry(step)?.filter(|e| e.outcome == "done"))
    }

    fn entry(&self, step: Step, outcome: &str, data: String) -> JournalEntry {
        JournalEntry {
            activation_id: self.activation_id(),
            run: self.run_number(),
            step: step.name(),
            outcome: outcome.into(),
            data,
            at: OffsetDateTime::now_utc(),
        }
    }

    fn subject(&self) -> String {
        format!("application {}", self.app.id)
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
            Some(&self.entry(step, "done", data)),
            changes,
            &Event::new(
                &format!("{} {}", self.kind, step.name()),
                self.subject(),
                detail,
            ),
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
            Some(&self.entry(step, "failed", String::new())),
            &[Change::ActivationState {
                id: self.activation_id(),
                state: ActivationState::Running,
                error: Some(message.clone()),
            }],
            &Event::new(
                &format!("{} {} failed", self.kind, step.name()),
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
        let on_card = |e: CardError| StationError::card(step, e);
        match step {
            Step::CheckCard => self.check_card(card).map(|_| false),
            Step::Authenticate => self.authenticate(card).map(|_| false),
            Step::ChuidCcc => {
                if self.done_before(step)?.is_some() {
                    return Ok(true);
                }
                let guid: [u8; 16] = rand::random();
                let card_id: [u8; 14] = rand::random();
                let expiry = (OffsetDateTime::now_utc() + time::Duration::days(3 * 365 + 1)).date();
                let expiry = format!(
                    "{:04}{:02}{:02}",
                    expiry.year(),
                    u8::from(expiry.month()),
                    expiry.day()
                );
                card.write_object(
                    firma_apdu::piv::ObjectId::CHUID,
                    &firma_apdu::piv::container::chuid(&guid, &expiry),
                )
                .map_err(on_card)?;
                card.write_object(
                    firma_apdu::piv::ObjectId::CCC,
                    &firma_apdu::piv::container::ccc(&card_id),
                )
                .map_err(on_card)?;
                self.record(step, format!("CHUID GUID {}", hex::encode_upper(guid)), &[])?;
                Ok(false)
            }
            Step::Generate(p) => {
                if let Some(e) = self.done_before(step)? {
                    self.keys[index(p)] = Some(decode_key(&e.data)?);
                    return Ok(true);
                }
                let key = card
                    .generate(
                        p.slot(),
                        self.station.config.algorithm,
                        p.pin_policy(),
                        TouchPolicy::Never,
                    )
                    .map_err(on_card)?;
                self.record(step, encode_key(&key)?, &[])?;
                self.keys[index(p)] = Some(key);
                Ok(false)
            }
            Step::PinPuk => self.pin_puk(card).map(|_| false),
            Step::Issue(p) => self.issue(card, p),
            Step::CheckCertificates => {
                for p in Profile::all() {
                    let (cert, key) = self.cert_and_key(p)?;
                    let spki = cert_spki(&cert.der)?;
                    // The card's own word on its key, where it can give it.
                    let on_card = match card.metadata(p.slot().key_reference()) {
                        Ok(Some(m)) => m.public_key,
                        _ => None,
                    };
                    if !csr::same_key(&spki, key)
                        || on_card.is_some_and(|k| !csr::same_key(&spki, &k))
                    {
                        return Err(StationError::CertificateNotCardKey {
                            profile: p,
                            serial: cert.serial.clone(),
                        });
                    }
                }
                self.record(step, String::new(), &[])?;
                Ok(false)
            }
            Step::LoadCertificates => {
                if self.done_before(step)?.is_some() {
                    return Ok(true);
                }
                let mut changes = Vec::new();
                for p in Profile::all() {
                    let (cert, _) = self.cert_and_key(p)?;
                    let der = cert.der.clone();
                    let serial = cert.serial.clone();
                    card.write_certificate(p.slot(), &der, false)
                        .map_err(on_card)?;
                    changes.push(Change::CertificateState {
                        serial,
                        state: CertState::Loaded,
                        reason: None,
                    });
                }
                self.record(step, String::new(), &changes)?;
                for c in self.certs.iter_mut().flatten() {
                    c.state = CertState::Loaded;
                }
                Ok(false)
            }
            Step::ManagementKey => {
                if self.done_before(step)?.is_some() {
                    return Ok(true);
                }
                self.replace_management_key(card)
            }
            Step::SelfTest => {
                for p in Profile::all() {
                    self.verify_pin(card)?;
                    let (cert, _) = self.cert_and_key(p)?;
                    let spki = cert_spki(&cert.der)?;
                    let alg = self.station.config.algorithm;
                    let challenge: [u8; 32] = rand::random();
                    let sig = card
                        .private_operation(p.slot(), alg, &csr::card_input(alg, &challenge))
                        .map_err(on_card)?;
                    csr::verify(&spki, &csr::signature_algorithm(alg), &challenge, &sig).map_err(
                        |e| StationError::TestSignatureFailed {
                            profile: p,
                            why: e.to_string(),
                        },
                    )?;
                }
                self.record(
                    step,
                    "each key signed a challenge that verified".into(),
                    &[],
                )?;
                Ok(false)
            }
            Step::PukLetter => {
                if self.puk.is_none() {
                    // The PUK of an earlier run is gone: make a new one.
                    self.pin_puk(card)?;
                }
                let puk = self.puk.as_ref().expect("set above");
                let expires = self
                    .certs
                    .iter()
                    .flatten()
                    .map(|c| c.not_after)
                    .min()
                    .unwrap_or_else(OffsetDateTime::now_utc);
                let info = LetterInfo {
                    holder_name: format!("{} {}", self.app.given_name, self.app.surnames),
                    nif: self.app.nif.clone(),
                    card_serial: self.serial,
                    station: self.station.actor.station.clone(),
                    issued_on: OffsetDateTime::now_utc().date(),
                    certificates_expire: expires.date(),
                };
                self.citizen.deliver_letter(&info, puk)?;
                self.record(step, "handed to the citizen".into(), &[])?;
                Ok(false)
            }
            Step::Finish => self.finish().map(|_| false),
        }
    }

    fn check_card(&mut self, card: &mut Card<'_>) -> Result<(), StationError> {
        let step = Step::CheckCard;
        card.select().map_err(|e| match e {
            e if e.is_card_gone() => StationError::card(step, e),
            _ => StationError::NotBlank {
                serial: 0,
                why: "it has no PIV application".into(),
            },
        })?;
        let serial = card.serial().map_err(|e| match e {
            CardError::NotSupportedByCard(_) => StationError::NotBlank {
                serial: 0,
                why: "it does not tell its serial number (GET SERIAL, a Yubico extension this station needs)".into(),
            },
            e => StationError::card(step, e),
        })?;
        self.serial = serial;
        let app = &self.app;
        if let Some(expected) = app.card_serial {
            if expected != serial {
                return Err(StationError::WrongCard {
                    application: app.id,
                    expected,
                    found: serial,
                });
            }
        }
        let reg = self.station.registry();
        let record = reg.card(serial)?;
        let on_card = reg.open_activation_on_card(serial)?;
        let for_app = reg.open_activation(app.id)?;
        drop(reg);
        if let Some(a) = &on_card {
            if a.application_id != app.id {
                return Err(StationError::CardBusy {
                    serial,
                    application: a.application_id,
                });
            }
        }
        if let Some(a) = &for_app {
            if a.card_serial != serial {
                return Err(StationError::StartedOnOtherCard {
                    application: app.id,
                    serial: a.card_serial,
                });
            }
            if a.kind != self.kind {
                return Err(StationError::UnfinishedWorkflow {
                    application: app.id,
                    kind: a.kind,
                });
            }
        }
        match self.kind {
            WorkflowKind::Activate => {
                if let Some(r) = &record {
                    if r.state == CardState::Personalized {
                        return Err(StationError::AlreadyPersonalized {
                            serial,
                            application: r.application_id.unwrap_or(0),
                        });
                    }
                }
                if for_app.is_none() {
                    check_blank(card, serial)?;
                }
            }
            WorkflowKind::Renew => match &record {
                Some(r)
                    if r.state == CardState::Personalized && r.application_id == Some(app.id) => {}
                _ => {
                    return Err(StationError::NotApplicationsCard {
                        serial,
                        application: app.id,
                        nif: app.nif.clone(),
                    })
                }
            },
        }
        let alg = format!("{:?}", self.station.config.algorithm);
        let activation = self.station.registry().start_run(
            app.id,
            serial,
            self.kind,
            &alg,
            &self.reader,
            &self.station.actor,
        )?;
        self.activation = Some(activation);
        self.record(
            Step::CheckCard,
            format!("card {serial} in {}", self.reader),
            &[],
        )?;
        Ok(())
    }

    fn authenticate(&mut self, card: &mut Card<'_>) -> Result<(), StationError> {
        let key = self.station.authenticate(card, self.serial)?;
        let record = self.station.registry().card(self.serial)?;
        let pending_took = record
            .as_ref()
            .and_then(|r| r.pending_key.as_ref())
            .and_then(|p| self.station.vault().unseal(self.serial, p).ok())
            .is_some_and(|p| p.key_bytes() == key.key_bytes());
        if pending_took {
            // The card took the new key before the station could record it.
            self.record(
                Step::ManagementKey,
                "recovered".into(),
                &[Change::ConfirmKey(self.serial)],
            )?;
        }
        self.record(Step::Authenticate, String::new(), &[])?;
        Ok(())
    }

    /// A new random management key of the strongest algorithm the card
    /// takes (AES-256 first: Nitrokey 3 takes AES-256 and 3DES only, older
    /// YubiKeys no AES-256). The sealed key carries its algorithm, so the
    /// station remembers which one the card holds.
    fn replace_management_key(&mut self, card: &mut Card<'_>) -> Result<bool, StationError> {
        let step = Step::ManagementKey;
        let mut refused = Vec::new();
        for alg in MgmAlgorithm::STRONGEST_FIRST {
            let key = ManagementKey::random(alg);
            let sealed = self.station.vault().seal(self.serial, &key);
            // Sealed into the registry first: a crash after the card
            // took the key must not lose it.
            self.station.registry().commit(
                &self.station.actor,
                None,
                &[Change::PendingKey {
                    serial: self.serial,
                    sealed,
                }],
                &Event::new(
                    "management key sealed",
                    format!("card {}", self.serial),
                    format!("a new per-card {alg} key, sealed by the station key"),
                ),
            )?;
            crash_point("management-key-sealed");
            match card.set_management_key(&key, false) {
                Ok(()) => {
                    let note = match refused.is_empty() {
                        true => alg.to_string(),
                        false => format!("{alg} (the card refused {})", refused.join(", ")),
                    };
                    self.record(step, note, &[Change::ConfirmKey(self.serial)])?;
                    return Ok(false);
                }
                // The card does not take this algorithm: offer the next.
                Err(CardError::Refused {
                    sw: StatusWord::INCORRECT_DATA | StatusWord::INCORRECT_P1P2,
                    ..
                }) => refused.push(alg.to_string()),
                Err(e) => return Err(StationError::card(step, e)),
            }
        }
        Err(StationError::NoManagementKeyAlgorithm {
            serial: self.serial,
            refused: refused.join(", "),
        })
    }

    fn citizen_pin(&mut self) -> Result<Pin, StationError> {
        if self.pin.is_none() {
            self.pin = Some(match self.kind {
                WorkflowKind::Activate => self.citizen.choose_pin()?,
                WorkflowKind::Renew => self.citizen.current_pin()?,
            });
        }
        Ok(Pin::new(self.pin.as_ref().expect("set above").as_bytes()).expect("a valid PIN"))
    }

    /// VERIFY with the PIN the card holds: the citizen's once set, else the
    /// factory PIN. After an interrupted PIN change it may be either.
    fn verify_pin(&mut self, card: &mut Card<'_>) -> Result<(), StationError> {
        let citizen = self.citizen_pin()?;
        let default = Pin::new(DEFAULT_PIN).expect("valid");
        let candidates: Vec<(&Pin, bool)> = match self.kind {
            WorkflowKind::Renew => vec![(&citizen, true)],
            WorkflowKind::Activate if self.pin_on_card => vec![(&citizen, true)],
            WorkflowKind::Activate => match self.last_entry(Step::PinPuk)?.map(|e| e.outcome) {
                None => vec![(&default, false)],
                Some(o) if o == "done" => vec![(&citizen, true)],
                Some(_) => vec![(&default, false), (&citizen, true)],
            },
        };
        let count = candidates.len();
        for (i, (pin, is_citizens)) in candidates.into_iter().enumerate() {
            match card.verify_pin(pin) {
                Ok(()) => {
                    self.pin_on_card = is_citizens;
                    return Ok(());
                }
                Err(CardError::WrongPin { .. }) if i + 1 < count => {}
                Err(CardError::WrongPin { tries_left }) if self.kind == WorkflowKind::Activate => {
                    return Err(StationError::NotTheChosenPin { tries_left })
                }
                Err(e) => return Err(StationError::card(CardTask::VerifyPin, e)),
            }
        }
        unreachable!("every workflow tries at least one PIN, and the last one returns")
    }

    /// The citizen's PIN and a new random PUK. A card with SET PIN RETRIES
    /// first puts both back to the factory values, so an unfinished run's
    /// PUK is never needed; a card without it (Nitrokey 3) keeps its own
    /// retry counts and changes its PUK from the one it holds (see
    /// [`Self::replace_puk_without_reset`]).
    fn pin_puk(&mut self, card: &mut Card<'_>) -> Result<(), StationError> {
        let step = Step::PinPuk;
        let on_card = |e: CardError| StationError::card(step, e);
        self.verify_pin(card)?;
        // Journaled before the card changes: if this run dies half-way, the
        // next one knows the PIN may be either.
        self.station.registry().commit(
            &self.station.actor,
            Some(&self.entry(step, "started", String::new())),
            &[],
            &Event::new(
                &format!("{} {} started", self.kind, step.name()),
                self.subject(),
                format!("card {}", self.serial),
            ),
        )?;
        let (pin_tries, puk_tries) = (self.station.config.pin_tries, self.station.config.puk_tries);
        let citizen = self.citizen_pin()?;
        let default_pin = Pin::new(DEFAULT_PIN).expect("valid");
        let retries = match card.set_pin_retries(pin_tries, puk_tries) {
            Ok(()) => {
                self.pin_on_card = false;
                card.change_pin(&default_pin, &citizen).map_err(on_card)?;
                self.pin_on_card = true;
                let puk = crate::pin::random_puk();
                let default_puk = Puk::new(DEFAULT_PUK).expect("valid");
                card.change_puk(&default_puk, &puk).map_err(on_card)?;
                self.puk = Some(puk);
                format!("{pin_tries} and {puk_tries} tries")
            }
            Err(CardError::NotSupportedByCard(_)) => {
                if !self.pin_on_card {
                    card.change_pin(&default_pin, &citizen).map_err(on_card)?;
                    self.pin_on_card = true;
                }
                self.puk = Some(self.replace_puk_without_reset(card)?);
                self.note = Some(CardNote::NoRetrySetting);
                CardNote::NoRetrySetting.to_string()
            }
            Err(e) => return Err(on_card(e)),
        };
        self.record(step, format!("PIN and PUK set, {retries}"), &[])?;
        Ok(())
    }

    /// A new random PUK on a card that cannot put its PUK back to the
    /// factory value. The card holds the factory PUK or one that an
    /// unfinished run sealed into the registry; the new PUK is sealed with
    /// those before the card takes it, so a run stopped anywhere leaves a PUK
    /// the next run can change, and the sealed PUKs are erased when the
    /// activation is finished. A resumed run may spend one PUK try on a sealed
    /// PUK the card never took; the right one then restores the count.
    fn replace_puk_without_reset(&mut self, card: &mut Card<'_>) -> Result<Puk, StationError> {
        let serial = self.serial;
        let sealed = self
            .station
            .registry()
            .card(serial)?
            .and_then(|c| c.sealed_puks);
        let mut held = match sealed {
            Some(s) => self.station.vault().unseal_puks(serial, &s)?,
            None => Vec::new(),
        };
        let factory = Puk::new(DEFAULT_PUK).expect("valid");
        if !held.iter().any(|p| p.padded() == factory.padded()) {
            held.push(factory);
        }
        let new = crate::pin::random_puk();
        let seal = |puks: &[&Puk]| Change::SealedPuks {
            serial,
            sealed: Some(self.station.vault().seal_puks(serial, puks)),
        };
        let all: Vec<&Puk> = std::iter::once(&new).chain(&held).collect();
        self.station.registry().commit(
            &self.station.actor,
            None,
            &[seal(&all)],
            &Event::new(
                "PUK sealed",
                format!("card {serial}"),
                "the card cannot reset its PUK: the new PUK is kept sealed until the activation is finished",
            ),
        )?;
        crash_point("puk-sealed");
        let mut refused = None;
        for old in &held {
            match card.change_puk(old, &new) {
                Ok(()) => {
                    self.station.registry().commit(
                        &self.station.actor,
                        None,
                        &[seal(&[&new])],
                        &Event::new("PUK changed", format!("card {serial}"), "a new random PUK"),
                    )?;
                    return Ok(new);
                }
                Err(e @ (CardError::WrongPuk { .. } | CardError::WrongPukUncounted)) => {
                    refused = Some(e)
                }
                Err(e) => return Err(StationError::card(Step::PinPuk, e)),
            }
        }
        Err(StationError::PukUnknown {
            serial,
            refused: refused.map_or(String::new(), |e| e.to_string()),
        })
    }

    fn cert_and_key(&self, p: Profile) -> Result<(&CertRecord, &PublicKey), StationError> {
        let missing = || StationError::MissingCertificateOrKey(p);
        let cert = self.certs[index(p)].as_ref().ok_or_else(missing)?;
        let key = self.keys[index(p)].as_ref().ok_or_else(missing)?;
        Ok((cert, key))
    }

    fn issue(&mut self, card: &mut Card<'_>, p: Profile) -> Result<bool, StationError> {
        let step = Step::Issue(p);
        let key = self.keys[index(p)]
            .clone()
            .ok_or(StationError::NoKeyGenerated(p))?;
        // A certificate of this activation for this slot, issued earlier.
        let slot = slot_name(p);
        let earlier: Vec<CertRecord> = self
            .station
            .registry()
            .certificates(self.app.id)?
            .into_iter()
            .filter(|c| c.activation_id == self.activation_id() && c.slot == slot)
            .filter(|c| c.state != CertState::Revoked)
            .collect();
        let mut changes = Vec::new();
        for c in earlier {
            if csr::same_key(&cert_spki(&c.der)?, &key) {
                self.certs[index(p)] = Some(c);
                return Ok(true); // issued before, not lost: reuse it
            }
            // Issued for a key the card no longer has.
            self.station
                .revoke_at_ca(&c.serial, RevocationReason::Superseded)?;
            changes.push(Change::CertificateState {
                serial: c.serial.clone(),
                state: CertState::Revoked,
                reason: Some(RevocationReason::Superseded.to_string()),
            });
        }
        let holder = self.app.holder();
        let alg = self.station.config.algorithm;
        let info = csr::request_info(&holder, &key).map_err(|e| StationError::NotIssuable {
            application: self.app.id,
            why: e.to_string(),
        })?;
        self.verify_pin(card)?;
        let sig = card
            .private_operation(p.slot(), alg, &csr::card_input(alg, &info))
            .map_err(|e| StationError::card(step, e))?;
        let request = csr::assemble(&info, alg, &sig)
            .map_err(|e| StationError::RequestSignatureInvalid(e.to_string()))?;
        let t = Instant::now();
        let issued = self.station.ca().issue(&request, &holder, p);
        self.ca_time += t.elapsed();
        let issued = issued?;
        let record = CertRecord {
            serial: issued.serial.clone(),
            application_id: self.app.id,
            card_serial: self.serial,
            activation_id: self.activation_id(),
            slot: slot.clone(),
            der: issued.der,
            not_before: issued.not_before,
            not_after: issued.not_after,
            state: CertState::Issued,
            revocation_reason: None,
        };
        changes.push(Change::Certificate(Box::new(record.clone())));
        self.record(step, format!("certificate {}", issued.serial), &changes)?;
        self.certs[index(p)] = Some(record);
        Ok(false)
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
                (AppState::Activated, "card activated")
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
                        reason: Some(RevocationReason::Superseded.to_string()),
                    });
                }
                (AppState::Renewed, "certificates renewed")
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
            Some(&self.entry(Step::Finish, "done", String::new())),
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

/// A card is blank when it has no certificates, its PIN is not blocked, and
/// (where the card can tell) PIN and PUK are the factory ones. The transport
/// management key is checked by the next step.
fn check_blank(card: &mut Card<'_>, serial: u32) -> Result<(), StationError> {
    let step = Step::CheckCard;
    let not_blank = |why: &str| StationError::NotBlank {
        serial,
        why: why.into(),
    };
    for slot in [
        Slot::Authentication,
        Slot::Signature,
        Slot::KeyManagement,
        Slot::CardAuthentication,
    ] {
        match card.read_certificate(slot) {
            Ok(None) => {}
            Ok(Some(_)) => {
                return Err(not_blank(&format!(
                    "it already holds a certificate in slot {slot:?}"
                )))
            }
            Err(e) if e.is_card_gone() => return Err(StationError::card(step, e)),
            Err(_) => return Err(not_blank("its certificate slots cannot be read")),
        }
    }
    match card.pin_status() {
        Ok(PinStatus::Blocked) => return Err(not_blank("its PIN is blocked")),
        Err(e) if e.is_card_gone() => return Err(StationError::card(step, e)),
        _ => {}
    }
    for (reference, what) in [(0x80u8, "PIN"), (0x81, "PUK")] {
        match card.metadata(reference) {
            Ok(Some(m)) if m.is_default == Some(false) => {
                return Err(not_blank(&format!("its {what} is not the factory {what}")));
            }
            // No metadata (Nitrokey 3): the factory PIN is tried instead,
            // before any key is made, so a used card is turned away here.
            Err(CardError::NotSupportedByCard(_)) if reference == 0x80 => {
                match card.verify_pin(&Pin::new(DEFAULT_PIN).expect("valid")) {
                    Ok(()) => {}
                    Err(CardError::WrongPin { tries_left }) => {
                        return Err(not_blank(&format!(
                        "its PIN is not the factory PIN (the check cost a try: {tries_left} left)"
                    )))
                    }
                    Err(e) if e.is_card_gone() => return Err(StationError::card(step, e)),
                    Err(_) => return Err(not_blank("it refuses the factory PIN")),
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn slot_name(p: Profile) -> String {
    format!("{:02X}", p.slot().key_reference())
}

fn cert_spki(der: &[u8]) -> Result<SubjectPublicKeyInfoOwned, StationError> {
    let cert = Certificate::from_der(der)
        .map_err(|e| RegistryError::Corrupt(format!("a certificate that cannot be read: {e}")))?;
    Ok(cert.tbs_certificate.subject_public_key_info)
}

/// Public keys go to the journal as hex SPKI DER (public data only).
fn encode_key(key: &PublicKey) -> Result<String, StationError> {
    let unusable = |e: String| StationError::UnusableCardKey(e);
    let spki = csr::spki(key).map_err(|e| unusable(e.to_string()))?;
    let der = spki.to_der().map_err(|e| unusable(e.to_string()))?;
    Ok(hex::encode(der))
}

fn decode_key(data: &str) -> Result<PublicKey, StationError> {
    let bad = |why: String| RegistryError::Corrupt(format!("a public key in the journal ({why})"));
    let der = hex::decode(data).map_err(|e| bad(e.to_string()))?;
    let spki = SubjectPublicKeyInfoOwned::from_der(&der).map_err(|e| bad(e.to_string()))?;
    Ok(csr::public_key(&spki).map_err(|e| bad(e.to_string()))?)
}

/// The public key of a card slot as the journal records it, for tests.
pub fn journal_key(data: &str) -> Option<PublicKey> {
    decode_key(data).ok()
}
