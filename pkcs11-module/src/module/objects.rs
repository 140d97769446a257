//! Object search and attributes (PKCS#11 3.0 §5.7): the card's
//! certificates and keys, and the session's derived secrets.

use cryptoki_sys as ck;

use super::Module;
use crate::error::{Error, Result};
use crate::object::{AttrError, Object, SecretObject};
use crate::token::Token;

/// Objects visible in a session: private ones only after login.
fn visible(token: &Token) -> impl Iterator<Item = &Object> + '_ {
    let logged_in = token.user_pin.is_some();
    token
        .objects
        .iter()
        .filter(move |o| logged_in || o.class != ck::CKO_PRIVATE_KEY)
}

fn secret_visible(token: &Token, secret: &SecretObject) -> bool {
    !secret.private || token.user_pin.is_some()
}

impl Module {
    pub fn find_init(
        &self,
        h: ck::CK_SESSION_HANDLE,
        template: &[(ck::CK_ATTRIBUTE_TYPE, Vec<u8>)],
    ) -> Result<()> {
        self.with_session(h, |s| {
            let (session, token) = s.parts()?;
            if session.find.is_some() {
                return Err(Error::OPERATION_ACTIVE);
            }
            let mut found: Vec<_> = visible(token)
                .filter(|o| o.matches(template))
                .map(|o| o.handle)
                .chain(
                    session
                        .secrets
                        .iter()
                        .filter(|o| secret_visible(token, o) && o.matches(template))
                        .map(|o| o.handle),
                )
                .collect();
            found.reverse();
            session.find = Some(found);
            Ok(())
        })
    }

    pub fn find_next(
        &self,
        h: ck::CK_SESSION_HANDLE,
        max: usize,
    ) -> Result<Vec<ck::CK_OBJECT_HANDLE>> {
        self.with_session(h, |s| {
            let (session, _) = s.parts()?;
            let found = session
                .find
                .as_mut()
                .ok_or(Error::OPERATION_NOT_INITIALIZED)?;
            let take = max.min(found.len());
            Ok((0..take).filter_map(|_| found.pop()).collect())
        })
    }

    pub fn find_final(&self, h: ck::CK_SESSION_HANDLE) -> Result<()> {
        self.with_session(h, |s| {
            let (session, _) = s.parts()?;
            session
                .find
                .take()
                .map(|_| ())
                .ok_or(Error::OPERATION_NOT_INITIALIZED)
        })
    }

    /// The values of attributes of object `o`, as the session may see them.
    pub fn attributes(
        &self,
        h: ck::CK_SESSION_HANDLE,
        o: ck::CK_OBJECT_HANDLE,
        types: &[ck::CK_ATTRIBUTE_TYPE],
    ) -> Result<Vec<std::result::Result<Vec<u8>, AttrError>>> {
        self.with_session(h, |s| {
            let (session, token) = s.parts()?;
            if let Some(secret) = session
                .secrets
                .iter()
                .find(|x| x.handle == o && secret_visible(token, x))
            {
                return Ok(types.iter().map(|t| secret.attribute(*t)).collect());
            }
            let obj = visible(token)
                .find(|x| x.handle == o)
                .ok_or(Error::OBJECT_HANDLE_INVALID)?;
            Ok(types.iter().map(|t| obj.attribute(*t)).collect())
        })
    }

    /// C_DestroyObject: only session objects (card objects are the card's).
    pub fn destroy(&self, h: ck::CK_SESSION_HANDLE, o: ck::CK_OBJECT_HANDLE) -> Result<()> {
        self.with_session(h, |s| {
            let (session, token) = s.parts()?;
            let before = session.secrets.len();
            session.secrets.retain(|x| x.handle != o);
            if session.secrets.len() < before {
                Ok(())
            } else if token.object(o).is_some() {
                Err(Error(ck::CKR_ACTION_PROHIBITED))
            } else {
                Err(Error::OBJECT_HANDLE_INVALID)
            }
        })
    }
}
