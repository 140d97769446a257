//! The PKCS#11 objects of a PIV card: for each key slot with a certificate,
//! the certificate, its public key and its private key, linked by `CKA_ID`.

use cryptoki_sys as ck;
use der::{Decode, Encode};
use firma_apdu::piv::{spki, PinPolicy, PublicKey, Slot};

const OID_CN: &str = "2.5.4.3";

/// What a slot's certificate says, parsed once per card insertion.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub der: Vec<u8>,
    pub subject: Vec<u8>,
    pub issuer: Vec<u8>,
    pub serial: Vec<u8>,
    pub spki: Vec<u8>,
    pub key: PublicKey,
    pub common_name: Option<String>,
    /// What the certificate's keyUsage extension allows, if it has one.
    pub usage: Option<Usage>,
}

/// The key usages that decide a key's PKCS#11 functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// digitalSignature or nonRepudiation (contentCommitment).
    pub sign: bool,
    /// keyEncipherment or dataEncipherment.
    pub decipher: bool,
    /// keyAgreement.
    pub agree: bool,
}

impl CertInfo {
    /// Parses a certificate from the card; `None` if it is not one we can use.
    pub fn parse(der: Vec<u8>) -> Option<Self> {
        let cert = x509_cert::Certificate::from_der(&der).ok()?;
        let tbs = &cert.tbs_certificate;
        let spki = &tbs.subject_public_key_info;
        let spki = spki.to_der().ok()?;
        let key = PublicKey::from_spki(&spki).ok()?;
        let usage = match tbs.get::<x509_cert::ext::pkix::KeyUsage>() {
            Ok(Some((_, ku))) => Some(Usage {
                sign: ku.digital_signature() || ku.non_repudiation(),
                decipher: ku.key_encipherment() || ku.data_encipherment(),
                agree: ku.key_agreement(),
            }),
            Ok(None) => None,
            // A keyUsage we cannot read allows nothing.
            Err(_) => Some(Usage {
                sign: false,
                decipher: false,
                agree: false,
            }),
        };
        let common_name = tbs
            .subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .find_map(|atv| {
                (atv.oid.to_string() == OID_CN).then(|| {
                    atv.value
                        .decode_as::<der::asn1::Utf8StringRef>()
                        .map(|s| s.to_string())
                        .or_else(|_| {
                            atv.value
                                .decode_as::<der::asn1::PrintableStringRef>()
                                .map(|s| s.to_string())
                        })
                        .ok()
                })?
            });
        Some(Self {
            subject: tbs.subject.to_der().ok()?,
            issuer: tbs.issuer.to_der().ok()?,
            serial: tbs.serial_number.to_der().ok()?,
            spki,
            key,
            common_name,
            usage,
            der,
        })
    }
}

/// PKCS#11 `CKA_ID` of a slot: 01 9A, 02 9C, 03 9D, 04 9E, 05.. retired 82..
/// (the numbering OpenSC uses, so that `--id 01` means the same key).
pub fn slot_id(slot: Slot) -> u8 {
    match slot {
        Slot::Authentication => 1,
        Slot::Signature => 2,
        Slot::KeyManagement => 3,
        Slot::CardAuthentication => 4,
        Slot::Retired(r) => 5 + (r - 0x82),
        Slot::Attestation => 0x19,
    }
}

fn slot_name(slot: Slot) -> &'static str {
    match slot {
        Slot::Authentication => "PIV Authentication",
        Slot::Signature => "Digital Signature",
        Slot::KeyManagement => "Key Management",
        Slot::CardAuthentication => "Card Authentication",
        Slot::Retired(_) => "Retired Key Management",
        Slot::Attestation => "Attestation",
    }
}

/// One object of a token.
#[derive(Debug, Clone)]
pub struct Object {
    pub handle: ck::CK_OBJECT_HANDLE,
    pub class: ck::CK_OBJECT_CLASS,
    pub slot: Slot,
    pub cert: std::sync::Arc<CertInfo>,
    /// From the card's metadata when it has the extension, else the slot's default.
    pub pin_policy: PinPolicy,
    pub generated_on_card: bool,
}

