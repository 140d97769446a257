//! The CMP side of `firma-ca`: one request in, one protected response out
//! (RFC 9483 §4, the CA's view).
//!
//! The rules, checked in this order before anything is issued or revoked:
//! - the request is a readable PKIMessage of version cmp2000;
//! - it is signed by one of the configured RA certificates (pinned; a
//!   request from anyone else is answered `notAuthorized`);
//! - its senderNonce was never seen before (a replayed request is answered
//!   `badSenderNonce`), and a new transaction does not reuse a pending
//!   transactionID;
//! - then the body: p10cr (the CSR's signature is the proof of possession;
//!   the subject and profile come from the RA, the extensions from the CA's
//!   own profile, never from the CSR), certConf (the hash must be that of
//!   the certificate issued in the same transaction), rr, genm.
//!
//! A certificate issued but not confirmed within `confirm_timeout` is
//! revoked (RFC 9483 §4.1.1: a CA must not publish an unconfirmed certificate).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cmpv2::certified_key_pair::{CertOrEncCert, CertifiedKeyPair};
use cmpv2::gen::InfoTypeAndValue;
use cmpv2::header::{PkiHeader, Pvno};
use der::asn1::{GeneralizedTime, ObjectIdentifier, OctetString};
use der::{Decode, Encode};
use firma_station_engine::ca::cmp::body::{
    CertRepMessage, CertResponse, ErrorMsgContent, RevRepContent,
};
use firma_station_engine::ca::cmp::transaction::requested_profile;

use crate::request::{
    ca_refusal, certificate_rejection, holder_of, int_value, random16, reason_of, refuse,
    subject_alt_name_in_csr, Refusal,
};
use der::oid::AssociatedOid;
use firma_station_engine::ca::cmp::{
    protection, Body, Failure, Failures, Message, RaCredential, StatusInfo,
};
use firma_station_engine::ca::{CaError, CertificateAuthority, LocalCa, RevocationReason};
use firma_station_engine::profile::{CertProfile, Profile};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

/// id-regCtrl-oldCertID (RFC 4211 §6.5).
const OLD_CERT_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.5.1.5");
/// id-it-caCerts (RFC 9483 §4.3.1).
const ID_IT_CA_CERTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.4.17");
/// The nonces remembered against replay.
const NONCES_KEPT: usize = 100_000;

/// The CA's certificate profiles by the names RAs ask for.
#[derive(Clone, Debug)]
pub struct Profiles {
    pub names: Vec<(String, CertProfile)>,
    /// For a request that names none (OpenSSL 3.0's client cannot).
    pub default: Option<CertProfile>,
}

impl Default for Profiles {
    fn default() -> Self {
        Profiles {
            names: vec![
                (
                    "firma-authentication".into(),
                    Profile::Authentication.into(),
                ),
                (
                    "firma-qualified-signature".into(),
                    Profile::Signature.into(),
                ),
                ("firma-encryption".into(), Profile::KeyManagement.into()),
                ("firma-software".into(), CertProfile::Software),
            ],
            default: None,
        }
    }
}

struct Pending {
    serial: String,
    hash: Vec<u8>,
    cert_req_id: i64,
    /// Our senderNonce in the certificate response.
    nonce: Vec<u8>,
    since: Instant,
}

#[derive(Default)]
struct State {
    pending: HashMap<Vec<u8>, Pending>,
    nonces: HashSet<Vec<u8>>,
    order: VecDeque<Vec<u8>>,
}

/// The CA behind CMP.
pub struct Responder {
    ca: LocalCa,
    ca_cert: Certificate,
    /// Signs responses: the CA's own key and certificate.
    signer: RaCredential,
    ras: Vec<Certificate>,
    profiles: Profiles,
    confirm_timeout: Duration,
    state: Mutex<State>,
}

impl Responder {
    pub fn new(
        ca: LocalCa,
        signer: RaCredential,
        ras: Vec<Certificate>,
        profiles: Profiles,
    ) -> Result<Self, CaError> {
        let ca_cert = Certificate::from_der(ca.certificate())?;
        Ok(Responder {
            ca,
            ca_cert,
            signer,
            ras,
            profiles,
            confirm_timeout: Duration::from_secs(600),
            state: Mutex::new(State::default()),
        })
    }

