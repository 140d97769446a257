//! [`CmpCa`]: a remote CA behind [`CertificateAuthority`], reached over CMP
//! as its registration authority.
//!
//! The rules, in the order the code follows them:
//! - the station checks each card-signed request itself (proof of
//!   possession, acceptable key, the subject from the registry) before it
//!   signs and forwards it: the CA sees only requests this RA vouches for;
//! - nothing in a response is used before its protection, version,
//!   transactionID, recipNonce and sender are checked; an error message that
//!   fails those checks is reported as unverifiable and changes nothing;
//! - a certificate is confirmed (`certConf` with its hash) only if the CA
//!   signed it and it certifies the key that was asked for; otherwise the
//!   confirmation rejects it, so the CA revokes it;
//! - `waiting` is followed with `pollReq` at the CA's `checkAfter`, up to
//!   a configured total wait.
//!
//! Renewal through the trait is a new enrolment (`p10cr`) followed by the
//! revocation of the old certificate as superseded, which the station's
//! renewal already does; [`CmpCa::update_key`] sends a `kur` for callers
//! that name the certificate replaced.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cmpv2::certified_key_pair::CertOrEncCert;
use cmpv2::rev::RevDetails;
use const_oid::db::rfc5912::{ECDSA_WITH_SHA_384, SHA_384_WITH_RSA_ENCRYPTION};
use crmf::controls::CertId;
use crmf::pop::ProofOfPossession;
use crmf::request::{CertReqMsg, CertRequest, CertTemplate};
use der::asn1::{Int, Null, OctetString};
use der::{Decode, Encode};
use sha2::{Digest, Sha256, Sha384};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::AsExtension;
use x509_cert::request::CertReq;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

use super::body::{CertRepMessage, CertStatus, PollReqEntry};
use super::config::{CmpConfig, ProfileNames};
use super::http::Http;
use super::message::Message;
use super::protection::{issued_by, RaCredential};
use super::status::{Failure, Failures, Status, StatusInfo};
use super::transaction::{CheckError, Transaction};
use super::Body;
use crate::ca::x509::{check_key, normalize_serial, now, offset_time};
use crate::ca::{CaError, CertificateAuthority, Issued, RevocationReason};
use crate::csr;
use crate::profile::{self, CertProfile, Holder};

/// id-regCtrl-oldCertID (RFC 4211 §6.5).
const OLD_CERT_ID: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.5.1.5");

/// The largest CRL fetched.
const MAX_CRL: u64 = 16 * 1024 * 1024;

/// A CA reached over CMP.
pub struct CmpCa {
    url: String,
    http: Http,
    ca: Certificate,
    ca_der: Vec<u8>,
    ra: RaCredential,
    profiles: ProfileNames,
    max_wait: Duration,
    crl_url: Option<String>,
    /// The last CRL fetched and verified.
    crl: Mutex<Option<Vec<u8>>>,
}

impl fmt::Debug for CmpCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CmpCa")
            .field("url", &self.url)
            .field("ra", &self.ra)
            .finish_non_exhaustive()
    }
}

/// What the CA answered for a certificate request, once granted.
struct Granted {
    cert: Certificate,
    der: Vec<u8>,
    cert_req_id: i64,
}

fn rejected(info: &StatusInfo, extra: Option<&[String]>) -> CaError {
    let failures = info.failures();
    let mut text = info.text();
    if let Some(details) = extra {
        let details = details.join("; ");
        if !details.is_empty() {
            if !text.is_empty() {
                text.push_str("; ");
            }
            text.push_str(&details);
        }
    }
    let explanation = if failures.is_empty() {
        match info.status() {
            Some(Status::Rejection) | None => "no reason given".to_string(),
            Some(s) => format!("status {s:?}"),
        }
    } else {
        failures.explanation()
    };
    CaError::CmpRejected {
        failures,
        explanation,
        text,
    }
}

fn error_text(body: &Body) -> Option<String> {
    match body {
        Body::Error(e) => {
            let mut parts = vec![e.status.text()];
            if !e.status.failures().is_empty() {
                parts.push(e.status.failures().explanation());
            }
            parts.extend(e.error_details.iter().flatten().cloned());
            parts.retain(|p| !p.is_empty());
            Some(parts.join("; "))
        }
        _ => None,
    }
}