/// Why an attribute cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrError {
    Invalid,
    Sensitive,
}

fn ulong(v: ck::CK_ULONG) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

fn bool(v: bool) -> Vec<u8> {
    vec![u8::from(v)]
}

impl Object {
    pub fn label(&self) -> String {
        let what = match self.class {
            ck::CKO_CERTIFICATE => "Certificate",
            ck::CKO_PUBLIC_KEY => "Public key",
            _ => "Private key",
        };
        format!("{what} for {}", slot_name(self.slot))
    }

    pub fn key_type(&self) -> ck::CK_KEY_TYPE {
        if self.cert.key.is_rsa() {
            ck::CKK_RSA
        } else {
            ck::CKK_EC
        }
    }

    /// Whether the key signs: 9A (authentication), 9C (non-repudiation) and
    /// 9E do, 9D and the retired keys (key management) do not; the
    /// certificate's keyUsage can only take away.
    pub fn can_sign(&self) -> bool {
        let slot = matches!(
            self.slot,
            Slot::Authentication | Slot::Signature | Slot::CardAuthentication
        );
        slot && self.cert.usage.is_none_or(|u| u.sign)
    }

    /// Whether the key decrypts: RSA key-management keys (9D, retired).
    pub fn can_decrypt(&self) -> bool {
        self.key_management()
            && self.cert.key.is_rsa()
            && self.cert.usage.is_none_or(|u| u.decipher)
    }

    /// Whether the key agrees secrets (ECDH): EC key-management keys.
    pub fn can_derive(&self) -> bool {
        self.key_management() && !self.cert.key.is_rsa() && self.cert.usage.is_none_or(|u| u.agree)
    }

    fn key_management(&self) -> bool {
        matches!(self.slot, Slot::KeyManagement | Slot::Retired(_))
    }

    /// Whether the card uses the key without any PIN (slot 9E by default).
    pub fn pin_never(&self) -> bool {
        match self.pin_policy {
            PinPolicy::Never => true,
            PinPolicy::Default => self.slot == Slot::CardAuthentication,
            _ => false,
        }
    }

    /// Whether the key asks for the PIN before every use (slot 9C by default).
    pub fn always_authenticate(&self) -> bool {
        match self.pin_policy {
            PinPolicy::Always => true,
            PinPolicy::Default => self.slot == Slot::Signature,
            _ => false,
        }
    }

