//! The station's one error type. Every message names what happened and what
//! the operator does next; [`StationError::exit_code`] gives scripts a number
//! to act on.

use firma_apdu::Error as CardError;

use crate::ca::CaError;
use crate::identity::IdentityError;
use crate::registry::RegistryError;
use crate::vault::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum StationError {
    #[error("{0}")]
    Input(String),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("the certificate authority failed: {0}. Nothing was lost: run the same command again to retry")]
    Ca(#[from] CaError),
    #[error(
        "the card was removed during {step}. Insert it again and run the same command to resume"
    )]
    CardRemoved { step: String },
    #[error("no card in {0}: insert the citizen's card and try again")]
    NoCard(String),
    #[error("the card failed during {step}: {source}")]
    Card {
        step: String,
        #[source]
        source: CardError,
    },
    #[error("wrong card: this is card {found}, but application {application} was mailed card {expected}. Insert card {expected}")]
    WrongCard {
        application: i64,
        expected: u32,
        found: u32,
    },
    #[error("card {serial} is already personalized (application {application}). To issue it again, reset it first: firma-station reset-card")]
    AlreadyPersonalized { serial: u32, application: i64 },
    #[error("card {serial} is not a blank card: {why}. Use a blank card, or reset this one (firma-station reset-card) if it is ours")]
    NotBlank { serial: u32, why: String },
    #[error("card {serial} is in the middle of activating application {application}: finish that activation first, or reset the card")]
    CardBusy { serial: u32, application: i64 },
    #[error("application {application} was started on card {serial}: insert that card to resume, or reset it (firma-station reset-card) to start again on another card")]
    StartedOnOtherCard { application: i64, serial: u32 },
    #[error("card {0} is not in the registry: this station did not personalize it")]
    UnknownCard(u32),
    #[error("{0}")]
    State(String),
    #[error("the PIN is not acceptable: {0}")]
    PinRule(String),
    #[error("the PUK letter could not be delivered: {0}. The card is not marked activated: run `activate` again to make a new PUK and letter")]
    Letter(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl StationError {
    /// Maps a card error during `step`.
    pub fn card(step: impl Into<String>, source: CardError) -> Self {
        let step = step.into();
        if source.is_card_gone() {
            StationError::CardRemoved { step }
        } else {
            StationError::Card { step, source }
        }
    }

    /// The process exit status for scripts:
    /// 2 bad input, 3 card absent or removed (insert and retry),
    /// 4 wrong card or state, 5 CA, 6 registry, vault or files, 1 other card errors.
    pub fn exit_code(&self) -> u8 {
        match self {
            StationError::Input(_) | StationError::Identity(_) | StationError::PinRule(_) => 2,
            StationError::CardRemoved { .. } | StationError::NoCard(_) => 3,
            StationError::WrongCard { .. }
            | StationError::AlreadyPersonalized { .. }
            | StationError::NotBlank { .. }
            | StationError::CardBusy { .. }
            | StationError::StartedOnOtherCard { .. }
            | StationError::UnknownCard(_)
            | StationError::State(_) => 4,
            StationError::Ca(_) => 5,
            StationError::Registry(_)
            | StationError::Vault(_)
            | StationError::Io { .. }
            | StationError::Letter(_) => 6,
            StationError::Card { .. } => 1,
        }
    }
}
