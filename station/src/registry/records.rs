//! What the registry keeps, as the engine reads and writes it.

use std::fmt;
use std::str::FromStr;

use firma_apdu::piv::{Algorithm, Slot};
use time::OffsetDateTime;

use crate::ca::RevocationReason;

pub use crate::step::WorkflowKind;
use crate::step::{Step, StepOutcome};
use crate::text::text_enum;

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
    /// The activation this check was evidence for: a check serves one
    /// activation only (a card reset for re-issue needs a new check).
    pub used_by: Option<i64>,
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
    pub slot: Slot,
    pub der: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub state: CertState,
    pub revocation_reason: Option<RevocationReason>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub id: i64,
    pub application_id: i64,
    pub card_serial: u32,
    pub kind: WorkflowKind,
    pub state: ActivationState,
    /// The algorithm of the keys this workflow generates.
    pub algorithm: Algorithm,
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
    pub step: Step,
    pub outcome: StepOutcome,
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
    /// An activation finished: the application's unused identity checks
    /// become its evidence, and serve no other.
    IdentityChecksUsed {
        application_id: i64,
        activation_id: i64,
    },
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
        reason: Option<RevocationReason>,
    },
}
