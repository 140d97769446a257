//! The PIV card client (SP 800-73-4 with Yubico's management extensions),
//! over any [`Transport`].
//!
//! Every method sends what the operation needs and maps the card's answer to
//! an [`Error`] a caller can act on. Methods that need several APDUs in a row
//! run them in one card transaction; callers that need several operations
//! together (VERIFY and a signature with PIN policy "always") use
//! [`Piv::transaction`].

mod application;
pub mod container;
mod credentials;
mod device;
pub mod keys;
pub mod mgm;
mod objects;
mod operations;
pub mod padding;
pub mod pin;
pub mod slot;
pub mod spki;

use zeroize::Zeroizing;

pub use application::{atr_announces_extended_length, parse_application_template, ApplicationInfo};
pub use credentials::PinStatus;
pub use device::Version;
pub use keys::{Metadata, Origin, PublicKey};
pub use mgm::{ManagementKey, MgmAlgorithm};
pub use operations::ImportKey;
pub use pin::{Pin, Puk, Secret};
pub use slot::{Algorithm, ObjectId, PinPolicy, Slot, TouchPolicy};

use crate::tlv::Tlv;
use crate::transport::{Transport, TransportError};
use crate::{Command, Error, StatusWord};

/// The PIV application identifier (with version 01 00).
pub const PIV_AID: [u8; 11] = [
    0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
];

/// How long commands and answers may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApduMode {
    /// Short APDUs only: long commands are chained, long answers come with `61xx`.
    Short,
    /// Extended length: one APDU each way.
    Extended,
}

/// A PIV card.
pub struct Piv<T> {
    transport: T,
    mode: ApduMode,
    resets: u32,
}

/// What an operation is called in errors, and what a 6982 means for it.
#[derive(Clone, Copy)]
enum Needs {
    Pin,
    ManagementKey,
    Nothing,
}

/// An error that a [`Piv::transaction`] body returns: a card error or the
/// caller's own. The transaction runs the body again when the error is a
/// reset of the card by another application.
pub trait TransactionError: From<Error> {
    /// Whether this is [`TransportError::CardReset`] (directly or wrapped).
    fn is_card_reset(&self) -> bool;
}

impl TransactionError for Error {
    fn is_card_reset(&self) -> bool {
        matches!(self, Error::Transport(TransportError::CardReset))
    }
}

impl<T: Transport> Piv<T> {
    /// Wraps a transport; APDUs are short unless the card's ATR announces
    /// extended length (see [`Piv::set_mode`]).
    pub fn new(transport: T) -> Self {
        let mode = match transport.atr() {
            Some(atr) if atr_announces_extended_length(&atr) => ApduMode::Extended,
            _ => ApduMode::Short,
        };
        Self {
            transport,
            mode,
            resets: 0,
        }
    }

    /// Wraps a transport and selects the PIV application.
    pub fn open(transport: T) -> Result<(Self, ApplicationInfo), Error> {
        let mut piv = Self::new(transport);
        let info = piv.select()?;
        Ok((piv, info))
    }

    /// Whether APDUs are short (chained) or extended.
    pub fn mode(&self) -> ApduMode {
        self.mode
    }

    /// Chooses short (chained) or extended APDUs.
    pub fn set_mode(&mut self, mode: ApduMode) {
        self.mode = mode;
    }

