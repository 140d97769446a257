//! What the registry keeps of Generation Codes and the software certificates
//! they are redeemed for, on every database (the statements run through the
//! same [`Sql`] layer as `store.rs`).
//!
//! A code is kept only as a keyed digest (`generation_code::CodeKey`): the
//! registry never sees the code. A code is `live` until it is used, or
//! voided (a newer code, three wrong attempts, a failed delivery); a live
//! code past its expiry is refused but never changes, and the databases
//! refuse any change to a code that is no longer live, so nothing revives
//! one.

use time::OffsetDateTime;

use super::sql::{values, Row, Sql};
use super::store::{append_audit, application, identity_check, APP_COLS, CHECK_COLS};
use super::{Application, IdentityCheck, RegistryError, Result, SqlRegistry};
use crate::audit::{Action, Actor, Event, Subject};
use crate::registry::sql::Backend;
use crate::text::text_enum;

text_enum!(
    /// Where a Generation Code stands. An expired code stays `live` in the
    /// registry (its expiry says it is refused); `used` and `voided` are
    /// final.
    CodeState {
        Live => "live",
        Used => "used",
        Voided => "voided",
    }
);

text_enum!(
    /// How the code reached the citizen.
    CodeDelivery {
        Paper => "paper",
        Sms => "sms",
    }
);

/// A Generation Code as the registry keeps it: its digest, never the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    pub id: i64,
    pub application_id: i64,
    /// The identity check this code was issued on (one code per check).
    pub identity_check_id: i64,
    /// HMAC-SHA-256 of the NIF and the code under the station's code key.
    pub digest: Vec<u8>,
    pub delivery: CodeDelivery,
    pub state: CodeState,
    /// Wrong codes typed for this code's NIF since it was issued.
    pub failures: u32,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl CodeRecord {
    /// Whether the code may still be redeemed at `now`.
    pub fn usable_at(&self, now: OffsetDateTime) -> bool {
        self.state == CodeState::Live && now < self.expires_at
    }
}

/// A code about to be issued.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub application_id: i64,
    pub identity_check_id: i64,
    pub digest: Vec<u8>,
    pub delivery: CodeDelivery,
    pub issued_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// Where it goes, for the audit log ("on paper", "by SMS to ...789").
    pub sent_to: String,
}

/// An identity check with its number in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberedCheck {
    pub id: i64,
    pub check: IdentityCheck,
}

/// What [`GenerationCodes::issue_code`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeIssue {
    /// The code is live; the codes it replaced are void.
    Issued { code: CodeRecord, voided: Vec<i64> },
    /// That identity check already gave a code: a new code needs a new check.
    CheckAlreadyUsed,
}

text_enum!(
    /// Where a software certificate stands in the registry (its expiry
    /// says whether it is still valid).
    SoftwareCertState {
        Issued => "issued",
        Revoked => "revoked",
    }
);

/// A software certificate: issued for a redeemed code, or renewing an
/// earlier one in the citizen's area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareCertRecord {
    /// Hexadecimal, uppercase.
    pub serial: String,
    pub application_id: i64,
    /// The code it was issued for; `None` for a renewal.
    pub code_id: Option<i64>,
    /// The certificate it renews, for a renewal.
    pub renews: Option<String>,
    pub der: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub state: SoftwareCertState,
}

pub(super) const SOFTWARE_COLS: &str =
    "serial, application_id, code_id, renews, der, not_before, not_after, state";

pub(super) fn software_cert(r: &Row) -> Result<SoftwareCertRecord> {
    Ok(SoftwareCertRecord {
        serial: r.text(0)?,
        application_id: r.int(1)?,
        code_id: r.opt_int(2)?,
        renews: r.opt_text(3)?,
        der: r.blob(4)?,
        not_before: r.time(5)?,
        not_after: r.time(6)?,
        state: r.parsed(7)?,
    })
}

