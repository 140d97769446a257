//! Signature-based protection (RFC 4210 §5.1.3.3, RFC 9483 §3.2): requests
//! signed with the station's RA key, responses verified against the CA.
//!
//! A response is accepted only if it is signed by the CA certificate the
//! station was configured with (pinned), or by a certificate that CA issued
//! (a CMP protection certificate, carried in extraCerts), named as the
//! header's sender and, when the header has one, by its senderKID.

use std::fmt;
use std::path::Path;

use der::asn1::{BitString, OctetString};
use der::{Decode, Encode};
use p256::ecdsa::signature::Signer;
use p256::pkcs8::DecodePrivateKey;
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::Certificate;
use zeroize::Zeroizing;

use super::message::Message;
use crate::ca::x509::{ecdsa_with_sha256, now, offset_time};
use crate::csr;

/// Why a response's protection is not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtectionError {
    #[error("it is not protected (no signature)")]
    Unprotected,
    #[error("it is protected with a shared secret (MAC), which this station does not accept")]
    Mac,
    #[error("it names no protection algorithm")]
    NoAlgorithm,
    #[error("its sender is not a directory name")]
    SenderNotAName,
    #[error("it is signed by {0}, which is neither the CA nor a certificate the CA issued")]
    UnknownSigner(String),
    #[error("its signer's certificate {0} is expired or not yet valid")]
    SignerExpired(String),
    #[error("its signature does not verify: {0}")]
    BadSignature(String),
}

/// password-based MAC (RFC 4210 §5.1.3.1) and PBMAC1 (RFC 9481 §6.1.3).
const PASSWORD_BASED_MAC: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113533.7.66.13");
const PBMAC1: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.14");

/// The station's registration-authority credential: a P-256 key and the
/// certificate the CA knows it by.
pub struct RaCredential {
    key: p256::ecdsa::SigningKey,
    cert: Certificate,
    cert_der: Vec<u8>,
}

impl fmt::Debug for RaCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RaCredential")
            .field("subject", &self.cert.tbs_certificate.subject.to_string())
            .finish_non_exhaustive()
    }
}

/// Why an RA credential cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CredentialError(pub String);

impl RaCredential {
    /// A key (PKCS#8 DER) and its certificate (DER).
    pub fn new(key_pkcs8_der: &[u8], cert_der: &[u8]) -> Result<Self, CredentialError> {
        let secret = p256::SecretKey::from_pkcs8_der(key_pkcs8_der)
            .or_else(|_| p256::SecretKey::from_sec1_der(key_pkcs8_der))
            .map_err(|_| CredentialError("the RA key is not a P-256 private key".into()))?;
        let key = p256::ecdsa::SigningKey::from(secret);
        let cert = Certificate::from_der(cert_der)
            .map_err(|e| CredentialError(format!("the RA certificate cannot be read: {e}")))?;
        let point = cert
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes();
        if point != key.verifying_key().to_encoded_point(false).as_bytes() {
            return Err(CredentialError(
                "the RA certificate is not the RA key's: give the certificate issued for this key"
                    .into(),
            ));
        }
        Ok(RaCredential {
            key,
            cert,
            cert_der: cert_der.to_vec(),
        })
    }

    /// Reads the key (PKCS#8 or SEC1, PEM) and the certificate (PEM or DER).
    pub fn from_files(key: &Path, cert: &Path) -> Result<Self, CredentialError> {
        let read = |p: &Path| {
            std::fs::read(p)
                .map(Zeroizing::new)
                .map_err(|e| CredentialError(format!("cannot read {}: {e}", p.display())))
        };
        let key_bytes = read(key)?;
        let key_der = Zeroizing::new(pem_or_der(&key_bytes).map_err(|e| {
            CredentialError(format!("{} is not a PEM private key: {e}", key.display()))
        })?);
        let cert_bytes = read(cert)?;
        let cert_der = pem_or_der(&cert_bytes).map_err(|e| {
            CredentialError(format!("{} is not a certificate: {e}", cert.display()))
        })?;
        Self::new(&key_der, &cert_der)
    }

    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The header's sender: the RA certificate's subject.
    pub fn sender(&self) -> GeneralName {
        GeneralName::DirectoryName(self.cert.tbs_certificate.subject.clone())
    }

    /// The header's senderKID: the RA certificate's subject key identifier.
    pub fn key_id(&self) -> Option<OctetString> {
        subject_key_id(&self.cert)
    }

    pub fn algorithm(&self) -> AlgorithmIdentifierOwned {
        ecdsa_with_sha256()
    }

