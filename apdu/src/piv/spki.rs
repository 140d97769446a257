//! SubjectPublicKeyInfo (RFC 5280 §4.1.2.7, RFC 8017 Appendix A.1, RFC 5480
//! §2): the one place a [`PublicKey`] becomes DER and DER a [`PublicKey`],
//! for the keys a PIV card holds (RSA, EC P-256 and P-384).
//!
//! DER is BER-TLV with one encoding per value, so [`crate::tlv`] reads and
//! writes it; the few object identifiers are fixed bytes.

use crate::piv::{Algorithm, PublicKey};
use crate::tlv::{self, Tlv};
use crate::Error;

const SEQUENCE: u32 = 0x30;
const INTEGER: u32 = 0x02;
const BIT_STRING: u32 = 0x03;
const NULL: u32 = 0x05;
const OID: u32 = 0x06;

/// rsaEncryption, 1.2.840.113549.1.1.1 (RFC 8017).
const RSA_ENCRYPTION: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
/// id-ecPublicKey, 1.2.840.10045.2.1 (RFC 5480).
const EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
/// secp256r1, 1.2.840.10045.3.1.7 (RFC 5480).
const SECP256R1: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// secp384r1, 1.3.132.0.34 (RFC 5480).
const SECP384R1: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];

/// The DER of an EC algorithm's named-curve OID, as the SPKI parameters and
/// PKCS#11's `CKA_EC_PARAMS` hold it; `None` for RSA.
pub fn ec_parameters(alg: Algorithm) -> Option<Vec<u8>> {
    let oid = match alg {
        Algorithm::EccP256 => SECP256R1,
        Algorithm::EccP384 => SECP384R1,
        Algorithm::Rsa1024 | Algorithm::Rsa2048 => return None,
    };
    Some(tlv::encode(OID, oid))
}

impl PublicKey {
    /// The DER SubjectPublicKeyInfo of this key.
    pub fn to_spki(&self) -> Vec<u8> {
        let (algorithm, key) = match self {
            PublicKey::Rsa { modulus, exponent } => {
                let mut alg = tlv::encode(OID, RSA_ENCRYPTION);
                tlv::push(&mut alg, NULL, &[]);
                let mut ints = der_unsigned(modulus);
                ints.extend_from_slice(&der_unsigned(exponent));
                (alg, tlv::encode(SEQUENCE, &ints))
            }
            PublicKey::Ec { algorithm, point } => {
                let mut alg = tlv::encode(OID, EC_PUBLIC_KEY);
                alg.extend_from_slice(&ec_parameters(*algorithm).unwrap_or_default());
                (alg, point.clone())
            }
        };
        let mut bits = vec![0x00]; // no unused bits
        bits.extend_from_slice(&key);
        let mut body = tlv::encode(SEQUENCE, &algorithm);
        tlv::push(&mut body, BIT_STRING, &bits);
        tlv::encode(SEQUENCE, &body)
    }

    /// The key in a DER SubjectPublicKeyInfo (from a certificate, a request
    /// or [`PublicKey::to_spki`]): RSA, or EC on P-256 or P-384 with an
    /// uncompressed point.
    pub fn from_spki(der: &[u8]) -> Result<Self, Error> {
        let bad = Error::Malformed;
        let body = only(der, SEQUENCE).ok_or(bad("SubjectPublicKeyInfo"))?;
        let (alg, rest) = Tlv::parse(body).map_err(|_| bad("SPKI algorithm"))?;
        let (bits, rest) = Tlv::parse(rest).map_err(|_| bad("SPKI key"))?;
        if alg.tag != SEQUENCE || bits.tag != BIT_STRING || !rest.is_empty() {
            return Err(bad("SubjectPublicKeyInfo"));
        }
        let key = match bits.value {
            [0x00, key @ ..] => key,
            _ => return Err(bad("SPKI key (not whole bytes)")),
        };
        let (oid, params) = Tlv::parse(alg.value).map_err(|_| bad("SPKI algorithm"))?;
        if oid.tag != OID {
            return Err(bad("SPKI algorithm"));
        }
        match oid.value {
            RSA_ENCRYPTION => {
                let ints = only(key, SEQUENCE).ok_or(bad("RSA public key"))?;
                let mut ints = Tlv::iter(ints);
                let mut next = || match ints.next() {
                    Some(Ok(t)) if t.tag == INTEGER => Ok(strip_zeros(t.value).to_vec()),
                    _ => Err(bad("RSA public key")),
                };
                let (modulus, exponent) = (next()?, next()?);
                if modulus.is_empty() || exponent.is_empty() || ints.next().is_some() {
                    return Err(bad("RSA public key"));
                }
                Ok(PublicKey::Rsa { modulus, exponent })
            }
            EC_PUBLIC_KEY => {
                let curve = only(params, OID).ok_or(bad("EC key (no named curve)"))?;
                let algorithm = match curve {
                    SECP256R1 => Algorithm::EccP256,
                    SECP384R1 => Algorithm::EccP384,
                    _ => return Err(Error::NotSupportedByCard("this elliptic curve")),
                };
                if key.len() != 1 + 2 * algorithm.size() || key[0] != 0x04 {
                    return Err(bad("EC point (not uncompressed)"));
                }
                Ok(PublicKey::Ec {
                    algorithm,
                    point: key.to_vec(),
                })
            }
            _ => Err(Error::NotSupportedByCard("this public key algorithm")),
        }
    }
}

