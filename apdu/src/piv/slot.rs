//! PIV key slots, algorithms, policies and data objects (SP 800-73-4, SP 800-78-4,
//! and Yubico's extensions).

use std::fmt;

use crate::Error;

/// An asymmetric key slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// 9A PIV Authentication: log in to web sites.
    Authentication,
    /// 9C Digital Signature: PIN before every signature.
    Signature,
    /// 9D Key Management: decryption and key agreement.
    KeyManagement,
    /// 9E Card Authentication: no PIN.
    CardAuthentication,
    /// 82–95 retired key management keys.
    Retired(u8),
    /// F9 Yubico attestation key.
    Attestation,
}

impl Slot {
    /// The four standard slots and the twenty retired ones.
    pub fn all() -> impl Iterator<Item = Slot> {
        [
            Slot::Authentication,
            Slot::Signature,
            Slot::KeyManagement,
            Slot::CardAuthentication,
        ]
        .into_iter()
        .chain((0x82..=0x95).map(Slot::Retired))
    }

    /// The key reference of the slot in PIV commands (9A, 9C, ...).
    pub fn key_reference(self) -> u8 {
        match self {
            Slot::Authentication => 0x9A,
            Slot::Signature => 0x9C,
            Slot::KeyManagement => 0x9D,
            Slot::CardAuthentication => 0x9E,
            Slot::Retired(r) => r,
            Slot::Attestation => 0xF9,
        }
    }

    /// The data object holding the slot's certificate.
    pub fn certificate_object(self) -> ObjectId {
        ObjectId(match self {
            Slot::Authentication => 0x5FC105,
            Slot::Signature => 0x5FC10A,
            Slot::KeyManagement => 0x5FC10B,
            Slot::CardAuthentication => 0x5FC101,
            Slot::Retired(r) => 0x5FC10D + u32::from(r - 0x82),
            Slot::Attestation => 0x5FFF01,
        })
    }
}

impl TryFrom<u8> for Slot {
    type Error = Error;
    fn try_from(b: u8) -> Result<Self, Error> {
        Ok(match b {
            0x9A => Slot::Authentication,
            0x9C => Slot::Signature,
            0x9D => Slot::KeyManagement,
            0x9E => Slot::CardAuthentication,
            0x82..=0x95 => Slot::Retired(b),
            0xF9 => Slot::Attestation,
            _ => {
                return Err(Error::InvalidInput {
                    what: "key slot",
                    why: "not 9A, 9C, 9D, 9E, 82-95 or F9",
                })
            }
        })
    }
}

impl std::str::FromStr for Slot {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let b = u8::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|_| {
            Error::InvalidInput {
                what: "key slot",
                why: "not a hexadecimal byte such as 9a",
            }
        })?;
        Slot::try_from(b)
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Slot::Authentication => "PIV Authentication",
            Slot::Signature => "Digital Signature",
            Slot::KeyManagement => "Key Management",
            Slot::CardAuthentication => "Card Authentication",
            Slot::Retired(_) => "Retired Key Management",
            Slot::Attestation => "Attestation",
        };
        write!(f, "{:02X} {name}", self.key_reference())
    }
}

/// Asymmetric algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSA with a 1024-bit modulus (PIV algorithm 06).
    Rsa1024,
    /// RSA with a 2048-bit modulus (PIV algorithm 07).
    Rsa2048,
    /// ECDSA and ECDH on P-256 (PIV algorithm 11).
    EccP256,
    /// ECDSA and ECDH on P-384 (PIV algorithm 14).
    EccP384,
}

impl Algorithm {
    /// The PIV algorithm identifier.
    pub fn id(self) -> u8 {
        match self {
            Algorithm::Rsa1024 => 0x06,
            Algorithm::Rsa2048 => 0x07,
            Algorithm::EccP256 => 0x11,
            Algorithm::EccP384 => 0x14,
        }
    }

    /// Whether this is an RSA algorithm.
    pub fn is_rsa(self) -> bool {
        matches!(self, Algorithm::Rsa1024 | Algorithm::Rsa2048)
    }

    /// Modulus length (RSA) or field length (EC) in bytes.
    pub fn size(self) -> usize {
        match self {
            Algorithm::Rsa1024 => 128,
            Algorithm::Rsa2048 => 256,
            Algorithm::EccP256 => 32,
            Algorithm::EccP384 => 48,
        }
    }
}

