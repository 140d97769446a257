//! The one error type of firma-apdu: every variant is something a caller can
//! act on, and its message tells a person what happened and what to do.

use thiserror::Error;

use crate::transport::TransportError;
use crate::StatusWord;

#[derive(Debug, Error)]
/// What went wrong talking to a card, as a caller can act on it.
pub enum Error {
    /// The transport failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// PIN incorrect: … tries left.
    #[error("PIN incorrect: {tries_left} tries left")]
    WrongPin {
        /// Tries left before the PIN blocks.
        tries_left: u8,
    },
    /// PUK incorrect: … tries left.
    #[error("PUK incorrect: {tries_left} tries left")]
    WrongPuk {
        /// Tries left before the PUK blocks.
        tries_left: u8,
    },
    /// A wrong PUK where the card does not tell the tries left (Nitrokey 3
    /// answers CHANGE REFERENCE DATA with a bare 6300).
    #[error("PUK incorrect (the card does not tell how many tries are left)")]
    WrongPukUncounted,
    /// The PIN is blocked: unblock it with the PUK.
    #[error("the PIN is blocked: unblock it with the PUK")]
    PinBlocked,
    /// The PUK is blocked: the card can only be reset and personalized again.
    #[error("the PUK is blocked: the card can only be reset and personalized again")]
    PukBlocked,
    /// The card needs the PIN before ….
    #[error("the card needs the PIN before {0}")]
    PinRequired(&'static str),
    /// The card refused the management key.
    #[error("the card refused the management key")]
    WrongManagementKey,
    /// The card needs the management key before ….
    #[error("the card needs the management key before {0}")]
    ManagementKeyRequired(&'static str),
    /// … is not on the card.
    #[error("{0} is not on the card")]
    NotFound(&'static str),
    /// The card does not support ….
    #[error("the card does not support {0}")]
    NotSupportedByCard(&'static str),
    /// The card refused …: its PIN and PUK must both be blocked first.
    #[error("the card refused {0}: its PIN and PUK must both be blocked first")]
    ConditionsNotSatisfied(&'static str),
    /// … is not valid: ….
    #[error("{what} is not valid: {why}")]
    InvalidInput {
        /// What was rejected.
        what: &'static str,
        /// Why it was rejected.
        why: &'static str,
    },
    /// The card's answer to … is malformed.
    #[error("the card's answer to {0} is malformed")]
    Malformed(&'static str),
    /// The card refused …: ….
    #[error("the card refused {op}: {sw}")]
    Refused {
        /// The operation the card refused.
        op: &'static str,
        /// The card's status word.
        sw: StatusWord,
    },
}

impl Error {
    /// Whether the card went away (removed, or reset by someone else and not
    /// recovered): the caller should ask for the card again.
    pub fn is_card_gone(&self) -> bool {
        matches!(
            self,
            Error::Transport(TransportError::CardRemoved | TransportError::NoCard(_))
        )
    }
}

/// A result with firma-apdu's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
