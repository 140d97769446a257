//! The certification authority that issues the citizens' certificates, behind
//! [`CertificateAuthority`] so that a remote CA can replace the local one.
//!
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
use std::str::FromStr;
use std::sync::Mutex;

use der::asn1::{Any, BitString, GeneralizedTime, OctetString, SetOfVec};
use der::asn1::{PrintableStringRef, Uint, UtcTime, Utf8StringRef};
use der::oid::AssociatedOid;
use der::{Decode, Encode};
use firma_apdu::piv::PublicKey;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand::RngCore;
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use time::OffsetDateTime;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::crl::CrlNumber;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlReason, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};
use zeroize::Zeroizing;

use crate::csr::{self, CsrError};
use crate::profile::{
    self, Holder, Profile, COMMON_NAME, COUNTRY_NAME, ORGANIZATION_NAME, PE_QC_STATEMENTS,
};

const KEY_FILE: &str = "ca.key";
const CERT_FILE: &str = "ca.pem";
const REVOKED_FILE: &str = "revoked.txt";
const CRL_DER: &str = "crl.der";
const CRL_PEM: &str = "crl.pem";
const ISSUED_DIR: &str = "issued";

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
    fn issue(&self, csr_der: &[u8], holder: &Holder, profile: Profile) -> Result<Issued, CaError>;
    /// Revokes by serial and publishes a new CRL.
    fn revoke(&self, serial: &str, reason: RevocationReason) -> Result<(), CaError>;
    /// The CA certificate (DER), to verify issued certificates.
    fn certificate(&self) -> &[u8];
    /// The current CRL (DER).
    fn crl(&self) -> Result<Vec<u8>, CaError>;
}

/// A CA whose key and records live in a local directory.
pub struct LocalCa {
    dir: PathBuf,
    key: p256::ecdsa::SigningKey,
    cert_der: Vec<u8>,
    subject: Name,
    key_id: Vec<u8>,
    ca_not_after: OffsetDateTime,
    validity: Option<time::Duration>,
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

/// X.509 time: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5).
fn x509_time(t: OffsetDateTime) -> Result<Time, CaError> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| CaError::Encoding(der::ErrorKind::DateTime.into()))?;
    let d = std::time::Duration::from_secs(secs);
    Ok(if t.year() < 2050 {
        Time::UtcTime(UtcTime::from_unix_duration(d)?)
    } else {
        Time::GeneralTime(GeneralizedTime::from_unix_duration(d)?)
    })
}

fn offset_time(t: &Time) -> OffsetDateTime {
    let secs = i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
}

/// `t` plus `years` calendar years (29 February becomes 28 February).
fn add_years(t: OffsetDateTime, years: i32) -> OffsetDateTime {
    let year = t.year() + years;
    t.replace_year(year)
        .or_else(|_| t.replace_day(28).and_then(|t| t.replace_year(year)))
        .unwrap_or(t + time::Duration::days(365 * i64::from(years)))
}

/// A random positive serial of 16 bytes and its hexadecimal form.
fn random_serial() -> Result<(SerialNumber, String), CaError> {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // Positive, and 16 bytes long once encoded.
    bytes[0] = (bytes[0] & 0x7F) | 0x01;
    let serial = SerialNumber::new(&bytes)?;
    let hex = hex::encode_upper(serial.as_bytes());
    Ok((serial, hex))
}

/// Key identifier: the first 160 bits of the SHA-256 of the subject public key
/// (RFC 7093 §2 method 1).
fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha256::digest(spki.subject_public_key.raw_bytes())[..20].to_vec()
}

fn extension<T: Encode + AssociatedOid>(value: &T, critical: bool) -> Result<Extension, CaError> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

fn pem(label: &str, der: &[u8]) -> Result<String, CaError> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .map_err(|e| CaError::Encoding(e.into()))
}

fn ecdsa_with_sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: csr::ECDSA_WITH_SHA256,
        parameters: None,
    }
}

