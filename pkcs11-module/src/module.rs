//! The module's state and every PKCS#11 operation, in safe Rust. `ffi.rs`
//! turns C arguments into these calls and results into `CK_RV`.

use std::collections::BTreeMap;

use cryptoki_sys as ck;
use firma_apdu::piv::{Pin, Piv, Puk};
use firma_apdu::transport::PcscTransport;
use zeroize::Zeroizing;

use crate::auth;
use crate::error::{Error, Result};
use crate::mechanism::dispatch::{self, KeySize};
use crate::mechanism::{self, DecryptMech, SignMech};
use crate::object::Object;
use crate::token::Token;

/// What is in a reader.
pub enum TokenState {
    /// A card that does not answer the PIV application: reported quickly,
    /// never probed again until it is removed.
    NotPiv,
    Piv(Box<Token>),
}

pub struct SlotState {
    pub reader: String,
    pub present: bool,
    /// pcscd's event counter for the reader: it changes on every insertion
    /// and removal, so a card swapped between two calls is noticed.
    pub event_count: u32,
    pub token: Option<TokenState>,
    /// (present, event_count) last reported by C_WaitForSlotEvent.
    pub reported: (bool, u32),
}

pub struct SignOp {
    pub key: ck::CK_OBJECT_HANDLE,
    pub mech: SignMech,
    pub hasher: Option<mechanism::Hasher>,
    pub data: Zeroizing<Vec<u8>>,
    /// CKU_CONTEXT_SPECIFIC for this operation's always-authenticate key.
    pub context_pin: Option<Pin>,
}

pub struct DecryptOp {
    pub key: ck::CK_OBJECT_HANDLE,
    pub mech: DecryptMech,
    /// CKU_CONTEXT_SPECIFIC for this operation's always-authenticate key.
    pub context_pin: Option<Pin>,
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

pub struct Module {
    pub pid: u32,
    ctx: Option<pcsc::Context>,
    pub slots: Vec<SlotState>,
    pub sessions: BTreeMap<ck::CK_SESSION_HANDLE, Session>,
    next_session: ck::CK_SESSION_HANDLE,
    next_object: ck::CK_OBJECT_HANDLE,
}

/// Our user types.
pub const CKU_SO: ck::CK_USER_TYPE = ck::CKU_SO;
pub const CKU_USER: ck::CK_USER_TYPE = ck::CKU_USER;
pub const CKU_CONTEXT_SPECIFIC: ck::CK_USER_TYPE = ck::CKU_CONTEXT_SPECIFIC;

impl Module {
    pub fn new() -> Self {
        Self {
            pid: std::process::id(),
            ctx: None,
            slots: Vec::new(),
            sessions: BTreeMap::new(),
            next_session: 0,
            next_object: 0,
        }
    }

    /// The PC/SC context, established again after pcscd restarted.
    fn context(&mut self) -> Result<pcsc::Context> {
        if let Some(ctx) = &self.ctx {
            if ctx.is_valid().is_ok() {
                return Ok(ctx.clone());
            }
        }
        let ctx = pcsc::Context::establish(pcsc::Scope::User).map_err(|_| Error::DEVICE_ERROR)?;
        self.ctx = Some(ctx.clone());
        Ok(ctx)
    }

