//! Transports carry command APDUs to a card and bring back its answers:
//! PC/SC (real readers and vpcd), the in-process virtual card, and a wrapper
//! that counts and logs APDUs with secrets redacted.

use std::ffi::{CStr, CString};
use std::time::Duration;

use thiserror::Error;
use zeroize::Zeroizing;

use crate::{Command, StatusWord};

/// Transport failures, separated so that callers can react to each.
#[derive(Debug, Error)]
pub enum TransportError {
    /// No smart card service (pcscd) is running: start it and try again.
    #[error("no smart card service (pcscd) is running: start it and try again")]
    NoService,
    /// The card was removed from the reader.
    #[error("the card was removed from the reader")]
    CardRemoved,
    /// Reader … not found.
    #[error("reader {0:?} not found")]
    NoReader(String),
    /// No card in reader ….
    #[error("no card in reader {0:?}")]
    NoCard(String),
    /// The card was reset by another application.
    #[error("the card was reset by another application")]
    CardReset,
    /// The card's answer is shorter than a status word.
    #[error("the card's answer is shorter than a status word")]
    ShortResponse,
    /// PC/SC error: ….
    #[error("PC/SC error: {0}")]
    Pcsc(pcsc::Error),
    /// APDU encoding: ….
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
    /// Sends one APDU as bytes and returns the answer with its status word.
    fn transmit_raw(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError>;

    /// Runs `f` with the card to ourselves: a PC/SC transaction, so that no
    /// other application's APDU comes between ours.
    fn exclusive(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Transport) -> Result<(), crate::Error>,
    ) -> Result<(), crate::Error>;

    /// The card's answer to reset, when the transport knows it.
    fn atr(&self) -> Option<Vec<u8>> {
        None
    }

    /// Sends a command and collects the whole answer, following `61xx` with
    /// GET RESPONSE and resending on `6Cxx`. The answer is zeroized on drop:
    /// it may be a shared secret or a decrypted key.
    fn transmit(
        &mut self,
        cmd: &Command,
    ) -> Result<(Zeroizing<Vec<u8>>, StatusWord), TransportError> {
        let (mut data, mut sw) = split_response(self.transmit_raw(&cmd.to_bytes()?)?)?;
        if let Some(le) = sw.correct_le() {
            let mut again = cmd.clone();
            again.le = Some(le);
            (data, sw) = split_response(self.transmit_raw(&again.to_bytes()?)?)?;
        }
        // Bounded: a card that keeps answering 61xx cannot keep us forever.
        let mut rounds = 0;
        while let Some(n) = sw.bytes_remaining() {
            rounds += 1;
            if rounds > 512 {
                return Err(TransportError::ShortResponse);
            }
            let get_response = Command::new(0, 0xC0, 0, 0).with_le(n);
            let (more, next) = split_response(self.transmit_raw(&get_response.to_bytes()?)?)?;
            data.extend_from_slice(&more);
            sw = next;
        }
        Ok((data, sw))
    }
}

impl Transport for &mut dyn Transport {
    fn transmit_raw(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit_raw(apdu)
    }

    fn exclusive(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Transport) -> Result<(), crate::Error>,
    ) -> Result<(), crate::Error> {
        // Already inside a transaction: nest without a second one.
        f(&mut **self)
    }

    fn atr(&self) -> Option<Vec<u8>> {
        (**self).atr()
    }
}

/// A boxed transport, so that a worker can hold a PC/SC reader or an
/// in-process card alike.
impl<T: Transport + ?Sized> Transport for Box<T> {
    fn transmit_raw(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        (**self).transmit_raw(apdu)
    }

    fn exclusive(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Transport) -> Result<(), crate::Error>,
    ) -> Result<(), crate::Error> {
        (**self).exclusive(f)
    }

    fn atr(&self) -> Option<Vec<u8>> {
        (**self).atr()
    }
}

fn split_response(raw: Vec<u8>) -> Result<(Zeroizing<Vec<u8>>, StatusWord), TransportError> {
    let mut raw = Zeroizing::new(raw);
    let n = raw
        .len()
        .checked_sub(2)
        .ok_or(TransportError::ShortResponse)?;
    let sw = StatusWord::from_bytes(raw[n], raw[n + 1]);
    raw.truncate(n);
    Ok((raw, sw))
}