fn ca_name(common_name: &str) -> Result<Name, CaError> {
    let attributes = [
        (
            COUNTRY_NAME,
            Any::encode_from(&PrintableStringRef::new("ES")?)?,
        ),
        (
            ORGANIZATION_NAME,
            Any::encode_from(&Utf8StringRef::new("Firma")?)?,
        ),
        (
            COMMON_NAME,
            Any::encode_from(&Utf8StringRef::new(common_name)?)?,
        ),
    ];
    let mut rdns = Vec::new();
    for (oid, value) in attributes {
        let mut set = SetOfVec::new();
        set.insert(AttributeTypeAndValue { oid, value })?;
        rdns.push(RelativeDistinguishedName(set));
    }
    Ok(RdnSequence(rdns))
}

/// Normalizes a serial typed by an operator: hex digits, uppercase, no
/// colons or spaces.
fn normalize_serial(serial: &str) -> Result<String, CaError> {
    let s: String = serial
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CaError::UnknownSerial(serial.to_string()));
    }
    Ok(s)
}

struct Revocation {
    serial: String,
    time: i64,
    reason: RevocationReason,
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
            lock: Mutex::new(()),
        })
    }

    /// Sets the validity of issued certificates (default: 3 calendar years).
    pub fn with_validity(mut self, validity: time::Duration) -> Self {
        self.validity = Some(validity);
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

    fn revocations(&self) -> Result<Vec<Revocation>, CaError> {
        let path = self.dir.join(REVOKED_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(&path)(e)),
        };
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.is_empty() {
                continue;
            }
            let bad = || CaError::Unreadable {
                path: path.clone(),
                reason: format!("line {} is not `SERIAL UNIX-TIME REASON`", n + 1),
            };
            let [serial, time, reason] = fields[..] else {
                return Err(bad());
            };
            out.push(Revocation {
                serial: normalize_serial(serial).map_err(|_| bad())?,
                time: time.parse().map_err(|_| bad())?,
                reason: reason.parse().map_err(|_| bad())?,
            });
        }
        Ok(out)
    }

    fn previous_crl_number(&self) -> u64 {
        let Ok(der) = fs::read(self.dir.join(CRL_DER)) else {
            return 0;
        };
        let Ok(crl) = CertificateList::from_der(&der) else {
            return 0;
        };
        crl.tbs_cert_list
            .crl_extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == CrlNumber::OID)
            .and_then(|e| CrlNumber::from_der(e.extn_value.as_bytes()).ok())
            .map(|n| {
                n.0.as_bytes().iter().fold(0u64, |acc, b| {
                    acc.saturating_mul(256).saturating_add(u64::from(*b))
                })
            })
            .unwrap_or(0)
    }

    /// Signs and writes a new CRL (the caller holds the lock).
    fn publish_crl(&self) -> Result<Vec<u8>, CaError> {
        let this_update = now();
        let mut revoked = Vec::new();
        for r in self.revocations()? {
            let serial_bytes = hex::decode(if r.serial.len() % 2 == 1 {
                format!("0{}", r.serial)
            } else {
                r.serial.clone()
            })
            .map_err(|_| CaError::UnknownSerial(r.serial.clone()))?;
            let when = OffsetDateTime::from_unix_timestamp(r.time)
                .map_err(|_| CaError::Encoding(der::ErrorKind::DateTime.into()))?;
            // RFC 5280 §5.3.1: the reason code SHOULD be absent rather than
            // unspecified.
            let extensions = match r.reason {
                RevocationReason::Unspecified => None,
                reason => Some(vec![extension(&reason.crl_reason(), false)?]),
            };
            revoked.push(RevokedCert {
                serial_number: SerialNumber::new(&serial_bytes)?,
                revocation_date: x509_time(when)?,
                crl_entry_extensions: extensions,
            });
        }
        let number = self.previous_crl_number() + 1;
        let tbs = TbsCertList {
            version: Version::V2,
            signature: ecdsa_with_sha256(),
            issuer: self.subject.clone(),
            this_update: x509_time(this_update)?,
            next_update: Some(x509_time(this_update + time::Duration::days(7))?),
            revoked_certificates: (!revoked.is_empty()).then_some(revoked),
            crl_extensions: Some(vec![
                self.aki()?,
                extension(&CrlNumber(Uint::new(&number.to_be_bytes())?), false)?,
            ]),
        };
        let signature = self.sign(&tbs.to_der()?)?;
        let der = CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: ecdsa_with_sha256(),
            signature,
        }
        .to_der()?;
        let pem = pem("X509 CRL", &der)?;
        write_atomic(&self.dir.join(CRL_DER), &der, false)?;
        write_atomic(&self.dir.join(CRL_PEM), pem.as_bytes(), false)?;
        Ok(der)
    }
}

