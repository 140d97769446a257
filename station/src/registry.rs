//! The station's registry: applications, identity checks, cards and their
//! sealed management keys, issued certificates, the activation journal and
//! the audit log.
//!
//! [`Registry`] is what the engine needs; [`SqliteRegistry`] is the embedded
//! default (one file, WAL, migrations). Every state change goes through
//! [`Registry::commit`]: the changes, the journal step and the audit entry
//! land in one transaction or not at all.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use time::OffsetDateTime;

use crate::audit::{self, Actor, AuditEntry, Event};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("no application {0}: `firma-station applications list` shows them")]
    NoApplication(String),
    #[error("{0} already has an open application (number {1})")]
    Duplicate(String, i64),
    #[error("the registry's database failed: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("the registry holds a value it does not understand ({0}): was it edited by hand?")]
    Corrupt(String),
    #[error("the registry at {path} was written by a newer Firma Station (schema {found}, this one knows {known})")]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
}

type Result<T, E = RegistryError> = std::result::Result<T, E>;

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant),+ }
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $name {
            type Err = RegistryError;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(RegistryError::Corrupt(format!(
                        "{} {other:?}", stringify!($name)
                    ))),
                }
            }
        }
    };
}

text_enum!(
    /// Where an application stands.
    AppState {
        Requested => "requested",
        Activated => "activated",
        Renewed => "renewed",
        Revoked => "revoked",
        Expired => "expired",
    }
);

text_enum!(
    /// What the station knows of a card.
    CardState {
        Personalizing => "personalizing",
        Personalized => "personalized",
        Reset => "reset",
    }
);

text_enum!(
    /// A certificate's life: issued by the CA, loaded onto the card, revoked.
    CertState {
        Issued => "issued",
        Loaded => "loaded",
        Revoked => "revoked",
    }
);

text_enum!(
    /// An activation (or renewal) run of the workflow.
    ActivationState {
        Running => "running",
        Done => "done",
        Abandoned => "abandoned",
    }
);

text_enum!(
    /// What a workflow did to a card.
    WorkflowKind {
        Activate => "activate",
        Renew => "renew",
    }
);

/// An application as the citizen filed it online.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApplication {
    pub given_name: String,
    pub surnames: String,
    pub nif: String,
    pub email: String,
    pub phone: String,
    pub card_serial: Option<u32>,
    pub requested_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub id: i64,
    pub given_name: String,
    pub surnames: String,
    pub nif: String,
    pub email: String,
    pub phone: String,
    pub card_serial: Option<u32>,
    pub state: AppState,
    pub requested_at: OffsetDateTime,
    /// The day the application lapses if no card was activated for it.
    pub expires_at: OffsetDateTime,
}

/// How an application is named on a command line: its number or its NIF/NIE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppKey {
    Id(i64),
    Nif(String),
}

impl FromStr for AppKey {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let s = s.trim();
        Ok(match s.parse::<i64>() {
            // A DNI has a letter, so a bare number is always an id.
            Ok(id) => AppKey::Id(id),
            Err(_) => AppKey::Nif(
                s.chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect::<String>()
                    .to_ascii_uppercase(),
            ),
        })
    }
}

impl fmt::Display for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppKey::Id(id) => write!(f, "number {id}"),
            AppKey::Nif(nif) => write!(f, "for {nif}"),
        }
    }
}

