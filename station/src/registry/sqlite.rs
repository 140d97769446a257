//! The embedded registry: one SQLite file in WAL mode, migrated on open.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use firma_apdu::piv::{Algorithm, Slot};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use time::OffsetDateTime;

use super::{
    Activation, ActivationState, AppKey, Application, CardRecord, CardState, CertRecord, Change,
    IdentityCheck, JournalEntry, NewApplication, Registry, RegistryError, Result, WorkflowKind,
};
use crate::audit::{self, Action, Actor, AuditEntry, Event, Subject};

mod migrations;

use migrations::MIGRATIONS;

/// The embedded registry: one SQLite file in WAL mode.
pub struct SqliteRegistry {
    conn: Connection,
}

fn ts(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

fn from_ts(v: i64) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(v).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, Box::new(e))
    })
}

fn parse_col<T: FromStr>(v: String) -> rusqlite::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    v.parse::<T>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
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

fn algorithm_from_text(text: &str) -> rusqlite::Result<Algorithm> {
    ALGORITHMS
        .into_iter()
        .find(|a| algorithm_text(*a) == text)
        .ok_or_else(|| {
            let unknown = crate::text::UnknownText {
                kind: "Algorithm",
                text: text.to_string(),
            };
            rusqlite::Error::FromSqlConversionFailure(
                5,
                rusqlite::types::Type::Text,
                Box::new(unknown),
            )
        })
}

impl SqliteRegistry {
    /// Opens (creating and migrating) the registry file.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut reg = Self { conn };
        reg.migrate(path)?;
        Ok(reg)
    }

    fn migrate(&mut self, path: &Path) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(RegistryError::TooNew {
                path: path.display().to_string(),
                found: version,
                known,
            });
        }
        for sql in &MIGRATIONS[version as usize..] {
            tx.execute_batch(sql)?;
        }
        tx.pragma_update(None, "user_version", known)?;
        tx.commit()?;
        Ok(())
    }

    /// Direct access for tests that play an attacker editing the file.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    fn app_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Application> {
        Ok(Application {
            id: r.get(0)?,
            given_name: r.get(1)?,
            surnames: r.get(2)?,
            nif: r.get(3)?,
            email: r.get(4)?,
            phone: r.get(5)?,
            card_serial: r.get(6)?,
            state: parse_col(r.get(7)?)?,
            requested_at: from_ts(r.get(8)?)?,
            expires_at: from_ts(r.get(9)?)?,
        })
    }

    fn activation_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Activation> {
        Ok(Activation {
            id: r.get(0)?,
            application_id: r.get(1)?,
            card_serial: r.get(2)?,
            kind: parse_col(r.get(3)?)?,
            state: parse_col(r.get(4)?)?,
            algorithm: algorithm_from_text(&r.get::<_, String>(5)?)?,
            runs: r.get(6)?,
            reader: r.get(7)?,
            started_at: from_ts(r.get(8)?)?,
            last_error: r.get(9)?,
        })
    }

    fn open_activation_where(&self, column: &str, value: i64) -> Result<Option<Activation>> {
        let sql = format!(
            "SELECT {ACTIVATION_COLS} FROM activations WHERE {column} = ?1 AND state = 'running'"
        );
        Ok(self
            .conn
            .query_row(&sql, [value], Self::activation_row)
            .optional()?)
    }
}

const APP_COLS: &str =
    "id, given_name, surnames, nif, email, phone, card_serial, state, requested_at, expires_at";
const ACTIVATION_COLS: &str =
    "id, application_id, card_serial, kind, state, algorithm, runs, reader, started_at, last_error";