fn sign_certificate(
    key: &p256::ecdsa::SigningKey,
    tbs: TbsCertificate,
) -> Result<Vec<u8>, CaError> {
    let sig: p256::ecdsa::DerSignature = key.sign(&tbs.to_der()?);
    Ok(Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_with_sha256(),
        signature: BitString::from_bytes(sig.as_bytes())?,
    }
    .to_der()?)
}

/// Checks that a key is one the CA certifies: RSA-2048 or larger, P-256, P-384.
fn check_key(key: &PublicKey) -> Result<(), CaError> {
    match key {
        PublicKey::Rsa { modulus, .. } => {
            let m = &modulus[modulus.iter().take_while(|&&b| b == 0).count()..];
            let bits = m.len() * 8 - m.first().map_or(8, |b| b.leading_zeros() as usize);
            if bits < 2048 {
                return Err(CaError::UnsupportedKey(format!(
                    "RSA-{bits} is too short (RSA-2048 or larger, ECC P-256 or P-384)"
                )));
            }
            Ok(())
        }
        PublicKey::Ec { .. } => Ok(()),
    }
}

impl CertificateAuthority for LocalCa {
    fn issue(&self, csr_der: &[u8], holder: &Holder, profile: Profile) -> Result<Issued, CaError> {
        // The key must be acceptable before anything else is looked at.
        let request = x509_cert::request::CertReq::from_der(csr_der)
            .map_err(|e| CaError::BadCsr(e.to_string()))?;
        let key = csr::public_key(&request.info.public_key)?;
        check_key(&key)?;
        // Proof of possession.
        csr::check(csr_der)?;

        let spki = csr::spki(&key)?;
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
        extensions.push(extension(&KeyUsage(usage.into()), true)?);
        if !eku.is_empty() {
            extensions.push(extension(&ExtendedKeyUsage(eku), false)?);
        }
        extensions.push(extension(
            &SubjectKeyIdentifier(OctetString::new(key_identifier(&spki))?),
            false,
        )?);
        extensions.push(self.aki()?);
        extensions.push(extension(&san, false)?);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csr::testing::*;
    use der::asn1::ObjectIdentifier;
    use std::process::Command;

    const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/test-ca");

    /// A copy of the test CA in a temporary directory.
    fn test_ca() -> (tempfile::TempDir, LocalCa) {
        let dir = tempfile::tempdir().unwrap();
        for f in [KEY_FILE, CERT_FILE] {
            fs::copy(Path::new(FIXTURE).join(f), dir.path().join(f)).unwrap();
        }
        let ca = LocalCa::open(dir.path()).unwrap();
        (dir, ca)
    }

    /// Runs OpenSSL, the independent oracle; returns (success, stdout + stderr).
    fn openssl(args: &[&str], dir: &Path) -> (bool, String) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (the test oracle) is installed");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn write_pem(dir: &Path, name: &str, label: &str, der: &[u8]) {
        fs::write(dir.join(name), pem(label, der).unwrap()).unwrap();
    }

    fn ca_pem(dir: &Path, ca: &LocalCa) {
        write_pem(dir, "cacert.pem", "CERTIFICATE", ca.certificate());
    }

