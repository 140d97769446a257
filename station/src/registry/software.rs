//! What the registry keeps of a software certificate after it is issued:
//! the citizen's area reads a citizen's certificates and one by serial,
//! renews one (the new certificate names the one it renews; each is
//! renewed at most once) and revokes one. Each change and its audit entry
//! are one transaction.

use time::OffsetDateTime;

use super::codes::{software_cert, SoftwareCertRecord, SOFTWARE_COLS};
use super::sql::{values, Backend, Sql};
use super::store::append_audit;
use super::{Result, SqlRegistry};
use crate::audit::{Action, Actor, Event, Subject};

/// The registry's side of the citizen's area.
pub trait SoftwareCertificates {
    /// The software certificate of `serial` (hexadecimal, uppercase).
    fn software_certificate(&self, serial: &str) -> Result<Option<SoftwareCertRecord>>;
    /// Every software certificate of the applications of `nif`, oldest
    /// first.
    fn software_certificates_of(&self, nif: &str) -> Result<Vec<SoftwareCertRecord>>;
    /// Records `new`, which renews `new.renews`. `false` (and nothing
    /// changed) if that one is revoked or was renewed already.
    fn software_renewed(
        &mut self,
        new: &SoftwareCertRecord,
        now: OffsetDateTime,
        actor: &Actor,
    ) -> Result<bool>;
    /// Marks `serial` revoked for `reason`. `false` (and nothing changed)
    /// if it was revoked already.
    fn software_revoked(
        &mut self,
        serial: &str,
        reason: &str,
        now: OffsetDateTime,
        actor: &Actor,
    ) -> Result<bool>;
}

fn by_serial(db: &mut dyn Sql, serial: &str) -> Result<Option<SoftwareCertRecord>> {
    db.query_one(
        &format!("SELECT {SOFTWARE_COLS} FROM software_certificates WHERE serial = ?1"),
        &values![serial],
    )?
    .map(|r| software_cert(&r))
    .transpose()
}

impl<B: Backend> SoftwareCertificates for SqlRegistry<B> {
    fn software_certificate(&self, serial: &str) -> Result<Option<SoftwareCertRecord>> {
        self.read(|db| by_serial(db, serial))
    }

    fn software_certificates_of(&self, nif: &str) -> Result<Vec<SoftwareCertRecord>> {
        let cols = SOFTWARE_COLS
            .split(", ")
            .map(|c| format!("s.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols} FROM software_certificates s
             JOIN applications a ON a.id = s.application_id
             WHERE a.nif = ?1 ORDER BY s.not_before, s.serial"
        );
        self.read(|db| {
            db.query(&sql, &values![nif])?
                .iter()
                .map(software_cert)
                .collect()
        })
    }

    fn software_renewed(
        &mut self,
        new: &SoftwareCertRecord,
        now: OffsetDateTime,
        actor: &Actor,
    ) -> Result<bool> {
        let Some(renews) = new.renews.as_deref() else {
            return Ok(false);
        };
        self.write(|db| {
            let open = db.query_one(
                "SELECT serial FROM software_certificates o
                 WHERE serial = ?1 AND state = 'issued' AND NOT EXISTS
                 (SELECT 1 FROM software_certificates n WHERE n.renews = o.serial)",
                &values![renews],
            )?;
            if open.is_none() {
                return Ok(false);
            }
            db.execute(
                "INSERT INTO software_certificates (serial, application_id, renews, der,
                 not_before, not_after, state, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'issued', ?7)",
                &values![
                    &new.serial,
                    new.application_id,
                    renews,
                    &new.der,
                    new.not_before,
                    new.not_after,
                    now
                ],
            )?;
            append_audit(
                db,
                actor,
                &Event::new(
                    Action::SoftwareCertificateRenewed,
                    Subject::Application(new.application_id),
                    format!("software certificate {renews} renewed by {}", new.serial),
                ),
            )?;
            Ok(true)
        })
    }

    fn software_revoked(
        &mut self,
        serial: &str,
        reason: &str,
        now: OffsetDateTime,
        actor: &Actor,
    ) -> Result<bool> {
        self.write(|db| {
            let Some(cert) = by_serial(db, serial)? else {
                return Ok(false);
            };
            let changed = db.execute(
                "UPDATE software_certificates
                 SET state = 'revoked', revocation_reason = ?2, updated_at = ?3
                 WHERE serial = ?1 AND state = 'issued'",
                &values![serial, reason, now],
            )?;
            if changed != 1 {
                return Ok(false);
            }
            append_audit(
                db,
                actor,
                &Event::new(
                    Action::SoftwareCertificateRevoked,
                    Subject::Application(cert.application_id),
                    format!("software certificate {serial}: {reason}"),
                ),
            )?;
            Ok(true)
        })
    }
}
