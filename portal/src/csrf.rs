//! Anti-forgery tokens for the portal's forms: each page carries a fresh
//! token, a form is taken only with a token this portal made, unexpired,
//! and never sent before. A token is `nonce || expiry || tag` in hex, the
//! tag an HMAC-SHA-256 (truncated to 16 bytes) under a key the portal
//! draws at start, so a token cannot be made outside it; the nonces spent
//! are remembered until their tokens would have expired anyway.
//!
//! A token can be bound to a context the tag covers too (the citizen's
//! area binds it to the client certificate): then it is taken only in that
//! context, so that a token fetched by someone else from a public page, or
//! with another certificate, cannot forge a form of the area.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

/// How long a form may stay open before it is sent.
pub const VALIDITY_SECONDS: i64 = 30 * 60;

const NONCE: usize = 16;
const TAG: usize = 16;
const TOKEN_BYTES: usize = NONCE + 8 + TAG;

/// Why a form's token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    #[error("the form carries no token of this portal")]
    Invalid,
    #[error("the form's token expired")]
    Expired,
    #[error("the form was already sent once")]
    Replayed,
}

pub struct Csrf {
    key: Zeroizing<[u8; 32]>,
    /// Nonces spent, with the time their token expires.
    spent: Mutex<HashMap<[u8; NONCE], i64>>,
}

impl Csrf {
    pub fn new() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Csrf {
            key,
            spent: Mutex::new(HashMap::new()),
        }
    }

    fn tag(&self, body: &[u8], context: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.as_ref()).expect("any key length");
        mac.update(body);
        mac.update(&(context.len() as u64).to_be_bytes());
        mac.update(context);
        mac
    }

    /// A new token for a page shown at `now` (Unix seconds).
    pub fn issue(&self, now: i64) -> String {
        self.issue_for(now, b"")
    }

    /// Takes `token` for a form sent at `now`; it cannot be taken again.
    pub fn spend(&self, token: &str, now: i64) -> Result<(), CsrfError> {
        self.spend_for(token, now, b"")
    }

    /// A new token for a page shown at `now`, good only in `context`.
    pub fn issue_for(&self, now: i64, context: &[u8]) -> String {
        let mut body = [0u8; NONCE + 8];
        rand::rngs::OsRng.fill_bytes(&mut body[..NONCE]);
        body[NONCE..].copy_from_slice(&(now + VALIDITY_SECONDS).to_be_bytes());
        let tag = self.tag(&body, context).finalize().into_bytes();
        let mut token = body.to_vec();
        token.extend_from_slice(&tag[..TAG]);
        hex::encode(token)
    }

    /// Takes `token` for a form sent at `now` in `context`; it cannot be
    /// taken again.
    pub fn spend_for(&self, token: &str, now: i64, context: &[u8]) -> Result<(), CsrfError> {
        let bytes = hex::decode(token).map_err(|_| CsrfError::Invalid)?;
        if bytes.len() != TOKEN_BYTES {
            return Err(CsrfError::Invalid);
        }
        let (body, tag) = bytes.split_at(NONCE + 8);
        self.tag(body, context)
            .verify_truncated_left(tag)
            .map_err(|_| CsrfError::Invalid)?;
        let expires = i64::from_be_bytes(body[NONCE..].try_into().expect("8 bytes"));
        if now > expires {
            return Err(CsrfError::Expired);
        }
        let nonce: [u8; NONCE] = body[..NONCE].try_into().expect("16 bytes");
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        spent.retain(|_, until| *until >= now);
        if spent.insert(nonce, expires).is_some() {
            return Err(CsrfError::Replayed);
        }
        Ok(())
    }
}

impl Default for Csrf {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_token_is_taken_once_and_only_before_it_expires() {
        let csrf = Csrf::new();
        let t = csrf.issue(1000);
        assert_eq!(csrf.spend(&t, 1001), Ok(()));
        assert_eq!(csrf.spend(&t, 1002), Err(CsrfError::Replayed));
        let late = csrf.issue(1000);
        assert_eq!(
            csrf.spend(&late, 1000 + VALIDITY_SECONDS + 1),
            Err(CsrfError::Expired)
        );
    }

    #[test]
    fn a_token_of_another_portal_or_edited_is_refused() {
        let csrf = Csrf::new();
        let other = Csrf::new().issue(1000);
        assert_eq!(csrf.spend(&other, 1001), Err(CsrfError::Invalid));
        // A later expiry written into a real token breaks its tag.
        let mut bytes = hex::decode(csrf.issue(1000)).unwrap();
        bytes[NONCE + 7] ^= 0x40;
        assert_eq!(
            csrf.spend(&hex::encode(bytes), 1001),
            Err(CsrfError::Invalid)
        );
    }

    #[test]
    fn a_bound_token_is_taken_only_in_its_context() {
        let csrf = Csrf::new();
        let public = csrf.issue(1000);
        assert_eq!(
            csrf.spend_for(&public, 1001, b"cert A"),
            Err(CsrfError::Invalid)
        );
        let bound = csrf.issue_for(1000, b"cert A");
        assert_eq!(
            csrf.spend_for(&bound, 1001, b"cert B"),
            Err(CsrfError::Invalid)
        );
        assert_eq!(csrf.spend(&bound, 1001), Err(CsrfError::Invalid));
        assert_eq!(csrf.spend_for(&bound, 1001, b"cert A"), Ok(()));
    }

    proptest! {
        #[test]
        fn any_text_as_a_token_is_refused_without_a_panic(token in "\\PC{0,120}") {
            let csrf = Csrf::new();
            prop_assert!(csrf.spend(&token, 0).is_err());
        }
    }
}