/// The operator's check of the citizen's identity document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityCheck {
    pub application_id: i64,
    pub document_kind: String,
    pub document_number: String,
    pub support_number: Option<String>,
    pub document_expires: time::Date,
    pub checked_at: OffsetDateTime,
    pub operator: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRecord {
    pub serial: u32,
    pub application_id: Option<i64>,
    pub state: CardState,
    /// The card's management key, sealed by the station's vault.
    pub sealed_key: Option<Vec<u8>>,
    /// A management key being set on the card: kept until the card took it,
    /// so that a crash in between never loses the key.
    pub pending_key: Option<Vec<u8>>,
    /// The PUKs the card may hold, sealed, newest first: kept only for a card
    /// that cannot put its PUK back to the factory value (no SET PIN RETRIES)
    /// and only until its activation is finished (see `activation`).
    pub sealed_puks: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRecord {
    pub serial: String,
    pub application_id: i64,
    pub card_serial: u32,
    pub activation_id: i64,
    /// "9A", "9C" or "9D".
    pub slot: String,
    pub der: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub state: CertState,
    pub revocation_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub id: i64,
    pub application_id: i64,
    pub card_serial: u32,
    pub kind: WorkflowKind,
    pub state: ActivationState,
    pub algorithm: String,
    /// How many times the workflow was started (1 + resumptions).
    pub runs: i64,
    pub reader: String,
    pub started_at: OffsetDateTime,
    pub last_error: Option<String>,
}

/// One step of a workflow run, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    pub activation_id: i64,
    pub run: i64,
    pub step: String,
    /// "done" or "failed".
    pub outcome: String,
    /// Public data the step produced (a public key, a certificate serial),
    /// never a secret.
    pub data: String,
    pub at: OffsetDateTime,
}

/// A state change, applied by [`Registry::commit`].
#[derive(Debug, Clone)]
pub enum Change {
    ApplicationState(i64, AppState),
    IdentityCheck(IdentityCheck),
    Card {
        serial: u32,
        application_id: Option<i64>,
        state: CardState,
    },
    /// Records a new management key before it goes to the card.
    PendingKey {
        serial: u32,
        sealed: Vec<u8>,
    },
    /// The card took the pending key: it becomes the card's key.
    ConfirmKey(u32),
    /// The card went back to its transport key (reset).
    ForgetKeys(u32),
    /// The PUKs a card may hold while its activation is unfinished (sealed);
    /// `None` once the activation is finished or the card is reset.
    SealedPuks {
        serial: u32,
        sealed: Option<Vec<u8>>,
    },
    ActivationState {
        id: i64,
        state: ActivationState,
        error: Option<String>,
    },
    Certificate(Box<CertRecord>),
    CertificateState {
        serial: String,
        state: CertState,
        reason: Option<String>,
    },
}

