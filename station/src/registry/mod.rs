//! The station's registry: applications, identity checks, cards and their
//! sealed management keys, issued certificates, the activation journal and
//! the audit log.
//!
//! [`Registry`] is what the engine needs; [`SqliteRegistry`] is the embedded
//! default (one file, WAL, migrations). Every state change goes through
//! [`Registry::commit`]: the changes, the journal step and the audit entry
//! land in one transaction or not at all.
//!
//! `records.rs` holds what the registry keeps (applications, identity checks,
//! cards, certificates, activations, the journal) and the changes the engine
//! asks for; `sqlite.rs` the embedded implementation.

use firma_apdu::piv::Algorithm;

use crate::audit::{Actor, AuditEntry, Event, Subject};

mod codes;
mod postgres;
mod records;
mod software;
mod sql;
mod sqlite;
mod store;

pub use codes::*;
pub use postgres::{Postgres, PostgresRegistry};
pub use records::*;
pub use software::SoftwareCertificates;
pub use sqlite::{Sqlite, SqliteRegistry};
pub use store::SqlRegistry;

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
    #[error("the registry holds a value it does not understand ({0}): was it edited by hand?")]
    UnknownText(#[from] crate::text::UnknownText),
    #[error("the registry at {path} was written by a newer Firma Station (schema {found}, this one knows {known})")]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("the central registry ({location}) cannot be reached: {reason}. Nothing was changed; once it is back, run the same command again (an activation resumes where it stopped)")]
    Unreachable { location: String, reason: String },
    #[error("another station changed the same record at the same time ({0}); nothing was changed here: look at the application again and retry")]
    Conflict(String),
    #[error("the central registry refused this station: {0} (the station's database role needs the firma_station role: see the README's \"Central registry\")")]
    Refused(String),
    #[error("the central registry failed: {0}")]
    Postgres(String),
    #[error("the central registry is busy with other stations ({0}); nothing was changed: run the same command again")]
    Contended(String),
    #[error("the central registry's schema is at version {found} and this station needs {known} ({location}): the registry's administrator runs `firma-station registry migrate`")]
    SchemaNotCurrent {
        location: String,
        found: i64,
        known: i64,
    },
    #[error(
        "the registry's address is not usable: {0} (expected postgres://USER@HOST:PORT/DATABASE)"
    )]
    BadLocation(String),
}

type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// The registry the engine works with. The SQLite registry is the embedded
/// default; a central database for a network of stations implements the same.
pub trait Registry: Send + GenerationCodes + SoftwareCertificates {
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
        algorithm: Algorithm,
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
    fn audit_about(&self, subject: &Subject, limit: usize) -> Result<Vec<AuditEntry>>;
}