    #[test]
    fn every_profile_is_issued_for_rsa_and_ec_keys_and_openssl_agrees() {
        let (dir, ca) = test_ca();
        let d = dir.path();
        ca_pem(d, &ca);
        let holder = ascii_holder();
        for key in [SoftKey::rsa(), SoftKey::p256(), SoftKey::p384()] {
            let csr = key.csr(&holder);
            write_pem(d, "req.pem", "CERTIFICATE REQUEST", &csr);
            let (ok, text) = openssl(&["req", "-verify", "-noout", "-in", "req.pem"], d);
            assert!(ok, "{text}");
            for profile in Profile::all() {
                let issued = ca.issue(&csr, &holder, profile).unwrap();
                let what = format!("{} {profile}", key.algorithm());
                write_pem(d, "cert.pem", "CERTIFICATE", &issued.der);
                let (ok, text) = openssl(&["verify", "-CAfile", "cacert.pem", "cert.pem"], d);
                assert!(ok, "{what}: {text}");
                let (ok, text) = openssl(&["x509", "-noout", "-text", "-in", "cert.pem"], d);
                assert!(ok, "{text}");
                assert!(
                    text.contains(
                        "Subject: C = ES, GN = JUAN, SN = ESPANOL GARCIA, \
                         serialNumber = IDCES-X1234567L, CN = ESPANOL GARCIA JUAN - X1234567L"
                    ),
                    "{what}: {text}"
                );
                assert!(
                    text.contains("Issuer: C = ES, O = Firma Test, CN = Firma Test CA"),
                    "{text}"
                );
                assert!(text.contains("email:juan@example.es"), "{text}");
                assert!(
                    text.contains("Basic Constraints: critical\n                CA:FALSE"),
                    "{text}"
                );
                assert!(text.contains("Key Usage: critical"), "{text}");
                assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
                assert!(
                    text.contains("Authority Key Identifier: \n                3A:35:5F:9A"),
                    "{text}"
                );
                assert!(
                    text.contains("Signature Algorithm: ecdsa-with-SHA256"),
                    "{text}"
                );
                let serial_line = text
                    .lines()
                    .skip_while(|l| !l.contains("Serial Number:"))
                    .nth(1)
                    .unwrap()
                    .trim()
                    .replace(':', "")
                    .to_uppercase();
                assert_eq!(serial_line, issued.serial);
                assert_eq!(issued.serial.len(), 32);
                assert_eq!(
                    issued.not_after.year() - issued.not_before.year(),
                    3,
                    "{what}"
                );
                let usage = text
                    .lines()
                    .skip_while(|l| !l.contains("X509v3 Key Usage"))
                    .nth(1)
                    .unwrap()
                    .trim()
                    .to_string();
                let eku = text
                    .lines()
                    .skip_while(|l| !l.contains("X509v3 Extended Key Usage"))
                    .nth(1)
                    .map(|l| l.trim().to_string());
                match profile {
                    Profile::Authentication => {
                        assert_eq!(usage, "Digital Signature", "{what}");
                        assert_eq!(
                            eku.as_deref(),
                            Some("TLS Web Client Authentication, E-mail Protection")
                        );
                        assert!(!text.contains("qcStatements"), "{text}");
                        let (ok, text) = openssl(
                            &[
                                "verify",
                                "-purpose",
                                "sslclient",
                                "-CAfile",
                                "cacert.pem",
                                "cert.pem",
                            ],
                            d,
                        );
                        assert!(ok, "{text}");
                    }
                    Profile::Signature => {
                        assert_eq!(usage, "Non Repudiation", "{what}");
                        assert_eq!(eku, None);
                        assert!(text.contains("qcStatements"), "{text}");
                        let (ok, asn1) = openssl(&["asn1parse", "-in", "cert.pem"], d);
                        assert!(ok, "{asn1}");
                        // The statements are decoded by OpenSSL from the DER.
                        let qc = extension_der(&issued.der, PE_QC_STATEMENTS);
                        fs::write(d.join("qc.der"), qc).unwrap();
                        let (ok, qc) =
                            openssl(&["asn1parse", "-inform", "DER", "-in", "qc.der"], d);
                        assert!(ok, "{qc}");
                        for oid in [
                            "0.4.0.1862.1.1",
                            "0.4.0.1862.1.4",
                            "0.4.0.1862.1.6",
                            "0.4.0.1862.1.6.1",
                        ] {
                            assert!(qc.contains(&format!(":{oid}\n")), "{oid}: {qc}");
                        }
                    }
                    Profile::KeyManagement => {
                        let expected = if key.algorithm().is_rsa() {
                            "Key Encipherment"
                        } else {
                            "Key Agreement"
                        };
                        assert_eq!(usage, expected, "{what}");
                        assert_eq!(eku.as_deref(), Some("E-mail Protection"));
                    }
                }
                // The certified key is the card's.
                let cert = Certificate::from_der(&issued.der).unwrap();
                assert!(csr::same_key(
                    &cert.tbs_certificate.subject_public_key_info,
                    &key.public()
                ));
                assert!(d
                    .join(ISSUED_DIR)
                    .join(format!("{}.pem", issued.serial))
                    .exists());
            }
        }
    }

