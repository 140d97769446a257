//! Readers as pcscd reports them, and the card in each: slots, their
//! events, and the token read from a card once per insertion.

use std::sync::Arc;

use cryptoki_sys as ck;
use firma_apdu::piv::Piv;
use firma_apdu::transport::PcscTransport;

use super::{Card, Module, Reader, Registry, Slot, TokenState};
use crate::error::{Error, Result};
use crate::token::Token;

/// Which insertion of a card a token was read from: the PC/SC context's
/// epoch (pcscd restarted: every count starts again) and pcscd's event
/// count of the reader.
pub type Insertion = (u64, u32);

/// What C_GetSlotInfo tells.
pub struct SlotInfo {
    pub reader: String,
    pub present: bool,
}

/// What C_GetTokenInfo tells: read at insertion and at each login, no APDU.
pub struct TokenInfo {
    pub label: String,
    pub serial: String,
    pub version: Option<firma_apdu::piv::Version>,
    pub flags: ck::CK_FLAGS,
    pub sessions: usize,
    pub rw_sessions: usize,
}

/// A slot whose state changed since C_WaitForSlotEvent last said.
pub type SlotEvent = ck::CK_SLOT_ID;

impl Registry {
    /// The PC/SC context, established again after pcscd restarted.
    fn context(&mut self) -> Result<pcsc::Context> {
        if let Some(ctx) = &self.ctx {
            if ctx.is_valid().is_ok() {
                return Ok(ctx.clone());
            }
        }
        let ctx = pcsc::Context::establish(pcsc::Scope::User).map_err(|_| Error::DEVICE_ERROR)?;
        self.ctx = Some(ctx.clone());
        self.epoch += 1;
        Ok(ctx)
    }

    /// Brings the slot list and card presence up to date: two calls to
    /// pcscd with no wait, no APDU, no card lock.
    fn refresh(&mut self) -> Result<()> {
        let ctx = match self.context() {
            Ok(c) => c,
            // No pcscd: the slots we know show empty.
            Err(_) => {
                for r in &mut self.readers {
                    r.present = false;
                }
                return Ok(());
            }
        };
        let names = match ctx.list_readers_owned() {
            Ok(n) => n,
            Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
            Err(
                pcsc::Error::NoService | pcsc::Error::ServiceStopped | pcsc::Error::InvalidHandle,
            ) => {
                self.ctx = None;
                Vec::new()
            }
            Err(_) => return Err(Error::DEVICE_ERROR),
        };
        for name in &names {
            let n = name.to_string_lossy().into_owned();
            if !self.readers.iter().any(|r| r.slot.reader == n) {
                self.readers.push(Reader {
                    slot: Arc::new(Slot {
                        reader: n,
                        card: Default::default(),
                    }),
                    present: false,
                    event_count: 0,
                    reported: (false, 0),
                });
            }
        }
        let mut states: Vec<pcsc::ReaderState> = names
            .into_iter()
            .map(|n| pcsc::ReaderState::new(n, pcsc::State::UNAWARE))
            .collect();
        if !states.is_empty()
            && ctx
                .get_status_change(std::time::Duration::ZERO, &mut states)
                .is_err()
        {
            return Err(Error::DEVICE_ERROR);
        }
        for r in &mut self.readers {
            let found = states
                .iter()
                .find(|s| s.name().to_string_lossy() == r.slot.reader);
            (r.present, r.event_count) = match found {
                Some(s) => (
                    s.event_state().contains(pcsc::State::PRESENT),
                    s.event_count(),
                ),
                None => (false, 0),
            };
        }
        Ok(())
    }

    fn reader(&self, id: ck::CK_SLOT_ID) -> Result<&Reader> {
        self.readers.get(id as usize).ok_or(Error::SLOT_ID_INVALID)
    }

    /// The insertion now in reader `id`, if a card is there.
    fn insertion(&self, id: ck::CK_SLOT_ID) -> Result<Option<Insertion>> {
        let r = self.reader(id)?;
        Ok(r.present.then_some((self.epoch, r.event_count)))
    }
}

impl Module {
    /// C_GetSlotList: the slot IDs, all or those with a card.
    pub fn slot_ids(&self, present_only: bool) -> Result<Vec<ck::CK_SLOT_ID>> {
        let mut reg = self.registry();
        reg.refresh()?;
        Ok((0..reg.readers.len())
            .filter(|&i| !present_only || reg.readers[i].present)
            .map(|i| i as ck::CK_SLOT_ID)
            .collect())
    }

    /// C_GetSlotInfo: never waits for a card.
    pub fn slot_info(&self, id: ck::CK_SLOT_ID) -> Result<SlotInfo> {
        let mut reg = self.registry();
        reg.refresh()?;
        let r = reg.reader(id)?;
        Ok(SlotInfo {
            reader: r.slot.reader.clone(),
            present: r.present,
        })
    }

