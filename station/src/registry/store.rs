//! The registry's logic, once for every database: [`SqlRegistry`] runs the
//! same statements on SQLite and on PostgreSQL through [`Backend`]. Every
//! change lands with its journal step and its audit entry in one
//! transaction, and every audit entry is appended while the chain's head is
//! held, so stations sharing a database keep one unbroken chain.

use std::cell::RefCell;

use firma_apdu::piv::{Algorithm, Slot};
use time::OffsetDateTime;

use super::sql::{values, Backend, Row, Sql, Value};
use super::{
    Activation, ActivationState, AppKey, Application, CardRecord, CardState, CertRecord, Change,
    IdentityCheck, JournalEntry, NewApplication, Registry, RegistryError, Result, WorkflowKind,
};
use crate::audit::{self, Action, Actor, AuditEntry, Event, Subject};
use crate::text::UnknownText;

/// The registry on a SQL database.
pub struct SqlRegistry<B> {
    backend: RefCell<B>,
}

impl<B: Backend> SqlRegistry<B> {
    pub(crate) fn new(backend: B) -> Self {
        Self {
            backend: RefCell::new(backend),
        }
    }

    /// The database underneath.
    pub(crate) fn backend(&self) -> std::cell::RefMut<'_, B> {
        self.backend.borrow_mut()
    }

    pub(super) fn read<R>(&self, mut f: impl FnMut(&mut dyn Sql) -> Result<R>) -> Result<R> {
        self.backend.borrow_mut().read(&mut f)
    }

    pub(super) fn write<R>(&mut self, mut f: impl FnMut(&mut dyn Sql) -> Result<R>) -> Result<R> {
        self.backend.get_mut().write(&mut f)
    }

    fn open_activation_where(&self, column: &str, value: i64) -> Result<Option<Activation>> {
        let sql = format!(
            "SELECT {ACTIVATION_COLS} FROM activations WHERE {column} = ?1 AND state = 'running'"
        );
        self.read(|db| {
            db.query_one(&sql, &values![value])?
                .map(activation)
                .transpose()
        })
    }

    fn audit_query(&self, tail: &str, params: &[Value]) -> Result<Vec<AuditEntry>> {
        let sql = format!(
            "SELECT seq, at, operator, station, action, subject, detail, prev, hash
             FROM audit {tail}"
        );
        self.read(|db| db.query(&sql, params)?.iter().map(audit_entry).collect())
    }
}

/// A slot as the registry stores it: its key reference in hex ("9A").
fn slot_text(slot: Slot) -> String {
    format!("{:02X}", slot.key_reference())
}

const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::Rsa1024,
    Algorithm::Rsa2048,
    Algorithm::EccP256,
    Algorithm::EccP384,
];

/// An algorithm as the registry stores it ("Rsa2048", "EccP256").
fn algorithm_text(algorithm: Algorithm) -> String {
    format!("{algorithm:?}")
}

fn algorithm_from_text(text: &str) -> Result<Algorithm> {
    ALGORITHMS
        .into_iter()
        .find(|a| algorithm_text(*a) == text)
        .ok_or_else(|| {
            RegistryError::UnknownText(UnknownText {
                kind: "Algorithm",
                text: text.to_string(),
            })
        })
}

pub(super) const APP_COLS: &str =
    "id, given_name, surnames, nif, email, phone, card_serial, state, requested_at, expires_at";
const ACTIVATION_COLS: &str =
    "id, application_id, card_serial, kind, state, algorithm, runs, reader, started_at, last_error";

pub(super) fn application(r: &Row) -> Result<Application> {
    Ok(Application {
        id: r.int(0)?,
        given_name: r.text(1)?,
        surnames: r.text(2)?,
        nif: r.text(3)?,
        email: r.text(4)?,
        phone: r.text(5)?,
        card_serial: r.opt_serial(6)?,
        state: r.parsed(7)?,
        requested_at: r.time(8)?,
        expires_at: r.time(9)?,
    })
}

/// The columns [`identity_check`] reads, in its order.
pub(super) const CHECK_COLS: &str = "application_id, document_kind, document_number, \
    support_number, document_expires, checked_at, operator, used_by";

pub(super) fn identity_check(r: &Row) -> Result<IdentityCheck> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let document_expires = time::Date::parse(&r.text(4)?, format)
        .map_err(|e| RegistryError::Corrupt(format!("a document expiry: {e}")))?;
    Ok(IdentityCheck {
        application_id: r.int(0)?,
        document_kind: r.text(1)?,
        document_number: r.text(2)?,
        support_number: r.opt_text(3)?,
        document_expires,
        checked_at: r.time(5)?,
        operator: r.text(6)?,
        used_by: r.opt_int(7)?,
    })
}