/// A card in a PC/SC reader, connected in shared mode.
pub struct PcscTransport {
    ctx: pcsc::Context,
    card: pcsc::Card,
    reader: CString,
    buf: Vec<u8>,
}

/// What a reader holds right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderStatus {
    /// The reader's name.
    pub name: String,
    /// The card's answer to reset, when a card is present.
    pub atr: Option<Vec<u8>>,
}

/// Opens a PC/SC context, mapping "no pcscd" to a clear error.
pub fn pcsc_context() -> Result<pcsc::Context, TransportError> {
    Ok(pcsc::Context::establish(pcsc::Scope::User)?)
}

fn reader_states(ctx: &pcsc::Context) -> Result<Vec<pcsc::ReaderState>, TransportError> {
    let names = match ctx.list_readers_owned() {
        Ok(n) => n,
        Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    Ok(names
        .into_iter()
        .map(|n| pcsc::ReaderState::new(n, pcsc::State::UNAWARE))
        .collect())
}

fn to_status(states: &[pcsc::ReaderState]) -> Vec<ReaderStatus> {
    states
        .iter()
        .filter(|s| s.name() != pcsc::PNP_NOTIFICATION())
        .map(|s| ReaderStatus {
            name: s.name().to_string_lossy().into_owned(),
            atr: s
                .event_state()
                .contains(pcsc::State::PRESENT)
                .then(|| s.atr().to_vec()),
        })
        .collect()
}

/// Lists the readers and whether each holds a card.
pub fn list_readers(ctx: &pcsc::Context) -> Result<Vec<ReaderStatus>, TransportError> {
    let mut states = reader_states(ctx)?;
    if states.is_empty() {
        return Ok(Vec::new());
    }
    ctx.get_status_change(Duration::from_millis(0), &mut states)?;
    Ok(to_status(&states))
}

/// Blocks until the readers or their cards differ from `known` (a reader
/// appeared or went, a card was inserted or removed), and returns the new
/// state; returns the current state, equal to `known`, after `timeout`.
pub fn wait_for_change(
    ctx: &pcsc::Context,
    known: &[ReaderStatus],
    timeout: Duration,
) -> Result<Vec<ReaderStatus>, TransportError> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let mut states = reader_states(ctx)?;
        states.push(pcsc::ReaderState::new(
            pcsc::PNP_NOTIFICATION(),
            pcsc::State::UNAWARE,
        ));
        match ctx.get_status_change(Duration::ZERO, &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(e) => return Err(e.into()),
        }
        let now = to_status(&states);
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if now != known || left.is_zero() {
            return Ok(now);
        }
        for s in &mut states {
            s.sync_current_state();
        }
        // Wakes on any event, some of which change nothing we report
        // (a reader's event counter settling): the loop compares again.
        match ctx.get_status_change(left, &mut states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

impl PcscTransport {
    /// Connects to the card in the named reader.
    pub fn connect(ctx: &pcsc::Context, reader: &str) -> Result<Self, TransportError> {
        let name = CString::new(reader).map_err(|_| TransportError::NoReader(reader.to_owned()))?;
        let card = ctx
            .connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
            .map_err(|e| connect_error(e, reader))?;
        Ok(Self {
            ctx: ctx.clone(),
            card,
            reader: name,
            buf: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        })
    }

    /// The reader this transport is connected through.
    pub fn reader(&self) -> &CStr {
        &self.reader
    }

    /// After another application reset the card: reconnect, so the next
    /// command goes through (the caller selects the application again).
    fn recover_from_reset(&mut self) -> TransportError {
        match self.card.reconnect(
            pcsc::ShareMode::Shared,
            pcsc::Protocols::ANY,
            pcsc::Disposition::LeaveCard,
        ) {
            Ok(()) => TransportError::CardReset,
            Err(e) => e.into(),
        }
    }
}

fn connect_error(e: pcsc::Error, reader: &str) -> TransportError {
    match e {
        pcsc::Error::UnknownReader | pcsc::Error::ReaderUnavailable => {
            TransportError::NoReader(reader.to_owned())
        }
        pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard => {
            TransportError::NoCard(reader.to_owned())
        }
        other => other.into(),
    }
}

/// A transmit failed: if the card is no longer in the reader, say so. A card
/// pulled out mid-command shows first as a failed transmission with some
/// readers (vpcd among them) and as an empty reader a moment later, so look
/// for up to a second before calling it a communication error.
fn classify_failure(ctx: &pcsc::Context, reader: &CStr, e: pcsc::Error) -> TransportError {
    if !matches!(
        e,
        pcsc::Error::NotTransacted
            | pcsc::Error::CommError
            | pcsc::Error::UnresponsiveCard
            | pcsc::Error::UnpoweredCard
            | pcsc::Error::UnknownError
            | pcsc::Error::RemovedCard
            | pcsc::Error::NoSmartcard
    ) {
        return e.into();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    let mut state = [pcsc::ReaderState::new(
        reader.to_owned(),
        pcsc::State::UNAWARE,
    )];
    let mut wait = Duration::ZERO;
    while std::time::Instant::now() < deadline {
        match ctx.get_status_change(wait, &mut state) {
            Ok(()) if !state[0].event_state().contains(pcsc::State::PRESENT) => {
                return TransportError::CardRemoved
            }
            Ok(()) => state[0].sync_current_state(),
            Err(pcsc::Error::Timeout) => {}
            Err(_) => break,
        }
        wait = Duration::from_millis(100);
    }
    e.into()
}

/// An answer without a status word: vpcd gives one when the card vanished
/// in the middle of the command. Say "removed" if the reader is empty.
fn classify_short(ctx: &pcsc::Context, reader: &CStr) -> TransportError {
    match classify_failure(ctx, reader, pcsc::Error::CommError) {
        TransportError::CardRemoved => TransportError::CardRemoved,
        _ => TransportError::ShortResponse,
    }
}

impl Transport for PcscTransport {
    fn transmit_raw(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        match self.card.transmit(apdu, &mut self.buf) {
            Ok(r) if r.len() < 2 => Err(classify_short(&self.ctx, &self.reader)),
            Ok(r) => Ok(r.to_vec()),
            Err(pcsc::Error::ResetCard) => Err(self.recover_from_reset()),
            Err(e) => Err(classify_failure(&self.ctx, &self.reader, e)),
        }
    }

    fn exclusive(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Transport) -> Result<(), crate::Error>,
    ) -> Result<(), crate::Error> {
        // Another application may have reset the card: reconnect and run
        // `f` once more (it starts again from the beginning, so it selects
        // the application and verifies the PIN again if it needs them).
        for attempt in 0..2 {
            let outcome = match self.card.transaction() {
                Ok(tx) => {
                    let mut inner = InTransaction {
                        tx: &tx,
                        buf: &mut self.buf,
                        ctx: &self.ctx,
                        reader: &self.reader,
                    };
                    let result = f(&mut inner);
                    // Ending can fail only if the card went away, which `result` reports.
                    let _ = tx.end(pcsc::Disposition::LeaveCard);
                    Ok(result)
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(Err(crate::Error::Transport(TransportError::CardReset)))
                | Err(pcsc::Error::ResetCard)
                    if attempt == 0 =>
                {
                    self.recover_from_reset();
                }
                Ok(result) => return result,
                Err(pcsc::Error::ResetCard) => return Err(self.recover_from_reset().into()),
                Err(e) => return Err(TransportError::from(e).into()),
            }
        }
        Err(TransportError::CardReset.into())
    }

    fn atr(&self) -> Option<Vec<u8>> {
        let mut names = [0u8; 2048];
        let mut atr = [0u8; pcsc::MAX_ATR_SIZE];
        self.card
            .status2(&mut names, &mut atr)
            .ok()
            .map(|s| s.atr().to_vec())
    }
}

/// The transport seen from inside a PC/SC transaction.
struct InTransaction<'a, 'b> {
    tx: &'a pcsc::Transaction<'b>,
    buf: &'a mut Vec<u8>,
    ctx: &'a pcsc::Context,
    reader: &'a CStr,
}

impl Transport for InTransaction<'_, '_> {
    fn transmit_raw(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        match self.tx.transmit(apdu, self.buf) {
            Ok(r) if r.len() < 2 => Err(classify_short(self.ctx, self.reader)),
            Ok(r) => Ok(r.to_vec()),
            // Reconnecting needs the card itself: `exclusive` does it.
            Err(pcsc::Error::ResetCard) => Err(TransportError::CardReset),
            Err(e) => Err(classify_failure(self.ctx, self.reader, e)),
        }
    }

    fn exclusive(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Transport) -> Result<(), crate::Error>,
    ) -> Result<(), crate::Error> {
        f(self)
    }
}

/// Counts APDUs and the time the card took to answer them, and logs each
/// with `tracing`, never with secret bytes: only SELECT and GET DATA
/// commands show their data; every other command, and every answer, shows
/// its length and status word.
pub struct Traced<T> {
    inner: T,
    count: u64,
    busy: Duration,
    log: bool,
}

impl<T: Transport> Traced<T> {
    /// Counts the APDUs sent through `inner`.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            count: 0,
            busy: Duration::ZERO,
            log: true,
        }
    }

    /// Counts and times without logging (for a transport that is already
    /// traced further out).
    pub fn quiet(inner: T) -> Self {
        Self {
            log: false,
            ..Self::new(inner)
        }
    }

    /// APDUs sent so far (GET RESPONSE and chained parts included).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The time spent waiting for the card's answers so far.
    pub fn busy(&self) -> Duration {
        self.busy
    }

    /// Starts counting (and timing) again from zero.
    pub fn reset_count(&mut self) {
        self.count = 0;
        self.busy = Duration::ZERO;
    }

    /// The transport underneath.
    pub fn inner(&mut self) -> &mut T {
        &mut self.inner
    }
}

