//! A PIV card seen as a PKCS#11 token: what is read once per insertion
//! (certificates, serial, PIN state) and the login state.

use std::sync::Arc;

use cryptoki_sys as ck;
use firma_apdu::piv::{ObjectId, Origin, PinPolicy, PinStatus, Piv, Puk, Slot, Version};
use firma_apdu::tlv::Tlv;
use firma_apdu::transport::PcscTransport;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::object::{CertInfo, Object};
use crate::pin_cache::CachedPin;

/// Tries a PIV PIN has when the card does not say (the PIV default).
const DEFAULT_TRIES: u8 = 3;

pub struct Token {
    pub piv: Piv<PcscTransport>,
    pub label: String,
    pub serial: String,
    pub version: Option<Version>,
    pub objects: Vec<Object>,
    /// Last known PIN tries left; updated by every login attempt, so that
    /// C_GetTokenInfo never needs an APDU (an empty VERIFY would end a
    /// pending PIN-always grant, and Firefox polls token info).
    pub pin_tries_left: u8,
    pub pin_tries_total: u8,
    /// The login's PIN (or the SO's PUK), kept for the operations.
    pub user_pin: Option<CachedPin>,
    pub so_puk: Option<CachedPin>,
    /// The key of CKM_RSA_PKCS implicit rejection (`mechanism::implicit`),
    /// drawn from the OS for this insertion of the card.
    pub rejection_key: Zeroizing<[u8; 32]>,
}

impl Token {
    /// Reads what the token shows from the card, in one transaction.
    /// `next_handle` hands out object handles.
    /// `Ok(None)` for a card without the PIV application.
    pub fn open(
        piv: Piv<PcscTransport>,
        mut next_handle: impl FnMut() -> ck::CK_OBJECT_HANDLE,
    ) -> Result<Option<Token>> {
        let mut piv = piv;
        let read = piv.transaction(|p| {
            p.select()?;
            let version = p.version().ok();
            let serial = p.serial().ok();
            let pin = p.pin_status()?;
            let pin_meta = p.metadata(0x80).ok().flatten();
            let mut slots: Vec<Slot> = [
                Slot::Authentication,
                Slot::Signature,
                Slot::KeyManagement,
                Slot::CardAuthentication,
            ]
            .to_vec();
            // Retired keys only when the key history says the card holds some.
            if let Ok(Some(history)) = p.read_object(ObjectId::KEY_HISTORY) {
                let on_card = Tlv::find(&history, 0xC1)
                    .and_then(|v| v.first().copied())
                    .unwrap_or(0);
                slots.extend((0x82..0x82 + on_card.min(20)).map(Slot::Retired));
            }
            let mut certs = Vec::new();
            for slot in slots {
                if let Some(der) = p.read_certificate(slot)? {
                    let meta = p.metadata(slot.key_reference()).ok().flatten();
                    certs.push((slot, der, meta));
                }
            }
            let chuid = p.read_object(ObjectId::CHUID)?.map(|c| c.to_vec());
            Ok((version, serial, pin, pin_meta, certs, chuid))
        });
        let (version, serial, pin, pin_meta, certs, chuid) = match read {
            Err(firma_apdu::Error::NotFound("the PIV application")) => return Ok(None),
            other => other?,
        };
        let mut rejection_key = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(&mut rejection_key[..]).map_err(|_| Error::GENERAL)?;
        let mut objects = Vec::new();
        let mut holder = None;
        for (slot, der, meta) in certs {
            let Some(cert) = CertInfo::parse(der) else {
                tracing::debug!(target: "firma_pkcs11", "slot {slot}: certificate not usable, skipped");
                continue;
            };
            if slot == Slot::Authentication {
                holder = cert.common_name.clone();
            }
            let cert = Arc::new(cert);
            let pin_policy = meta
                .as_ref()
                .and_then(|m| m.pin_policy)
                .unwrap_or(PinPolicy::Default);
            let generated = meta.as_ref().and_then(|m| m.origin) == Some(Origin::Generated);
            for class in [ck::CKO_CERTIFICATE, ck::CKO_PUBLIC_KEY, ck::CKO_PRIVATE_KEY] {
                objects.push(Object {
                    handle: next_handle(),
                    class,
                    slot,
                    cert: cert.clone(),
                    pin_policy,
                    generated_on_card: generated,
                });
            }
        }
        let (pin_tries_total, _) = pin_meta
            .and_then(|m| m.retries)
            .unwrap_or((DEFAULT_TRIES, DEFAULT_TRIES));
        let pin_tries_left = match pin {
            PinStatus::Blocked => 0,
            PinStatus::TriesLeft(n) => n,
            PinStatus::Verified => pin_tries_total,
        };
        let serial = match (
            serial,
            chuid
                .as_deref()
                .and_then(firma_apdu::piv::container::chuid_guid),
        ) {
            (Some(s), _) => s.to_string(),
            (None, Some(guid)) => guid[..8].iter().map(|b| format!("{b:02x}")).collect(),
            (None, None) => "0".into(),
        };
        Ok(Some(Token {
            piv,
            label: holder.unwrap_or_else(|| "Firma PIV card".into()),
            serial,
            version,
            objects,
            pin_tries_left,
            pin_tries_total,
            user_pin: None,
            so_puk: None,
            rejection_key,
        }))
    }