    /// The slot `id`.
    pub(super) fn slot(&self, id: ck::CK_SLOT_ID) -> Result<Arc<Slot>> {
        self.registry().reader(id).map(|r| r.slot.clone())
    }

    /// Whether `id` names a slot.
    pub fn check_slot(&self, id: ck::CK_SLOT_ID) -> Result<()> {
        self.registry().reader(id).map(|_| ())
    }

    /// C_WaitForSlotEvent, one look: the first slot whose card came or went
    /// since the last report.
    pub fn next_event(&self) -> Result<Option<SlotEvent>> {
        let mut reg = self.registry();
        reg.refresh()?;
        for (i, r) in reg.readers.iter_mut().enumerate() {
            let now = (r.present, r.event_count);
            if now != r.reported {
                r.reported = now;
                return Ok(Some(i as ck::CK_SLOT_ID));
            }
        }
        Ok(None)
    }

    /// The slot of session `h`, and the insertion the registry last saw
    /// there (no call to pcscd: a card pulled out shows at its next command).
    pub(super) fn session_slot(
        &self,
        h: ck::CK_SESSION_HANDLE,
    ) -> Result<(ck::CK_SLOT_ID, Arc<Slot>, Option<Insertion>)> {
        let reg = self.registry();
        let id = *reg.sessions.get(&h).ok_or(Error::SESSION_HANDLE_INVALID)?;
        let slot = reg.reader(id)?.slot.clone();
        Ok((id, slot, reg.insertion(id)?))
    }

    /// Whether the slot's token is of the insertion now in the reader; if
    /// not, the token and its sessions are forgotten.
    pub(super) fn token_is_current(
        &self,
        id: ck::CK_SLOT_ID,
        card: &mut Card,
        now: Option<Insertion>,
    ) -> bool {
        match (&card.token, now) {
            (Some((of, _)), Some(now)) if *of == now => true,
            (None, _) if card.sessions.is_empty() => false,
            _ => {
                self.forget_token(id, card);
                false
            }
        }
    }

    /// The card went away: its token and sessions end.
    pub(super) fn forget_token(&self, id: ck::CK_SLOT_ID, card: &mut Card) {
        card.token = None;
        if !card.sessions.is_empty() {
            let mut reg = self.registry();
            reg.sessions.retain(|_, s| *s != id);
            card.sessions.clear();
        }
    }

    /// Runs `f` on the card of slot `id` with its token, read from the
    /// card on first use after insertion (under the slot's lock only).
    pub(super) fn with_card<T>(
        &self,
        id: ck::CK_SLOT_ID,
        f: impl FnOnce(&mut Card) -> Result<T>,
    ) -> Result<T> {
        let (slot, now) = {
            let mut reg = self.registry();
            reg.refresh()?;
            let slot = reg.reader(id)?.slot.clone();
            (slot, reg.insertion(id)?)
        };
        let Some(now) = now else {
            let mut card = slot.lock();
            self.forget_token(id, &mut card);
            return Err(Error::TOKEN_NOT_PRESENT);
        };
        let mut card = slot.lock();
        if !self.token_is_current(id, &mut card, Some(now)) {
            // Its own context: libpcsclite serializes the calls of one, and
            // another card's work must not wait for this one's.
            let ctx =
                pcsc::Context::establish(pcsc::Scope::User).map_err(|_| Error::DEVICE_ERROR)?;
            let transport =
                PcscTransport::connect(&ctx, &slot.reader).map_err(|_| Error::TOKEN_NOT_PRESENT)?;
            let token = match Token::open(Piv::new(transport), || self.object_handle())? {
                Some(t) => TokenState::Piv(Box::new(t)),
                None => TokenState::NotPiv,
            };
            card.token = Some((now, token));
        }
        f(&mut card)
    }

    /// C_GetTokenInfo.
    pub fn token_info(&self, id: ck::CK_SLOT_ID) -> Result<TokenInfo> {
        self.with_card(id, |card| match &card.token {
            Some((_, TokenState::Piv(t))) => Ok(TokenInfo {
                label: t.label.clone(),
                serial: t.serial.clone(),
                version: t.version,
                flags: t.token_flags(),
                sessions: card.sessions.len(),
                rw_sessions: card.sessions.values().filter(|s| s.rw).count(),
            }),
            _ => Err(Error::TOKEN_NOT_RECOGNIZED),
        })
    }

    /// Whether slot `id` holds a recognized PIV token (for tests of the skin).
    pub fn has_piv(&self, id: ck::CK_SLOT_ID) -> bool {
        let Ok(slot) = self.registry().reader(id).map(|r| r.slot.clone()) else {
            return false;
        };
        let card = slot.lock();
        matches!(card.token, Some((_, TokenState::Piv(_))))
    }
}