fn apply(tx: &rusqlite::Transaction<'_>, change: &Change, now: i64) -> Result<()> {
    match change {
        Change::ApplicationState(id, state) => {
            tx.execute(
                "UPDATE applications SET state = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, state.as_str(), now],
            )?;
        }
        Change::IdentityCheck(c) => {
            tx.execute(
                "INSERT INTO identity_checks (application_id, document_kind, document_number,
                 support_number, document_expires, checked_at, operator)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    c.application_id,
                    c.document_kind,
                    c.document_number,
                    c.support_number,
                    c.document_expires.to_string(),
                    ts(c.checked_at),
                    c.operator
                ],
            )?;
        }
        Change::Card {
            serial,
            application_id,
            state,
        } => {
            tx.execute(
                "INSERT INTO cards (serial, application_id, state, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(serial) DO UPDATE SET application_id = ?2, state = ?3, updated_at = ?4",
                params![serial, application_id, state.as_str(), now],
            )?;
        }
        Change::PendingKey { serial, sealed } => {
            tx.execute(
                "UPDATE cards SET pending_key = ?2, updated_at = ?3 WHERE serial = ?1",
                params![serial, sealed, now],
            )?;
        }
        Change::ConfirmKey(serial) => {
            tx.execute(
                "UPDATE cards SET sealed_key = pending_key, pending_key = NULL, updated_at = ?2
                 WHERE serial = ?1 AND pending_key IS NOT NULL",
                params![serial, now],
            )?;
        }
        Change::ForgetKeys(serial) => {
            tx.execute(
                "UPDATE cards SET sealed_key = NULL, pending_key = NULL, sealed_puks = NULL,
                 updated_at = ?2 WHERE serial = ?1",
                params![serial, now],
            )?;
        }
        Change::SealedPuks { serial, sealed } => {
            tx.execute(
                "UPDATE cards SET sealed_puks = ?2, updated_at = ?3 WHERE serial = ?1",
                params![serial, sealed, now],
            )?;
        }
        Change::ActivationState { id, state, error } => {
            let finished = (*state != ActivationState::Running).then_some(now);
            tx.execute(
                "UPDATE activations SET state = ?2, last_error = ?3, finished_at = ?4 WHERE id = ?1",
                params![id, state.as_str(), error, finished],
            )?;
        }
        Change::Certificate(c) => {
            tx.execute(
                "INSERT INTO certificates (serial, application_id, card_serial, activation_id, slot,
                 der, not_before, not_after, state, revocation_reason, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    c.serial,
                    c.application_id,
                    c.card_serial,
                    c.activation_id,
                    slot_text(c.slot),
                    c.der,
                    ts(c.not_before),
                    ts(c.not_after),
                    c.state.as_str(),
                    c.revocation_reason.map(|r| r.to_string()),
                    now
                ],
            )?;
        }
        Change::CertificateState {
            serial,
            state,
            reason,
        } => {
            tx.execute(
                "UPDATE certificates SET state = ?2, revocation_reason = COALESCE(?3, revocation_reason),
                 updated_at = ?4 WHERE serial = ?1",
                params![serial, state.as_str(), reason.map(|r| r.to_string()), now],
            )?;
        }
    }
    Ok(())
}