    /// The transport underneath.
    pub fn transport(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// How often another application reset the card under us (each time the
    /// application was selected again and the PIN state was lost).
    pub fn resets_seen(&self) -> u32 {
        self.resets
    }

    /// Runs `f` with the card to ourselves (one PC/SC transaction). If another
    /// application reset the card, `f` runs once more from the start after
    /// SELECT, so it must begin with whatever it needs (VERIFY, authentication).
    /// `f` may fail with the caller's own error type; [`TransactionError`]
    /// tells the transaction which of its errors is a reset.
    pub fn transaction<R, E: TransactionError>(
        &mut self,
        mut f: impl FnMut(&mut Piv<&mut dyn Transport>) -> Result<R, E>,
    ) -> Result<R, E> {
        let (mode, mut resets) = (self.mode, self.resets);
        let mut out = None;
        let mut runs = 0;
        let outer = self.transport.exclusive(&mut |t| {
            runs += 1;
            let mut inner = Piv {
                transport: t,
                mode,
                resets,
            };
            if runs > 1 {
                // The transport reconnected after another application reset
                // the card: start over from SELECT.
                inner.resets += 1;
                inner.select()?;
            }
            let result = f(&mut inner);
            resets = inner.resets;
            match result {
                Err(e) if e.is_card_reset() => Err(Error::Transport(TransportError::CardReset)),
                other => {
                    out = Some(other);
                    Ok(())
                }
            }
        });
        self.resets = resets;
        outer?;
        out.unwrap_or_else(|| Err(Error::Transport(TransportError::CardReset).into()))
    }

    /// Sends one command (chained when it is too long for a short APDU) and
    /// returns the whole answer. After another application reset the card,
    /// selects PIV again and retries once.
    fn send(&mut self, cmd: &Command) -> Result<(Zeroizing<Vec<u8>>, StatusWord), Error> {
        match self.send_once(cmd) {
            Err(Error::Transport(TransportError::CardReset)) => {
                self.resets += 1;
                self.select()?;
                self.send_once(cmd)
            }
            other => other,
        }
    }

    fn send_once(&mut self, cmd: &Command) -> Result<(Zeroizing<Vec<u8>>, StatusWord), Error> {
        let mut cmd = cmd.clone();
        match self.mode {
            ApduMode::Extended => {
                cmd.extended = cmd.data.len() > 255 || cmd.le.is_some_and(|l| l > 256);
                if cmd.le.is_some() && cmd.extended {
                    cmd.le = Some(65536);
                }
                Ok(self.transport.transmit(&cmd)?)
            }
            ApduMode::Short => {
                let pieces: Vec<Vec<u8>> = cmd.data.chunks(255).map(<[u8]>::to_vec).collect();
                let last = pieces.len().saturating_sub(1);
                for (i, piece) in pieces.into_iter().enumerate() {
                    let mut part = Command::new(cmd.cla, cmd.ins, cmd.p1, cmd.p2).with_data(piece);
                    if i < last {
                        part.cla |= 0x10;
                        let (_, sw) = self.transport.transmit(&part)?;
                        if !sw.is_success() {
                            return Ok((Zeroizing::new(Vec::new()), sw));
                        }
                    } else {
                        part.le = cmd.le.map(|l| l.min(256));
                        return Ok(self.transport.transmit(&part)?);
                    }
                }
                cmd.le = cmd.le.map(|l| l.min(256));
                Ok(self.transport.transmit(&cmd)?)
            }
        }
    }

    /// Sends and maps every status but success to an error for `op`.
    fn call(
        &mut self,
        op: &'static str,
        needs: Needs,
        cmd: &Command,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let (data, sw) = self.send(cmd)?;
        check(op, needs, sw)?;
        Ok(data)
    }

    /// Selects the PIV application and reads its property template.
    pub fn select(&mut self) -> Result<ApplicationInfo, Error> {
        let cmd = Command::new(0, 0xA4, 0x04, 0x00)
            .with_data(PIV_AID[..9].to_vec())
            .with_le(256);
        let (data, sw) = self.send_once(&cmd)?;
        if sw == StatusWord::FILE_NOT_FOUND {
            return Err(Error::NotFound("the PIV application"));
        }
        check("SELECT", Needs::Nothing, sw)?;
        Ok(parse_application_template(&data))
    }
}

/// Maps a status word to the error a caller can act on.
fn check(op: &'static str, needs: Needs, sw: StatusWord) -> Result<(), Error> {
    match sw {
        StatusWord::SUCCESS => Ok(()),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED => Err(match needs {
            Needs::ManagementKey => Error::ManagementKeyRequired(op),
            _ => Error::PinRequired(op),
        }),
        StatusWord::AUTH_METHOD_BLOCKED => Err(Error::PinBlocked),
        // Cards say "not supported" either way: YubiKeys with 6D00, Nitrokey
        // 3 with 6A81 (ISO 7816-4's "function not supported").
        StatusWord::INS_NOT_SUPPORTED | StatusWord::FUNCTION_NOT_SUPPORTED => {
            Err(Error::NotSupportedByCard(op))
        }
        StatusWord::CONDITIONS_NOT_SATISFIED => Err(Error::ConditionsNotSatisfied(op)),
        StatusWord::FILE_NOT_FOUND | StatusWord::REFERENCE_NOT_FOUND => Err(Error::NotFound(op)),
        sw => Err(Error::Refused { op, sw }),
    }
}

/// The result of VERIFY, CHANGE REFERENCE DATA or RESET RETRY COUNTER,
/// where the reference checked was the PIN (80) or the PUK (81).
fn reference_result(sw: StatusWord, reference: u8, op: &'static str) -> Result<(), Error> {
    let puk = reference == 0x81;
    match (sw, sw.tries_left()) {
        (StatusWord::SUCCESS, _) => Ok(()),
        (_, Some(0)) | (StatusWord::AUTH_METHOD_BLOCKED, _) => Err(if puk {
            Error::PukBlocked
        } else {
            Error::PinBlocked
        }),
        (_, Some(n)) if puk => Err(Error::WrongPuk { tries_left: n }),
        (_, Some(n)) => Err(Error::WrongPin { tries_left: n }),
        (StatusWord::INCORRECT_DATA, _) => Err(Error::InvalidInput {
            what: "PIN or PUK",
            why: "the card refused its format",
        }),
        _ => check(op, Needs::Nothing, sw),
    }
}

/// An item of the `7C` dynamic authentication template in an answer.
fn template_item(answer: &[u8], tag: u32) -> Option<&[u8]> {
    Tlv::find(answer, 0x7C).and_then(|inner| Tlv::find(inner, tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_ways_of_saying_not_supported_are_one_error() {
        for sw in [0x6D00, 0x6A81] {
            assert!(
                matches!(
                    check("SET PIN RETRIES", Needs::Nothing, StatusWord(sw)),
                    Err(Error::NotSupportedByCard("SET PIN RETRIES"))
                ),
                "{sw:04X}"
            );
        }
        assert!(matches!(
            check("PUT DATA", Needs::ManagementKey, StatusWord(0x6A80)),
            Err(Error::Refused { .. })
        ));
    }
}