    fn extension_der(cert: &[u8], oid: ObjectIdentifier) -> Vec<u8> {
        let cert = Certificate::from_der(cert).unwrap();
        cert.tbs_certificate
            .extensions
            .unwrap()
            .into_iter()
            .find(|e| e.extn_id == oid)
            .unwrap()
            .extn_value
            .as_bytes()
            .to_vec()
    }

    #[test]
    fn revocation_publishes_a_crl_that_openssl_accepts() {
        let (dir, ca) = test_ca();
        let d = dir.path();
        ca_pem(d, &ca);
        let key = SoftKey::p256();
        let csr = key.csr(&ascii_holder());
        let revoked = ca.issue(&csr, &ascii_holder(), Profile::Signature).unwrap();
        let kept = ca
            .issue(&csr, &ascii_holder(), Profile::Authentication)
            .unwrap();
        let first = ca.crl().unwrap();
        assert_eq!(ca.crl().unwrap(), first, "a fresh CRL is reused");

        ca.revoke(
            &revoked.serial.to_lowercase(),
            RevocationReason::KeyCompromise,
        )
        .unwrap();
        assert!(matches!(
            ca.revoke(&revoked.serial, RevocationReason::Superseded),
            Err(CaError::AlreadyRevoked(_))
        ));
        assert!(matches!(
            ca.revoke("0123456789ABCDEF", RevocationReason::Superseded),
            Err(CaError::UnknownSerial(_))
        ));
        let revoked_txt = fs::read_to_string(d.join(REVOKED_FILE)).unwrap();
        assert!(
            revoked_txt.starts_with(&format!("{} ", revoked.serial))
                && revoked_txt.trim_end().ends_with(" key-compromise"),
            "{revoked_txt}"
        );

        let crl = ca.crl().unwrap();
        assert_eq!(fs::read(d.join(CRL_DER)).unwrap(), crl);
        let (ok, text) = openssl(
            &[
                "crl",
                "-in",
                "crl.pem",
                "-CAfile",
                "cacert.pem",
                "-verify",
                "-noout",
                "-text",
            ],
            d,
        );
        assert!(ok, "{text}");
        assert!(text.contains("verify OK"), "{text}");
        assert!(
            text.contains(&format!("Serial Number: {}", revoked.serial)),
            "{text}"
        );
        assert!(!text.contains(&kept.serial), "{text}");
        assert!(text.contains("Key Compromise"), "{text}");
        assert!(
            text.contains("X509v3 CRL Number: \n                2"),
            "{text}"
        );
        assert!(text.contains("Authority Key Identifier"), "{text}");
        assert!(text.contains("Version 2 (0x1)"), "{text}");

        write_pem(d, "revoked.pem", "CERTIFICATE", &revoked.der);
        write_pem(d, "kept.pem", "CERTIFICATE", &kept.der);
        let (ok, text) = openssl(
            &[
                "verify",
                "-crl_check",
                "-CRLfile",
                "crl.pem",
                "-CAfile",
                "cacert.pem",
                "revoked.pem",
            ],
            d,
        );
        assert!(!ok && text.contains("certificate revoked"), "{text}");
        let (ok, text) = openssl(
            &[
                "verify",
                "-crl_check",
                "-CRLfile",
                "crl.pem",
                "-CAfile",
                "cacert.pem",
                "kept.pem",
            ],
            d,
        );
        assert!(ok, "{text}");

        // A second revocation: the CRL number goes up, the reason is omitted
        // for "unspecified" (RFC 5280 §5.3.1).
        ca.revoke(&kept.serial, RevocationReason::Unspecified)
            .unwrap();
        let (ok, text) = openssl(&["crl", "-in", "crl.pem", "-noout", "-text"], d);
        assert!(ok, "{text}");
        assert!(
            text.contains("X509v3 CRL Number: \n                3"),
            "{text}"
        );
        assert!(
            text.contains(&kept.serial) && text.contains(&revoked.serial),
            "{text}"
        );
    }