    /// The value of one attribute, encoded as PKCS#11 lays it out in memory.
    pub fn attribute(&self, t: ck::CK_ATTRIBUTE_TYPE) -> Result<Vec<u8>, AttrError> {
        let cert = &self.cert;
        let private = self.class == ck::CKO_PRIVATE_KEY;
        let key = self.class != ck::CKO_CERTIFICATE;
        let ec = match &cert.key {
            PublicKey::Ec { algorithm, point } => Some((*algorithm, point)),
            PublicKey::Rsa { .. } => None,
        };
        Ok(match t {
            ck::CKA_CLASS => ulong(self.class),
            ck::CKA_TOKEN => bool(true),
            ck::CKA_PRIVATE => bool(private),
            ck::CKA_MODIFIABLE | ck::CKA_COPYABLE | ck::CKA_DESTROYABLE => bool(false),
            ck::CKA_LABEL => self.label().into_bytes(),
            ck::CKA_ID => vec![slot_id(self.slot)],
            ck::CKA_SUBJECT => cert.subject.clone(),
            ck::CKA_START_DATE | ck::CKA_END_DATE => Vec::new(),
            // Certificates.
            ck::CKA_CERTIFICATE_TYPE if !key => ulong(ck::CKC_X_509),
            ck::CKA_CERTIFICATE_CATEGORY if !key => ulong(0),
            ck::CKA_TRUSTED if !key => bool(false),
            ck::CKA_ISSUER if !key => cert.issuer.clone(),
            ck::CKA_SERIAL_NUMBER if !key => cert.serial.clone(),
            ck::CKA_VALUE if !key => cert.der.clone(),
            ck::CKA_URL
            | ck::CKA_HASH_OF_SUBJECT_PUBLIC_KEY
            | ck::CKA_HASH_OF_ISSUER_PUBLIC_KEY
                if !key =>
            {
                Vec::new()
            }
            ck::CKA_JAVA_MIDP_SECURITY_DOMAIN if !key => ulong(0),
            // Keys.
            ck::CKA_KEY_TYPE if key => ulong(self.key_type()),
            ck::CKA_LOCAL if key => bool(self.generated_on_card),
            ck::CKA_KEY_GEN_MECHANISM if key => ulong(ck::CK_UNAVAILABLE_INFORMATION),
            ck::CKA_DERIVE if key => bool(private && self.can_derive()),
            ck::CKA_PUBLIC_KEY_INFO if key => cert.spki.clone(),
            ck::CKA_MODULUS if key => match &cert.key {
                PublicKey::Rsa { modulus, .. } => modulus.clone(),
                _ => return Err(AttrError::Invalid),
            },
            ck::CKA_MODULUS_BITS if key && cert.key.is_rsa() => {
                ulong(cert.key.bits() as ck::CK_ULONG)
            }
            ck::CKA_PUBLIC_EXPONENT if key => match &cert.key {
                PublicKey::Rsa { exponent, .. } => exponent.clone(),
                _ => return Err(AttrError::Invalid),
            },
            ck::CKA_EC_PARAMS if key => match ec.and_then(|(alg, _)| spki::ec_parameters(alg)) {
                Some(params) => params,
                None => return Err(AttrError::Invalid),
            },
            ck::CKA_EC_POINT if key => match ec {
                Some((_, point)) => firma_apdu::tlv::encode(0x04, point),
                None => return Err(AttrError::Invalid),
            },
            // Public keys.
            ck::CKA_ENCRYPT | ck::CKA_WRAP if key && !private => {
                bool(t == ck::CKA_ENCRYPT && self.can_decrypt())
            }
            ck::CKA_VERIFY if key && !private => bool(self.can_sign()),
            ck::CKA_VERIFY_RECOVER if key && !private => bool(false),
            // Private keys.
            ck::CKA_SIGN if private => bool(self.can_sign()),
            ck::CKA_DECRYPT if private => bool(self.can_decrypt()),
            ck::CKA_SIGN_RECOVER
            | ck::CKA_UNWRAP
            | ck::CKA_EXTRACTABLE
            | ck::CKA_WRAP_WITH_TRUSTED
                if private =>
            {
                bool(false)
            }
            ck::CKA_SENSITIVE | ck::CKA_ALWAYS_SENSITIVE | ck::CKA_NEVER_EXTRACTABLE if private => {
                bool(true)
            }
            ck::CKA_ALWAYS_AUTHENTICATE if private => bool(self.always_authenticate()),
            ck::CKA_VALUE
            | ck::CKA_PRIVATE_EXPONENT
            | ck::CKA_PRIME_1
            | ck::CKA_PRIME_2
            | ck::CKA_EXPONENT_1
            | ck::CKA_EXPONENT_2
            | ck::CKA_COEFFICIENT
                if private =>
            {
                return Err(AttrError::Sensitive)
            }
            _ => return Err(AttrError::Invalid),
        })
    }

