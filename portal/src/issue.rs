//! The software certificate's key and file: a key made for one request, a
//! certificate request it signs, and the PKCS#12 the citizen downloads
//! (RFC 7292 with PBES2: AES-256-CBC keyed by PBKDF2-HMAC-SHA-256, and an
//! HMAC-SHA-256 MAC), which Firefox, Chrome, Windows, macOS and OpenSSL 3
//! import. The key lives in zeroizing buffers of this module and of
//! `p12.rs`, which writes the file, only.

use firma_apdu::piv::{Algorithm, PublicKey};
use firma_station_engine::csr;
use firma_station_engine::profile::Holder;
use rsa::pkcs8::EncodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// PBKDF2 iterations for the file's key and MAC: OWASP's figure for
/// PBKDF2-HMAC-SHA-256 (2023). The password is the citizen's, so the
/// file must resist guessing on its own.
pub const ITERATIONS: u32 = 600_000;

/// The key the citizen asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    P256,
    Rsa2048,
}

impl KeyKind {
    /// The form's value.
    pub fn from_form(value: &str) -> Option<Self> {
        match value {
            "p256" => Some(KeyKind::P256),
            "rsa2048" => Some(KeyKind::Rsa2048),
            _ => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("cannot make the key: {0}")]
    Key(String),
    #[error("cannot build the certificate request: {0}")]
    Request(#[from] csr::CsrError),
    #[error("cannot write the PKCS#12 file: {0}")]
    Pkcs12(String),
}

enum Private {
    P256(p256::ecdsa::SigningKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

/// A key made for one request.
pub struct SoftwareKey {
    private: Private,
}

impl std::fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SoftwareKey(..)")
    }
}

impl SoftwareKey {
    /// A new key from the OS generator.
    pub fn generate(kind: KeyKind) -> Result<Self, IssueError> {
        let mut rng = rand::rngs::OsRng;
        let private = match kind {
            KeyKind::P256 => Private::P256(p256::ecdsa::SigningKey::random(&mut rng)),
            KeyKind::Rsa2048 => Private::Rsa(Box::new(
                rsa::RsaPrivateKey::new(&mut rng, 2048)
                    .map_err(|e| IssueError::Key(e.to_string()))?,
            )),
        };
        Ok(SoftwareKey { private })
    }

    fn algorithm(&self) -> Algorithm {
        match &self.private {
            Private::P256(_) => Algorithm::EccP256,
            Private::Rsa(_) => Algorithm::Rsa2048,
        }
    }

    fn public(&self) -> PublicKey {
        match &self.private {
            Private::P256(k) => PublicKey::Ec {
                algorithm: Algorithm::EccP256,
                point: k
                    .verifying_key()
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec(),
            },
            Private::Rsa(k) => PublicKey::Rsa {
                modulus: k.n().to_bytes_be(),
                exponent: k.e().to_bytes_be(),
            },
        }
    }

    /// The certificate request for `holder`, signed with this key: the CA
    /// checks the proof of possession as for a card's key.
    pub fn request(&self, holder: &Holder) -> Result<Vec<u8>, IssueError> {
        let info = csr::request_info(holder, &self.public())?;
        let signature = match &self.private {
            Private::P256(k) => {
                use p256::ecdsa::signature::hazmat::PrehashSigner;
                let sig: p256::ecdsa::DerSignature = k
                    .sign_prehash(&Sha256::digest(&info))
                    .map_err(|e| IssueError::Key(e.to_string()))?;
                sig.to_vec()
            }
            Private::Rsa(k) => {
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new((**k).clone());
                signer.sign(&info).to_vec()
            }
        };
        Ok(csr::assemble(&info, self.algorithm(), &signature)?)
    }

    /// The key as PKCS#8 DER, for the tests of the file.
    #[cfg(test)]
    pub(crate) fn pkcs8_for_tests(&self) -> Zeroizing<Vec<u8>> {
        self.pkcs8().unwrap()
    }

    /// The key as PKCS#8 DER.
    fn pkcs8(&self) -> Result<Zeroizing<Vec<u8>>, IssueError> {
        let doc = match &self.private {
            Private::P256(k) => p256::SecretKey::from(k).to_pkcs8_der(),
            Private::Rsa(k) => k.to_pkcs8_der(),
        }
        .map_err(|e| IssueError::Key(e.to_string()))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// The PKCS#12 file: this key, its certificate and the CA's, under
    /// `password`, named `friendly_name` in the importing program.
    pub fn pkcs12(
        &self,
        certificate: &[u8],
        ca: &[u8],
        password: &str,
        friendly_name: &str,
    ) -> Result<Zeroizing<Vec<u8>>, IssueError> {
        let file = crate::p12::write(
            &self.pkcs8()?,
            &[certificate, ca],
            password,
            friendly_name,
            ITERATIONS,
        )
        .map_err(|e| IssueError::Pkcs12(e.to_string()))?;
        Ok(Zeroizing::new(file))
    }
}
