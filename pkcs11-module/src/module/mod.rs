//! The module's state and every PKCS#11 operation, in safe Rust. `ffi`
//! turns C arguments into these calls and results into `CK_RV`.
//!
//! Locks, so that a card's work never makes anyone else wait:
//! - the registry (readers as pcscd reports them, which slot each session
//!   handle belongs to) is locked only for bookkeeping and zero-timeout
//!   pcscd queries, never while a card works: C_GetSlotList, C_GetSlotInfo
//!   and C_WaitForSlotEvent use nothing else;
//! - each slot has its own lock over its token and its sessions, held for
//!   that card's work: two cards sign at the same time.
//!
//! Order: a slot's lock may be held while the registry's is taken, never the
//! other way round. Each token has its own PC/SC context, since libpcsclite
//! serializes the calls of one context.
//!
//! The concepts, one file each: `readers` (pcscd's readers and the cards in
//! them), `sessions` (sessions and login), `objects` (search, attributes),
//! `operations` (signature, decryption, key agreement, random).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use cryptoki_sys as ck;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::mechanism::{self, DecryptMech, SignMech};
use crate::pin_cache::CachedPin;
use crate::token::Token;

mod objects;
mod operations;
mod readers;
mod sessions;

/// What is in a reader.
pub enum TokenState {
    /// A card that does not answer the PIV application: reported quickly,
    /// never probed again until it is removed.
    NotPiv,
    Piv(Box<Token>),
}

pub struct SignOp {
    pub key: ck::CK_OBJECT_HANDLE,
    pub mech: SignMech,
    pub hasher: Option<mechanism::Hasher>,
    pub data: Zeroizing<Vec<u8>>,
    /// CKU_CONTEXT_SPECIFIC for this operation's always-authenticate key.
    pub context_pin: Option<CachedPin>,
}

pub struct DecryptOp {
    pub key: ck::CK_OBJECT_HANDLE,
    pub mech: DecryptMech,
    /// CKU_CONTEXT_SPECIFIC for this operation's always-authenticate key.
    pub context_pin: Option<CachedPin>,
}

pub struct Session {
    pub slot: ck::CK_SLOT_ID,
    pub rw: bool,
    pub find: Option<Vec<ck::CK_OBJECT_HANDLE>>,
    pub sign: Option<SignOp>,
    pub decrypt: Option<DecryptOp>,
    /// Session objects: shared secrets from ECDH, gone with the session.
    pub secrets: Vec<crate::object::SecretObject>,
}

/// A reader's card, its token and its sessions: under the slot's lock.
#[derive(Default)]
pub struct Card {
    /// The token and pcscd's event count of the insertion it was read from.
    pub token: Option<(readers::Insertion, TokenState)>,
    pub sessions: BTreeMap<ck::CK_SESSION_HANDLE, Session>,
}

/// One reader, for as long as the module runs.
pub struct Slot {
    pub reader: String,
    card: Mutex<Card>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, Card> {
        // A panic in another call poisons the lock; the state is still usable.
        self.card.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A reader as pcscd last reported it.
struct Reader {
    slot: Arc<Slot>,
    present: bool,
    /// pcscd's event counter for the reader: it changes on every insertion
    /// and removal, so a card swapped between two calls is noticed.
    event_count: u32,
    /// (present, event_count) last reported by C_WaitForSlotEvent.
    reported: (bool, u32),
}

/// Bookkeeping: never locked while a card works.
#[derive(Default)]
struct Registry {
    ctx: Option<pcsc::Context>,
    /// Bumped with every new context: after pcscd restarted, its event
    /// counts start again and say nothing of the cards we read before.
    epoch: u64,
    readers: Vec<Reader>,
    sessions: BTreeMap<ck::CK_SESSION_HANDLE, ck::CK_SLOT_ID>,
}

pub struct Module {
    registry: Mutex<Registry>,
    next_session: AtomicU64,
    next_object: AtomicU64,
}

/// Our user types.
pub const CKU_SO: ck::CK_USER_TYPE = ck::CKU_SO;
pub const CKU_USER: ck::CK_USER_TYPE = ck::CKU_USER;
pub const CKU_CONTEXT_SPECIFIC: ck::CK_USER_TYPE = ck::CKU_CONTEXT_SPECIFIC;

impl Module {
    pub fn new() -> Self {
        Self {
            registry: Mutex::new(Registry::default()),
            next_session: AtomicU64::new(0),
            next_object: AtomicU64::new(0),
        }
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh object handle, unique in the module.
    pub fn object_handle(&self) -> ck::CK_OBJECT_HANDLE {
        (self.next_object.fetch_add(1, Ordering::Relaxed) + 1) as ck::CK_OBJECT_HANDLE
    }

    /// Runs `f` on the session `h` and its token, under the slot's lock
    /// only. A token that went away since the last call gives
    /// CKR_DEVICE_REMOVED once, then the session no longer exists; an error
    /// of the card saying it went away takes the slot's sessions with it.
    pub fn with_session<T>(
        &self,
        h: ck::CK_SESSION_HANDLE,
        f: impl FnOnce(&mut InSlot<'_>) -> Result<T>,
    ) -> Result<T> {
        let (id, slot, current) = self.session_slot(h)?;
        let mut card = slot.lock();
        if !self.token_is_current(id, &mut card, current) {
            return Err(Error::DEVICE_REMOVED);
        }
        let r = {
            let Card { token, sessions } = &mut *card;
            let Some((_, TokenState::Piv(token))) = token.as_mut() else {
                return Err(Error::DEVICE_REMOVED);
            };
            if !sessions.contains_key(&h) {
                return Err(Error::SESSION_HANDLE_INVALID);
            }
            f(&mut InSlot { token, sessions, h })
        };
        if r.as_ref().err() == Some(&Error::DEVICE_REMOVED) {
            self.forget_token(id, &mut card);
        }
        r
    }
}

/// A session, its token and the other sessions of its slot, under the
/// slot's lock.
pub struct InSlot<'a> {
    pub token: &'a mut Token,
    pub sessions: &'a mut BTreeMap<ck::CK_SESSION_HANDLE, Session>,
    pub h: ck::CK_SESSION_HANDLE,
}

impl InSlot<'_> {
    /// The session and its token.
    pub fn parts(&mut self) -> Result<(&mut Session, &mut Token)> {
        let s = self
            .sessions
            .get_mut(&self.h)
            .ok_or(Error::SESSION_HANDLE_INVALID)?;
        Ok((s, self.token))
    }
}

impl Default for Module {
    fn default() -> Self {
        Self::new()
    }
}
