//! [`LocalCa`] keeps everything in one directory:
//!
//! - `ca.key`: the CA's P-256 private key (PKCS#8 PEM, mode 0600);
//! - `ca.pem`: the CA certificate;
//! - `issued/<SERIAL>.pem`: every certificate issued;
//! - `revoked.txt`: one line per revocation, `SERIAL UNIX-TIME REASON`;
//! - `crl.der`, `crl.pem`: the current CRL (replaced atomically).

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use der::asn1::{BitString, OctetString};
use der::Decode;
use firma_apdu::piv::PublicKey;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use time::OffsetDateTime;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::time::Validity;
use x509_cert::{Certificate, TbsCertificate, Version};
use zeroize::Zeroizing;

use super::x509::{
    add_years, ca_name, check_key, ecdsa_with_sha256, extension, key_identifier, normalize_serial,
    now, offset_time, pem, random_serial, sign_certificate, x509_time,
};
use super::{CaError, CertificateAuthority, Issued, RevocationReason};

use crate::csr::{self};
use crate::profile::{self, CertProfile, Holder, PE_QC_STATEMENTS};

const KEY_FILE: &str = "ca.key";
const CERT_FILE: &str = "ca.pem";
const REVOKED_FILE: &str = "revoked.txt";
const CRL_DER: &str = "crl.der";
const CRL_PEM: &str = "crl.pem";
const ISSUED_DIR: &str = "issued";

/// A CA whose key and records live in a local directory.
pub struct LocalCa {
    dir: PathBuf,
    key: p256::ecdsa::SigningKey,
    cert_der: Vec<u8>,
    subject: Name,
    key_id: Vec<u8>,
    ca_not_after: OffsetDateTime,
    validity: Option<time::Duration>,
    /// The CRL distribution point and certificate policies put in every
    /// certificate issued (none unless set).
    distribution_point: Option<String>,
    policies: Vec<der::asn1::ObjectIdentifier>,
    /// Serializes issuing, revoking and CRL publication.
    lock: Mutex<()>,
}

impl fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCa")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |source| CaError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so that
/// readers see the old or the new content, never a mix.
fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<(), CaError> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io(path))
}

