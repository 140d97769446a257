//! Sessions and login (PKCS#11 3.0 §5.6), and the PIN functions. The
//! login is the token's, shared by the application's sessions of the slot;
//! the card itself is never left verified (see `auth`).

use std::sync::atomic::Ordering;

use cryptoki_sys as ck;
use firma_apdu::piv::{Pin, Puk};

use super::{Card, InSlot, Module, Session, TokenState, CKU_CONTEXT_SPECIFIC, CKU_SO, CKU_USER};
use crate::auth;
use crate::error::{Error, Result};
use crate::object::Object;
use crate::pin_cache::CachedPin;

/// What C_GetSessionInfo tells.
pub struct SessionInfo {
    pub slot: ck::CK_SLOT_ID,
    pub rw: bool,
    pub user: bool,
    pub so: bool,
}

impl Module {
    pub fn open_session(
        &self,
        slot: ck::CK_SLOT_ID,
        flags: ck::CK_FLAGS,
    ) -> Result<ck::CK_SESSION_HANDLE> {
        if flags & ck::CKF_SERIAL_SESSION == 0 {
            return Err(Error::SESSION_PARALLEL_NOT_SUPPORTED);
        }
        self.with_card(slot, |card| {
            let Some((_, TokenState::Piv(token))) = &card.token else {
                return Err(Error::TOKEN_NOT_RECOGNIZED);
            };
            let rw = flags & ck::CKF_RW_SESSION != 0;
            if !rw && token.so_puk.is_some() {
                return Err(Error::SESSION_READ_ONLY_EXISTS);
            }
            let h = self.next_session.fetch_add(1, Ordering::Relaxed) + 1;
            let h = h as ck::CK_SESSION_HANDLE;
            card.sessions.insert(
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
            self.registry().sessions.insert(h, slot);
            Ok(h)
        })
    }

    pub fn close_session(&self, h: ck::CK_SESSION_HANDLE) -> Result<()> {
        let (_, slot, _) = self.session_slot(h)?;
        let mut card = slot.lock();
        self.registry().sessions.remove(&h);
        if card.sessions.remove(&h).is_none() {
            return Err(Error::SESSION_HANDLE_INVALID);
        }
        if card.sessions.is_empty() {
            logout_card(&mut card);
        }
        Ok(())
    }

    pub fn close_all_sessions(&self, id: ck::CK_SLOT_ID) -> Result<()> {
        let slot = self.slot(id)?;
        let mut card = slot.lock();
        self.registry().sessions.retain(|_, s| *s != id);
        card.sessions.clear();
        logout_card(&mut card);
        Ok(())
    }

    pub fn session_info(&self, h: ck::CK_SESSION_HANDLE) -> Result<SessionInfo> {
        self.with_session(h, |s| {
            let (session, token) = s.parts()?;
            Ok(SessionInfo {
                slot: session.slot,
                rw: session.rw,
                user: token.user_pin.is_some(),
                so: token.so_puk.is_some(),
            })
        })
    }

    pub fn login(
        &self,
        h: ck::CK_SESSION_HANDLE,
        user: ck::CK_USER_TYPE,
        pin: &[u8],
    ) -> Result<()> {
        self.with_session(h, |s| {
            let secret = Pin::new(pin).map_err(|_| Error::PIN_LEN_RANGE)?;
            match user {
                CKU_USER => login_user(s, &secret),
                CKU_CONTEXT_SPECIFIC => login_context(s, &secret),
                CKU_SO => login_so(s, &secret),
                _ => Err(Error::USER_TYPE_INVALID),
            }
        })
    }

    pub fn logout(&self, h: ck::CK_SESSION_HANDLE) -> Result<()> {
        self.with_session(h, |s| {
            if s.token.user_pin.is_none() && s.token.so_puk.is_none() {
                return Err(Error::USER_NOT_LOGGED_IN);
            }
            // Forgetting the PINs is the whole logout: the card is never
            // left verified (`auth`), so there is nothing to tell it.
            s.token.user_pin = None;
            s.token.so_puk = None;
            for session in s.sessions.values_mut() {
                forget_context_logins(session);
            }
            Ok(())
        })
    }

    /// C_InitPIN: the SO (PUK) sets a new PIN, unblocking it.
    pub fn init_pin(&self, h: ck::CK_SESSION_HANDLE, new_pin: &[u8]) -> Result<()> {
        self.with_session(h, |s| {
            let (session, token) = s.parts()?;
            if !session.rw {
                return Err(Error::SESSION_READ_ONLY);
            }
            let puk = token
                .so_puk
                .as_ref()
                .ok_or(Error::USER_NOT_LOGGED_IN)?
                .pin()?;
            let new = Pin::new(new_pin).map_err(|_| Error::PIN_LEN_RANGE)?;
            auth::then_unverify(token, |p| p.unblock_pin(&puk, &new))?;
            token.pin_tries_left = token.pin_tries_total;
            Ok(())
        })
    }

    /// C_SetPIN: the SO changes the PUK, anyone else the PIN.
    pub fn set_pin(&self, h: ck::CK_SESSION_HANDLE, old: &[u8], new: &[u8]) -> Result<()> {
        self.with_session(h, |s| {
            let (session, token) = s.parts()?;
            if !session.rw {
                return Err(Error::SESSION_READ_ONLY);
            }
            let old = Pin::new(old).map_err(|_| Error::PIN_LEN_RANGE)?;
            let new = Pin::new(new).map_err(|_| Error::PIN_LEN_RANGE)?;
            if token.so_puk.is_some() {
                auth::then_unverify(token, |p| p.change_puk(&old, &new))?;
                token.so_puk = Some(CachedPin::store(&new)?);
            } else if token.user_pin.is_none() && token.pin_tries_left == 0 {
                // OpenSC's convention (pkcs11-tool --unlock-pin --puk): with
                // the PIN blocked and nobody logged in, the "old PIN" is the
                // PUK and the PIN is unblocked. Only the right PUK can do it.
                auth::then_unverify(token, |p| p.unblock_pin(&old, &new))?;
                token.pin_tries_left = token.pin_tries_total;
            } else {
                let r = auth::then_unverify(token, |p| p.change_pin(&old, &new));
                token.note_pin_result(&r);
                r?;
                if token.user_pin.is_some() {
                    token.user_pin = Some(CachedPin::store(&new)?);
                }
            }
            Ok(())
        })
    }
}

fn login_user(s: &mut InSlot<'_>, pin: &Pin) -> Result<()> {
    if s.token.user_pin.is_some() {
        return Err(Error::USER_ALREADY_LOGGED_IN);
    }
    if s.token.so_puk.is_some() {
        return Err(Error::USER_ANOTHER_ALREADY_LOGGED_IN);
    }
    let kept = CachedPin::store(pin)?;
    auth::check_pin(s.token, pin)?;
    s.token.user_pin = Some(kept);
    Ok(())
}

/// The PIN for one operation of this session, on a key that asks for it
/// every time; only on top of the user's login.
fn login_context(s: &mut InSlot<'_>, pin: &Pin) -> Result<()> {
    if s.token.user_pin.is_none() {
        return Err(Error::USER_NOT_LOGGED_IN);
    }
    let (session, token) = s.parts()?;
    let always = |k| token.object(k).is_some_and(Object::always_authenticate);
    let slot = match (&mut session.sign, &mut session.decrypt) {
        (Some(op), _) if always(op.key) => &mut op.context_pin,
        (_, Some(op)) if always(op.key) => &mut op.context_pin,
        _ => return Err(Error::OPERATION_NOT_INITIALIZED),
    };
    let kept = CachedPin::store(pin)?;
    auth::check_pin(token, pin)?;
    *slot = Some(kept);
    Ok(())
}

fn login_so(s: &mut InSlot<'_>, puk: &Puk) -> Result<()> {
    if s.token.so_puk.is_some() {
        return Err(Error::USER_ALREADY_LOGGED_IN);
    }
    if s.token.user_pin.is_some() {
        return Err(Error::USER_ANOTHER_ALREADY_LOGGED_IN);
    }
    if s.sessions.values().any(|o| !o.rw) {
        return Err(Error::SESSION_READ_ONLY_EXISTS);
    }
    let kept = CachedPin::store(puk)?;
    s.token.verify_so(puk)?;
    s.token.so_puk = Some(kept);
    Ok(())
}

fn forget_context_logins(session: &mut Session) {
    if let Some(op) = &mut session.sign {
        op.context_pin = None;
    }
    if let Some(op) = &mut session.decrypt {
        op.context_pin = None;
    }
}

/// The last session closed: the token is logged out (the card is already
/// unverified: see `auth`).
fn logout_card(card: &mut Card) {
    if let Some((_, TokenState::Piv(t))) = &mut card.token {
        t.user_pin = None;
        t.so_puk = None;
    }
}
