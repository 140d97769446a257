//! How the station reaches and trusts its CA over CMP, and which
//! certificate profile it asks for per slot, and for software certificates.

use std::path::Path;
use std::time::Duration;

use super::protection::RaCredential;
use crate::ca::CaError;
use crate::profile::{CertProfile, Profile};

/// The certificate profile the CA is asked for, per slot and for the
/// portal's software certificates (RFC 9483 §5.1.1,
/// `id-it-certProfile`): the CA's profile decides key usage and QC statements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileNames {
    pub authentication: String,
    pub signature: String,
    pub key_management: String,
    pub software: String,
}

impl Default for ProfileNames {
    fn default() -> Self {
        ProfileNames {
            authentication: "firma-authentication".into(),
            signature: "firma-qualified-signature".into(),
            key_management: "firma-encryption".into(),
            software: "firma-software".into(),
        }
    }
}

impl ProfileNames {
    pub fn name(&self, profile: CertProfile) -> &str {
        match profile {
            CertProfile::Card(Profile::Authentication) => &self.authentication,
            CertProfile::Card(Profile::Signature) => &self.signature,
            CertProfile::Card(Profile::KeyManagement) => &self.key_management,
            CertProfile::Software => &self.software,
        }
    }
}

/// How to reach and trust the CA.
#[derive(Debug)]
pub struct CmpConfig {
    /// The CA's CMP address (`http://host:port/path`).
    pub url: String,
    /// The CA's certificate (DER), pinned: responses must be signed by it or
    /// by a certificate it issued.
    pub ca_cert: Vec<u8>,
    pub ra: RaCredential,
    pub profiles: ProfileNames,
    /// The longest one HTTP exchange may take.
    pub timeout: Duration,
    /// The longest the station waits for a CA that answered `waiting`.
    pub max_wait: Duration,
    /// Where the CA publishes its CRL (HTTP).
    pub crl_url: Option<String>,
}

impl CmpConfig {
    pub fn new(url: &str, ca_cert: Vec<u8>, ra: RaCredential) -> Self {
        CmpConfig {
            url: url.to_string(),
            ca_cert,
            ra,
            profiles: ProfileNames::default(),
            timeout: Duration::from_secs(30),
            max_wait: Duration::from_secs(300),
            crl_url: None,
        }
    }
}

impl CmpConfig {
    /// The configuration from files, as a program's command line names
    /// them: the CA's certificate (PEM or DER) and the RA's key and
    /// certificate (PEM). The errors say which file and which option.
    pub fn from_files(
        url: &str,
        ca_cert: &Path,
        ra_key: &Path,
        ra_cert: &Path,
    ) -> Result<Self, CaError> {
        let bytes = std::fs::read(ca_cert).map_err(|e| {
            CaError::CmpConfig(format!(
                "cannot read the CA certificate {}: {e} (give it with --ca-cert)",
                ca_cert.display()
            ))
        })?;
        let ca_der = match der::pem::decode_vec(&bytes) {
            Ok((_, der)) => der,
            Err(_) => bytes,
        };
        let ra = RaCredential::from_files(ra_key, ra_cert).map_err(|e| {
            CaError::CmpConfig(format!(
                "{e} (give the RA key and certificate with --ra-key and --ra-cert)"
            ))
        })?;
        Ok(CmpConfig::new(url, ca_der, ra))
    }
}