impl LocalCa {
    /// Creates a CA in `dir`: a new P-256 key and a self-signed certificate
    /// (C=ES, O=Firma, CN=`common_name`, 10 years), an empty revocation list
    /// and its first CRL.
    pub fn init(dir: &Path, common_name: &str) -> Result<Self, CaError> {
        let key_path = dir.join(KEY_FILE);
        let cert_path = dir.join(CERT_FILE);
        if key_path.exists() || cert_path.exists() {
            return Err(CaError::AlreadyExists(dir.to_path_buf()));
        }
        fs::create_dir_all(dir.join(ISSUED_DIR)).map_err(io(dir))?;

        let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let point = key.verifying_key().to_encoded_point(false);
        let spki = csr::spki(&PublicKey::Ec {
            algorithm: firma_apdu::piv::Algorithm::EccP256,
            point: point.as_bytes().to_vec(),
        })?;
        let key_id = key_identifier(&spki);
        let subject = ca_name(common_name)?;
        let not_before = now() - time::Duration::minutes(5);
        let (serial, _) = random_serial()?;
        let extensions = vec![
            extension(
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: Some(0),
                },
                true,
            )?,
            extension(&KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign), true)?,
            extension(
                &SubjectKeyIdentifier(OctetString::new(key_id.clone())?),
                false,
            )?,
            extension(
                &AuthorityKeyIdentifier {
                    key_identifier: Some(OctetString::new(key_id.clone())?),
                    ..Default::default()
                },
                false,
            )?,
        ];
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: serial,
            signature: ecdsa_with_sha256(),
            issuer: subject.clone(),
            validity: Validity {
                not_before: x509_time(not_before)?,
                not_after: x509_time(add_years(not_before, 10))?,
            },
            subject,
            subject_public_key_info: spki,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(extensions),
        };
        let cert_der = sign_certificate(&key, tbs)?;

        let secret = p256::SecretKey::from(key.as_nonzero_scalar());
        let pkcs8 = secret
            .to_pkcs8_der()
            .map_err(|_| CaError::Encoding(der::ErrorKind::Failed.into()))?;
        let key_pem = Zeroizing::new(pem("PRIVATE KEY", pkcs8.as_bytes())?);
        write_atomic(&key_path, key_pem.as_bytes(), true)?;
        let cert_pem = pem("CERTIFICATE", &cert_der)?;
        write_atomic(&cert_path, cert_pem.as_bytes(), false)?;
        let revoked = dir.join(REVOKED_FILE);
        if !revoked.exists() {
            write_atomic(&revoked, b"", false)?;
        }
        let ca = Self::open(dir)?;
        ca.publish_crl()?;
        Ok(ca)
    }

    /// Opens the CA in `dir` (`ca.key`, PKCS#8 PEM P-256, and `ca.pem`).
    pub fn open(dir: &Path) -> Result<Self, CaError> {
        let read = |name: &str| -> Result<(PathBuf, Zeroizing<Vec<u8>>), CaError> {
            let path = dir.join(name);
            match fs::read(&path) {
                Ok(bytes) => Ok((path, Zeroizing::new(bytes))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CaError::Missing {
                    dir: dir.to_path_buf(),
                    path,
                }),
                Err(e) => Err(CaError::Unreadable {
                    path,
                    reason: e.to_string(),
                }),
            }
        };
        let unreadable = |path: &Path, reason: String| CaError::Unreadable {
            path: path.to_path_buf(),
            reason,
        };

        let (key_path, key_pem) = read(KEY_FILE)?;
        let (label, key_der) = der::pem::decode_vec(&key_pem)
            .map_err(|e| unreadable(&key_path, format!("not PEM: {e}")))?;
        let key_der = Zeroizing::new(key_der);
        if label != "PRIVATE KEY" {
            return Err(unreadable(
                &key_path,
                format!("a {label}, not a PKCS#8 PRIVATE KEY"),
            ));
        }
        let secret = p256::SecretKey::from_pkcs8_der(&key_der)
            .map_err(|e| unreadable(&key_path, format!("not a PKCS#8 P-256 key: {e}")))?;
        let key = p256::ecdsa::SigningKey::from(secret);

        let (cert_path, cert_pem) = read(CERT_FILE)?;
        let (label, cert_der) = der::pem::decode_vec(&cert_pem)
            .map_err(|e| unreadable(&cert_path, format!("not PEM: {e}")))?;
        if label != "CERTIFICATE" {
            return Err(unreadable(
                &cert_path,
                format!("a {label}, not a CERTIFICATE"),
            ));
        }
        let cert = Certificate::from_der(&cert_der)
            .map_err(|e| unreadable(&cert_path, format!("not a certificate: {e}")))?;
        let tbs = &cert.tbs_certificate;
        let cert_point = tbs.subject_public_key_info.subject_public_key.raw_bytes();
        if cert_point != key.verifying_key().to_encoded_point(false).as_bytes() {
            return Err(unreadable(
                &cert_path,
                format!("its public key is not the one of {}", key_path.display()),
            ));
        }
        let key_id = match tbs.get::<SubjectKeyIdentifier>() {
            Ok(Some((_, ski))) => ski.0.as_bytes().to_vec(),
            _ => key_identifier(&tbs.subject_public_key_info),
        };
        Ok(LocalCa {
            dir: dir.to_path_buf(),
            key,
            subject: tbs.subject.clone(),
            ca_not_after: offset_time(&tbs.validity.not_after),
            cert_der: cert_der.clone(),
            key_id,
            validity: None,
            distribution_point: None,
            policies: Vec::new(),
            lock: Mutex::new(()),
        })
    }

    /// Sets the validity of issued certificates (default: 3 calendar years).
    pub fn with_validity(mut self, validity: time::Duration) -> Self {
        self.validity = Some(validity);
        self
    }

    /// Names `url` as the CRL distribution point of the certificates issued.
    pub fn with_distribution_point(mut self, url: &str) -> Self {
        self.distribution_point = Some(url.to_string());
        self
    }

    /// Puts these certificate policies in the certificates issued.
    pub fn with_policies(mut self, policies: Vec<der::asn1::ObjectIdentifier>) -> Self {
        self.policies = policies;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sign(&self, tbs: &[u8]) -> Result<BitString, CaError> {
        let sig: p256::ecdsa::DerSignature = self.key.sign(tbs);
        Ok(BitString::from_bytes(sig.as_bytes())?)
    }

    fn aki(&self) -> Result<Extension, CaError> {
        extension(
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(self.key_id.clone())?),
                ..Default::default()
            },
            false,
        )
    }

    /// Issues the certificate of `profile` for `holder` on `key`, whose
    /// possession the caller has already proven (a CSR's signature, or a
    /// CRMF proof-of-possession signature a CMP server checked).
    pub fn issue_for_key(
        &self,
        key: &PublicKey,
        holder: &Holder,
        profile: CertProfile,
    ) -> Result<Issued, CaError> {
        check_key(key)?;
        let spki = csr::spki(key)?;
        let subject = profile::subject(holder);
        if holder.given_name.trim().is_empty()
            || holder.surnames.trim().is_empty()
            || holder.nif.trim().is_empty()
        {
            return Err(CaError::BadHolder(
                "the given name, the surnames and the NIF/NIE are required".into(),
            ));
        }
        let san =
            profile::subject_alt_name(holder).map_err(|e| CaError::BadHolder(e.to_string()))?;

        let mut extensions = vec![extension(
            &BasicConstraints {
                ca: false,
                path_len_constraint: None,
            },
            true,
        )?];
        let (usage, eku) = profile.key_usage(matches!(key, PublicKey::Rsa { .. }));
        extensions.push(extension(&KeyUsage(usage), true)?);
        if !eku.is_empty() {
            extensions.push(extension(&ExtendedKeyUsage(eku), false)?);
        }
        extensions.push(extension(
            &SubjectKeyIdentifier(OctetString::new(key_identifier(&spki))?),
            false,
        )?);
        extensions.push(self.aki()?);
        extensions.push(extension(&san, false)?);
        if let Some(url) = &self.distribution_point {
            use x509_cert::ext::pkix::crl::dp::DistributionPoint;
            use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
            let uri = der::asn1::Ia5String::new(url)?;
            extensions.push(extension(
                &x509_cert::ext::pkix::CrlDistributionPoints(vec![DistributionPoint {
                    distribution_point: Some(DistributionPointName::FullName(vec![
                        GeneralName::UniformResourceIdentifier(uri),
                    ])),
                    reasons: None,
                    crl_issuer: None,
                }]),
                false,
            )?);
        }
        if !self.policies.is_empty() {
            use x509_cert::ext::pkix::certpolicy::PolicyInformation;
            let policies = self
                .policies
                .iter()
                .map(|oid| PolicyInformation {
                    policy_identifier: *oid,
                    policy_qualifiers: None,
                })
                .collect();
            extensions.push(extension(
                &x509_cert::ext::pkix::CertificatePolicies(policies),
                false,
            )?);
        }
        if profile.is_qualified() {
            extensions.push(Extension {
                extn_id: PE_QC_STATEMENTS,
                critical: false,
                extn_value: OctetString::new(profile::qc_statements()?)?,
            });
        }

        let not_before = now() - time::Duration::minutes(5);
        let not_after = match self.validity {
            Some(d) => not_before + d,
            None => add_years(not_before, 3),
        }
        .min(self.ca_not_after);
        let (serial, serial_hex) = random_serial()?;
        let tbs = TbsCertificate {
            version: Version::V3,
            serial_number: serial,
            signature: ecdsa_with_sha256(),
            issuer: self.subject.clone(),
            validity: Validity {
                not_before: x509_time(not_before)?,
                not_after: x509_time(not_after)?,
            },
            subject,
            subject_public_key_info: spki,
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(extensions),
        };
        let der = sign_certificate(&self.key, tbs)?;

        let _guard = self.lock();
        let issued_dir = self.dir.join(ISSUED_DIR);
        fs::create_dir_all(&issued_dir).map_err(io(&issued_dir))?;
        let pem = pem("CERTIFICATE", &der)?;
        write_atomic(
            &issued_dir.join(format!("{serial_hex}.pem")),
            pem.as_bytes(),
            false,
        )?;
        Ok(Issued {
            der,
            serial: serial_hex,
            not_before,
            not_after,
        })
    }
}