impl TryFrom<u8> for Algorithm {
    type Error = Error;
    fn try_from(b: u8) -> Result<Self, Error> {
        Ok(match b {
            0x06 => Algorithm::Rsa1024,
            0x07 => Algorithm::Rsa2048,
            0x11 => Algorithm::EccP256,
            0x14 => Algorithm::EccP384,
            _ => {
                return Err(Error::InvalidInput {
                    what: "key algorithm",
                    why: "not RSA-1024/2048 or ECC P-256/P-384",
                })
            }
        })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Algorithm::Rsa1024 => "RSA-1024",
            Algorithm::Rsa2048 => "RSA-2048",
            Algorithm::EccP256 => "ECC P-256",
            Algorithm::EccP384 => "ECC P-384",
        })
    }
}

/// When the card asks for the PIN before using a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinPolicy {
    /// The slot's default (9C: always, 9E: never, others: once).
    Default,
    /// Never: the key is usable without the PIN.
    Never,
    /// Once per session.
    Once,
    /// Before every use.
    Always,
}

impl PinPolicy {
    /// The identifier in Yubico's metadata and import commands.
    pub fn id(self) -> u8 {
        match self {
            PinPolicy::Default => 0,
            PinPolicy::Never => 1,
            PinPolicy::Once => 2,
            PinPolicy::Always => 3,
        }
    }

    /// The policy with identifier `b`, if any.
    pub fn from_id(b: u8) -> Option<Self> {
        [
            PinPolicy::Default,
            PinPolicy::Never,
            PinPolicy::Once,
            PinPolicy::Always,
        ]
        .get(usize::from(b))
        .copied()
    }
}

/// Whether the card asks for a touch before using a key (Yubico).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TouchPolicy {
    /// The slot's default.
    Default,
    /// Never.
    Never,
    /// Before every use.
    Always,
    /// Once, then cached for a short while (Yubico).
    Cached,
}

impl TouchPolicy {
    /// The identifier in Yubico's metadata and import commands.
    pub fn id(self) -> u8 {
        match self {
            TouchPolicy::Default => 0,
            TouchPolicy::Never => 1,
            TouchPolicy::Always => 2,
            TouchPolicy::Cached => 3,
        }
    }

    /// The policy with identifier `b`, if any.
    pub fn from_id(b: u8) -> Option<Self> {
        [
            TouchPolicy::Default,
            TouchPolicy::Never,
            TouchPolicy::Always,
            TouchPolicy::Cached,
        ]
        .get(usize::from(b))
        .copied()
    }
}

/// A PIV data object, named by its BER-TLV tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectId(pub u32);

impl ObjectId {
    /// X.509 certificate for Card Authentication (9E).
    pub const CARD_AUTHENTICATION_CERT: Self = Self(0x5FC101);
    /// Card Holder Unique Identifier.
    pub const CHUID: Self = Self(0x5FC102);
    /// Cardholder fingerprints.
    pub const FINGERPRINTS: Self = Self(0x5FC103);
    /// X.509 certificate for PIV Authentication (9A).
    pub const AUTHENTICATION_CERT: Self = Self(0x5FC105);
    /// Security object.
    pub const SECURITY_OBJECT: Self = Self(0x5FC106);
    /// Card Capability Container.
    pub const CCC: Self = Self(0x5FC107);
    /// Cardholder facial image.
    pub const FACIAL_IMAGE: Self = Self(0x5FC108);
    /// Printed information.
    pub const PRINTED_INFORMATION: Self = Self(0x5FC109);
    /// X.509 certificate for Digital Signature (9C).
    pub const SIGNATURE_CERT: Self = Self(0x5FC10A);
    /// X.509 certificate for Key Management (9D).
    pub const KEY_MANAGEMENT_CERT: Self = Self(0x5FC10B);
    /// Key history (how many retired keys the card holds).
    pub const KEY_HISTORY: Self = Self(0x5FC10C);
    /// Discovery object.
    pub const DISCOVERY: Self = Self(0x7E);
    /// Yubico's attestation certificate (slot F9).
    pub const ATTESTATION_CERT: Self = Self(0x5FFF01);

    /// The tag bytes as they go into a `5C` tag list.
    pub fn tag_bytes(self) -> Vec<u8> {
        crate::tlv::tag_bytes(self.0)
    }

    /// Whether reading the object needs the PIN (SP 800-73-4 table 2).
    pub fn needs_pin(self) -> bool {
        matches!(self.0, 0x5FC103 | 0x5FC108 | 0x5FC109 | 0x5FC121)
    }
}