    /// Signs the message and adds the RA certificate to extraCerts
    /// (RFC 9483 §3.3: the first extraCert is the protection certificate).
    pub fn protect(&self, message: &mut Message<'_>) -> der::Result<()> {
        let sig: p256::ecdsa::DerSignature = self.key.sign(message.protected_part());
        message.protection = Some(BitString::from_bytes(sig.as_bytes())?);
        message.extra_certs.insert(0, self.cert.clone());
        Ok(())
    }
}

/// DER from PEM or the bytes themselves if they are not PEM. The first PEM
/// block other than `EC PARAMETERS` is taken (`openssl ecparam -genkey`
/// writes the curve's parameters before the key).
pub(crate) fn pem_or_der(bytes: &[u8]) -> Result<Vec<u8>, der::Error> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let Some(mut at) = bytes.windows(BEGIN.len()).position(|w| w == BEGIN) else {
        return Ok(bytes.to_vec());
    };
    loop {
        let rest = &bytes[at..];
        if !rest.starts_with(b"-----BEGIN EC PARAMETERS-----") {
            // One block: up to the dashes that close its END line.
            const END: &[u8] = b"-----END ";
            let end = rest
                .windows(END.len())
                .position(|w| w == END)
                .and_then(|e| {
                    let after = e + END.len();
                    rest[after..]
                        .windows(5)
                        .position(|w| w == b"-----")
                        .map(|d| after + d + 5)
                })
                .ok_or(der::Error::from(der::ErrorKind::Failed))?;
            let (_, der) = der::pem::decode_vec(&rest[..end]).map_err(der::Error::from)?;
            return Ok(der);
        }
        match rest[1..].windows(BEGIN.len()).position(|w| w == BEGIN) {
            Some(next) => at += 1 + next,
            None => return Err(der::ErrorKind::Failed.into()),
        }
    }
}

pub(crate) fn subject_key_id(cert: &Certificate) -> Option<OctetString> {
    match cert.tbs_certificate.get::<SubjectKeyIdentifier>() {
        Ok(Some((_, ski))) => Some(ski.0),
        _ => None,
    }
}

/// Whether `cert` is signed by `issuer`'s key (and names it as issuer).
pub(crate) fn issued_by(cert: &Certificate, issuer: &Certificate) -> bool {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return false;
    }
    let Ok(tbs) = cert.tbs_certificate.to_der() else {
        return false;
    };
    let Some(sig) = cert.signature.as_bytes() else {
        return false;
    };
    csr::verify(
        &issuer.tbs_certificate.subject_public_key_info,
        &cert.signature_algorithm,
        &tbs,
        sig,
    )
    .is_ok()
}

fn valid_now(cert: &Certificate) -> bool {
    let v = &cert.tbs_certificate.validity;
    let t = now();
    offset_time(&v.not_before) <= t && t <= offset_time(&v.not_after)
}

/// Checks a response's protection against the trusted CA certificate and
/// returns the certificate that signed it.
pub fn verify(message: &Message<'_>, ca: &Certificate) -> Result<Certificate, ProtectionError> {
    let Some(protection) = &message.protection else {
        return Err(ProtectionError::Unprotected);
    };
    let Some(alg) = &message.header.protection_alg else {
        return Err(ProtectionError::NoAlgorithm);
    };
    if alg.oid == PASSWORD_BASED_MAC || alg.oid == PBMAC1 {
        return Err(ProtectionError::Mac);
    }
    let GeneralName::DirectoryName(sender) = &message.header.sender else {
        return Err(ProtectionError::SenderNotAName);
    };
    let kid = message.header.sender_kid.as_ref();
    let named = |c: &&Certificate| {
        c.tbs_certificate.subject == *sender
            && kid.is_none_or(|k| subject_key_id(c).as_ref() == Some(k))
    };
    let signer = message
        .extra_certs
        .iter()
        .chain(std::iter::once(ca))
        .find(named)
        .ok_or_else(|| ProtectionError::UnknownSigner(sender.to_string()))?;
    let trusted = signer.to_der().ok() == ca.to_der().ok() || issued_by(signer, ca);
    if !trusted {
        return Err(ProtectionError::UnknownSigner(sender.to_string()));
    }
    if !valid_now(signer) {
        return Err(ProtectionError::SignerExpired(sender.to_string()));
    }
    let sig = protection
        .as_bytes()
        .ok_or_else(|| ProtectionError::BadSignature("not whole bytes".into()))?;
    csr::verify(
        &signer.tbs_certificate.subject_public_key_info,
        alg,
        message.protected_part(),
        sig,
    )
    .map_err(|e| ProtectionError::BadSignature(e.to_string()))?;
    Ok(signer.clone())
}
