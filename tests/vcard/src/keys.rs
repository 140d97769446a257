//! The card's asymmetric keys: generation, import, the private-key operations
//! of GENERAL AUTHENTICATE, and their PIV public-key encoding.

use firma_apdu::tlv;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand::rngs::OsRng;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey};
use zeroize::Zeroizing;

/// PIV algorithm identifiers of asymmetric keys (SP 800-78-4 table 6-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa1024 = 0x06,
    Rsa2048 = 0x07,
    EccP256 = 0x11,
    EccP384 = 0x14,
}

impl TryFrom<u8> for KeyAlgorithm {
    type Error = ();
    fn try_from(b: u8) -> Result<Self, ()> {
        match b {
            0x06 => Ok(Self::Rsa1024),
            0x07 => Ok(Self::Rsa2048),
            0x11 => Ok(Self::EccP256),
            0x14 => Ok(Self::EccP384),
            _ => Err(()),
        }
    }
}

/// Why a private-key operation was refused; the card answers `6A80`.
#[derive(Debug)]
pub struct BadInput;

pub enum PrivateKey {
    Rsa(Box<RsaPrivateKey>),
    P256(p256::SecretKey),
    P384(p384::SecretKey),
}

impl PrivateKey {
    pub fn generate(alg: KeyAlgorithm) -> Self {
        match alg {
            KeyAlgorithm::Rsa1024 | KeyAlgorithm::Rsa2048 => {
                let bits = if alg == KeyAlgorithm::Rsa1024 {
                    1024
                } else {
                    2048
                };
                // Generation with a fixed exponent 65537 cannot fail for these sizes.
                let key = RsaPrivateKey::new(&mut OsRng, bits).expect("RSA key generation");
                Self::Rsa(Box::new(key))
            }
            KeyAlgorithm::EccP256 => Self::P256(p256::SecretKey::random(&mut OsRng)),
            KeyAlgorithm::EccP384 => Self::P384(p384::SecretKey::random(&mut OsRng)),
        }
    }

