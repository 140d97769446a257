//! The one error type of firma-apdu: every variant is something a caller can
//! act on, and its message tells a person what happened and what to do.

use thiserror::Error;

use crate::transport::TransportError;
use crate::StatusWord;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("PIN incorrect: {tries_left} tries left")]
    WrongPin { tries_left: u8 },
    #[error("PUK incorrect: {tries_left} tries left")]
    WrongPuk { tries_left: u8 },
    /// A wrong PUK where the card does not tell the tries left (Nitrokey 3
    /// answers CHANGE REFERENCE DATA with a bare 6300).
    #[error("PUK incorrect (the card does not tell how many tries are left)")]
    WrongPukUncounted,
    #[error("the PIN is blocked: unblock it with the PUK")]
    PinBlocked,
    #[error("the PUK is blocked: the card can only be reset and personalized again")]
    PukBlocked,
    #[error("the card needs the PIN before {0}")]
    PinRequired(&'static str),
    #[error("the card refused the management key")]
    WrongManagementKey,
    #[error("the card needs the management key before {0}")]
    ManagementKeyRequired(&'static str),
    #[error("{0} is not on the card")]
    NotFound(&'static str),
    #[error("the card does not support {0}")]
    NotSupportedByCard(&'static str),
    #[error("the card refused {0}: its PIN and PUK must both be blocked first")]
    ConditionsNotSatisfied(&'static str),
    #[error("{what} is not valid: {why}")]
    InvalidInput {
        what: &'static str,
        why: &'static str,
    },
    #[error("the card's answer to {0} is malformed")]
    Malformed(&'static str),
    #[error("the card refused {op}: {sw}")]
    Refused { op: &'static str, sw: StatusWord },
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

pub type Result<T, E = Error> = std::result::Result<T, E>;