/// How one APDU is shown in a trace: header and length, and the data only
/// for commands that never carry secrets.
pub fn describe_apdu(apdu: &[u8]) -> String {
    match apdu {
        [cla, ins, p1, p2, rest @ ..] => {
            let public = matches!(ins, 0xA4 | 0xCB | 0xC0 | 0xFD | 0xF8 | 0xF7);
            let body = if public {
                hex::encode_upper(rest)
            } else {
                format!("<{} bytes redacted>", rest.len())
            };
            format!("{cla:02X} {ins:02X} {p1:02X} {p2:02X} {body}")
        }
        _ => format!("<malformed, {} bytes>", apdu.len()),
    }
}

impl<T: Transport> Transport for Traced<T> {
    fn transmit_raw(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.count += 1;
        let started = std::time::Instant::now();
        let result = self.inner.transmit_raw(apdu);
        self.busy += started.elapsed();
        if !self.log {
            return result;
        }
        match &result {
            Ok(r) if r.len() >= 2 => tracing::debug!(
                target: "firma_apdu",
                "APDU {} -> {} bytes, SW {:02X}{:02X}",
                describe_apdu(apdu),
                r.len() - 2,
                r[r.len() - 2],
                r[r.len() - 1]
            ),
            Ok(r) => {
                tracing::debug!(target: "firma_apdu", "APDU {} -> {} bytes", describe_apdu(apdu), r.len())
            }
            Err(e) => {
                tracing::debug!(target: "firma_apdu", "APDU {} -> error: {e}", describe_apdu(apdu))
            }
        }
        result
    }

    fn exclusive(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Transport) -> Result<(), crate::Error>,
    ) -> Result<(), crate::Error> {
        let (count, busy, log) = (&mut self.count, &mut self.busy, self.log);
        self.inner.exclusive(&mut |t| {
            let mut counted = Traced {
                inner: t,
                count: 0,
                busy: Duration::ZERO,
                log,
            };
            let r = f(&mut counted);
            *count += counted.count;
            *busy += counted.busy;
            r
        })
    }

    fn atr(&self) -> Option<Vec<u8>> {
        self.inner.atr()
    }
}
