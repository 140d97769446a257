//! Transports carry command APDUs to a card and bring back its answers.
//!
//! This is the minimal layer the foundation needs (list readers, exchange raw
//! APDUs through PC/SC, follow `61xx`); the full transport with transactions,
//! reconnect after reset and reader-change waits is tracked separately.

use std::ffi::CString;

use thiserror::Error;

use crate::{Command, StatusWord};

/// Transport failures, separated so that callers can react to each.
#[derive(Debug, Error)]
pub enum TransportError {
    #[error("no smart card service (pcscd) is running: start it and try again")]
    NoService,
    #[error("the card was removed from the reader")]
    CardRemoved,
    #[error("reader {0:?} not found")]
    NoReader(String),
    #[error("no card in reader {0:?}")]
    NoCard(String),
    #[error("the card was reset by another application")]
    CardReset,
    #[error("the card's answer is shorter than a status word")]
    ShortResponse,
    #[error("PC/SC error: {0}")]
    Pcsc(pcsc::Error),
    #[error("APDU encoding: {0}")]
    Command(#[from] crate::CommandError),
}

impl From<pcsc::Error> for TransportError {
    fn from(e: pcsc::Error) -> Self {
        match e {
            pcsc::Error::NoService | pcsc::Error::ServiceStopped => Self::NoService,
            pcsc::Error::RemovedCard | pcsc::Error::NoSmartcard => Self::CardRemoved,
            pcsc::Error::ResetCard => Self::CardReset,
            other => Self::Pcsc(other),
        }
    }
}

/// Anything that exchanges one raw APDU for one raw response.
pub trait Transport {
    fn transmit_raw(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError>;

    /// Sends a command and collects the whole answer, following `61xx` with
    /// GET RESPONSE and resending on `6Cxx`.
    fn transmit(&mut self, cmd: &Command) -> Result<(Vec<u8>, StatusWord), TransportError> {
        let mut raw = self.transmit_raw(&cmd.to_bytes()?)?;
        let (mut data, mut sw) = split_response(&mut raw)?;
        if let Some(le) = sw.correct_le() {
            let mut again = cmd.clone();
            again.le = Some(le);
            raw = self.transmit_raw(&again.to_bytes()?)?;
            (data, sw) = split_response(&mut raw)?;
        }
        while let Some(n) = sw.bytes_remaining() {
            let get_response = Command::new(0, 0xC0, 0, 0).with_le(n);
            let mut raw = self.transmit_raw(&get_response.to_bytes()?)?;
            let (more, next) = split_response(&mut raw)?;
            data.extend_from_slice(&more);
            sw = next;
        }
        Ok((data, sw))
    }
}

fn split_response(raw: &mut Vec<u8>) -> Result<(Vec<u8>, StatusWord), TransportError> {
    let n = raw
        .len()
        .checked_sub(2)
        .ok_or(TransportError::ShortResponse)?;
    let sw = StatusWord::from_bytes(raw[n], raw[n + 1]);
    raw.truncate(n);
    Ok((std::mem::take(raw), sw))
}

/// A card in a PC/SC reader, connected in shared mode.
pub struct PcscTransport {
    card: pcsc::Card,
    buf: Vec<u8>,
}

/// What a reader holds right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderStatus {
    pub name: String,
    /// The card's answer to reset, when a card is present.
    pub atr: Option<Vec<u8>>,
}

/// Opens a PC/SC context, mapping "no pcscd" to a clear error.
pub fn pcsc_context() -> Result<pcsc::Context, TransportError> {
    Ok(pcsc::Context::establish(pcsc::Scope::User)?)
}

/// Lists the readers and whether each holds a card.
pub fn list_readers(ctx: &pcsc::Context) -> Result<Vec<ReaderStatus>, TransportError> {
    let names = match ctx.list_readers_owned() {
        Ok(n) => n,
        Err(pcsc::Error::NoReadersAvailable) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut states: Vec<pcsc::ReaderState> = names
        .iter()
        .map(|n| pcsc::ReaderState::new(n.clone(), pcsc::State::UNAWARE))
        .collect();
    ctx.get_status_change(std::time::Duration::from_millis(0), &mut states)?;
    Ok(states
        .iter()
        .map(|s| ReaderStatus {
            name: s.name().to_string_lossy().into_owned(),
            atr: s
                .event_state()
                .contains(pcsc::State::PRESENT)
                .then(|| s.atr().to_vec()),
        })
        .collect())
}

impl PcscTransport {
    /// Connects to the card in the named reader.
    pub fn connect(ctx: &pcsc::Context, reader: &str) -> Result<Self, TransportError> {
        let name = CString::new(reader).map_err(|_| TransportError::NoReader(reader.to_owned()))?;
        let card = ctx
            .connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
            .map_err(|e| match e {
                pcsc::Error::UnknownReader | pcsc::Error::ReaderUnavailable => {
                    TransportError::NoReader(reader.to_owned())
                }
                pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard => {
                    TransportError::NoCard(reader.to_owned())
                }
                other => other.into(),
            })?;
        Ok(Self {
            card,
            buf: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        })
    }
}

impl Transport for PcscTransport {
    fn transmit_raw(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.card.transmit(apdu, &mut self.buf)?.to_vec())
    }
}
