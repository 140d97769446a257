//! The card's private-key operations (PKCS#11 3.0 §5.9, §5.13, §5.18) and
//! its random generator: each key for its purpose, each operation with its
//! own authorization (`auth`), the host's half of each mechanism around
//! the card's raw one (`mechanism::dispatch`).

use cryptoki_sys as ck;
use firma_apdu::piv::{Algorithm, Pin};
use zeroize::Zeroizing;

use super::{DecryptOp, Module, SignOp};
use crate::auth;
use crate::error::{Error, Result};
use crate::mechanism::dispatch::{self, KeySize};
use crate::mechanism::{DecryptMech, SignMech};
use crate::object::{Object, SecretObject};
use crate::pin_cache::CachedPin;
use crate::token::Token;

/// Largest C_GenerateRandom: the card's generator answers 8 or 16 bytes
/// per APDU, and one call must not keep the card for long (32 APDUs at most).
pub const MAX_RANDOM: usize = 256;

impl Module {
    /// CKM_ECDH1_DERIVE (KDF null): the card agrees a secret with the peer's
    /// public point; it becomes a generic secret session object.
    pub fn derive_ecdh(
        &self,
        h: ck::CK_SESSION_HANDLE,
        key: ck::CK_OBJECT_HANDLE,
        peer: &[u8],
        template: &[(ck::CK_ATTRIBUTE_TYPE, Vec<u8>)],
    ) -> Result<ck::CK_OBJECT_HANDLE> {
        let handle = self.object_handle();
        self.with_session(h, |s| {
            let (session, token) = s.parts()?;
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
            let mut secret = SecretObject::new(handle, alg.size(), template)?;
            // No context-specific login can come before C_DeriveKey.
            let pin = grant(token, &obj, None)?;
            let value =
                auth::private_operation(token, pin.as_ref(), |p| p.ecdh(obj.slot, alg, point))?;
            if value.len() != alg.size() {
                return Err(Error::DEVICE_ERROR);
            }
            secret.value = value;
            session.secrets.push(secret);
            Ok(handle)
        })
    }

    pub fn sign_init(
        &self,
        h: ck::CK_SESSION_HANDLE,
        mech: SignMech,
        key: ck::CK_OBJECT_HANDLE,
    ) -> Result<()> {
        self.with_session(h, |s| {
            let (session, token) = s.parts()?;
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
        })
    }

    /// The length of the signature the pending operation will make.
    pub fn sign_len(&self, h: ck::CK_SESSION_HANDLE) -> Result<usize> {
        self.with_session(h, |s| {
            let (session, token) = s.parts()?;
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
        })
    }

    pub fn sign_update(&self, h: ck::CK_SESSION_HANDLE, data: &[u8]) -> Result<()> {
        self.with_session(h, |s| {
            let (session, _) = s.parts()?;
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
        })
    }

    /// Finishes the signature (the operation ends whatever the outcome).
    pub fn sign_final(&self, h: ck::CK_SESSION_HANDLE) -> Result<Vec<u8>> {
        self.with_session(h, |s| {
            let (session, token) = s.parts()?;
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
            let out = auth::private_operation(token, pin.as_ref(), |p| {
                p.private_operation(obj.slot, alg, &input)
            })?;
            dispatch::sign_output(op.mech, &out, key)
        })
    }

    /// Random bytes from the card: at most [`MAX_RANDOM`] per call.
    pub fn random(&self, h: ck::CK_SESSION_HANDLE, len: usize) -> Result<Zeroizing<Vec<u8>>> {
        if len > MAX_RANDOM {
            return Err(Error::ARGUMENTS_BAD);
        }
        self.with_session(h, |s| auth::with_pin(s.token, None, |p| p.random(len)))
    }

    pub fn decrypt_init(
        &self,
        h: ck::CK_SESSION_HANDLE,
        mech: DecryptMech,
        key: ck::CK_OBJECT_HANDLE,
    ) -> Result<()> {
        self.with_session(h, |s| {
            let (session, token) = s.parts()?;
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
        })
    }

    pub fn decrypt_len(&self, h: ck::CK_SESSION_HANDLE) -> Result<usize> {
        self.with_session(h, |s| {
            let (session, token) = s.parts()?;
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
        })
    }

    /// Decrypts (the operation ends whatever the outcome).
    pub fn decrypt(&self, h: ck::CK_SESSION_HANDLE, cipher: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.with_session(h, |s| {
            let (session, token) = s.parts()?;
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
            let answer = auth::private_operation(token, pin.as_ref(), |p| {
                p.private_operation(obj.slot, alg, cipher)
            })?;
            let block = dispatch::left_pad(&answer, obj.cert.key.size())?;
            dispatch::decrypt_output(&op.mech, block, cipher, &token.rejection_key)
        })
    }
}

fn getrandom(buf: &mut [u8]) -> Result<()> {
    getrandom::getrandom(buf).map_err(|_| Error::GENERAL)
}

/// Whether `point` (uncompressed SEC1) is a point of `alg`'s curve, checked
/// on the host before the card multiplies by it.
fn on_curve(alg: Algorithm, point: &[u8]) -> bool {
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
/// very operation (the cached PIN never unlocks such a key by itself); none
/// for a key the card uses without PIN (policy "never", 9E by default),
/// which the module still offers only after login.
fn grant(token: &Token, obj: &Object, context_pin: Option<CachedPin>) -> Result<Option<Pin>> {
    let user = token.user_pin.as_ref().ok_or(Error::USER_NOT_LOGGED_IN)?;
    if obj.always_authenticate() {
        context_pin
            .ok_or(Error::USER_NOT_LOGGED_IN)?
            .pin()
            .map(Some)
    } else if obj.pin_never() {
        Ok(None)
    } else {
        user.pin().map(Some)
    }
}