/// The registry's side of Generation Codes.
pub trait GenerationCodes {
    /// The newest identity check of an application, with its number.
    fn latest_identity_check(&self, application_id: i64) -> Result<Option<NumberedCheck>>;
    /// An application's codes, oldest first.
    fn codes(&self, application_id: i64) -> Result<Vec<CodeRecord>>;
    /// Records a new code and voids the application's live one, with their
    /// audit entries, in one transaction.
    fn issue_code(&mut self, new: &NewCode, actor: &Actor) -> Result<CodeIssue>;
    /// Voids a live code (a failed delivery, the operator's decision).
    fn void_code(&mut self, id: i64, why: &str, actor: &Actor) -> Result<()>;
    /// The live application of `nif` and its live code, if any (expired or
    /// not: the caller decides with [`CodeRecord::usable_at`]).
    fn live_code(&self, nif: &str) -> Result<Option<(Application, CodeRecord)>>;
    /// Counts a wrong code against a live code, voiding it at the
    /// `limit`-th, with its audit entry; returns the code as it now is.
    fn code_refused(
        &mut self,
        id: i64,
        limit: u32,
        detail: &str,
        actor: &Actor,
    ) -> Result<CodeRecord>;
    /// Marks a code used and records the certificate issued for it, in one
    /// transaction. `false` (and nothing changed) if the code was no longer
    /// usable at `now`: another request redeemed or voided it first.
    fn code_redeemed(
        &mut self,
        id: i64,
        certificate: &SoftwareCertRecord,
        now: OffsetDateTime,
        actor: &Actor,
    ) -> Result<bool>;
    /// An application's software certificates, oldest first.
    fn software_certificates(&self, application_id: i64) -> Result<Vec<SoftwareCertRecord>>;
}

const CODE_COLS: &str = "id, application_id, identity_check_id, digest, delivery, state, \
                         failures, issued_at, expires_at";

fn code(r: &Row) -> Result<CodeRecord> {
    Ok(CodeRecord {
        id: r.int(0)?,
        application_id: r.int(1)?,
        identity_check_id: r.int(2)?,
        digest: r.blob(3)?,
        delivery: r.parsed(4)?,
        state: r.parsed(5)?,
        failures: u32::try_from(r.int(6)?)
            .map_err(|_| RegistryError::Corrupt("a code's failure count".into()))?,
        issued_at: r.time(7)?,
        expires_at: r.time(8)?,
    })
}

fn code_by_id(db: &mut dyn Sql, id: i64) -> Result<CodeRecord> {
    db.query_one(
        &format!("SELECT {CODE_COLS} FROM generation_codes WHERE id = ?1"),
        &values![id],
    )?
    .ok_or_else(|| RegistryError::Corrupt(format!("no generation code {id}")))
    .and_then(|r| code(&r))
}

fn void(db: &mut dyn Sql, c: &CodeRecord, why: &str, actor: &Actor) -> Result<()> {
    db.execute(
        "UPDATE generation_codes SET state = 'voided', updated_at = ?2
         WHERE id = ?1 AND state = 'live'",
        &values![c.id, OffsetDateTime::now_utc()],
    )?;
    append_audit(
        db,
        actor,
        &Event::new(
            Action::GenerationCodeVoided,
            Subject::Application(c.application_id),
            format!("code {}: {why}", c.id),
        ),
    )
}

impl<B: Backend> GenerationCodes for SqlRegistry<B> {
    fn latest_identity_check(&self, application_id: i64) -> Result<Option<NumberedCheck>> {
        let sql = format!(
            "SELECT {CHECK_COLS}, id FROM identity_checks
             WHERE application_id = ?1 ORDER BY id DESC LIMIT 1"
        );
        self.read(|db| {
            let Some(r) = db.query_one(&sql, &values![application_id])? else {
                return Ok(None);
            };
            Ok(Some(NumberedCheck {
                id: r.int(8)?,
                check: identity_check(&r)?,
            }))
        })
    }

    fn codes(&self, application_id: i64) -> Result<Vec<CodeRecord>> {
        let sql = format!(
            "SELECT {CODE_COLS} FROM generation_codes WHERE application_id = ?1 ORDER BY id"
        );
        self.read(|db| {
            db.query(&sql, &values![application_id])?
                .iter()
                .map(code)
                .collect()
        })
    }