/// The registry the engine works with. The SQLite registry is the embedded
/// default; a central database for a network of stations implements the same.
pub trait Registry: Send {
    /// Imports applications in one transaction; returns their ids.
    fn import(&mut self, apps: &[NewApplication], actor: &Actor) -> Result<Vec<i64>>;
    fn application(&self, key: &AppKey) -> Result<Application>;
    fn applications(&self) -> Result<Vec<Application>>;
    fn identity_checks(&self, application_id: i64) -> Result<Vec<IdentityCheck>>;
    fn card(&self, serial: u32) -> Result<Option<CardRecord>>;
    fn certificates(&self, application_id: i64) -> Result<Vec<CertRecord>>;
    /// The activation still running for an application, if any.
    fn open_activation(&self, application_id: i64) -> Result<Option<Activation>>;
    /// The activation still running on a card, if any.
    fn open_activation_on_card(&self, serial: u32) -> Result<Option<Activation>>;
    /// Starts a workflow run: a new activation, or the next run of the open
    /// one for this application. Records the card as being personalized.
    fn start_run(
        &mut self,
        application_id: i64,
        card_serial: u32,
        kind: WorkflowKind,
        algorithm: &str,
        reader: &str,
        actor: &Actor,
    ) -> Result<Activation>;
    fn journal(&self, activation_id: i64) -> Result<Vec<JournalEntry>>;
    /// Applies `changes`, the journal step and the audit entry in one
    /// transaction.
    fn commit(
        &mut self,
        actor: &Actor,
        step: Option<&JournalEntry>,
        changes: &[Change],
        event: &Event,
    ) -> Result<()>;
    fn audit_entries(&self) -> Result<Vec<AuditEntry>>;
    /// The newest `limit` audit entries about `subject`, newest first.
    fn audit_about(&self, subject: &str, limit: usize) -> Result<Vec<AuditEntry>>;
}

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE applications (
    id INTEGER PRIMARY KEY,
    given_name TEXT NOT NULL,
    surnames TEXT NOT NULL,
    nif TEXT NOT NULL,
    email TEXT NOT NULL,
    phone TEXT NOT NULL,
    card_serial INTEGER,
    state TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- A citizen has at most one live application.
CREATE UNIQUE INDEX applications_live_nif ON applications(nif)
    WHERE state IN ('requested', 'activated', 'renewed');
CREATE TABLE identity_checks (
    id INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    document_kind TEXT NOT NULL,
    document_number TEXT NOT NULL,
    support_number TEXT,
    document_expires TEXT NOT NULL,
    checked_at INTEGER NOT NULL,
    operator TEXT NOT NULL
);
CREATE TABLE cards (
    serial INTEGER PRIMARY KEY,
    application_id INTEGER REFERENCES applications(id),
    state TEXT NOT NULL,
    sealed_key BLOB,
    pending_key BLOB,
    updated_at INTEGER NOT NULL
);
CREATE TABLE activations (
    id INTEGER PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    card_serial INTEGER NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    runs INTEGER NOT NULL,
    reader TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    last_error TEXT
);
CREATE UNIQUE INDEX activations_open_app ON activations(application_id) WHERE state = 'running';
CREATE UNIQUE INDEX activations_open_card ON activations(card_serial) WHERE state = 'running';
CREATE TABLE certificates (
    serial TEXT PRIMARY KEY,
    application_id INTEGER NOT NULL REFERENCES applications(id),
    card_serial INTEGER NOT NULL,
    activation_id INTEGER NOT NULL REFERENCES activations(id),
    slot TEXT NOT NULL,
    der BLOB NOT NULL,
    not_before INTEGER NOT NULL,
    not_after INTEGER NOT NULL,
    state TEXT NOT NULL,
    revocation_reason TEXT,
    updated_at INTEGER NOT NULL
);
CREATE TABLE journal (
    id INTEGER PRIMARY KEY,
    activation_id INTEGER NOT NULL REFERENCES activations(id),
    run INTEGER NOT NULL,
    step TEXT NOT NULL,
    outcome TEXT NOT NULL,
    data TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    operator TEXT NOT NULL,
    station TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit(subject, seq);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#,
    r#"
ALTER TABLE cards ADD COLUMN sealed_puks BLOB;
"#,
];

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
            algorithm: r.get(5)?,
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
                    c.slot,
                    c.der,
                    ts(c.not_before),
                    ts(c.not_after),
                    c.state.as_str(),
                    c.revocation_reason,
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
                params![serial, state.as_str(), reason, now],
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
                    "application imported",
                    format!("application {id}"),
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
                slot: r.get(4)?,
                der: r.get(5)?,
                not_before: from_ts(r.get(6)?)?,
                not_after: from_ts(r.get(7)?)?,
                state: parse_col(r.get(8)?)?,
                revocation_reason: r.get(9)?,
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
        algorithm: &str,
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
        let (id, action) =
            match open {
                Some(id) => {
                    tx.execute(
                        "UPDATE activations SET runs = runs + 1, reader = ?2 WHERE id = ?1",
                        params![id, reader],
                    )?;
                    (id, "resumed")
                }
                None => {
                    tx.execute(
                    "INSERT INTO activations (application_id, card_serial, kind, state, algorithm,
                     runs, reader, started_at) VALUES (?1, ?2, ?3, 'running', ?4, 1, ?5, ?6)",
                    params![application_id, card_serial, kind.as_str(), algorithm, reader, now],
                )?;
                    (tx.last_insert_rowid(), "started")
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
                &format!("{kind} {action}"),
                format!("application {application_id}"),
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
                step: r.get(2)?,
                outcome: r.get(3)?,
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
                params![j.activation_id, j.run, j.step, j.outcome, j.data, ts(j.at)],
            )?;
        }
        append_audit(&tx, actor, event)?;
        tx.commit()?;
        Ok(())
    }

    fn audit_entries(&self) -> Result<Vec<AuditEntry>> {
        self.audit_query("ORDER BY seq", rusqlite::params![])
    }

    fn audit_about(&self, subject: &str, limit: usize) -> Result<Vec<AuditEntry>> {
        self.audit_query(
            "WHERE subject = ?1 ORDER BY seq DESC LIMIT ?2",
            rusqlite::params![subject, limit as i64],
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
