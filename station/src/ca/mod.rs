//! The certification authority that issues the citizens' certificates, behind
//! [`CertificateAuthority`] so that a remote CA can replace the local one.
//! [`LocalCa`] (`local.rs`) is the embedded one; `x509.rs` holds the
//! certificate-building pieces any issuer needs.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use time::OffsetDateTime;

use x509_cert::ext::pkix::CrlReason;

use crate::csr::CsrError;
use crate::profile::{CertProfile, Holder};

pub mod cmp;
mod local;
mod x509;

pub use local::LocalCa;

/// An issued certificate.
#[derive(Clone, Debug)]
pub struct Issued {
    pub der: Vec<u8>,
    /// Hexadecimal, uppercase.
    pub serial: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// Why a certificate is revoked (RFC 5280 CRLReason, the ones a PRU uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevocationReason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
}

impl RevocationReason {
    const ALL: [(RevocationReason, &'static str); 5] = [
        (RevocationReason::Unspecified, "unspecified"),
        (RevocationReason::KeyCompromise, "key-compromise"),
        (RevocationReason::AffiliationChanged, "affiliation-changed"),
        (RevocationReason::Superseded, "superseded"),
        (
            RevocationReason::CessationOfOperation,
            "cessation-of-operation",
        ),
    ];

    fn crl_reason(self) -> CrlReason {
        match self {
            RevocationReason::Unspecified => CrlReason::Unspecified,
            RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
            RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
            RevocationReason::Superseded => CrlReason::Superseded,
            RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        }
    }
}

impl FromStr for RevocationReason {
    type Err = CaError;
    fn from_str(s: &str) -> Result<Self, CaError> {
        Self::ALL
            .iter()
            .find(|(_, name)| *name == s.trim())
            .map(|(r, _)| *r)
            .ok_or_else(|| CaError::UnknownReason(s.to_string()))
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Self::ALL
            .iter()
            .find(|(r, _)| r == self)
            .map(|(_, n)| *n)
            .unwrap_or("unspecified");
        f.write_str(name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("the certificate request cannot be read: {0}")]
    BadCsr(String),
    #[error(
        "the certificate request's signature does not verify: the card did not sign it with the key it names"
    )]
    BadSignature,
    #[error("the certificate request's key is not accepted: {0}")]
    UnsupportedKey(String),
    #[error("the holder's data cannot go in a certificate: {0}")]
    BadHolder(String),
    #[error(
        "there is no certification authority in {dir}: {path} is missing (run `firma-station ca init` to create one, or point the station to the CA's directory)"
    )]
    Missing { dir: PathBuf, path: PathBuf },
    #[error(
        "cannot read the CA file {path}: {reason} (check its permissions or restore the CA directory from its backup; `firma-station ca init` creates a new CA in an empty directory)"
    )]
    Unreadable { path: PathBuf, reason: String },
    #[error("a CA already exists in {0}")]
    AlreadyExists(PathBuf),
    #[error("this CA issued no certificate with serial {0}")]
    UnknownSerial(String),
    #[error("the certificate with serial {0} is already revoked")]
    AlreadyRevoked(String),
    #[error(
        "unknown revocation reason {0:?} (expected unspecified, key-compromise, affiliation-changed, superseded or cessation-of-operation)"
    )]
    UnknownReason(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode: {0}")]
    Encoding(#[from] der::Error),
    // The remote CA (CMP, `cmp/`).
    #[error(
        "cannot reach the CA at {url}: {reason} (check the network and that the CA is running, then run the same command again)"
    )]
    CaUnreachable { url: String, reason: String },
    #[error(
        "the CA at {url} did not answer within {seconds} s (it may be busy or down: run the same command again later)"
    )]
    CaTimeout { url: String, seconds: u64 },
    #[error(
        "the CA at {url} answered {what}, not a CMP message (check the CA's address given with --ca-url)"
    )]
    NotCmp { url: String, what: String },
    #[error(
        "the CA's answer is not a CMP message the station can read: {0}. Nothing was done with it; tell the CA's operators"
    )]
    CmpMalformed(String),
    #[error(
        "the CA's answer cannot be trusted: {0}. Nothing was done with it: check that the station has the CA's certificate (--ca-cert), or tell the CA's operators"
    )]
    CmpUntrusted(String),
    #[error(
        "the CA's answer does not belong to this request: {0}. Nothing was done with it: run the same command again"
    )]
    CmpOutOfSequence(String),
    #[error(
        "an error message came back that cannot be verified as the CA's ({why}), so nothing was changed; it said: {text}"
    )]
    CmpUnverifiedError { why: String, text: String },
    #[error("the CA refused the request: {explanation}{}", said(.text))]
    CmpRejected {
        failures: cmp::Failures,
        explanation: String,
        text: String,
    },
    #[error("the CA answered with {got} where {expected} was expected: tell the CA's operators")]
    CmpUnexpected {
        expected: &'static str,
        got: &'static str,
    },
    #[error(
        "the CA has not issued the certificate after {seconds} s of waiting: run the same command again later"
    )]
    CmpStillWaiting { seconds: u64 },
    #[error(
        "the CA issued a certificate that is not the one asked for ({0}); the station rejected it in its confirmation and keeps nothing of it"
    )]
    CmpWrongCertificate(String),
    #[error("the station's CMP settings cannot be used: {0}")]
    CmpConfig(String),
    #[error("no address is configured for the CA's CRL: give it with --crl-url")]
    NoCrlUrl,
    #[error("the CRL from {url} cannot be used: {why}")]
    BadCrl { url: String, why: String },
}

fn said(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(" (the CA said: {text})")
    }
}

impl From<CsrError> for CaError {
    fn from(e: CsrError) -> Self {
        match e {
            CsrError::BadSignature | CsrError::MalformedSignature(_) => CaError::BadSignature,
            CsrError::InvalidKey(_) | CsrError::UnsupportedKey(_) => {
                CaError::UnsupportedKey(e.to_string())
            }
            CsrError::InvalidEmail(_) => CaError::BadHolder(e.to_string()),
            CsrError::UnsupportedSignatureAlgorithm(_)
            | CsrError::Malformed(_)
            | CsrError::Encoding(_) => CaError::BadCsr(e.to_string()),
        }
    }
}

/// A certification authority.
pub trait CertificateAuthority: Send + Sync {
    /// Checks the CSR's signature (proof of possession) and that its subject
    /// public key is acceptable (RSA-2048+, P-256, P-384), then issues the
    /// certificate of `profile` for `holder`. The subject comes from
    /// `holder`, NOT from the CSR (a CSR naming someone else must not matter).
    fn issue(
        &self,
        csr_der: &[u8],
        holder: &Holder,
        profile: CertProfile,
    ) -> Result<Issued, CaError>;
    /// Revokes by serial and publishes a new CRL.
    fn revoke(&self, serial: &str, reason: RevocationReason) -> Result<(), CaError>;
    /// The CA certificate (DER), to verify issued certificates.
    fn certificate(&self) -> &[u8];
    /// The current CRL (DER).
    fn crl(&self) -> Result<Vec<u8>, CaError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_by_name() {
        for (r, name) in RevocationReason::ALL {
            assert_eq!(name.parse::<RevocationReason>().unwrap(), r);
            assert_eq!(r.to_string(), name);
        }
        assert!(matches!(
            "stolen".parse::<RevocationReason>(),
            Err(CaError::UnknownReason(_))
        ));
    }
}