/// The value of `der` if it is exactly one object with `tag`.
fn only(der: &[u8], tag: u32) -> Option<&[u8]> {
    match Tlv::parse(der) {
        Ok((t, [])) if t.tag == tag => Some(t.value),
        _ => None,
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    &b[b.iter().take_while(|&&x| x == 0).count()..]
}

/// A DER INTEGER of the unsigned big-endian `value`.
fn der_unsigned(value: &[u8]) -> Vec<u8> {
    let digits = strip_zeros(value);
    let mut content = Vec::with_capacity(digits.len() + 1);
    // A leading 1 bit would make it negative.
    if digits.first().is_none_or(|&b| b & 0x80 != 0) {
        content.push(0x00);
    }
    content.extend_from_slice(digits);
    tlv::encode(INTEGER, &content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p256_point() -> Vec<u8> {
        let mut point = vec![0x04];
        point.extend(1..=64u8);
        point
    }

    #[test]
    fn ec_spki_is_the_rfc_5480_encoding() {
        let key = PublicKey::Ec {
            algorithm: Algorithm::EccP256,
            point: p256_point(),
        };
        let der = key.to_spki();
        // SEQUENCE { SEQUENCE { id-ecPublicKey, secp256r1 }, BIT STRING }.
        let mut want = vec![0x30, 0x59, 0x30, 0x13, 0x06, 0x07];
        want.extend_from_slice(EC_PUBLIC_KEY);
        want.extend_from_slice(&[0x06, 0x08]);
        want.extend_from_slice(SECP256R1);
        want.extend_from_slice(&[0x03, 0x42, 0x00]);
        want.extend_from_slice(&p256_point());
        assert_eq!(der, want);
        assert_eq!(PublicKey::from_spki(&der).unwrap(), key);
    }

    #[test]
    fn rsa_spki_round_trips_with_sign_bytes() {
        let mut modulus = vec![0xC5; 256];
        modulus[255] = 0x01;
        let key = PublicKey::Rsa {
            modulus,
            exponent: vec![0x01, 0x00, 0x01],
        };
        let der = key.to_spki();
        // 30 82 01 22 | 30 0D 06 09 <rsaEncryption> 05 00 | 03 82 01 0F 00
        // 30 82 01 0A 02 82 01 01 00 <modulus> 02 03 01 00 01
        assert_eq!(&der[..4], &[0x30, 0x82, 0x01, 0x22]);
        assert_eq!(der.len(), 4 + 0x122);
        assert_eq!(PublicKey::from_spki(&der).unwrap(), key);
    }

    #[test]
    fn unusable_keys_are_refused() {
        let p256 = PublicKey::Ec {
            algorithm: Algorithm::EccP256,
            point: p256_point(),
        }
        .to_spki();
        // A compressed point, an unknown curve, trailing bytes.
        let mut compressed = p256.clone();
        compressed[26] = 0x02;
        assert!(PublicKey::from_spki(&compressed).is_err());
        let mut curve = p256.clone();
        curve[20] ^= 0x01;
        assert!(PublicKey::from_spki(&curve).is_err());
        let mut trailing = p256;
        trailing.push(0);
        assert!(PublicKey::from_spki(&trailing).is_err());
    }

    proptest! {
        #[test]
        fn from_spki_never_panics(der in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = PublicKey::from_spki(&der);
        }

        #[test]
        fn rsa_round_trips(
            modulus in proptest::collection::vec(any::<u8>(), 1..300),
            exponent in proptest::collection::vec(any::<u8>(), 1..8),
        ) {
            let key = PublicKey::Rsa {
                modulus: strip_zeros(&modulus).to_vec(),
                exponent: strip_zeros(&exponent).to_vec(),
            };
            let parsed = PublicKey::from_spki(&key.to_spki());
            match &key {
                PublicKey::Rsa { modulus, exponent } if modulus.is_empty() || exponent.is_empty() => {
                    prop_assert!(parsed.is_err());
                }
                _ => prop_assert_eq!(parsed.unwrap(), key),
            }
        }
    }
}