    fn issue_code(&mut self, new: &NewCode, actor: &Actor) -> Result<CodeIssue> {
        self.write(|db| {
            // Two operators issuing for one citizen take turns.
            db.hold_row("applications", new.application_id)?;
            let used = db.query_one(
                "SELECT id FROM generation_codes WHERE identity_check_id = ?1",
                &values![new.identity_check_id],
            )?;
            if used.is_some() {
                return Ok(CodeIssue::CheckAlreadyUsed);
            }
            let live = db
                .query(
                    &format!(
                        "SELECT {CODE_COLS} FROM generation_codes
                         WHERE application_id = ?1 AND state = 'live'"
                    ),
                    &values![new.application_id],
                )?
                .iter()
                .map(code)
                .collect::<Result<Vec<_>>>()?;
            for old in &live {
                void(db, old, "replaced by a new code", actor)?;
            }
            let id = db
                .query_one(
                    "INSERT INTO generation_codes (application_id, identity_check_id, digest,
                     delivery, state, failures, issued_at, expires_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, 'live', 0, ?5, ?6, ?7) RETURNING id",
                    &values![
                        new.application_id,
                        new.identity_check_id,
                        &new.digest,
                        new.delivery.as_str(),
                        new.issued_at,
                        new.expires_at,
                        OffsetDateTime::now_utc()
                    ],
                )?
                .ok_or_else(|| RegistryError::Corrupt("no id for a generation code".into()))?
                .int(0)?;
            let expires = new
                .expires_at
                .replace_nanosecond(0)
                .unwrap_or(new.expires_at);
            append_audit(
                db,
                actor,
                &Event::new(
                    Action::GenerationCodeIssued,
                    Subject::Application(new.application_id),
                    format!(
                        "code {id} {}, valid until {expires}, identity check {}",
                        new.sent_to, new.identity_check_id
                    ),
                ),
            )?;
            Ok(CodeIssue::Issued {
                code: code_by_id(db, id)?,
                voided: live.iter().map(|c| c.id).collect(),
            })
        })
    }

    fn void_code(&mut self, id: i64, why: &str, actor: &Actor) -> Result<()> {
        self.write(|db| {
            let c = code_by_id(db, id)?;
            if c.state == CodeState::Live {
                void(db, &c, why, actor)?;
            }
            Ok(())
        })
    }

    fn live_code(&self, nif: &str) -> Result<Option<(Application, CodeRecord)>> {
        // One query whether or not the NIF has a code: a wrong NIF costs
        // what a wrong code does.
        let app_cols = APP_COLS
            .split(", ")
            .map(|c| format!("a.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let code_cols = CODE_COLS
            .split(", ")
            .map(|c| format!("c.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {app_cols}, {code_cols} FROM applications a
             JOIN generation_codes c ON c.application_id = a.id AND c.state = 'live'
             WHERE a.nif = ?1 AND a.state IN ('requested', 'activated', 'renewed')"
        );
        let width = APP_COLS.split(", ").count();
        self.read(|db| {
            let Some(Row(mut values)) = db.query_one(&sql, &values![nif])? else {
                return Ok(None);
            };
            let code_part = Row(values.split_off(width));
            Ok(Some((application(&Row(values))?, code(&code_part)?)))
        })
    }

    fn code_refused(
        &mut self,
        id: i64,
        limit: u32,
        detail: &str,
        actor: &Actor,
    ) -> Result<CodeRecord> {
        self.write(|db| {
            db.execute(
                "UPDATE generation_codes SET failures = failures + 1, updated_at = ?2
                 WHERE id = ?1 AND state = 'live'",
                &values![id, OffsetDateTime::now_utc()],
            )?;
            let c = code_by_id(db, id)?;
            append_audit(
                db,
                actor,
                &Event::new(
                    Action::GenerationCodeRefused,
                    Subject::Application(c.application_id),
                    format!("code {id}: {detail}, {} of {limit} wrong", c.failures),
                ),
            )?;
            if c.state == CodeState::Live && c.failures >= limit {
                void(db, &c, &format!("{limit} wrong codes"), actor)?;
                return code_by_id(db, id);
            }
            Ok(c)
        })
    }

    fn code_redeemed(
        &mut self,
        id: i64,
        cert: &SoftwareCertRecord,
        now: OffsetDateTime,
        actor: &Actor,
    ) -> Result<bool> {
        self.write(|db| {
            let changed = db.execute(
                "UPDATE generation_codes SET state = 'used', updated_at = ?2
                 WHERE id = ?1 AND state = 'live' AND expires_at > ?2",
                &values![id, now],
            )?;
            if changed != 1 {
                return Ok(false);
            }
            db.execute(
                "INSERT INTO software_certificates (serial, application_id, code_id, der,
                 not_before, not_after, state, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'issued', ?7)",
                &values![
                    &cert.serial,
                    cert.application_id,
                    id,
                    &cert.der,
                    cert.not_before,
                    cert.not_after,
                    now
                ],
            )?;
            append_audit(
                db,
                actor,
                &Event::new(
                    Action::GenerationCodeRedeemed,
                    Subject::Application(cert.application_id),
                    format!("code {id}: software certificate {}", cert.serial),
                ),
            )?;
            Ok(true)
        })
    }

    fn software_certificates(&self, application_id: i64) -> Result<Vec<SoftwareCertRecord>> {
        let sql = format!(
            "SELECT {SOFTWARE_COLS} FROM software_certificates
             WHERE application_id = ?1 ORDER BY not_before, serial"
        );
        self.read(|db| {
            db.query(&sql, &values![application_id])?
                .iter()
                .map(software_cert)
                .collect()
        })
    }
}
