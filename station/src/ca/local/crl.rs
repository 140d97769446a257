//! The local CA's revocation list: `revoked.txt` read back, and the CRL
//! signed and published from it.

use std::fs;

use der::asn1::Uint;
use der::oid::AssociatedOid;
use der::{Decode, Encode};
use time::OffsetDateTime;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::crl::CrlNumber;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Version;

use super::{io, write_atomic, LocalCa, CRL_DER, CRL_PEM, REVOKED_FILE};
use crate::ca::x509::{ecdsa_with_sha256, extension, normalize_serial, now, pem, x509_time};
use crate::ca::{CaError, RevocationReason};

pub(super) struct Revocation {
    pub(super) serial: String,
    time: i64,
    reason: RevocationReason,
}

impl LocalCa {
    pub(super) fn revocations(&self) -> Result<Vec<Revocation>, CaError> {
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
    pub(super) fn publish_crl(&self) -> Result<Vec<u8>, CaError> {
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