impl CertificateAuthority for LocalCa {
    fn issue(
        &self,
        csr_der: &[u8],
        holder: &Holder,
        profile: CertProfile,
    ) -> Result<Issued, CaError> {
        // The key must be acceptable before anything else is looked at.
        let request = x509_cert::request::CertReq::from_der(csr_der)
            .map_err(|e| CaError::BadCsr(e.to_string()))?;
        let key = csr::public_key(&request.info.public_key)?;
        check_key(&key)?;
        // Proof of possession.
        csr::check(csr_der)?;
        self.issue_for_key(&key, holder, profile)
    }

    fn revoke(&self, serial: &str, reason: RevocationReason) -> Result<(), CaError> {
        let serial = normalize_serial(serial)?;
        let _guard = self.lock();
        if !self
            .dir
            .join(ISSUED_DIR)
            .join(format!("{serial}.pem"))
            .exists()
        {
            return Err(CaError::UnknownSerial(serial));
        }
        if self.revocations()?.iter().any(|r| r.serial == serial) {
            return Err(CaError::AlreadyRevoked(serial));
        }
        let path = self.dir.join(REVOKED_FILE);
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        writeln!(file, "{serial} {} {reason}", now().unix_timestamp()).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        drop(file);
        self.publish_crl()?;
        Ok(())
    }

    fn certificate(&self) -> &[u8] {
        &self.cert_der
    }

    fn crl(&self) -> Result<Vec<u8>, CaError> {
        let _guard = self.lock();
        let path = self.dir.join(CRL_DER);
        if let Ok(der) = fs::read(&path) {
            let fresh = CertificateList::from_der(&der).is_ok_and(|crl| {
                crl.tbs_cert_list
                    .next_update
                    .is_some_and(|t| offset_time(&t) > now() + time::Duration::days(1))
            });
            if fresh {
                return Ok(der);
            }
        }
        self.publish_crl()
    }
}

mod crl;
#[cfg(test)]
mod tests;
