//! Certificate requests (PKCS#10, RFC 2986) whose signature the card makes.
//!
//! The private keys never leave the card, so a request is built in three
//! steps: [`request_info`] gives the DER the card must sign, [`card_input`]
//! turns it into what `Piv::private_operation` takes (a PKCS#1 v1.5 block for
//! RSA, a hash for ECC), and [`assemble`] wraps the card's answer into the
//! request, after checking that it verifies with the key the request names.

use const_oid::db::rfc5912::{ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, SHA_256_WITH_RSA_ENCRYPTION};
use der::asn1::{Any, BitString, SetOfVec};
use der::{Decode, Encode, Reader, SliceReader, Tagged};
use firma_apdu::piv::padding::{pkcs1_sign_block, SHA256_PREFIX};
use firma_apdu::piv::{Algorithm, PublicKey};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256, Sha384};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::ext::AsExtension;
use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq, Version};

use crate::profile::{subject, subject_alt_name, Holder, InvalidEmail};

#[derive(Debug, thiserror::Error)]
pub enum CsrError {
    #[error("the public key is not valid: {0}")]
    InvalidKey(String),
    #[error("unsupported key: {0} (RSA-2048 or larger, ECC P-256 and ECC P-384 are accepted)")]
    UnsupportedKey(String),
    #[error("unsupported signature algorithm {0} for this key")]
    UnsupportedSignatureAlgorithm(String),
    #[error(transparent)]
    InvalidEmail(#[from] InvalidEmail),
    #[error("the signature is malformed: {0}")]
    MalformedSignature(String),
    #[error("the signature does not verify with the public key")]
    BadSignature,
    #[error("the certificate request is malformed: {0}")]
    Malformed(String),
    #[error("cannot encode the certificate request: {0}")]
    Encoding(#[from] der::Error),
}

/// The SubjectPublicKeyInfo of a key the card returned, after checking that
/// the key is one the `rsa`, `p256` and `p384` crates accept (an EC point
/// on its curve). The encoding is firma-apdu's.
pub fn spki(key: &PublicKey) -> Result<SubjectPublicKeyInfoOwned, CsrError> {
    check_key(key)?;
    Ok(SubjectPublicKeyInfoOwned::from_der(&key.to_spki())?)
}

/// The key a SubjectPublicKeyInfo holds, decoded by firma-apdu's codec (RSA,
/// EC P-256 and P-384 with an uncompressed point) and checked as [`spki`]
/// checks it.
pub fn public_key(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKey, CsrError> {
    let key = PublicKey::from_spki(&spki.to_der()?).map_err(|e| match e {
        firma_apdu::Error::NotSupportedByCard(what) => CsrError::UnsupportedKey(what.into()),
        e => CsrError::InvalidKey(e.to_string()),
    })?;
    check_key(&key)?;
    Ok(key)
}

/// Checks that the RustCrypto crates accept `key`: an RSA modulus and
/// exponent they can use, an EC point on its curve.
fn check_key(key: &PublicKey) -> Result<(), CsrError> {
    match key {
        PublicKey::Rsa { modulus, exponent } => {
            rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(modulus),
                rsa::BigUint::from_bytes_be(exponent),
            )
            .map_err(|e| CsrError::InvalidKey(format!("RSA: {e}")))?;
        }
        PublicKey::Ec { algorithm, point } => {
            let bad = |e: p256::elliptic_curve::Error| {
                CsrError::InvalidKey(format!("{algorithm} point: {e}"))
            };
            match algorithm {
                Algorithm::EccP256 => drop(p256::PublicKey::from_sec1_bytes(point).map_err(bad)?),
                Algorithm::EccP384 => drop(p384::PublicKey::from_sec1_bytes(point).map_err(bad)?),
                other => {
                    return Err(CsrError::UnsupportedKey(format!(
                        "{other} is not an EC algorithm"
                    )))
                }
            }
        }
    }
    Ok(())
}

/// Whether `spki` holds the same key as `key`.
pub fn same_key(spki: &SubjectPublicKeyInfoOwned, key: &PublicKey) -> bool {
    let strip = |b: &[u8]| b[b.iter().take_while(|&&x| x == 0).count()..].to_vec();
    match (public_key(spki), key) {
        (
            Ok(PublicKey::Rsa { modulus, exponent }),
            PublicKey::Rsa {
                modulus: m,
                exponent: e,
            },
        ) => strip(&modulus) == strip(m) && strip(&exponent) == strip(e),
        (Ok(decoded), key) => decoded == *key,
        (Err(_), _) => false,
    }
}

/// The DER of the CertificationRequestInfo for `holder` and `key` (subject,
/// public key, extensionRequest with the e-mail as subjectAltName): the bytes
/// the card signs.
pub fn request_info(holder: &Holder, key: &PublicKey) -> Result<Vec<u8>, CsrError> {
    let subject = subject(holder);
    let san = subject_alt_name(holder)?.to_extension(&subject, &[])?;
    let mut attributes = SetOfVec::new();
    attributes.insert(ExtensionReq(vec![san]).try_into()?)?;
    let info = CertReqInfo {
        version: Version::V1,
        subject,
        public_key: spki(key)?,
        attributes,
    };
    Ok(info.to_der()?)
}

/// What to give the card's private operation so that it signs `tbs`: the
/// PKCS#1 v1.5 block of SHA-256 for RSA, the SHA-256 (P-256) or SHA-384
/// (P-384) hash for ECC.
pub fn card_input(alg: Algorithm, tbs: &[u8]) -> Vec<u8> {
    match alg {
        Algorithm::Rsa1024 | Algorithm::Rsa2048 => {
            let mut digest_info = SHA256_PREFIX.to_vec();
            digest_info.extend_from_slice(&Sha256::digest(tbs));
            // 51 bytes of DigestInfo always fit a 128- or 256-byte block.
            pkcs1_sign_block(&digest_info, alg.size()).expect("DigestInfo fits the modulus")
        }
        Algorithm::EccP256 => Sha256::digest(tbs).to_vec(),
        Algorithm::EccP384 => Sha384::digest(tbs).to_vec(),
    }
}

/// The signature algorithm the card's signature of [`card_input`] amounts to.
pub fn signature_algorithm(alg: Algorithm) -> AlgorithmIdentifierOwned {
    match alg {
        Algorithm::Rsa1024 | Algorithm::Rsa2048 => AlgorithmIdentifierOwned {
            oid: SHA_256_WITH_RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        Algorithm::EccP256 => AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA_256,
            parameters: None,
        },
        Algorithm::EccP384 => AlgorithmIdentifierOwned {
            oid: ECDSA_WITH_SHA_384,
            parameters: None,
        },
    }
}

/// The DER certificate request: `info_der` (from [`request_info`]) with the
/// card's signature, which must verify with the key the request names.
pub fn assemble(
    info_der: &[u8],
    alg: Algorithm,
    card_signature: &[u8],
) -> Result<Vec<u8>, CsrError> {
    let info = CertReqInfo::from_der(info_der)
        .map_err(|e| CsrError::Malformed(format!("request info: {e}")))?;
    let sig_alg = signature_algorithm(alg);
    verify(&info.public_key, &sig_alg, info_der, card_signature)?;
    encode(info, info_der, sig_alg, card_signature)
}

/// The request without checking the signature (tests build bad requests with it).
fn encode(
    info: CertReqInfo,
    info_der: &[u8],
    algorithm: AlgorithmIdentifierOwned,
    signature: &[u8],
) -> Result<Vec<u8>, CsrError> {
    let request = CertReq {
        info,
        algorithm,
        signature: BitString::from_bytes(signature)?,
    };
    let der = request.to_der()?;
    // The request must carry the very bytes that were signed.
    if split(&der)?.0 != info_der {
        return Err(CsrError::Malformed(
            "the request info is not in DER form".into(),
        ));
    }
    Ok(der)
}

/// The raw CertificationRequestInfo, the signature algorithm and the
/// signature of a request.
fn split(csr_der: &[u8]) -> Result<(&[u8], AlgorithmIdentifierOwned, BitString), CsrError> {
    let malformed = |e: der::Error| CsrError::Malformed(e.to_string());
    let mut reader = SliceReader::new(csr_der).map_err(malformed)?;
    let parts = reader
        .sequence(|r| {
            let info = r.tlv_bytes()?;
            let alg = AlgorithmIdentifierOwned::decode(r)?;
            let sig = BitString::decode(r)?;
            Ok((info, alg, sig))
        })
        .map_err(malformed)?;
    reader.finish(parts).map_err(malformed)
}

/// Parses a DER certificate request and checks its signature with the key it
/// names (proof of possession). Returns the request info.
pub fn check(csr_der: &[u8]) -> Result<CertReqInfo, CsrError> {
    let (info_der, alg, signature) = split(csr_der)?;
    let info = CertReqInfo::from_der(info_der)
        .map_err(|e| CsrError::Malformed(format!("request info: {e}")))?;
    let signature = signature
        .as_bytes()
        .ok_or_else(|| CsrError::MalformedSignature("not a whole number of bytes".into()))?;
    verify(&info.public_key, &alg, info_der, signature)?;
    Ok(info)
}

fn absent_or_null(alg: &AlgorithmIdentifierOwned) -> bool {
    alg.parameters
        .as_ref()
        .is_none_or(|p| p.tag() == der::Tag::Null && p.value().is_empty())
}

/// Verifies `signature` over `data` with `spki`: RSA PKCS#1 v1.5 with SHA-256,
/// ECDSA with SHA-256 or SHA-384 on P-256 or P-384.
pub fn verify(
    spki: &SubjectPublicKeyInfoOwned,
    sig_alg: &AlgorithmIdentifierOwned,
    data: &[u8],
    signature: &[u8],
) -> Result<(), CsrError> {
    let key = public_key(spki)?;
    let unsupported = || CsrError::UnsupportedSignatureAlgorithm(sig_alg.oid.to_string());
    match key {
        PublicKey::Rsa { modulus, exponent } => {
            if sig_alg.oid != SHA_256_WITH_RSA_ENCRYPTION || !absent_or_null(sig_alg) {
                return Err(unsupported());
            }
            let key = rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(&modulus),
                rsa::BigUint::from_bytes_be(&exponent),
            )
            .map_err(|e| CsrError::InvalidKey(format!("RSA: {e}")))?;
            if signature.len() != key.size() {
                return Err(CsrError::MalformedSignature(format!(
                    "{} bytes for a {}-byte modulus",
                    signature.len(),
                    key.size()
                )));
            }
            key.verify(
                rsa::Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(data),
                signature,
            )
            .map_err(|_| CsrError::BadSignature)
        }
        PublicKey::Ec { algorithm, point } => {
            if sig_alg.parameters.is_some() {
                return Err(unsupported());
            }
            let hash = if sig_alg.oid == ECDSA_WITH_SHA_256 {
                Sha256::digest(data).to_vec()
            } else if sig_alg.oid == ECDSA_WITH_SHA_384 {
                Sha384::digest(data).to_vec()
            } else {
                return Err(unsupported());
            };
            use p256::ecdsa::signature::hazmat::PrehashVerifier;
            let malformed = |e: p256::ecdsa::Error| CsrError::MalformedSignature(e.to_string());
            match algorithm {
                Algorithm::EccP256 => {
                    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                        .map_err(|e| CsrError::InvalidKey(e.to_string()))?;
                    let sig = p256::ecdsa::Signature::from_der(signature).map_err(malformed)?;
                    key.verify_prehash(&hash, &sig)
                        .map_err(|_| CsrError::BadSignature)
                }
                Algorithm::EccP384 => {
                    let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                        .map_err(|e| CsrError::InvalidKey(e.to_string()))?;
                    let sig = p384::ecdsa::Signature::from_der(signature).map_err(malformed)?;
                    key.verify_prehash(&hash, &sig)
                        .map_err(|_| CsrError::BadSignature)
                }
                other => Err(CsrError::UnsupportedKey(other.to_string())),
            }
        }
    }
}

/// Software keys that play the card in tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    use std::sync::OnceLock;