/// The hash certConf carries: the one of the certificate's signature.
pub fn cert_hash(cert: &Certificate, der: &[u8]) -> Vec<u8> {
    // RFC 4210 §5.3.18: the hash of the certificate's signature algorithm.
    let oid = cert.signature_algorithm.oid;
    if oid == ECDSA_WITH_SHA_384 || oid == SHA_384_WITH_RSA_ENCRYPTION {
        Sha384::digest(der).to_vec()
    } else {
        Sha256::digest(der).to_vec()
    }
}

fn serial_hex(cert: &Certificate) -> String {
    hex::encode_upper(cert.tbs_certificate.serial_number.as_bytes())
}

impl CmpCa {
    pub fn new(config: CmpConfig) -> Result<Self, CaError> {
        Http::check_url(&config.url)?;
        if let Some(crl) = &config.crl_url {
            Http::check_url(crl)?;
        }
        let ca = Certificate::from_der(&config.ca_cert)
            .map_err(|e| CaError::CmpConfig(format!("the CA certificate cannot be read: {e}")))?;
        Ok(CmpCa {
            url: config.url,
            http: Http::new(config.timeout),
            ca,
            ca_der: config.ca_cert,
            ra: config.ra,
            profiles: config.profiles,
            max_wait: config.max_wait,
            crl_url: config.crl_url,
            crl: Mutex::new(None),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one request of `tx` and returns the checked answer's body.
    fn exchange(
        &self,
        tx: &mut Transaction,
        body: Body,
        profile: Option<&str>,
    ) -> Result<Body, CaError> {
        let header = tx.header(&self.ra, &self.ca.tbs_certificate.subject, profile)?;
        let name = body.name();
        let mut request = Message::new(header, body)?;
        self.ra.protect(&mut request)?;
        let bytes = self.http.exchange(&self.url, &request.to_der()?)?;
        let response =
            Message::from_der(&bytes).map_err(|e| CaError::CmpMalformed(e.to_string()))?;
        tracing::debug!(
            request = name,
            response = response.body.name(),
            "CMP exchange"
        );
        if let Err(e) = tx.check(&response, &self.ca) {
            if let Some(text) = error_text(&response.body) {
                return Err(CaError::CmpUnverifiedError {
                    why: e.to_string(),
                    text,
                });
            }
            return Err(match e {
                CheckError::Protection(p) => CaError::CmpUntrusted(p.to_string()),
                other => CaError::CmpOutOfSequence(other.to_string()),
            });
        }
        if let Body::Error(e) = &response.body {
            return Err(rejected(&e.status, e.error_details.as_deref()));
        }
        Ok(response.body)
    }

    /// Follows a certificate response through `waiting` and polling to the
    /// certificate.
    fn granted(
        &self,
        tx: &mut Transaction,
        mut body: Body,
        expected: &'static str,
    ) -> Result<Granted, CaError> {
        let start = Instant::now();
        loop {
            let (req_id, check_after) = match body {
                Body::Ip(rep) | Body::Cp(rep) | Body::Kup(rep) => {
                    match Self::certificate_of(rep)? {
                        Ok(granted) => return Ok(granted),
                        Err(req_id) => (req_id, 1),
                    }
                }
                Body::PollRep(entries) => {
                    let Some(e) = entries.first() else {
                        return Err(CaError::CmpMalformed("an empty pollRep".into()));
                    };
                    (e.cert_req_id, e.check_after.max(0))
                }
                other => {
                    return Err(CaError::CmpUnexpected {
                        expected,
                        got: other.name(),
                    })
                }
            };
            let waited = start.elapsed();
            if waited >= self.max_wait {
                return Err(CaError::CmpStillWaiting {
                    seconds: waited.as_secs(),
                });
            }
            let pause = Duration::from_secs(check_after.unsigned_abs()).min(self.max_wait - waited);
            tracing::info!(
                seconds = pause.as_secs(),
                "the CA asked the station to wait"
            );
            std::thread::sleep(pause);
            body = self.exchange(
                tx,
                Body::PollReq(vec![PollReqEntry {
                    cert_req_id: req_id,
                }]),
                None,
            )?;
        }
    }

    /// The certificate of a response, or `Err(certReqId)` while the CA
    /// answers `waiting`.
    fn certificate_of(rep: CertRepMessage) -> Result<Result<Granted, i64>, CaError> {
        let Some(response) = rep.response.into_iter().next() else {
            return Err(CaError::CmpMalformed(
                "a certificate response with no response in it".into(),
            ));
        };
        match response.status.status() {
            Some(s) if s.granted() => {}
            Some(Status::Waiting) => return Ok(Err(response.cert_req_id)),
            _ => return Err(rejected(&response.status, None)),
        }
        let cert = match response.certified_key_pair.map(|k| k.cert_or_enc_cert) {
            Some(CertOrEncCert::Certificate(cert)) => *cert,
            Some(CertOrEncCert::EncryptedCert(_)) => {
                return Err(CaError::CmpUnexpected {
                    expected: "a certificate",
                    got: "an encrypted certificate",
                })
            }
            None => {
                return Err(CaError::CmpMalformed(
                    "the CA granted the request but sent no certificate".into(),
                ))
            }
        };
        let der = cert.to_der()?;
        Ok(Ok(Granted {
            cert,
            der,
            cert_req_id: response.cert_req_id,
        }))
    }

    /// certConf for `granted` (accepting it if it is the CA's and certifies
    /// `key`), then the CA's pkiConf.
    fn confirm(
        &self,
        tx: &mut Transaction,
        granted: Granted,
        key: &spki::SubjectPublicKeyInfoOwned,
    ) -> Result<Issued, CaError> {
        let tbs = &granted.cert.tbs_certificate;
        let problem = if !issued_by(&granted.cert, &self.ca) {
            Some("it is not signed by the CA")
        } else if !csr::public_key(&tbs.subject_public_key_info)
            .is_ok_and(|k| csr::same_key(key, &k))
        {
            Some("it certifies another key than the request's")
        } else {
            None
        };
        let status = match problem {
            None => StatusInfo::accepted(),
            Some(p) => {
                StatusInfo::rejection(Failures::default().with(Failure::BadCertTemplate), p)?
            }
        };
        let body = self.exchange(
            tx,
            Body::CertConf(vec![CertStatus {
                cert_hash: OctetString::new(cert_hash(&granted.cert, &granted.der))?,
                cert_req_id: granted.cert_req_id,
                status_info: Some(status),
                hash_alg: None,
            }]),
            None,
        )?;
        if body != Body::PkiConf {
            return Err(CaError::CmpUnexpected {
                expected: "pkiConf",
                got: body.name(),
            });
        }
        if let Some(p) = problem {
            return Err(CaError::CmpWrongCertificate(p.to_string()));
        }
        Ok(Issued {
            serial: serial_hex(&granted.cert),
            not_before: offset_time(&tbs.validity.not_before),
            not_after: offset_time(&tbs.validity.not_after),
            der: granted.der,
        })
    }

    /// Enrols with a PKCS#10 request as it is (`p10cr`, its signature the
    /// proof of possession), then confirms. [`CertificateAuthority::issue`]
    /// checks the request first; this does not, so that a CA's own checks
    /// can be seen.
    pub fn p10cr(&self, csr_der: &[u8], profile: &str) -> Result<Issued, CaError> {
        let request = CertReq::from_der(csr_der).map_err(|e| CaError::BadCsr(e.to_string()))?;
        let key = request.info.public_key.clone();
        let mut tx = Transaction::new();
        let body = self.exchange(&mut tx, Body::P10cr(request), Some(profile))?;
        let granted = self.granted(&mut tx, body, "cp")?;
        self.confirm(&mut tx, granted, &key)
    }

    /// Enrols `holder` for the key of a request the RA has checked but
    /// whose subject is not the holder's (a request made in a citizen's
    /// browser): `cr` (RFC 9483 §4.1.2) with a template naming the holder
    /// as the profile does, and `raVerified`, since the request's own
    /// signature was the proof of possession the RA verified.
    fn cr_for_holder(
        &self,
        info: &x509_cert::request::CertReqInfo,
        holder: &Holder,
        profile: &str,
    ) -> Result<Issued, CaError> {
        let bad = |e: String| CaError::BadHolder(e);
        let subject = profile::subject(holder);
        let san = profile::subject_alt_name(holder)
            .map_err(|e| bad(e.to_string()))?
            .to_extension(&subject, &[])
            .map_err(|e| bad(e.to_string()))?;
        let template = CertTemplate {
            version: None,
            serial_number: None,
            signature: None,
            issuer: None,
            validity: None,
            subject: Some(subject),
            subject_public_key_info: Some(info.public_key.clone()),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: Some(vec![san]),
        };
        let msg = CertReqMsg {
            cert_req: CertRequest {
                cert_req_id: Int::new(&[0])?,
                cert_template: template,
                controls: None,
            },
            popo: Some(ProofOfPossession::RaVerified(Null)),
            reg_info: None,
        };
        let mut tx = Transaction::new();
        let body = self.exchange(&mut tx, Body::Cr(vec![msg]), Some(profile))?;
        let granted = self.granted(&mut tx, body, "cp")?;
        self.confirm(&mut tx, granted, &info.public_key)
    }

    /// Asks for a new certificate replacing `old_serial` (`kur`, RFC 9483
    /// §4.1.3) for the key of a card-signed request the station has checked.
    /// The request's signature is the proof of possession the RA verified,
    /// so the CRMF request says `raVerified`.
    pub fn update_key(
        &self,
        old_serial: &str,
        csr_der: &[u8],
        profile: CertProfile,
    ) -> Result<Issued, CaError> {
        let info = csr::check(csr_der)?;
        check_key(&csr::public_key(&info.public_key)?)?;
        let serial = serial_number(old_serial)?;
        let old_id = CertId {
            issuer: GeneralName::DirectoryName(self.ca.tbs_certificate.subject.clone()),
            serial_number: serial,
        };
        let template = CertTemplate {
            version: None,
            serial_number: None,
            signature: None,
            issuer: None,
            validity: None,
            subject: Some(info.subject.clone()),
            subject_public_key_info: Some(info.public_key.clone()),
            issuer_unique_id: None,
            subject_unique_id: None,
            extensions: None,
        };
        let msg = CertReqMsg {
            cert_req: CertRequest {
                cert_req_id: Int::new(&[0])?,
                cert_template: template,
                controls: Some(vec![AttributeTypeAndValue {
                    oid: OLD_CERT_ID,
                    value: der::Any::encode_from(&old_id)?,
                }]),
            },
            popo: Some(ProofOfPossession::RaVerified(Null)),
            reg_info: None,
        };
        let mut tx = Transaction::new();
        let body = self.exchange(
            &mut tx,
            Body::Kur(vec![msg]),
            Some(self.profiles.name(profile)),
        )?;
        let granted = self.granted(&mut tx, body, "kup")?;
        self.confirm(&mut tx, granted, &info.public_key)
    }

    /// Fetches the CRL, checks that the CA signed it, and keeps it.
    fn fetch_crl(&self, url: &str) -> Result<Vec<u8>, CaError> {
        let bad = |why: String| CaError::BadCrl {
            url: url.to_string(),
            why,
        };
        let bytes = self.http.get(url, MAX_CRL)?;
        let der = super::protection::pem_or_der(&bytes).map_err(|e| bad(e.to_string()))?;
        let crl = CertificateList::from_der(&der).map_err(|e| bad(e.to_string()))?;
        if crl.tbs_cert_list.issuer != self.ca.tbs_certificate.subject {
            return Err(bad("it is not the CA's".into()));
        }
        let tbs = crl.tbs_cert_list.to_der()?;
        let sig = crl
            .signature
            .as_bytes()
            .ok_or_else(|| bad("its signature is not whole bytes".into()))?;
        csr::verify(
            &self.ca.tbs_certificate.subject_public_key_info,
            &crl.signature_algorithm,
            &tbs,
            sig,
        )
        .map_err(|_| bad("its signature is not the CA's".into()))?;
        Ok(der)
    }
}

fn serial_number(serial: &str) -> Result<SerialNumber, CaError> {
    let hex_serial = normalize_serial(serial)?;
    let padded = if hex_serial.len() % 2 == 1 {
        format!("0{hex_serial}")
    } else {
        hex_serial.clone()
    };
    let bytes = hex::decode(padded).map_err(|_| CaError::UnknownSerial(serial.to_string()))?;
    SerialNumber::new(&bytes).map_err(|_| CaError::UnknownSerial(hex_serial))
}

impl CertificateAuthority for CmpCa {
    fn issue(
        &self,
        csr_der: &[u8],
        holder: &Holder,
        profile: CertProfile,
    ) -> Result<Issued, CaError> {
        // The RA's checks: the key, the proof of possession, the subject.
        let request = CertReq::from_der(csr_der).map_err(|e| CaError::BadCsr(e.to_string()))?;
        check_key(&csr::public_key(&request.info.public_key)?)?;
        let info = csr::check(csr_der)?;
        let name = self.profiles.name(profile);
        match profile {
            _ if info.subject == profile::subject(holder) => self.p10cr(csr_der, name),
            // A software certificate's request comes from the citizen's
            // browser, which does not know how the CA spells the holder:
            // the registry's holder is named in a CRMF template instead.
            CertProfile::Software => self.cr_for_holder(&info, holder, name),
            CertProfile::Card(_) => Err(CaError::BadHolder(
                "the certificate request names someone other than the application's holder".into(),
            )),
        }
    }

    fn revoke(&self, serial: &str, reason: RevocationReason) -> Result<(), CaError> {
        let hex_serial = normalize_serial(serial)?;
        let details = RevDetails {
            cert_details: CertTemplate {
                version: None,
                serial_number: Some(serial_number(serial)?),
                signature: None,
                issuer: Some(self.ca.tbs_certificate.subject.clone()),
                validity: None,
                subject: None,
                subject_public_key_info: None,
                issuer_unique_id: None,
                subject_unique_id: None,
                extensions: None,
            },
            crl_entry_details: Some(vec![crate::ca::x509::extension(
                &reason.crl_reason(),
                false,
            )?]),
        };
        let mut tx = Transaction::new();
        let body = match self.exchange(&mut tx, Body::Rr(vec![details]), None) {
            Err(CaError::CmpRejected { failures, .. })
                if failures.contains(Failure::CertRevoked) =>
            {
                return Err(CaError::AlreadyRevoked(hex_serial))
            }
            other => other?,
        };
        let Body::Rp(rep) = body else {
            return Err(CaError::CmpUnexpected {
                expected: "rp",
                got: body.name(),
            });
        };
        let Some(status) = rep.status.first() else {
            return Err(CaError::CmpMalformed(
                "a revocation response with no status".into(),
            ));
        };
        match status.status() {
            Some(s) if s.granted() => Ok(()),
            Some(Status::RevocationWarning | Status::RevocationNotification) => Ok(()),
            _ if status.failures().contains(Failure::CertRevoked) => {
                Err(CaError::AlreadyRevoked(hex_serial))
            }
            _ if status.failures().contains(Failure::BadCertId) => {
                Err(CaError::UnknownSerial(hex_serial))
            }
            _ => Err(rejected(status, None)),
        }
    }

    fn certificate(&self) -> &[u8] {
        &self.ca_der
    }

    /// The CA's CRL from its distribution point, verified; the last good
    /// one while it is still current if the CA cannot be reached.
    fn crl(&self) -> Result<Vec<u8>, CaError> {
        let Some(url) = &self.crl_url else {
            return Err(CaError::NoCrlUrl);
        };
        let mut kept = self.crl.lock().unwrap_or_else(|p| p.into_inner());
        match self.fetch_crl(url) {
            Ok(der) => {
                *kept = Some(der.clone());
                Ok(der)
            }
            Err(e) => {
                let current = kept.as_ref().filter(|der| {
                    CertificateList::from_der(der).is_ok_and(|c| {
                        c.tbs_cert_list
                            .next_update
                            .is_some_and(|t| offset_time(&t) > now())
                    })
                });
                match current {
                    Some(der) => {
                        tracing::warn!(error = %e, "the CA's CRL could not be fetched; the last one is still current");
                        Ok(der.clone())
                    }
                    None => Err(e),
                }
            }
        }
    }
}