fn append_audit(tx: &rusqlite::Transaction<'_>, actor: &Actor, event: &Event) -> Result<()> {
    let prev: String = tx
        .query_row(
            "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or_else(|| audit::GENESIS.to_string());
    let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM audit", [], |r| {
        r.get(0)
    })?;
    let entry = AuditEntry::new(seq, &prev, actor, event);
    tx.execute(
        "INSERT INTO audit (seq, at, operator, station, action, subject, detail, prev, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
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

impl Registry for SqliteRegistry {
    fn import(&mut self, apps: &[NewApplication], actor: &Actor) -> Result<Vec<i64>> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = ts(OffsetDateTime::now_utc());
        let mut ids = Vec::new();
        for a in apps {
            let existing: Option<i64> = tx
                .query_row(
                    "SELECT id FROM applications WHERE nif = ?1
                     AND state IN ('requested', 'activated', 'renewed')",
                    [&a.nif],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(id) = existing {
                return Err(RegistryError::Duplicate(a.nif.clone(), id));
            }
            tx.execute(
                "INSERT INTO applications (given_name, surnames, nif, email, phone, card_serial,
                 state, requested_at, expires_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'requested', ?7, ?8, ?9)",
                params![
                    a.given_name,
                    a.surnames,
                    a.nif,
                    a.email,
                    a.phone,
                    a.card_serial,
                    ts(a.requested_at),
                    ts(a.expires_at),
                    now
                ],
            )?;
            let id = tx.last_insert_rowid();
            let card = a
                .card_serial
                .map_or("card not known yet".into(), |s| format!("card {s}"));
            append_audit(
                &tx,
                actor,
                &Event::new(
                    Action::ApplicationImported,
                    Subject::Application(id),
                    format!("{}, {card}", a.nif),
                ),
            )?;
            ids.push(id);
        }
        tx.commit()?;
        Ok(ids)
    }

    fn application(&self, key: &AppKey) -> Result<Application> {
        let found = match key {
            AppKey::Id(id) => self
                .conn
                .query_row(
                    &format!("SELECT {APP_COLS} FROM applications WHERE id = ?1"),
                    [id],
                    Self::app_row,
                )
                .optional()?,
            AppKey::Nif(nif) => self
                .conn
                .query_row(
                    &format!("SELECT {APP_COLS} FROM applications WHERE nif = ?1 ORDER BY id DESC LIMIT 1"),
                    [nif],
                    Self::app_row,
                )
                .optional()?,
        };
        found.ok_or_else(|| RegistryError::NoApplication(key.to_string()))
    }

    fn applications(&self) -> Result<Vec<Application>> {
        let mut st = self
            .conn
            .prepare(&format!("SELECT {APP_COLS} FROM applications ORDER BY id"))?;
        let rows = st.query_map([], Self::app_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn identity_checks(&self, application_id: i64) -> Result<Vec<IdentityCheck>> {
        let mut st = self.conn.prepare(
            "SELECT application_id, document_kind, document_number, support_number,
             document_expires, checked_at, operator FROM identity_checks
             WHERE application_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([application_id], |r| {
            let expires: String = r.get(4)?;
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let document_expires = time::Date::parse(&expires, format).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    4,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?;
            Ok(IdentityCheck {
                application_id: r.get(0)?,
                document_kind: r.get(1)?,
                document_number: r.get(2)?,
                support_number: r.get(3)?,
                document_expires,
                checked_at: from_ts(r.get(5)?)?,
                operator: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn card(&self, serial: u32) -> Result<Option<CardRecord>> {
        Ok(self
            .conn
            .query_row(
                "SELECT serial, application_id, state, sealed_key, pending_key, sealed_puks
                 FROM cards WHERE serial = ?1",
                [serial],
                |r| {
                    Ok(CardRecord {
                        serial: r.get(0)?,
                        application_id: r.get(1)?,
                        state: parse_col(r.get(2)?)?,
                        sealed_key: r.get(3)?,
                        pending_key: r.get(4)?,
                        sealed_puks: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    fn certificates(&self, application_id: i64) -> Result<Vec<CertRecord>> {
        let mut st = self.conn.prepare(
            "SELECT serial, application_id, card_serial, activation_id, slot, der, not_before,
             not_after, state, revocation_reason FROM certificates WHERE application_id = ?1
             ORDER BY rowid",
        )?;
        let rows = st.query_map([application_id], |r| {
            Ok(CertRecord {
                serial: r.get(0)?,
                application_id: r.get(1)?,
                card_serial: r.get(2)?,
                activation_id: r.get(3)?,
                slot: parse_col(r.get(4)?)?,
                der: r.get(5)?,
                not_before: from_ts(r.get(6)?)?,
                not_after: from_ts(r.get(7)?)?,
                state: parse_col(r.get(8)?)?,
                revocation_reason: r.get::<_, Option<String>>(9)?.map(parse_col).transpose()?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
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
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = ts(OffsetDateTime::now_utc());
        let open: Option<i64> = tx
            .query_row(
                "SELECT id FROM activations WHERE application_id = ?1 AND card_serial = ?2
                 AND kind = ?3 AND state = 'running'",
                params![application_id, card_serial, kind.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let (id, action) = match open {
            Some(id) => {
                tx.execute(
                    "UPDATE activations SET runs = runs + 1, reader = ?2 WHERE id = ?1",
                    params![id, reader],
                )?;
                (id, Action::WorkflowResumed(kind))
            }
            None => {
                tx.execute(
                    "INSERT INTO activations (application_id, card_serial, kind, state, algorithm,
                     runs, reader, started_at) VALUES (?1, ?2, ?3, 'running', ?4, 1, ?5, ?6)",
                    params![
                        application_id,
                        card_serial,
                        kind.as_str(),
                        algorithm_text(algorithm),
                        reader,
                        now
                    ],
                )?;
                (tx.last_insert_rowid(), Action::WorkflowStarted(kind))
            }
        };
        if kind == WorkflowKind::Activate {
            apply(
                &tx,
                &Change::Card {
                    serial: card_serial,
                    application_id: Some(application_id),
                    state: CardState::Personalizing,
                },
                now,
            )?;
        }
        let act = tx.query_row(
            &format!("SELECT {ACTIVATION_COLS} FROM activations WHERE id = ?1"),
            [id],
            Self::activation_row,
        )?;
        append_audit(
            &tx,
            actor,
            &Event::new(
                action,
                Subject::Application(application_id),
                format!("card {card_serial} in {reader}, run {}", act.runs),
            ),
        )?;
        tx.commit()?;
        Ok(act)
    }

    fn journal(&self, activation_id: i64) -> Result<Vec<JournalEntry>> {
        let mut st = self.conn.prepare(
            "SELECT activation_id, run, step, outcome, data, at FROM journal
             WHERE activation_id = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([activation_id], |r| {
            Ok(JournalEntry {
                activation_id: r.get(0)?,
                run: r.get(1)?,
                step: parse_col(r.get(2)?)?,
                outcome: parse_col(r.get(3)?)?,
                data: r.get(4)?,
                at: from_ts(r.get(5)?)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn commit(
        &mut self,
        actor: &Actor,
        step: Option<&JournalEntry>,
        changes: &[Change],
        event: &Event,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = ts(OffsetDateTime::now_utc());
        for c in changes {
            apply(&tx, c, now)?;
        }
        if let Some(j) = step {
            tx.execute(
                "INSERT INTO journal (activation_id, run, step, outcome, data, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    j.activation_id,
                    j.run,
                    j.step.name(),
                    j.outcome.as_str(),
                    j.data,
                    ts(j.at)
                ],
            )?;
        }
        append_audit(&tx, actor, event)?;
        tx.commit()?;
        Ok(())
    }

    fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        self.audit_query("ORDER BY seq", rusqlite::params![])
    }

    fn audit_about(&self, subject: &Subject, limit: usize) -> Result<Vec<AuditEntry>> {
        self.audit_query(
            "WHERE subject = ?1 ORDER BY seq DESC LIMIT ?2",
            rusqlite::params![subject.to_string(), limit as i64],
        )
    }
}

impl SqliteRegistry {
    fn audit_query(&self, tail: &str, params: &[&dyn rusqlite::ToSql]) -> Result<Vec<AuditEntry>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT seq, at, operator, station, action, subject, detail, prev, hash
             FROM audit {tail}"
        ))?;
        let rows = st.query_map(params, |r| {
            Ok(AuditEntry {
                seq: r.get(0)?,
                at: r.get(1)?,
                operator: r.get(2)?,
                station: r.get(3)?,
                action: r.get(4)?,
                subject: r.get(5)?,
                detail: r.get(6)?,
                prev: r.get(7)?,
                hash: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