    #[test]
    fn a_csr_signed_with_another_key_is_refused() {
        let (_dir, ca) = test_ca();
        let named = SoftKey::p256();
        let csr = named.csr_signed_by(&ascii_holder(), &SoftKey::p256());
        let err = ca
            .issue(&csr, &ascii_holder(), Profile::Authentication)
            .unwrap_err();
        assert!(matches!(err, CaError::BadSignature), "{err}");
        assert!(err
            .to_string()
            .contains("did not sign it with the key it names"));
        // RSA key named, signed by the RSA key over a different request: also refused.
        let csr = SoftKey::rsa().csr_signed_by(&ascii_holder(), &SoftKey::p256());
        assert!(matches!(
            ca.issue(&csr, &ascii_holder(), Profile::Signature),
            Err(CaError::BadSignature | CaError::BadCsr(_))
        ));
    }

    #[test]
    fn a_tampered_csr_is_refused() {
        let (_dir, ca) = test_ca();
        let key = SoftKey::rsa();
        let mut csr = key.csr(&ascii_holder());
        let at = csr
            .windows(4)
            .position(|w| w == b"juan")
            .expect("the e-mail is in the request");
        csr[at] = b'x';
        let err = ca
            .issue(&csr, &ascii_holder(), Profile::Signature)
            .unwrap_err();
        assert!(matches!(err, CaError::BadSignature), "{err}");
        let err = ca
            .issue(&csr[..csr.len() - 3], &ascii_holder(), Profile::Signature)
            .unwrap_err();
        assert!(matches!(err, CaError::BadCsr(_)), "{err}");
        assert!(matches!(
            ca.issue(b"not a request", &ascii_holder(), Profile::Signature),
            Err(CaError::BadCsr(_))
        ));
    }

    #[test]
    fn the_subject_comes_from_the_holder_not_the_csr() {
        let (_dir, ca) = test_ca();
        let mallory = Holder {
            given_name: "Mallory".into(),
            surnames: "Evil".into(),
            nif: "00000000T".into(),
            email: "mallory@example.com".into(),
        };
        let key = SoftKey::p256();
        let csr = key.csr(&mallory);
        let issued = ca.issue(&csr, &holder(), Profile::Authentication).unwrap();
        let cert = Certificate::from_der(&issued.der).unwrap();
        assert_eq!(cert.tbs_certificate.subject, profile::subject(&holder()));
        let der = cert.to_der().unwrap();
        let text = String::from_utf8_lossy(&der);
        assert!(!text.contains("MALLORY") && !text.contains("mallory"));
        assert!(text.contains("mjose@example.es"));
    }

    #[test]
    fn short_rsa_keys_are_refused() {
        let (_dir, ca) = test_ca();
        let short = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let public = PublicKey::Rsa {
            modulus: rsa::traits::PublicKeyParts::n(&short).to_bytes_be(),
            exponent: rsa::traits::PublicKeyParts::e(&short).to_bytes_be(),
        };
        let info = csr::request_info(&ascii_holder(), &public).unwrap();
        let block = csr::card_input(firma_apdu::piv::Algorithm::Rsa1024, &info);
        let sig = rsa::hazmat::rsa_decrypt_and_check(
            &short,
            Some(&mut rand::rngs::OsRng),
            &rsa::BigUint::from_bytes_be(&block),
        )
        .unwrap()
        .to_bytes_be();
        let mut padded = vec![0; 128 - sig.len()];
        padded.extend(sig);
        let csr = csr::assemble(&info, firma_apdu::piv::Algorithm::Rsa1024, &padded).unwrap();
        let err = ca
            .issue(&csr, &ascii_holder(), Profile::Authentication)
            .unwrap_err();
        assert!(matches!(err, CaError::UnsupportedKey(_)), "{err}");
        assert!(err.to_string().contains("RSA-1024"), "{err}");
    }