    /// Whether the object has every attribute of a search template with that value.
    pub fn matches(&self, template: &[(ck::CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> bool {
        template
            .iter()
            .all(|(t, v)| self.attribute(*t).is_ok_and(|mine| &mine == v))
    }
}

/// A secret made in a session (ECDH); the value is wiped when the session ends.
pub struct SecretObject {
    pub handle: ck::CK_OBJECT_HANDLE,
    pub value: zeroize::Zeroizing<Vec<u8>>,
    /// Sensitive and not extractable unless the template said otherwise:
    /// the value is readable only when neither holds.
    pub sensitive: bool,
    pub extractable: bool,
    pub private: bool,
    pub label: Vec<u8>,
    pub id: Vec<u8>,
    /// The usage flags the template set (CKA_ENCRYPT, CKA_DERIVE, ...).
    pub usages: Vec<(ck::CK_ATTRIBUTE_TYPE, bool)>,
}

/// Usage flags a derived secret takes from its template.
const SECRET_USAGES: [ck::CK_ATTRIBUTE_TYPE; 7] = [
    ck::CKA_ENCRYPT,
    ck::CKA_DECRYPT,
    ck::CKA_SIGN,
    ck::CKA_VERIFY,
    ck::CKA_WRAP,
    ck::CKA_UNWRAP,
    ck::CKA_DERIVE,
];

fn template_bool(v: &[u8]) -> crate::error::Result<bool> {
    match v {
        [b] => Ok(*b != 0),
        _ => Err(crate::error::Error::ATTRIBUTE_VALUE_INVALID),
    }
}

fn template_ulong(v: &[u8]) -> crate::error::Result<ck::CK_ULONG> {
    v.try_into()
        .map(ck::CK_ULONG::from_ne_bytes)
        .map_err(|_| crate::error::Error::ATTRIBUTE_VALUE_INVALID)
}

impl SecretObject {
    /// A secret of `len` bytes as C_DeriveKey's template asks for it, its
    /// value still empty (checked before the card is asked). Every
    /// attribute is honoured or the derivation refused: a session object
    /// (CKA_TOKEN false), a generic secret of the secret's own length.
    pub fn new(
        handle: ck::CK_OBJECT_HANDLE,
        len: usize,
        template: &[(ck::CK_ATTRIBUTE_TYPE, Vec<u8>)],
    ) -> crate::error::Result<Self> {
        use crate::error::Error;
        let mut secret = Self {
            handle,
            value: zeroize::Zeroizing::new(Vec::new()),
            sensitive: true,
            extractable: false,
            private: false,
            label: b"ECDH shared secret".to_vec(),
            id: Vec::new(),
            usages: Vec::new(),
        };
        for (t, v) in template {
            match *t {
                ck::CKA_CLASS if template_ulong(v)? != ck::CKO_SECRET_KEY => {
                    return Err(Error::TEMPLATE_INCONSISTENT)
                }
                ck::CKA_KEY_TYPE if template_ulong(v)? != ck::CKK_GENERIC_SECRET => {
                    return Err(Error::TEMPLATE_INCONSISTENT)
                }
                ck::CKA_VALUE_LEN if template_ulong(v)? as usize != len => {
                    return Err(Error::TEMPLATE_INCONSISTENT)
                }
                ck::CKA_CLASS | ck::CKA_KEY_TYPE | ck::CKA_VALUE_LEN => {}
                // The card keeps no secret of ours: session objects only.
                ck::CKA_TOKEN | ck::CKA_MODIFIABLE if template_bool(v)? => {
                    return Err(Error::TEMPLATE_INCONSISTENT)
                }
                ck::CKA_TOKEN | ck::CKA_MODIFIABLE => {}
                ck::CKA_SENSITIVE => secret.sensitive = template_bool(v)?,
                ck::CKA_EXTRACTABLE => secret.extractable = template_bool(v)?,
                ck::CKA_PRIVATE => secret.private = template_bool(v)?,
                ck::CKA_LABEL => secret.label = v.clone(),
                ck::CKA_ID => secret.id = v.clone(),
                u if SECRET_USAGES.contains(&u) => {
                    let on = template_bool(v)?;
                    secret.usages.retain(|(x, _)| *x != u);
                    secret.usages.push((u, on));
                }
                _ => return Err(Error::ATTRIBUTE_TYPE_INVALID),
            }
        }
        Ok(secret)
    }

    fn usage(&self, t: ck::CK_ATTRIBUTE_TYPE) -> bool {
        self.usages.iter().any(|&(u, on)| u == t && on)
    }

    pub fn attribute(&self, t: ck::CK_ATTRIBUTE_TYPE) -> Result<Vec<u8>, AttrError> {
        Ok(match t {
            ck::CKA_CLASS => ulong(ck::CKO_SECRET_KEY),
            ck::CKA_KEY_TYPE => ulong(ck::CKK_GENERIC_SECRET),
            ck::CKA_TOKEN | ck::CKA_MODIFIABLE | ck::CKA_LOCAL => bool(false),
            ck::CKA_PRIVATE => bool(self.private),
            u if SECRET_USAGES.contains(&u) => bool(self.usage(u)),
            ck::CKA_SENSITIVE | ck::CKA_ALWAYS_SENSITIVE => bool(self.sensitive),
            ck::CKA_EXTRACTABLE => bool(self.extractable),
            ck::CKA_NEVER_EXTRACTABLE => bool(!self.extractable),
            ck::CKA_LABEL => self.label.clone(),
            ck::CKA_ID => self.id.clone(),
            ck::CKA_VALUE_LEN => ulong(self.value.len() as ck::CK_ULONG),
            ck::CKA_VALUE if self.sensitive || !self.extractable => {
                return Err(AttrError::Sensitive)
            }
            ck::CKA_VALUE => self.value.to_vec(),
            _ => return Err(AttrError::Invalid),
        })
    }

    pub fn matches(&self, template: &[(ck::CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> bool {
        template
            .iter()
            .all(|(t, v)| self.attribute(*t).is_ok_and(|mine| &mine == v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use firma_apdu::piv::Algorithm;

    fn key(slot: Slot, rsa: bool, usage: Option<Usage>) -> Object {
        let key = if rsa {
            PublicKey::Rsa {
                modulus: vec![0xC5; 256],
                exponent: vec![1, 0, 1],
            }
        } else {
            PublicKey::Ec {
                algorithm: Algorithm::EccP256,
                point: vec![4; 65],
            }
        };
        Object {
            handle: 1,
            class: ck::CKO_PRIVATE_KEY,
            slot,
            cert: std::sync::Arc::new(CertInfo {
                der: Vec::new(),
                subject: Vec::new(),
                issuer: Vec::new(),
                serial: Vec::new(),
                spki: Vec::new(),
                key,
                common_name: None,
                usage,
            }),
            pin_policy: PinPolicy::Default,
            generated_on_card: true,
        }
    }

    fn functions(o: &Object) -> (bool, bool, bool) {
        (o.can_sign(), o.can_decrypt(), o.can_derive())
    }

    #[test]
    fn each_slot_for_its_purpose() {
        for slot in [
            Slot::Authentication,
            Slot::Signature,
            Slot::CardAuthentication,
        ] {
            assert_eq!(functions(&key(slot, true, None)), (true, false, false));
            assert_eq!(functions(&key(slot, false, None)), (true, false, false));
        }
        for slot in [Slot::KeyManagement, Slot::Retired(0x82)] {
            assert_eq!(functions(&key(slot, true, None)), (false, true, false));
            assert_eq!(functions(&key(slot, false, None)), (false, false, true));
        }
    }

    #[test]
    fn key_usage_only_takes_away() {
        let none = Usage {
            sign: false,
            decipher: false,
            agree: false,
        };
        let all = Usage {
            sign: true,
            decipher: true,
            agree: true,
        };
        // A certificate that allows everything gives a slot nothing more.
        assert_eq!(
            functions(&key(Slot::Signature, true, Some(all))),
            (true, false, false)
        );
        assert_eq!(
            functions(&key(Slot::KeyManagement, false, Some(all))),
            (false, false, true)
        );
        // One that allows nothing takes everything.
        assert_eq!(
            functions(&key(Slot::Authentication, true, Some(none))),
            (false, false, false)
        );
        assert_eq!(
            functions(&key(Slot::KeyManagement, true, Some(none))),
            (false, false, false)
        );
        // The attributes agree with the functions.
        let k = key(Slot::KeyManagement, true, None);
        assert_eq!(k.attribute(ck::CKA_SIGN), Ok(vec![0]));
        assert_eq!(k.attribute(ck::CKA_DECRYPT), Ok(vec![1]));
        assert_eq!(k.attribute(ck::CKA_DERIVE), Ok(vec![0]));
    }

    #[test]
    fn pin_policy_by_slot() {
        assert!(key(Slot::Signature, false, None).always_authenticate());
        assert!(key(Slot::CardAuthentication, false, None).pin_never());
        assert!(!key(Slot::Authentication, false, None).pin_never());
    }
}