    /// Brings the slot list and card presence up to date. Sends no APDU.
    pub fn refresh(&mut self) -> Result<()> {
        let ctx = match self.context() {
            Ok(c) => c,
            // No pcscd: the slots we know show empty.
            Err(_) => {
                for i in 0..self.slots.len() {
                    self.mark_absent(i);
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
            if !self.slots.iter().any(|s| s.reader == n) {
                self.slots.push(SlotState {
                    reader: n,
                    present: false,
                    event_count: 0,
                    token: None,
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
        for i in 0..self.slots.len() {
            let found = states
                .iter()
                .find(|s| s.name().to_string_lossy() == self.slots[i].reader);
            let (present, count) = match found {
                Some(s) => (
                    s.event_state().contains(pcsc::State::PRESENT),
                    s.event_count(),
                ),
                None => (false, 0),
            };
            self.observe(i, present, count);
        }
        Ok(())
    }

    /// Records what pcscd says of reader `i`: a card gone, or another card
    /// (a new event count), ends the token we hold and its sessions.
    fn observe(&mut self, i: usize, present: bool, count: u32) {
        if !present || count != self.slots[i].event_count {
            self.mark_absent(i);
        }
        self.slots[i].present = present;
        self.slots[i].event_count = count;
    }

    /// Checks one reader only (one call to pcscd): the card is still the one
    /// whose token we hold. Every session operation starts with this.
    fn refresh_slot(&mut self, i: usize) -> Result<()> {
        let ctx = self.context()?;
        let Some(slot) = self.slots.get(i) else {
            return Err(Error::SLOT_ID_INVALID);
        };
        let name = std::ffi::CString::new(slot.reader.clone()).map_err(|_| Error::GENERAL)?;
        let mut state = [pcsc::ReaderState::new(name, pcsc::State::UNAWARE)];
        let (present, count) = match ctx.get_status_change(std::time::Duration::ZERO, &mut state) {
            Ok(()) => (
                state[0].event_state().contains(pcsc::State::PRESENT),
                state[0].event_count(),
            ),
            // The reader went away, or pcscd did: no card.
            Err(_) => (false, 0),
        };
        self.observe(i, present, count);
        Ok(())
    }

    /// Forgets the token of slot `i` and closes its sessions.
    fn mark_absent(&mut self, i: usize) {
        self.slots[i].present = false;
        if self.slots[i].token.take().is_some() {
            self.sessions.retain(|_, s| s.slot != i as ck::CK_SLOT_ID);
        }
    }

    pub fn slot(&self, id: ck::CK_SLOT_ID) -> Result<&SlotState> {
        self.slots.get(id as usize).ok_or(Error::SLOT_ID_INVALID)
    }

    /// The token of a slot, read from the card on first use after insertion.
    pub fn token(&mut self, id: ck::CK_SLOT_ID) -> Result<&mut Token> {
        let i = id as usize;
        let ctx = self.context()?;
        let slot = self.slots.get_mut(i).ok_or(Error::SLOT_ID_INVALID)?;
        if !slot.present {
            return Err(Error::TOKEN_NOT_PRESENT);
        }
        if slot.token.is_none() {
            let transport =
                PcscTransport::connect(&ctx, &slot.reader).map_err(|_| Error::TOKEN_NOT_PRESENT)?;
            let piv = Piv::new(transport);
            slot.token = Some(match Token::open(piv, &mut self.next_object)? {
                Some(t) => TokenState::Piv(Box::new(t)),
                None => TokenState::NotPiv,
            });
        }
        match slot.token.as_mut() {
            Some(TokenState::Piv(t)) => Ok(t),
            _ => Err(Error::TOKEN_NOT_RECOGNIZED),
        }
    }

    /// The session and its token; a token that went away since the last call
    /// gives CKR_DEVICE_REMOVED once, then the session no longer exists.
    pub fn session_token(
        &mut self,
        h: ck::CK_SESSION_HANDLE,
    ) -> Result<(&mut Session, &mut Token)> {
        let slot = self
            .sessions
            .get(&h)
            .ok_or(Error::SESSION_HANDLE_INVALID)?
            .slot;
        self.refresh_slot(slot as usize)?;
        if !self.sessions.contains_key(&h) {
            return Err(Error::DEVICE_REMOVED);
        }
        let token = match self
            .slots
            .get_mut(slot as usize)
            .and_then(|s| s.token.as_mut())
        {
            Some(TokenState::Piv(t)) => t,
            _ => return Err(Error::DEVICE_REMOVED),
        };
        let session = self
            .sessions
            .get_mut(&h)
            .ok_or(Error::SESSION_HANDLE_INVALID)?;
        Ok((session, token))
    }

    /// Maps a card error; a card that went away takes its sessions with it.
    pub fn card_failed(&mut self, h: ck::CK_SESSION_HANDLE, e: Error) -> Error {
        if e == Error::DEVICE_REMOVED {
            if let Some(slot) = self.sessions.get(&h).map(|s| s.slot as usize) {
                self.mark_absent(slot);
            }
        }
        e
    }

    pub fn open_session(
        &mut self,
        slot: ck::CK_SLOT_ID,
        flags: ck::CK_FLAGS,
    ) -> Result<ck::CK_SESSION_HANDLE> {
        if flags & ck::CKF_SERIAL_SESSION == 0 {
            return Err(Error::SESSION_PARALLEL_NOT_SUPPORTED);
        }
        self.refresh()?;
        let token = self.token(slot)?;
        let rw = flags & ck::CKF_RW_SESSION != 0;
        if !rw && token.so_puk.is_some() {
            return Err(Error::SESSION_READ_ONLY_EXISTS);
        }
        self.next_session += 1;
        let h = self.next_session;
        self.sessions.insert(
            h,
            Session {
                slot,
                rw,
                find: None,
                sign: None,
                decrypt: None,
                secrets: Vec::new(),
            },
        );
        Ok(h)
    }

    pub fn close_session(&mut self, h: ck::CK_SESSION_HANDLE) -> Result<()> {
        let s = self
            .sessions
            .remove(&h)
            .ok_or(Error::SESSION_HANDLE_INVALID)?;
        if !self.sessions.values().any(|o| o.slot == s.slot) {
            self.logout_slot(s.slot);
        }
        Ok(())
    }

    pub fn close_all_sessions(&mut self, slot: ck::CK_SLOT_ID) -> Result<()> {
        self.slot(slot)?;
        self.sessions.retain(|_, s| s.slot != slot);
        self.logout_slot(slot);
        Ok(())
    }

    /// The last session closed: the token is logged out (the card is
    /// already unverified: see `auth`).
    fn logout_slot(&mut self, slot: ck::CK_SLOT_ID) {
        if let Some(SlotState {
            token: Some(TokenState::Piv(t)),
            ..
        }) = self.slots.get_mut(slot as usize)
        {
            t.user_pin = None;
            t.so_puk = None;
        }
    }

    pub fn login(
        &mut self,
        h: ck::CK_SESSION_HANDLE,
        user: ck::CK_USER_TYPE,
        pin: &[u8],
    ) -> Result<()> {
        let (session, token) = self.session_token(h)?;
        let rw = session.rw;
        let slot = session.slot;
        let secret = Pin::new(pin).map_err(|_| Error::PIN_LEN_RANGE)?;
        let result = match user {
            CKU_USER => {
                if token.user_pin.is_some() {
                    return Err(Error::USER_ALREADY_LOGGED_IN);
                }
                if token.so_puk.is_some() {
                    return Err(Error::USER_ANOTHER_ALREADY_LOGGED_IN);
                }
                auth::check_pin(token, &secret).map(|()| token.user_pin = Some(secret))
            }
            // The PIN for one operation of this session, on a key that asks
            // for it every time; only on top of the user's login.
            CKU_CONTEXT_SPECIFIC => {
                if token.user_pin.is_none() {
                    return Err(Error::USER_NOT_LOGGED_IN);
                }
                let always = |k| token.object(k).is_some_and(Object::always_authenticate);
                let slot = match (&mut session.sign, &mut session.decrypt) {
                    (Some(op), _) if always(op.key) => &mut op.context_pin,
                    (_, Some(op)) if always(op.key) => &mut op.context_pin,
                    _ => return Err(Error::OPERATION_NOT_INITIALIZED),
                };
                auth::check_pin(token, &secret).map(|()| *slot = Some(secret))
            }
            CKU_SO => {
                if token.so_puk.is_some() {
                    return Err(Error::USER_ALREADY_LOGGED_IN);
                }
                if token.user_pin.is_some() {
                    return Err(Error::USER_ANOTHER_ALREADY_LOGGED_IN);
                }
                if !rw || self.sessions.values().any(|s| s.slot == slot && !s.rw) {
                    return Err(Error::SESSION_READ_ONLY_EXISTS);
                }
                let (_, token) = self.session_token(h)?;
                let puk: Puk = secret;
                token.verify_so(&puk).map(|()| token.so_puk = Some(puk))
            }
            _ => return Err(Error::USER_TYPE_INVALID),
        };
        result.map_err(|e| self.card_failed(h, e))
    }

    pub fn logout(&mut self, h: ck::CK_SESSION_HANDLE) -> Result<()> {
        let (session, token) = self.session_token(h)?;
        let _ = session;
        if token.user_pin.is_none() && token.so_puk.is_none() {
            return Err(Error::USER_NOT_LOGGED_IN);
        }
        // Forgetting the PINs is the whole logout: the card is never left
        // verified (`auth`), so there is nothing to tell it.
        token.user_pin = None;
        token.so_puk = None;
        for s in self.sessions.values_mut() {
            if let Some(op) = &mut s.sign {
                op.context_pin = None;
            }
            if let Some(op) = &mut s.decrypt {
                op.context_pin = None;
            }
        }
        Ok(())
    }

    /// C_InitPIN: the SO (PUK) sets a new PIN, unblocking it.
    pub fn init_pin(&mut self, h: ck::CK_SESSION_HANDLE, new_pin: &[u8]) -> Result<()> {
        let (session, token) = self.session_token(h)?;
        if !session.rw {
            return Err(Error::SESSION_READ_ONLY);
        }
        let puk = token.so_puk.clone().ok_or(Error::USER_NOT_LOGGED_IN)?;
        let new = Pin::new(new_pin).map_err(|_| Error::PIN_LEN_RANGE)?;
        let r = auth::then_unverify(token, |p| p.unblock_pin(&puk, &new));
        if r.is_ok() {
            token.pin_tries_left = token.pin_tries_total;
        }
        r.map_err(|e| self.card_failed(h, e.into()))
    }

    /// C_SetPIN: the SO changes the PUK, anyone else the PIN.
    pub fn set_pin(&mut self, h: ck::CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> Result<()> {
        let (session, token) = self.session_token(h)?;
        if !session.rw {
            return Err(Error::SESSION_READ_ONLY);
        }
        let old = Pin::new(old).map_err(|_| Error::PIN_LEN_RANGE)?;
        let new = Pin::new(new).map_err(|_| Error::PIN_LEN_RANGE)?;
        let r = if token.so_puk.is_some() {
            let r = auth::then_unverify(token, |p| p.change_puk(&old, &new));
            if r.is_ok() {
                token.so_puk = Some(new);
            }
            r
        } else if token.user_pin.is_none() && token.pin_tries_left == 0 {
            // OpenSC's convention (pkcs11-tool --unlock-pin --puk): with the PIN
            // blocked and nobody logged in, the "old PIN" is the PUK and the
            // PIN is unblocked. Only the right PUK can do it.
            let r = auth::then_unverify(token, |p| p.unblock_pin(&old, &new));
            if r.is_ok() {
                token.pin_tries_left = token.pin_tries_total;
            }
            r
        } else {
            let r = auth::then_unverify(token, |p| p.change_pin(&old, &new));
            token.note_pin_result(&r);
            if r.is_ok() && token.user_pin.is_some() {
                token.user_pin = Some(new);
            }
            r
        };
        r.map_err(|e| self.card_failed(h, e.into()))
    }

    /// Objects visible in a session: private ones only after login.
    fn visible<'a>(token: &'a Token) -> impl Iterator<Item = &'a Object> + 'a {
        let logged_in = token.user_pin.is_some();
        token
            .objects
            .iter()
            .filter(move |o| logged_in || o.class != ck::CKO_PRIVATE_KEY)
    }

    pub fn find_init(
        &mut self,
        h: ck::CK_SESSION_HANDLE,
        template: &[(ck::CK_ATTRIBUTE_TYPE, Vec<u8>)],
    ) -> Result<()> {
        let (session, token) = self.session_token(h)?;
        if session.find.is_some() {
            return Err(Error::OPERATION_ACTIVE);
        }
        let mut found: Vec<_> = Self::visible(token)
            .filter(|o| o.matches(template))
            .map(|o| o.handle)
            .chain(
                session
                    .secrets
                    .iter()
                    .filter(|o| !o.private || token.user_pin.is_some())
                    .filter(|o| o.matches(template))
                    .map(|o| o.handle),
            )
            .collect();
        found.reverse();
        session.find = Some(found);
        Ok(())
    }

    pub fn find_next(
        &mut self,
        h: ck::CK_SESSION_HANDLE,
        max: usize,
    ) -> Result<Vec<ck::CK_OBJECT_HANDLE>> {
        let session = self
            .sessions
            .get_mut(&h)
            .ok_or(Error::SESSION_HANDLE_INVALID)?;
        let found = session
            .find
            .as_mut()
            .ok_or(Error::OPERATION_NOT_INITIALIZED)?;
        let take = max.min(found.len());
        Ok((0..take).filter_map(|_| found.pop()).collect())
    }

    pub fn find_final(&mut self, h: ck::CK_SESSION_HANDLE) -> Result<()> {
        let session = self
            .sessions
            .get_mut(&h)
            .ok_or(Error::SESSION_HANDLE_INVALID)?;
        session
            .find
            .take()
            .map(|_| ())
            .ok_or(Error::OPERATION_NOT_INITIALIZED)
    }

    /// The object `o` of session `h`, if the session may see it.
    /// The values of attributes of object `o`, as the session may see them.
    pub fn attributes(
        &mut self,
        h: ck::CK_SESSION_HANDLE,
        o: ck::CK_OBJECT_HANDLE,
        types: &[ck::CK_ATTRIBUTE_TYPE],
    ) -> Result<Vec<std::result::Result<Vec<u8>, crate::object::AttrError>>> {
        let (session, token) = self.session_token(h)?;
        if let Some(secret) = session
            .secrets
            .iter()
            .find(|x| x.handle == o && (!x.private || token.user_pin.is_some()))
        {
            return Ok(types.iter().map(|t| secret.attribute(*t)).collect());
        }
        let obj = Self::visible(token)
            .find(|x| x.handle == o)
            .ok_or(Error::OBJECT_HANDLE_INVALID)?;
        Ok(types.iter().map(|t| obj.attribute(*t)).collect())
    }

    /// C_DestroyObject: only session objects (card objects are the card's).
    pub fn destroy(&mut self, h: ck::CK_SESSION_HANDLE, o: ck::CK_OBJECT_HANDLE) -> Result<()> {
        let (session, token) = self.session_token(h)?;
        let before = session.secrets.len();
        session.secrets.retain(|x| x.handle != o);
        if session.secrets.len() < before {
            Ok(())
        } else if token.object(o).is_some() {
            Err(Error(ck::CKR_ACTION_PROHIBITED))
        } else {
            Err(Error::OBJECT_HANDLE_INVALID)
        }
    }

    /// CKM_ECDH1_DERIVE (KDF null): the card agrees a secret with the peer's
    /// public point; it becomes a generic secret session object.
    pub fn derive_ecdh(
        &mut self,
        h: ck::CK_SESSION_HANDLE,
        key: ck::CK_OBJECT_HANDLE,
        peer: &[u8],
        template: &[(ck::CK_ATTRIBUTE_TYPE, Vec<u8>)],
    ) -> Result<ck::CK_OBJECT_HANDLE> {
        let handle = {
            self.next_object += 1;
            self.next_object
        };
        let result = (|| {
            let (session, token) = self.session_token(h)?;
            let obj = usable_key(token, key)?.clone();
            let alg = obj.cert.key.algorithm();
            if obj.cert.key.is_rsa() {
                return Err(Error::KEY_TYPE_INCONSISTENT);
            }
            if !obj.can_derive() {
                return Err(Error::KEY_FUNCTION_NOT_PERMITTED);
            }
            // The point may come raw or DER-wrapped in an OCTET STRING.
            let point = match firma_apdu::tlv::Tlv::parse(peer) {
                Ok((t, rest))
                    if t.tag == 0x04 && rest.is_empty() && t.value.len() == 1 + 2 * alg.size() =>
                {
                    t.value
                }
                _ => peer,
            };
            if point.len() != 1 + 2 * alg.size() || point[0] != 0x04 || !on_curve(alg, point) {
                return Err(Error::MECHANISM_PARAM_INVALID);
            }
            // Refused before the card is asked: an attribute we cannot honour.
            let mut secret = crate::object::SecretObject::new(handle, alg.size(), template)?;
            // No context-specific login can come before C_DeriveKey.
            let pin = grant(token, &obj, None)?;
            let value = auth::private_operation(token, &pin, |p| p.ecdh(obj.slot, alg, point))?;
            if value.len() != alg.size() {
                return Err(Error::DEVICE_ERROR);
            }
            secret.value = value;
            session.secrets.push(secret);
            Ok(handle)
        })();
        result.map_err(|e| self.card_failed(h, e))
    }

    pub fn sign_init(
        &mut self,
        h: ck::CK_SESSION_HANDLE,
        mech: SignMech,
        key: ck::CK_OBJECT_HANDLE,
    ) -> Result<()> {
        let (session, token) = self.session_token(h)?;
        if session.sign.is_some() {
            return Err(Error::OPERATION_ACTIVE);
        }
        let obj = usable_key(token, key)?;
        if mech.is_rsa() != obj.cert.key.is_rsa() {
            return Err(Error::KEY_TYPE_INCONSISTENT);
        }
        if !obj.can_sign() {
            return Err(Error::KEY_FUNCTION_NOT_PERMITTED);
        }
        let hasher = mech.hash().map(|hash| hash.hasher());
        session.sign = Some(SignOp {
            key,
            mech,
            hasher,
            data: Zeroizing::new(Vec::new()),
            context_pin: None,
        });
        Ok(())
    }

    /// The length of the signature the pending operation will make.
    pub fn sign_len(&mut self, h: ck::CK_SESSION_HANDLE) -> Result<usize> {
        let (session, token) = self.session_token(h)?;
        let op = session
            .sign
            .as_ref()
            .ok_or(Error::OPERATION_NOT_INITIALIZED)?;
        let obj = token.object(op.key).ok_or(Error::KEY_HANDLE_INVALID)?;
        let size = obj.cert.key.size();
        Ok(if obj.cert.key.is_rsa() {
            size
        } else {
            2 * size
        })
    }

    pub fn sign_update(&mut self, h: ck::CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
        let session = self
            .sessions
            .get_mut(&h)
            .ok_or(Error::SESSION_HANDLE_INVALID)?;
        let op = session
            .sign
            .as_mut()
            .ok_or(Error::OPERATION_NOT_INITIALIZED)?;
        match &mut op.hasher {
            Some(hasher) => hasher.update(data),
            None if op.data.len() + data.len() > 1024 => {
                session.sign = None;
                return Err(Error::DATA_LEN_RANGE);
            }
            None => op.data.extend_from_slice(data),
        }
        Ok(())
    }

    /// Finishes the signature (the operation ends whatever the outcome).
    pub fn sign_final(&mut self, h: ck::CK_SESSION_HANDLE) -> Result<Vec<u8>> {
        let result = self.sign_final_inner(h);
        if let Some(s) = self.sessions.get_mut(&h) {
            s.sign = None;
        }
        result.map_err(|e| self.card_failed(h, e))
    }

    fn sign_final_inner(&mut self, h: ck::CK_SESSION_HANDLE) -> Result<Vec<u8>> {
        let (session, token) = self.session_token(h)?;
        let op = session
            .sign
            .take()
            .ok_or(Error::OPERATION_NOT_INITIALIZED)?;
        let obj = token
            .object(op.key)
            .ok_or(Error::KEY_HANDLE_INVALID)?
            .clone();
        let alg = obj.cert.key.algorithm();
        let key = KeySize {
            bytes: obj.cert.key.size(),
            bits: obj.cert.key.bits(),
        };
        let digest = op.hasher.map(|hs| hs.finish());
        let input = dispatch::sign_input(op.mech, &op.data, digest.as_deref(), key, getrandom)?;
        let pin = grant(token, &obj, op.context_pin)?;
        let out =
            auth::private_operation(token, &pin, |p| p.private_operation(obj.slot, alg, &input))?;
        dispatch::sign_output(op.mech, &out, key)
    }

    pub fn random(&mut self, h: ck::CK_SESSION_HANDLE, len: usize) -> Result<Zeroizing<Vec<u8>>> {
        if len > 1 << 20 {
            return Err(Error::ARGUMENTS_BAD);
        }
        let (_, token) = self.session_token(h)?;
        let r = token.piv.random(len).map_err(Error::from);
        r.map_err(|e| self.card_failed(h, e))
    }

    pub fn decrypt_init(
        &mut self,
        h: ck::CK_SESSION_HANDLE,
        mech: DecryptMech,
        key: ck::CK_OBJECT_HANDLE,
    ) -> Result<()> {
        let (session, token) = self.session_token(h)?;
        if session.decrypt.is_some() {
            return Err(Error::OPERATION_ACTIVE);
        }
        let obj = usable_key(token, key)?;
        if !obj.cert.key.is_rsa() {
            return Err(Error::KEY_TYPE_INCONSISTENT);
        }
        if !obj.can_decrypt() {
            return Err(Error::KEY_FUNCTION_NOT_PERMITTED);
        }
        session.decrypt = Some(DecryptOp {
            key,
            mech,
            context_pin: None,
        });
        Ok(())
    }

    pub fn decrypt_len(&mut self, h: ck::CK_SESSION_HANDLE) -> Result<usize> {
        let (session, token) = self.session_token(h)?;
        let op = session
            .decrypt
            .as_ref()
            .ok_or(Error::OPERATION_NOT_INITIALIZED)?;
        Ok(token
            .object(op.key)
            .ok_or(Error::KEY_HANDLE_INVALID)?
            .cert
            .key
            .size())
    }

    pub fn decrypt(
        &mut self,
        h: ck::CK_SESSION_HANDLE,
        cipher: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let result = self.decrypt_inner(h, cipher);
        if let Some(s) = self.sessions.get_mut(&h) {
            s.decrypt = None;
        }
        result.map_err(|e| self.card_failed(h, e))
    }

    fn decrypt_inner(
        &mut self,
        h: ck::CK_SESSION_HANDLE,
        cipher: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let (session, token) = self.session_token(h)?;
        let op = session
            .decrypt
            .take()
            .ok_or(Error::OPERATION_NOT_INITIALIZED)?;
        let obj = token
            .object(op.key)
            .ok_or(Error::KEY_HANDLE_INVALID)?
            .clone();
        let alg = obj.cert.key.algorithm();
        if cipher.len() != obj.cert.key.size() {
            return Err(Error::ENCRYPTED_DATA_LEN_RANGE);
        }
        let pin = grant(token, &obj, op.context_pin)?;
        let answer =
            auth::private_operation(token, &pin, |p| p.private_operation(obj.slot, alg, cipher))?;
        let block = dispatch::left_pad(&answer, obj.cert.key.size())?;
        dispatch::decrypt_output(&op.mech, block, cipher, &token.rejection_key)
    }
}

impl Default for Module {
    fn default() -> Self {
        Self::new()
    }
}

fn getrandom(buf: &mut [u8]) -> Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .map_err(|_| Error::GENERAL)
}

/// Whether `point` (uncompressed SEC1) is a point of `alg`'s curve, checked
/// on the host before the card multiplies by it.
fn on_curve(alg: firma_apdu::piv::Algorithm, point: &[u8]) -> bool {
    use firma_apdu::piv::Algorithm;
    match alg {
        Algorithm::EccP256 => p256::PublicKey::from_sec1_bytes(point).is_ok(),
        Algorithm::EccP384 => p384::PublicKey::from_sec1_bytes(point).is_ok(),
        _ => false,
    }
}

/// A private key the session may use: only after the user's login, when
/// the session can see it (refused at C_SignInit, C_DecryptInit and
/// C_DeriveKey, not only at the operation).
fn usable_key(token: &Token, key: ck::CK_OBJECT_HANDLE) -> Result<&Object> {
    let obj = token.private_key(key)?;
    if token.user_pin.is_none() {
        return Err(Error::USER_NOT_LOGGED_IN);
    }
    Ok(obj)
}

/// The PIN that authorizes one operation with `obj`: the user's login, or,
/// for a key with PIN policy "always", the context-specific login of this
/// very operation (the cached PIN never unlocks such a key by itself).
fn grant(token: &Token, obj: &Object, context_pin: Option<Pin>) -> Result<Pin> {
    let user = token.user_pin.clone().ok_or(Error::USER_NOT_LOGGED_IN)?;
    if obj.always_authenticate() {
        context_pin.ok_or(Error::USER_NOT_LOGGED_IN)
    } else {
        Ok(user)
    }
}