    /// How long an issued certificate waits for its certConf before it is
    /// revoked (default 10 minutes).
    pub fn with_confirm_timeout(mut self, timeout: Duration) -> Self {
        self.confirm_timeout = timeout;
        self
    }

    pub fn ca(&self) -> &LocalCa {
        &self.ca
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Revokes what was issued and never confirmed in time.
    pub fn sweep(&self) {
        let expired: Vec<Pending> = {
            let mut state = self.state();
            let old: Vec<Vec<u8>> = state
                .pending
                .iter()
                .filter(|(_, p)| p.since.elapsed() > self.confirm_timeout)
                .map(|(k, _)| k.clone())
                .collect();
            old.iter().filter_map(|k| state.pending.remove(k)).collect()
        };
        for p in expired {
            tracing::warn!(serial = %p.serial, "certificate never confirmed: revoked");
            let _ = self
                .ca
                .revoke(&p.serial, RevocationReason::CessationOfOperation);
        }
    }

    /// Answers one request (DER in, DER out). Never panics on any input.
    pub fn handle(&self, request: &[u8]) -> Vec<u8> {
        self.sweep();
        let message = match Message::from_der(request) {
            Ok(m) => m,
            Err(e) => {
                tracing::info!(error = %e, "unreadable CMP request");
                return self.error(
                    None,
                    refuse(Failure::BadDataFormat, format!("not a CMP message: {e}")),
                );
            }
        };
        let nonce = self.signer_nonce();
        let (body, nonce) = match self.process(&message, nonce) {
            Ok(body) => body,
            Err(refusal) => {
                tracing::info!(request = message.body.name(), failure = %refusal.failures, text = %refusal.text, "CMP request refused");
                return self.error(Some(&message.header), refusal);
            }
        };
        self.respond(Some(&message.header), body, nonce)
    }

    fn signer_nonce(&self) -> Vec<u8> {
        random16()
    }

    fn process(&self, m: &Message<'_>, nonce: Vec<u8>) -> Result<(Body, Vec<u8>), Refusal> {
        if m.header.pvno != Pvno::Cmp2000 {
            return Err(refuse(
                Failure::UnsupportedVersion,
                "only cmp2000 (pvno 2) is spoken here",
            ));
        }
        // Signed by a configured RA, and only by one.
        let ra = self
            .ras
            .iter()
            .find(|ra| {
                protection::verify(m, ra)
                    .is_ok_and(|signer| signer.to_der().ok() == ra.to_der().ok())
            })
            .ok_or_else(|| {
                refuse(
                    Failure::NotAuthorized,
                    "the request is not signed by a registration authority this CA accepts",
                )
            })?;
        let tx = m
            .header
            .trans_id
            .as_ref()
            .map(|t| t.as_bytes().to_vec())
            .filter(|t| t.len() >= 16)
            .ok_or_else(|| {
                refuse(
                    Failure::BadRequest,
                    "a transactionID of 16 bytes or more is required",
                )
            })?;
        let sender_nonce = m
            .header
            .sender_nonce
            .as_ref()
            .map(|n| n.as_bytes().to_vec())
            .filter(|n| n.len() >= 16)
            .ok_or_else(|| {
                refuse(
                    Failure::BadSenderNonce,
                    "a senderNonce of 16 bytes or more is required",
                )
            })?;
        {
            let mut state = self.state();
            if !state.nonces.insert(sender_nonce.clone()) {
                return Err(refuse(
                    Failure::BadSenderNonce,
                    "this request was seen before (replay)",
                ));
            }
            state.order.push_back(sender_nonce);
            while state.order.len() > NONCES_KEPT {
                if let Some(old) = state.order.pop_front() {
                    state.nonces.remove(&old);
                }
            }
        }
        tracing::info!(request = m.body.name(), ra = %ra.tbs_certificate.subject, "CMP request");
        let body = match &m.body {
            Body::P10cr(csr) => self.p10cr(m, csr, &tx, &nonce)?,
            Body::Ir(msgs) | Body::Cr(msgs) | Body::Kur(msgs) => self.crmf(m, msgs, &tx, &nonce)?,
            Body::CertConf(statuses) => self.cert_conf(m, statuses, &tx)?,
            Body::Rr(details) => self.rr(details),
            Body::GenM(infos) => self.genm(infos),
            other => {
                return Err(refuse(
                    Failure::BadRequest,
                    format!(
                        "{} is not served here (ir, cr, p10cr, kur, certConf, rr, genm are)",
                        other.name()
                    ),
                ))
            }
        };
        Ok((body, nonce))
    }

    fn p10cr(
        &self,
        m: &Message<'_>,
        csr: &x509_cert::request::CertReq,
        tx: &[u8],
        nonce: &[u8],
    ) -> Result<Body, Refusal> {
        if self.state().pending.contains_key(tx) {
            return Err(refuse(
                Failure::TransactionIdInUse,
                "this transactionID is in use",
            ));
        }
        let profile = self.profile(m)?;
        let rejection = |r: Refusal| certificate_rejection(Body::Cp, 0, r);
        let holder = match holder_of(&csr.info.subject, subject_alt_name_in_csr(csr)) {
            Ok(h) => h,
            Err(r) => return rejection(r),
        };
        let csr_der = csr
            .to_der()
            .map_err(|e| refuse(Failure::BadDataFormat, e.to_string()))?;
        let issued = self.ca.issue(&csr_der, &holder, profile);
        // p10cr has no certReqId of its own: 0 (RFC 9483 §4.1.4).
        self.granted(Body::Cp, issued, profile, tx, nonce, 0)
    }

    /// The profile the request names, or the default.
    fn profile(&self, m: &Message<'_>) -> Result<CertProfile, Refusal> {
        match requested_profile(&m.header) {
            Some(name) => self
                .profiles
                .names
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, p)| *p)
                .ok_or_else(|| {
                    refuse(
                        Failure::UnacceptedPolicy,
                        format!("no certificate profile {name:?} here"),
                    )
                }),
            None => self.profiles.default.ok_or_else(|| {
                refuse(
                    Failure::UnacceptedPolicy,
                    "the request names no certificate profile (id-it-certProfile)",
                )
            }),
        }
    }

    /// ir, cr, kur (RFC 9483 §4.1.1-4.1.3): one CRMF request whose
    /// proof of possession is a signature over it by the key it names (or
    /// raVerified: the RA, whose signature protects the message, checked it).
    fn crmf(
        &self,
        m: &Message<'_>,
        msgs: &[crmf::request::CertReqMsg],
        tx: &[u8],
        nonce: &[u8],
    ) -> Result<Body, Refusal> {
        if self.state().pending.contains_key(tx) {
            return Err(refuse(
                Failure::TransactionIdInUse,
                "this transactionID is in use",
            ));
        }
        let wrap: fn(CertRepMessage) -> Body = match m.body {
            Body::Ir(_) => Body::Ip,
            Body::Kur(_) => Body::Kup,
            _ => Body::Cp,
        };
        let [msg] = msgs else {
            return Err(refuse(
                Failure::BadRequest,
                "one certificate request per message",
            ));
        };
        let req = &msg.cert_req;
        let cert_req_id = int_value(&req.cert_req_id)
            .ok_or_else(|| refuse(Failure::BadRequest, "certReqId is not a small integer"))?;
        let profile = self.profile(m)?;
        let rejection = |r: Refusal| certificate_rejection(wrap, cert_req_id, r);
        let template = &req.cert_template;
        let (Some(subject), Some(spki)) = (&template.subject, &template.subject_public_key_info)
        else {
            return rejection(refuse(
                Failure::BadCertTemplate,
                "the template needs a subject and a public key",
            ));
        };
        // Proof of possession.
        match &msg.popo {
            Some(crmf::pop::ProofOfPossession::Signature(sig)) if sig.poposk_input.is_none() => {
                let signed = req
                    .to_der()
                    .map_err(|e| refuse(Failure::BadDataFormat, e.to_string()))?;
                let verified = sig.signature.as_bytes().is_some_and(|bytes| {
                    firma_station_engine::csr::verify(spki, &sig.alg_id, &signed, bytes).is_ok()
                });
                if !verified {
                    return rejection(refuse(
                        Failure::BadPop,
                        "the signature over the request does not verify with its key",
                    ));
                }
            }
            Some(crmf::pop::ProofOfPossession::RaVerified(_)) => {}
            _ => {
                return rejection(refuse(
                    Failure::BadPop,
                    "only a signature (or raVerified) proves possession here",
                ))
            }
        }
        if matches!(m.body, Body::Kur(_)) {
            if let Err(r) = self.old_certificate(req) {
                return rejection(r);
            }
        }
        let san = template.extensions.iter().flatten().find_map(|e| {
            (e.extn_id == <SubjectAltName as AssociatedOid>::OID)
                .then(|| SubjectAltName::from_der(e.extn_value.as_bytes()).ok())
                .flatten()
        });
        let holder = match holder_of(subject, san) {
            Ok(h) => h,
            Err(r) => return rejection(r),
        };
        let key = match firma_station_engine::csr::public_key(spki) {
            Ok(k) => k,
            Err(e) => return rejection(refuse(Failure::BadCertTemplate, e.to_string())),
        };
        let issued = self.ca.issue_for_key(&key, &holder, profile);
        self.granted(wrap, issued, profile, tx, nonce, cert_req_id)
    }

    /// kur's oldCertID must name a certificate this CA issued.
    fn old_certificate(&self, req: &crmf::request::CertRequest) -> Result<(), Refusal> {
        let old = req
            .controls
            .iter()
            .flatten()
            .find(|c| c.oid == OLD_CERT_ID)
            .and_then(|c| c.value.decode_as::<crmf::controls::CertId>().ok())
            .ok_or_else(|| refuse(Failure::BadRequest, "kur needs the oldCertID control"))?;
        let ours = matches!(&old.issuer, GeneralName::DirectoryName(n) if *n == self.ca_cert.tbs_certificate.subject);
        let serial = hex::encode_upper(old.serial_number.as_bytes());
        if !ours
            || !self
                .ca
                .dir()
                .join("issued")
                .join(format!("{serial}.pem"))
                .exists()
        {
            return Err(refuse(
                Failure::BadCertId,
                "this CA did not issue the certificate to update",
            ));
        }
        Ok(())
    }

    /// The response to a certificate request: the certificate, kept until
    /// its certConf, or the CA's refusal.
    fn granted(
        &self,
        wrap: fn(CertRepMessage) -> Body,
        issued: Result<firma_station_engine::ca::Issued, CaError>,
        profile: CertProfile,
        tx: &[u8],
        nonce: &[u8],
        cert_req_id: i64,
    ) -> Result<Body, Refusal> {
        let issued = match issued {
            Ok(i) => i,
            Err(e) => return certificate_rejection(wrap, cert_req_id, ca_refusal(&e)),
        };
        let cert = Certificate::from_der(&issued.der)
            .map_err(|e| refuse(Failure::SystemFailure, e.to_string()))?;
        tracing::info!(serial = %issued.serial, %profile, "issued, awaiting certConf");
        self.state().pending.insert(
            tx.to_vec(),
            Pending {
                serial: issued.serial.clone(),
                hash: firma_station_engine::ca::cmp::client::cert_hash(&cert, &issued.der),
                cert_req_id,
                nonce: nonce.to_vec(),
                since: Instant::now(),
            },
        );
        Ok(wrap(CertRepMessage {
            ca_pubs: None,
            response: vec![CertResponse {
                cert_req_id,
                status: StatusInfo::accepted(),
                certified_key_pair: Some(CertifiedKeyPair {
                    cert_or_enc_cert: CertOrEncCert::Certificate(Box::new(cert)),
                    priv_key: None,
                    publication_info: None,
                }),
                rsp_info: None,
            }],
        }))
    }

    fn cert_conf(
        &self,
        m: &Message<'_>,
        statuses: &[firma_station_engine::ca::cmp::body::CertStatus],
        tx: &[u8],
    ) -> Result<Body, Refusal> {
        let pending = self.state().pending.remove(tx).ok_or_else(|| {
            refuse(
                Failure::BadRequest,
                "no certificate awaits confirmation in this transaction",
            )
        })?;
        let put_back = |p: Pending| {
            self.state().pending.insert(tx.to_vec(), p);
        };
        if m.header.recip_nonce.as_ref().map(|n| n.as_bytes()) != Some(&pending.nonce[..]) {
            put_back(pending);
            return Err(refuse(
                Failure::BadRecipientNonce,
                "recipNonce is not the CA's senderNonce",
            ));
        }
        let Some(status) = statuses
            .iter()
            .find(|s| s.cert_req_id == pending.cert_req_id)
        else {
            put_back(pending);
            return Err(refuse(
                Failure::BadCertId,
                "certConf names no certificate of this transaction",
            ));
        };
        if status.cert_hash.as_bytes() != pending.hash {
            put_back(pending);
            return Err(refuse(
                Failure::BadCertId,
                "certHash is not the issued certificate's",
            ));
        }
        let accepted = status
            .status_info
            .as_ref()
            .is_none_or(|s| s.status().is_some_and(|s| s.granted()));
        if accepted {
            tracing::info!(serial = %pending.serial, "confirmed");
        } else {
            tracing::info!(serial = %pending.serial, "rejected by the RA: revoked");
            let _ = self
                .ca
                .revoke(&pending.serial, RevocationReason::CessationOfOperation);
        }
        Ok(Body::PkiConf)
    }

    fn rr(&self, details: &[cmpv2::rev::RevDetails]) -> Body {
        let mut statuses = Vec::new();
        for d in details {
            let t = &d.cert_details;
            let status = if t.issuer.as_ref() != Some(&self.ca_cert.tbs_certificate.subject) {
                StatusInfo::rejection(
                    Failures::default().with(Failure::BadCertId),
                    "the certificate is not this CA's",
                )
            } else if let Some(serial) = &t.serial_number {
                let hex = hex::encode_upper(serial.as_bytes());
                match self.ca.revoke(&hex, reason_of(d)) {
                    Ok(()) => Ok(StatusInfo::accepted()),
                    Err(e) => {
                        let r = ca_refusal(&e);
                        StatusInfo::rejection(r.failures, &r.text)
                    }
                }
            } else {
                StatusInfo::rejection(
                    Failures::default().with(Failure::BadCertId),
                    "no serial number",
                )
            };
            statuses.push(status.unwrap_or_else(|_| StatusInfo::accepted()));
        }
        Body::Rp(RevRepContent {
            status: statuses,
            rev_certs: None,
            crls: None,
        })
    }

    fn genm(&self, infos: &[InfoTypeAndValue]) -> Body {
        let mut out = Vec::new();
        for i in infos {
            if i.oid == ID_IT_CA_CERTS {
                if let Ok(value) = der::Any::encode_from(&vec![self.ca_cert.clone()]) {
                    out.push(InfoTypeAndValue {
                        oid: ID_IT_CA_CERTS,
                        value: Some(value),
                    });
                }
            }
        }
        Body::GenP(out)
    }

    fn error(&self, request: Option<&PkiHeader<'_>>, refusal: Refusal) -> Vec<u8> {
        let status = StatusInfo::rejection(refusal.failures, &refusal.text)
            .unwrap_or_else(|_| StatusInfo::accepted());
        let body = Body::Error(ErrorMsgContent {
            status,
            error_code: None,
            error_details: None,
        });
        self.respond(request, body, self.signer_nonce())
    }

    fn respond(&self, request: Option<&PkiHeader<'_>>, body: Body, nonce: Vec<u8>) -> Vec<u8> {
        let header = self.header(request, nonce);
        let signed = header.and_then(|h| {
            let mut m = Message::new(h, body)?;
            self.signer.protect(&mut m)?;
            m.to_der()
        });
        signed.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot encode a CMP response");
            Vec::new()
        })
    }

    fn header(
        &self,
        request: Option<&PkiHeader<'_>>,
        nonce: Vec<u8>,
    ) -> der::Result<PkiHeader<'static>> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let recipient = request.map(|r| r.sender.clone()).unwrap_or_else(|| {
            GeneralName::DirectoryName(x509_cert::name::RdnSequence(Vec::new()))
        });
        Ok(PkiHeader {
            pvno: Pvno::Cmp2000,
            sender: self.signer.sender(),
            recipient,
            message_time: Some(GeneralizedTime::from_unix_duration(Duration::from_secs(
                secs,
            ))?),
            protection_alg: Some(self.signer.algorithm()),
            sender_kid: self.signer.key_id(),
            recip_kid: request.and_then(|r| r.sender_kid.clone()),
            trans_id: match request.and_then(|r| r.trans_id.clone()) {
                Some(t) => Some(t),
                None => Some(OctetString::new(random16())?),
            },
            sender_nonce: Some(OctetString::new(nonce)?),
            recip_nonce: request.and_then(|r| r.sender_nonce.clone()),
            free_text: None,
            general_info: None,
        })
    }
}
