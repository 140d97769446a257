//! The audit log: one entry per operator action and card step, each holding
//! the hash of the one before, so that editing, inserting or removing an
//! entry anywhere but at the very end breaks the chain. The registry stores
//! it append-only; [`verify`] checks it.

use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

mod event;

pub use event::{Action, Actor, Event, Subject};

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    /// RFC 3339, UTC.
    pub at: String,
    pub operator: String,
    pub station: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
    pub prev: String,
    pub hash: String,
}

impl AuditEntry {
    /// The entry that follows `prev` (the previous entry's hash).
    pub fn new(seq: i64, prev: &str, actor: &Actor, event: &Event) -> Self {
        let at = OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default();
        let mut e = Self {
            seq,
            at,
            operator: actor.operator.clone(),
            station: actor.station.clone(),
            action: event.action.to_string(),
            subject: event.subject.to_string(),
            detail: event.detail.clone(),
            prev: prev.to_string(),
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
    }

    /// SHA-256 over every field but the hash, each length-prefixed so that
    /// moving text from one field to the next changes the hash.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.seq.to_be_bytes());
        for field in [
            &self.at,
            &self.operator,
            &self.station,
            &self.action,
            &self.subject,
            &self.detail,
            &self.prev,
        ] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// What is wrong with a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("audit entry {seq} was altered: its contents do not match its hash")]
    Altered { seq: i64 },
    #[error("audit entry {seq} does not follow entry {before}: an entry was removed or inserted")]
    Broken { seq: i64, before: i64 },
    #[error("audit entry {seq} is out of sequence (expected {expected})")]
    Sequence { seq: i64, expected: i64 },
}

/// Checks the whole chain; returns the number of entries.
pub fn verify(entries: &[AuditEntry]) -> Result<usize, ChainError> {
    let mut prev = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        let expected = i as i64 + 1;
        if e.seq != expected {
            return Err(ChainError::Sequence {
                seq: e.seq,
                expected,
            });
        }
        if e.compute_hash() != e.hash {
            return Err(ChainError::Altered { seq: e.seq });
        }
        if e.prev != prev {
            return Err(ChainError::Broken {
                seq: e.seq,
                before: e.seq - 1,
            });
        }
        prev = e.hash.clone();
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<AuditEntry> {
        let actor = Actor {
            operator: "ana".into(),
            station: "pru-1".into(),
        };
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let prev = out.last().map_or(GENESIS.to_string(), |e| e.hash.clone());
            let ev = Event::new(
                Action::IdentityChecked,
                Subject::Application(i as i64),
                "detail",
            );
            out.push(AuditEntry::new(i as i64 + 1, &prev, &actor, &ev));
        }
        out
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn an_edited_field_is_found() {
        let mut c = chain(5);
        c[2].detail = "something else".into();
        assert_eq!(verify(&c), Err(ChainError::Altered { seq: 3 }));
    }

    #[test]
    fn a_rehashed_edit_breaks_the_link_to_the_next_entry() {
        let mut c = chain(5);
        c[2].operator = "mallory".into();
        c[2].hash = c[2].compute_hash();
        assert_eq!(verify(&c), Err(ChainError::Broken { seq: 4, before: 3 }));
    }

    #[test]
    fn a_removed_entry_is_found() {
        let mut c = chain(5);
        c.remove(1);
        assert!(matches!(verify(&c), Err(ChainError::Sequence { .. })));
    }

    #[test]
    fn moving_text_between_fields_changes_the_hash() {
        let mut c = chain(1);
        c[0].subject.push_str("de");
        c[0].detail = "tail".into();
        assert_eq!(verify(&c), Err(ChainError::Altered { seq: 1 }));
    }
}