fn activation(r: Row) -> Result<Activation> {
    Ok(Activation {
        id: r.int(0)?,
        application_id: r.int(1)?,
        card_serial: r.serial(2)?,
        kind: r.parsed(3)?,
        state: r.parsed(4)?,
        algorithm: algorithm_from_text(&r.text(5)?)?,
        runs: r.int(6)?,
        reader: r.text(7)?,
        started_at: r.time(8)?,
        last_error: r.opt_text(9)?,
    })
}

fn audit_entry(r: &Row) -> Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.int(0)?,
        at: r.text(1)?,
        operator: r.text(2)?,
        station: r.text(3)?,
        action: r.text(4)?,
        subject: r.text(5)?,
        detail: r.text(6)?,
        prev: r.text(7)?,
        hash: r.text(8)?,
    })
}

fn apply(db: &mut dyn Sql, change: &Change, now: OffsetDateTime) -> Result<()> {
    match change {
        Change::ApplicationState(id, state) => db.execute(
            "UPDATE applications SET state = ?2, updated_at = ?3 WHERE id = ?1",
            &values![*id, state.as_str(), now],
        ),
        Change::IdentityCheck(c) => db.execute(
            "INSERT INTO identity_checks (application_id, document_kind, document_number,
             support_number, document_expires, checked_at, operator)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &values![
                c.application_id,
                &c.document_kind,
                &c.document_number,
                c.support_number.as_ref(),
                c.document_expires.to_string(),
                c.checked_at,
                &c.operator
            ],
        ),
        Change::IdentityChecksUsed {
            application_id,
            activation_id,
        } => db.execute(
            "UPDATE identity_checks SET used_by = ?2 WHERE application_id = ?1 AND used_by IS NULL",
            &values![*application_id, *activation_id],
        ),
        Change::Card {
            serial,
            application_id,
            state,
        } => db.execute(
            "INSERT INTO cards (serial, application_id, state, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (serial) DO UPDATE SET application_id = excluded.application_id,
             state = excluded.state, updated_at = excluded.updated_at",
            &values![*serial, *application_id, state.as_str(), now],
        ),
        Change::PendingKey { serial, sealed } => db.execute(
            "UPDATE cards SET pending_key = ?2, updated_at = ?3 WHERE serial = ?1",
            &values![*serial, sealed, now],
        ),
        Change::ConfirmKey(serial) => db.execute(
            "UPDATE cards SET sealed_key = pending_key, pending_key = NULL, updated_at = ?2
             WHERE serial = ?1 AND pending_key IS NOT NULL",
            &values![*serial, now],
        ),
        Change::ForgetKeys(serial) => db.execute(
            "UPDATE cards SET sealed_key = NULL, pending_key = NULL, sealed_puks = NULL,
             updated_at = ?2 WHERE serial = ?1",
            &values![*serial, now],
        ),
        Change::SealedPuks { serial, sealed } => db.execute(
            "UPDATE cards SET sealed_puks = ?2, updated_at = ?3 WHERE serial = ?1",
            &values![*serial, sealed.as_ref(), now],
        ),
        Change::ActivationState { id, state, error } => {
            let finished = (*state != ActivationState::Running).then_some(now);
            db.execute(
                "UPDATE activations SET state = ?2, last_error = ?3, finished_at = ?4 WHERE id = ?1",
                &values![*id, state.as_str(), error.as_ref(), finished],
            )
        }
        Change::Certificate(c) => db.execute(
            "INSERT INTO certificates (serial, application_id, card_serial, activation_id, slot,
             der, not_before, not_after, state, revocation_reason, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            &values![
                &c.serial,
                c.application_id,
                c.card_serial,
                c.activation_id,
                slot_text(c.slot),
                &c.der,
                c.not_before,
                c.not_after,
                c.state.as_str(),
                c.revocation_reason.map(|r| r.to_string()),
                now
            ],
        ),
        Change::CertificateState {
            serial,
            state,
            reason,
        } => db.execute(
            "UPDATE certificates SET state = ?2, revocation_reason = COALESCE(?3, revocation_reason),
             updated_at = ?4 WHERE serial = ?1",
            &values![serial, state.as_str(), reason.map(|r| r.to_string()), now],
        ),
    }?;
    Ok(())
}