    /// A new PC/SC connection (and context) to the same reader, for a
    /// connection pcscd left behind; the token's state stays.
    pub fn reconnect(&mut self) -> Result<()> {
        let reader = self.piv.transport().reader().to_string_lossy().into_owned();
        let ctx = pcsc::Context::establish(pcsc::Scope::User).map_err(|_| Error::DEVICE_ERROR)?;
        let transport = PcscTransport::connect(&ctx, &reader).map_err(firma_apdu::Error::from)?;
        let mode = self.piv.mode();
        self.piv = Piv::new(transport);
        self.piv.set_mode(mode);
        Ok(())
    }

    pub fn object(&self, handle: ck::CK_OBJECT_HANDLE) -> Option<&Object> {
        self.objects.iter().find(|o| o.handle == handle)
    }

    /// A private key object of this token, as a signing, decryption or
    /// derivation key handle must be.
    pub fn private_key(&self, handle: ck::CK_OBJECT_HANDLE) -> Result<&Object> {
        self.object(handle)
            .filter(|o| o.class == ck::CKO_PRIVATE_KEY)
            .ok_or(Error::KEY_HANDLE_INVALID)
    }

    /// Records what a PIN check said about the tries left.
    pub fn note_pin_result<T>(&mut self, r: &std::result::Result<T, firma_apdu::Error>) {
        match r {
            Ok(_) => self.pin_tries_left = self.pin_tries_total,
            Err(firma_apdu::Error::WrongPin { tries_left }) => self.pin_tries_left = *tries_left,
            Err(firma_apdu::Error::PinBlocked) => self.pin_tries_left = 0,
            Err(_) => {}
        }
    }

    pub fn token_flags(&self) -> ck::CK_FLAGS {
        let mut flags =
            ck::CKF_LOGIN_REQUIRED | ck::CKF_USER_PIN_INITIALIZED | ck::CKF_TOKEN_INITIALIZED;
        match self.pin_tries_left {
            0 => flags |= ck::CKF_USER_PIN_LOCKED,
            1 => flags |= ck::CKF_USER_PIN_FINAL_TRY | ck::CKF_USER_PIN_COUNT_LOW,
            n if n < self.pin_tries_total => flags |= ck::CKF_USER_PIN_COUNT_LOW,
            _ => {}
        }
        flags
    }

    /// Checks a PUK without changing anything: CHANGE REFERENCE DATA to the
    /// same value (a wrong PUK costs a try, as any verification does).
    pub fn verify_so(&mut self, puk: &Puk) -> Result<()> {
        self.piv.change_puk(puk, puk).map_err(Error::from)
    }
}