    #[test]
    fn init_creates_a_ca_that_openssl_trusts() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("ca");
        let ca = LocalCa::init(&d, "Firma CA de pruebas")
            .unwrap()
            .with_validity(time::Duration::days(30));
        let err = LocalCa::init(&d, "again").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("a CA already exists in {}", d.display())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(d.join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the CA key is private");
        }
        assert!(d.join(CRL_PEM).exists() && d.join(REVOKED_FILE).exists());
        let reopened = LocalCa::open(&d).unwrap();
        assert_eq!(reopened.certificate(), ca.certificate());

        let (ok, text) = openssl(&["x509", "-noout", "-text", "-in", "ca.pem"], &d);
        assert!(ok, "{text}");
        assert!(
            text.contains("Subject: C = ES, O = Firma, CN = Firma CA de pruebas"),
            "{text}"
        );
        assert!(
            text.contains("Basic Constraints: critical\n                CA:TRUE, pathlen:0"),
            "{text}"
        );
        assert!(
            text.contains("Key Usage: critical\n                Certificate Sign, CRL Sign"),
            "{text}"
        );
        assert!(text.contains("Subject Key Identifier"), "{text}");
        let (ok, text) = openssl(&["verify", "-CAfile", "ca.pem", "ca.pem"], &d);
        assert!(ok, "{text}");
        let (ok, text) = openssl(
            &[
                "crl", "-in", "crl.pem", "-CAfile", "ca.pem", "-verify", "-noout",
            ],
            &d,
        );
        assert!(ok, "{text}");

        let issued = ca
            .issue(
                &SoftKey::p256().csr(&ascii_holder()),
                &ascii_holder(),
                Profile::KeyManagement,
            )
            .unwrap();
        assert_eq!(
            issued.not_after - issued.not_before,
            time::Duration::days(30)
        );
        write_pem(&d, "cert.pem", "CERTIFICATE", &issued.der);
        let (ok, text) = openssl(&["verify", "-CAfile", "ca.pem", "cert.pem"], &d);
        assert!(ok, "{text}");
    }

    #[test]
    fn a_missing_ca_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let err = LocalCa::open(dir.path()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, CaError::Missing { .. }), "{msg}");
        assert!(
            msg.contains("ca.key") && msg.contains("firma-station ca init"),
            "{msg}"
        );
        fs::write(dir.path().join(KEY_FILE), "garbage").unwrap();
        let err = LocalCa::open(dir.path()).unwrap_err();
        assert!(matches!(err, CaError::Unreadable { .. }), "{err}");
        assert!(err.to_string().contains("ca.key"), "{err}");
        // A key that is not the certificate's.
        let other = tempfile::tempdir().unwrap();
        LocalCa::init(other.path(), "Other").unwrap();
        fs::copy(other.path().join(KEY_FILE), dir.path().join(KEY_FILE)).unwrap();
        fs::copy(
            Path::new(FIXTURE).join(CERT_FILE),
            dir.path().join(CERT_FILE),
        )
        .unwrap();
        let err = LocalCa::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("not the one of"), "{err}");
    }

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

    #[test]
    fn calendar_years() {
        let leap = time::macros::datetime!(2028-02-29 10:00 UTC);
        assert_eq!(
            add_years(leap, 3),
            time::macros::datetime!(2031-02-28 10:00 UTC)
        );
        let t = time::macros::datetime!(2026-11-25 06:00 UTC);
        assert_eq!(
            add_years(t, 3),
            time::macros::datetime!(2029-11-25 06:00 UTC)
        );
        assert!(matches!(x509_time(t).unwrap(), Time::UtcTime(_)));
        assert!(matches!(
            x509_time(time::macros::datetime!(2050-01-01 0:00 UTC)).unwrap(),
            Time::GeneralTime(_)
        ));
    }
}