/// Appends `event` to the audit chain, holding the chain's head until the
/// transaction ends.
pub(super) fn append_audit(db: &mut dyn Sql, actor: &Actor, event: &Event) -> Result<()> {
    db.lock_audit_chain()?;
    let head = db.query_one("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])?;
    let (seq, prev) = match head {
        Some(r) => (r.int(0)? + 1, r.text(1)?),
        None => (1, audit::GENESIS.to_string()),
    };
    let entry = AuditEntry::new(seq, &prev, actor, event);
    db.execute(
        "INSERT INTO audit (seq, at, operator, station, action, subject, detail, prev, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        &values![
            entry.seq,
            entry.at,
            entry.operator,
            entry.station,
            entry.action,
            entry.subject,
            entry.detail,
            entry.prev,
            entry.hash
        ],
    )?;
    Ok(())
}

impl<B: Backend> Registry for SqlRegistry<B> {
    fn import(&mut self, apps: &[NewApplication], actor: &Actor) -> Result<Vec<i64>> {
        self.write(|db| {
            let now = OffsetDateTime::now_utc();
            let mut ids = Vec::new();
            for a in apps {
                let existing = db.query_one(
                    "SELECT id FROM applications WHERE nif = ?1
                     AND state IN ('requested', 'activated', 'renewed')",
                    &values![&a.nif],
                )?;
                if let Some(r) = existing {
                    return Err(RegistryError::Duplicate(a.nif.clone(), r.int(0)?));
                }
                let id = db
                    .query_one(
                        "INSERT INTO applications (given_name, surnames, nif, email, phone,
                         card_serial, state, requested_at, expires_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'requested', ?7, ?8, ?9) RETURNING id",
                        &values![
                            &a.given_name,
                            &a.surnames,
                            &a.nif,
                            &a.email,
                            &a.phone,
                            a.card_serial,
                            a.requested_at,
                            a.expires_at,
                            now
                        ],
                    )?
                    .ok_or_else(|| RegistryError::Corrupt("no id for a new application".into()))?
                    .int(0)?;
                let card = a
                    .card_serial
                    .map_or("card not known yet".into(), |s| format!("card {s}"));
                append_audit(
                    db,
                    actor,
                    &Event::new(
                        Action::ApplicationImported,
                        Subject::Application(id),
                        format!("{}, {card}", a.nif),
                    ),
                )?;
                ids.push(id);
            }
            Ok(ids)
        })
    }

    fn application(&self, key: &AppKey) -> Result<Application> {
        let (sql, param) = match key {
            AppKey::Id(id) => (
                format!("SELECT {APP_COLS} FROM applications WHERE id = ?1"),
                Value::from(*id),
            ),
            AppKey::Nif(nif) => (
                format!(
                    "SELECT {APP_COLS} FROM applications WHERE nif = ?1 ORDER BY id DESC LIMIT 1"
                ),
                Value::from(nif),
            ),
        };
        let found = self.read(|db| {
            db.query_one(&sql, std::slice::from_ref(&param))?
                .as_ref()
                .map(application)
                .transpose()
        })?;
        found.ok_or_else(|| RegistryError::NoApplication(key.to_string()))
    }

    fn applications(&self) -> Result<Vec<Application>> {
        let sql = format!("SELECT {APP_COLS} FROM applications ORDER BY id");
        self.read(|db| db.query(&sql, &[])?.iter().map(application).collect())
    }

    fn identity_checks(&self, application_id: i64) -> Result<Vec<IdentityCheck>> {
        let sql = format!(
            "SELECT {CHECK_COLS} FROM identity_checks WHERE application_id = ?1 ORDER BY id"
        );
        self.read(|db| {
            db.query(&sql, &values![application_id])?
                .iter()
                .map(identity_check)
                .collect()
        })
    }

    fn card(&self, serial: u32) -> Result<Option<CardRecord>> {
        self.read(|db| {
            let Some(r) = db.query_one(
                "SELECT serial, application_id, state, sealed_key, pending_key, sealed_puks
                 FROM cards WHERE serial = ?1",
                &values![serial],
            )?
            else {
                return Ok(None);
            };
            Ok(Some(CardRecord {
                serial: r.serial(0)?,
                application_id: r.opt_int(1)?,
                state: r.parsed(2)?,
                sealed_key: r.opt_blob(3)?,
                pending_key: r.opt_blob(4)?,
                sealed_puks: r.opt_blob(5)?,
            }))
        })
    }

    fn certificates(&self, application_id: i64) -> Result<Vec<CertRecord>> {
        self.read(|db| {
            db.query(
                "SELECT serial, application_id, card_serial, activation_id, slot, der,
                 not_before, not_after, state, revocation_reason FROM certificates
                 WHERE application_id = ?1 ORDER BY rowid",
                &values![application_id],
            )?
            .iter()
            .map(|r| {
                Ok(CertRecord {
                    serial: r.text(0)?,
                    application_id: r.int(1)?,
                    card_serial: r.serial(2)?,
                    activation_id: r.int(3)?,
                    slot: r.parsed(4)?,
                    der: r.blob(5)?,
                    not_before: r.time(6)?,
                    not_after: r.time(7)?,
                    state: r.parsed(8)?,
                    revocation_reason: r.opt_parsed(9)?,
                })
            })
            .collect()
        })
    }

    fn open_activation(&self, application_id: i64) -> Result<Option<Activation>> {
        self.open_activation_where("application_id", application_id)
    }

    fn open_activation_on_card(&self, serial: u32) -> Result<Option<Activation>> {
        self.open_activation_where("card_serial", i64::from(serial))
    }

    fn start_run(
        &mut self,
        application_id: i64,
        card_serial: u32,
        kind: WorkflowKind,
        algorithm: Algorithm,
        reader: &str,
        actor: &Actor,
    ) -> Result<Activation> {
        self.write(|db| {
            let now = OffsetDateTime::now_utc();
            // The application's row is held until the run is recorded: two
            // stations starting it at once take turns, and the second finds
            // the first one's activation.
            db.hold_row("applications", application_id)?;
            let open = db.query_one(
                "SELECT id FROM activations WHERE application_id = ?1 AND card_serial = ?2
                 AND kind = ?3 AND state = 'running'",
                &values![application_id, card_serial, kind.as_str()],
            )?;
            let (id, action) = match open {
                Some(r) => {
                    let id = r.int(0)?;
                    db.execute(
                        "UPDATE activations SET runs = runs + 1, reader = ?2 WHERE id = ?1",
                        &values![id, reader],
                    )?;
                    (id, Action::WorkflowResumed(kind))
                }
                None => {
                    let id = db
                        .query_one(
                            "INSERT INTO activations (application_id, card_serial, kind, state,
                             algorithm, runs, reader, started_at)
                             VALUES (?1, ?2, ?3, 'running', ?4, 1, ?5, ?6) RETURNING id",
                            &values![
                                application_id,
                                card_serial,
                                kind.as_str(),
                                algorithm_text(algorithm),
                                reader,
                                now
                            ],
                        )?
                        .ok_or_else(|| RegistryError::Corrupt("no id for an activation".into()))?
                        .int(0)?;
                    (id, Action::WorkflowStarted(kind))
                }
            };
            if kind == WorkflowKind::Activate {
                apply(
                    db,
                    &Change::Card {
                        serial: card_serial,
                        application_id: Some(application_id),
                        state: CardState::Personalizing,
                    },
                    now,
                )?;
            }
            let act = db
                .query_one(
                    &format!("SELECT {ACTIVATION_COLS} FROM activations WHERE id = ?1"),
                    &values![id],
                )?
                .ok_or_else(|| RegistryError::Corrupt("an activation vanished".into()))
                .and_then(activation)?;
            append_audit(
                db,
                actor,
                &Event::new(
                    action,
                    Subject::Application(application_id),
                    format!("card {card_serial} in {reader}, run {}", act.runs),
                ),
            )?;
            Ok(act)
        })
    }

    fn journal(&self, activation_id: i64) -> Result<Vec<JournalEntry>> {
        self.read(|db| {
            db.query(
                "SELECT activation_id, run, step, outcome, data, at FROM journal
                 WHERE activation_id = ?1 ORDER BY id",
                &values![activation_id],
            )?
            .iter()
            .map(|r| {
                Ok(JournalEntry {
                    activation_id: r.int(0)?,
                    run: r.int(1)?,
                    step: r.parsed(2)?,
                    outcome: r.parsed(3)?,
                    data: r.text(4)?,
                    at: r.time(5)?,
                })
            })
            .collect()
        })
    }

    fn commit(
        &mut self,
        actor: &Actor,
        step: Option<&JournalEntry>,
        changes: &[Change],
        event: &Event,
    ) -> Result<()> {
        self.write(|db| {
            let now = OffsetDateTime::now_utc();
            for c in changes {
                apply(db, c, now)?;
            }
            if let Some(j) = step {
                db.execute(
                    "INSERT INTO journal (activation_id, run, step, outcome, data, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    &values![
                        j.activation_id,
                        j.run,
                        j.step.name(),
                        j.outcome.as_str(),
                        &j.data,
                        j.at
                    ],
                )?;
            }
            append_audit(db, actor, event)
        })
    }

    fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        self.audit_query("ORDER BY seq", &[])
    }

    fn audit_about(&self, subject: &Subject, limit: usize) -> Result<Vec<AuditEntry>> {
        self.audit_query(
            "WHERE subject = ?1 ORDER BY seq DESC LIMIT ?2",
            &values![subject.to_string(), limit as i64],
        )
    }
}
