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
}

impl CertInfo {
    /// Parses a certificate from the card; `None` if it is not one we can use.
    pub fn parse(der: Vec<u8>) -> Option<Self> {
        let cert = x509_cert::Certificate::from_der(&der).ok()?;
        let tbs = &cert.tbs_certificate;
        let spki = &tbs.subject_public_key_info;
        let spki = spki.to_der().ok()?;
        let key = PublicKey::from_spki(&spki).ok()?;
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
            ck::CKA_DERIVE if key => bool(private && !cert.key.is_rsa()),
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
                bool(t == ck::CKA_ENCRYPT && cert.key.is_rsa())
            }
            ck::CKA_VERIFY if key && !private => bool(true),
            ck::CKA_VERIFY_RECOVER if key && !private => bool(false),
            // Private keys.
            ck::CKA_SIGN if private => bool(true),
            ck::CKA_DECRYPT if private => bool(cert.key.is_rsa()),
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
    pub sensitive: bool,
}

impl SecretObject {
    pub fn attribute(&self, t: ck::CK_ATTRIBUTE_TYPE) -> Result<Vec<u8>, AttrError> {
        Ok(match t {
            ck::CKA_CLASS => ulong(ck::CKO_SECRET_KEY),
            ck::CKA_KEY_TYPE => ulong(ck::CKK_GENERIC_SECRET),
            ck::CKA_TOKEN
            | ck::CKA_PRIVATE
            | ck::CKA_MODIFIABLE
            | ck::CKA_LOCAL
            | ck::CKA_DERIVE => bool(false),
            ck::CKA_ENCRYPT
            | ck::CKA_DECRYPT
            | ck::CKA_SIGN
            | ck::CKA_VERIFY
            | ck::CKA_WRAP
            | ck::CKA_UNWRAP => bool(false),
            ck::CKA_SENSITIVE | ck::CKA_ALWAYS_SENSITIVE => bool(self.sensitive),
            ck::CKA_EXTRACTABLE => bool(!self.sensitive),
            ck::CKA_NEVER_EXTRACTABLE => bool(self.sensitive),
            ck::CKA_LABEL => b"ECDH shared secret".to_vec(),
            ck::CKA_ID => Vec::new(),
            ck::CKA_VALUE_LEN => ulong(self.value.len() as ck::CK_ULONG),
            ck::CKA_VALUE if self.sensitive => return Err(AttrError::Sensitive),
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