    /// Builds a key from the IMPORT KEY template (Yubico): RSA as tags 01 p,
    /// 02 q (03–05 are CRT values we recompute), EC as tag 06 private scalar.
    pub fn import(alg: KeyAlgorithm, data: &[u8]) -> Result<Self, BadInput> {
        let field = |tag| tlv::Tlv::find(data, tag).ok_or(BadInput);
        match alg {
            KeyAlgorithm::Rsa1024 | KeyAlgorithm::Rsa2048 => {
                let p = BigUint::from_bytes_be(field(0x01)?);
                let q = BigUint::from_bytes_be(field(0x02)?);
                let e = BigUint::from(65537u32);
                let key = RsaPrivateKey::from_p_q(p, q, e).map_err(|_| BadInput)?;
                let bits = if alg == KeyAlgorithm::Rsa1024 {
                    1024
                } else {
                    2048
                };
                if key.n().bits() != bits {
                    return Err(BadInput);
                }
                Ok(Self::Rsa(Box::new(key)))
            }
            KeyAlgorithm::EccP256 => Ok(Self::P256(
                p256::SecretKey::from_slice(field(0x06)?).map_err(|_| BadInput)?,
            )),
            KeyAlgorithm::EccP384 => Ok(Self::P384(
                p384::SecretKey::from_slice(field(0x06)?).map_err(|_| BadInput)?,
            )),
        }
    }

    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            Self::Rsa(k) if k.n().bits() <= 1024 => KeyAlgorithm::Rsa1024,
            Self::Rsa(_) => KeyAlgorithm::Rsa2048,
            Self::P256(_) => KeyAlgorithm::EccP256,
            Self::P384(_) => KeyAlgorithm::EccP384,
        }
    }

    pub fn to_pkcs8(&self) -> Zeroizing<Vec<u8>> {
        let doc = match self {
            Self::Rsa(k) => k.to_pkcs8_der(),
            Self::P256(k) => k.to_pkcs8_der(),
            Self::P384(k) => k.to_pkcs8_der(),
        };
        // Encoding a valid in-memory key into a growable buffer does not fail.
        Zeroizing::new(doc.expect("PKCS#8 encoding").as_bytes().to_vec())
    }

    pub fn from_pkcs8(alg: KeyAlgorithm, der: &[u8]) -> Result<Self, BadInput> {
        Ok(match alg {
            KeyAlgorithm::Rsa1024 | KeyAlgorithm::Rsa2048 => Self::Rsa(Box::new(
                RsaPrivateKey::from_pkcs8_der(der).map_err(|_| BadInput)?,
            )),
            KeyAlgorithm::EccP256 => {
                Self::P256(p256::SecretKey::from_pkcs8_der(der).map_err(|_| BadInput)?)
            }
            KeyAlgorithm::EccP384 => {
                Self::P384(p384::SecretKey::from_pkcs8_der(der).map_err(|_| BadInput)?)
            }
        })
    }

    /// The public key as PIV encodes it inside template 7F49: RSA as
    /// 81 modulus, 82 exponent; EC as 86 uncompressed point.
    pub fn public_template_content(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::Rsa(k) => {
                tlv::push(&mut out, 0x81, &k.n().to_bytes_be());
                tlv::push(&mut out, 0x82, &k.e().to_bytes_be());
            }
            Self::P256(k) => tlv::push(
                &mut out,
                0x86,
                k.public_key().to_encoded_point(false).as_bytes(),
            ),
            Self::P384(k) => tlv::push(
                &mut out,
                0x86,
                k.public_key().to_encoded_point(false).as_bytes(),
            ),
        }
        out
    }

    /// DER SubjectPublicKeyInfo of the public key.
    pub fn spki_der(&self) -> Vec<u8> {
        let doc = match self {
            Self::Rsa(k) => k.to_public_key().to_public_key_der(),
            Self::P256(k) => k.public_key().to_public_key_der(),
            Self::P384(k) => k.public_key().to_public_key_der(),
        };
        doc.expect("SPKI encoding").into_vec()
    }

    /// RSA: the raw private operation on a block as long as the modulus.
    /// EC: an ECDSA signature (DER) of a hash, truncated or left-padded to the
    /// field size as FIPS 186-4 prescribes.
    pub fn sign_or_decrypt(&self, input: &[u8]) -> Result<Vec<u8>, BadInput> {
        match self {
            Self::Rsa(k) => {
                let size = k.size();
                if input.len() != size {
                    return Err(BadInput);
                }
                let c = BigUint::from_bytes_be(input);
                if &c >= k.n() {
                    return Err(BadInput);
                }
                let m = rsa::hazmat::rsa_decrypt_and_check(k.as_ref(), Some(&mut OsRng), &c)
                    .map_err(|_| BadInput)?;
                let bytes = m.to_bytes_be();
                let mut out = vec![0u8; size - bytes.len()];
                out.extend_from_slice(&bytes);
                Ok(out)
            }
            Self::P256(k) => {
                use p256::ecdsa::signature::hazmat::PrehashSigner;
                let sk = p256::ecdsa::SigningKey::from(k);
                let sig: p256::ecdsa::Signature = sk
                    .sign_prehash(&fit_hash(input, 32))
                    .map_err(|_| BadInput)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Self::P384(k) => {
                use p384::ecdsa::signature::hazmat::PrehashSigner;
                let sk = p384::ecdsa::SigningKey::from(k);
                let sig: p384::ecdsa::Signature = sk
                    .sign_prehash(&fit_hash(input, 48))
                    .map_err(|_| BadInput)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
        }
    }

    /// ECDH: the x coordinate of the shared point with the peer's
    /// uncompressed public point.
    pub fn ecdh(&self, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, BadInput> {
        match self {
            Self::Rsa(_) => Err(BadInput),
            Self::P256(k) => {
                let pk = p256::PublicKey::from_sec1_bytes(peer).map_err(|_| BadInput)?;
                let shared = p256::ecdh::diffie_hellman(k.to_nonzero_scalar(), pk.as_affine());
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
            Self::P384(k) => {
                let pk = p384::PublicKey::from_sec1_bytes(peer).map_err(|_| BadInput)?;
                let shared = p384::ecdh::diffie_hellman(k.to_nonzero_scalar(), pk.as_affine());
                Ok(Zeroizing::new(shared.raw_secret_bytes().to_vec()))
            }
        }
    }
}

/// A hash as an integer of the field's size: leftmost bytes when longer,
/// zero-extended on the left (same integer value) when shorter.
fn fit_hash(input: &[u8], size: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0u8; size]);
    if input.len() >= size {
        out.copy_from_slice(&input[..size]);
    } else {
        out[size - input.len()..].copy_from_slice(input);
    }
    out
}
