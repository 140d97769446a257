//! ISO 7816-4 building blocks for Firma: command and response APDUs, status
//! words, BER-TLV, and the transports that carry APDUs to a card.
//!
//! Everything that parses bytes here takes untrusted input (from a card, a
//! reader or a host) and returns an error instead of panicking.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod card;
pub mod command;
pub mod ct;
pub mod error;
pub mod piv;
pub mod status;
pub mod tlv;
pub mod transport;

pub use command::{Command, CommandError};
pub use error::Error;
pub use status::StatusWord;
pub use tlv::{Tlv, TlvError};