    /// One RSA-2048 key for all tests (generating it is the slow part).
    pub fn rsa_key() -> &'static rsa::RsaPrivateKey {
        static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap())
    }

    pub enum SoftKey {
        Rsa(&'static rsa::RsaPrivateKey),
        P256(p256::ecdsa::SigningKey),
        P384(p384::ecdsa::SigningKey),
    }

    impl SoftKey {
        pub fn rsa() -> Self {
            SoftKey::Rsa(rsa_key())
        }
        pub fn p256() -> Self {
            SoftKey::P256(p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
        }
        pub fn p384() -> Self {
            SoftKey::P384(p384::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
        }

        pub fn algorithm(&self) -> Algorithm {
            match self {
                SoftKey::Rsa(_) => Algorithm::Rsa2048,
                SoftKey::P256(_) => Algorithm::EccP256,
                SoftKey::P384(_) => Algorithm::EccP384,
            }
        }

        /// The public key as the card gives it.
        pub fn public(&self) -> PublicKey {
            match self {
                SoftKey::Rsa(k) => PublicKey::Rsa {
                    modulus: k.n().to_bytes_be(),
                    exponent: k.e().to_bytes_be(),
                },
                SoftKey::P256(k) => PublicKey::Ec {
                    algorithm: Algorithm::EccP256,
                    point: k
                        .verifying_key()
                        .to_encoded_point(false)
                        .as_bytes()
                        .to_vec(),
                },
                SoftKey::P384(k) => PublicKey::Ec {
                    algorithm: Algorithm::EccP384,
                    point: k
                        .verifying_key()
                        .to_encoded_point(false)
                        .as_bytes()
                        .to_vec(),
                },
            }
        }

        /// The card's private operation: raw RSA, or ECDSA of a hash (DER).
        pub fn private_operation(&self, input: &[u8]) -> Vec<u8> {
            match self {
                SoftKey::Rsa(k) => {
                    let m = rsa::hazmat::rsa_decrypt_and_check(
                        *k,
                        Some(&mut rand::rngs::OsRng),
                        &rsa::BigUint::from_bytes_be(input),
                    )
                    .unwrap();
                    let mut out = m.to_bytes_be();
                    while out.len() < k.size() {
                        out.insert(0, 0);
                    }
                    out
                }
                SoftKey::P256(k) => {
                    let sig: p256::ecdsa::DerSignature = k.sign_prehash(input).unwrap();
                    sig.as_bytes().to_vec()
                }
                SoftKey::P384(k) => {
                    let sig: p384::ecdsa::DerSignature = k.sign_prehash(input).unwrap();
                    sig.as_bytes().to_vec()
                }
            }
        }

        /// A certificate request, made the way the station makes it with a card.
        pub fn csr(&self, holder: &Holder) -> Vec<u8> {
            let info = request_info(holder, &self.public()).unwrap();
            let sig = self.private_operation(&card_input(self.algorithm(), &info));
            assemble(&info, self.algorithm(), &sig).unwrap()
        }

        /// A request for this key's public key signed by `signer` instead.
        pub fn csr_signed_by(&self, holder: &Holder, signer: &SoftKey) -> Vec<u8> {
            let info_der = request_info(holder, &self.public()).unwrap();
            let sig = signer.private_operation(&card_input(signer.algorithm(), &info_der));
            let info = CertReqInfo::from_der(&info_der).unwrap();
            encode(
                info,
                &info_der,
                signature_algorithm(signer.algorithm()),
                &sig,
            )
            .unwrap()
        }
    }

    pub fn holder() -> Holder {
        Holder {
            given_name: "María José".into(),
            surnames: "Muñoz  de la Peña".into(),
            nif: "12345678z".into(),
            email: "mjose@example.es".into(),
        }
    }

    pub fn ascii_holder() -> Holder {
        Holder {
            given_name: "Juan".into(),
            surnames: "Espanol Garcia".into(),
            nif: "X1234567L".into(),
            email: "juan@example.es".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use const_oid::db::rfc5912;
    use der::asn1::ObjectIdentifier;
    use rsa::signature::{SignatureEncoding, Signer};
    use std::process::Command;

    #[test]
    fn spki_round_trips_and_names_the_same_key() {
        for key in [SoftKey::rsa(), SoftKey::p256(), SoftKey::p384()] {
            let public = key.public();
            let info = spki(&public).unwrap();
            assert_eq!(public_key(&info).unwrap(), public);
            assert!(same_key(&info, &public));
            assert!(!same_key(&info, &SoftKey::p256().public()));
        }
        let rsa = spki(&SoftKey::rsa().public()).unwrap();
        assert_eq!(rsa.algorithm.oid, rfc5912::RSA_ENCRYPTION);
        assert_eq!(rsa.algorithm.parameters, Some(Any::null()));
        let ec = spki(&SoftKey::p384().public()).unwrap();
        assert_eq!(ec.algorithm.oid, rfc5912::ID_EC_PUBLIC_KEY);
        assert_eq!(
            ec.algorithm
                .parameters
                .unwrap()
                .decode_as::<ObjectIdentifier>()
                .unwrap(),
            rfc5912::SECP_384_R_1
        );
        let bad = PublicKey::Ec {
            algorithm: Algorithm::EccP256,
            point: [vec![4], vec![1; 64]].concat(),
        };
        assert!(matches!(spki(&bad), Err(CsrError::InvalidKey(_))));
    }

    #[test]
    fn the_rsa_card_input_is_what_pkcs1_signing_signs() {
        let key = SoftKey::rsa();
        let input = card_input(Algorithm::Rsa2048, b"to be signed");
        assert_eq!(input.len(), 256);
        let raw = key.private_operation(&input);
        let expected = rsa::pkcs1v15::SigningKey::<Sha256>::new(rsa_key().clone())
            .sign(b"to be signed")
            .to_vec();
        assert_eq!(raw, expected);
        assert_eq!(card_input(Algorithm::EccP256, b"x").len(), 32);
        assert_eq!(card_input(Algorithm::EccP384, b"x").len(), 48);
    }

    #[test]
    fn assemble_refuses_a_signature_by_another_key() {
        let key = SoftKey::p256();
        let info = request_info(&holder(), &key.public()).unwrap();
        let other = SoftKey::p256();
        let sig = other.private_operation(&card_input(Algorithm::EccP256, &info));
        assert!(matches!(
            assemble(&info, Algorithm::EccP256, &sig),
            Err(CsrError::BadSignature)
        ));
        assert!(matches!(
            assemble(&info, Algorithm::EccP256, b"junk"),
            Err(CsrError::MalformedSignature(_))
        ));
    }

    #[test]
    fn a_bad_email_is_refused() {
        let mut h = holder();
        h.email = "no at sign".into();
        let err = request_info(&h, &SoftKey::p256().public()).unwrap_err();
        assert!(err.to_string().contains("no at sign"), "{err}");
        h.email = "jośe@example.es".into();
        assert!(request_info(&h, &SoftKey::p256().public()).is_err());
    }

    #[test]
    fn openssl_accepts_the_requests() {
        let dir = tempfile::tempdir().unwrap();
        for (i, key) in [SoftKey::rsa(), SoftKey::p256(), SoftKey::p384()]
            .iter()
            .enumerate()
        {
            let der = key.csr(&holder());
            assert!(check(&der).is_ok());
            let path = dir.path().join(format!("req{i}.der"));
            std::fs::write(&path, &der).unwrap();
            let out = Command::new("openssl")
                .args([
                    "req", "-inform", "DER", "-verify", "-noout", "-text", "-nameopt",
                ])
                .arg("oneline,-esc_msb")
                .arg("-in")
                .arg(&path)
                .output()
                .expect("openssl (the test oracle) is installed");
            let text = String::from_utf8_lossy(&out.stdout);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{}: {text}{err}", key.algorithm());
            assert!(
                text.contains(
                    "C = ES, GN = MARÍA JOSÉ, SN = MUÑOZ DE LA PEÑA, serialNumber = IDCES-12345678Z, \
                     CN = MUÑOZ DE LA PEÑA MARÍA JOSÉ - 12345678Z"
                ),
                "{text}"
            );
            assert!(text.contains("email:mjose@example.es"), "{text}");
        }
    }

    mod never_panics {
        use super::super::testing::{holder, SoftKey};
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Certificate requests come from cards and, with a remote
            /// CA, from the network: any bytes are refused, never a panic.
            #[test]
            fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
                let _ = check(&bytes);
            }

            #[test]
            fn a_valid_request_with_bytes_changed(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
                let mut csr = SoftKey::p256().csr(&holder());
                for (at, b) in edits {
                    let i = at % csr.len();
                    csr[i] ^= b | 1;
                }
                let _ = check(&csr);
                let _ = check(&csr[..cut % csr.len()]);
            }
        }
    }
}
