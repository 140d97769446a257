//! What an RA's request says (the holder, the revocation reason, small
//! integers) and how a request is refused, for `responder.rs`.

use der::asn1::ObjectIdentifier;
use der::oid::AssociatedOid;
use der::Decode;
use firma_station_engine::ca::cmp::body::{CertRepMessage, CertResponse};
use firma_station_engine::ca::cmp::{Body, Failure, Failures, StatusInfo};
use firma_station_engine::ca::{CaError, RevocationReason};
use firma_station_engine::profile::Holder;
use rand::RngCore;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{CrlReason, SubjectAltName};

const GIVEN_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.42");
const SURNAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.4");
const SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");

/// A refusal, answered as an error message or in the body's status.
pub(crate) struct Refusal {
    pub(crate) failures: Failures,
    pub(crate) text: String,
}

pub(crate) fn refuse(f: Failure, text: impl Into<String>) -> Refusal {
    Refusal {
        failures: Failures::default().with(f),
        text: text.into(),
    }
}

pub(crate) fn random16() -> Vec<u8> {
    let mut b = vec![0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// What the CA's profiles would do with `e`, for the RA.
pub(crate) fn ca_refusal(e: &CaError) -> Refusal {
    let f = match e {
        CaError::BadSignature => Failure::BadPop,
        CaError::BadCsr(_) => Failure::BadDataFormat,
        CaError::UnsupportedKey(_) | CaError::BadHolder(_) => Failure::BadCertTemplate,
        CaError::UnknownSerial(_) => Failure::BadCertId,
        CaError::AlreadyRevoked(_) => Failure::CertRevoked,
        _ => Failure::SystemFailure,
    };
    refuse(f, e.to_string())
}

/// The holder a CSR names, as the RA checked it: the subject's givenName,
/// surname and serialNumber (IDCES-NIF), and the e-mail of its
/// subjectAltName. The certificate's subject is rebuilt from these by the
/// CA's profile, so nothing else in the CSR reaches the certificate.
pub(crate) fn holder_of(
    subject: &x509_cert::name::Name,
    san: Option<SubjectAltName>,
) -> Result<Holder, Refusal> {
    let mut given = None;
    let mut surnames = None;
    let mut nif = None;
    for atv in subject.0.iter().flat_map(|rdn| rdn.0.iter()) {
        let text = std::str::from_utf8(atv.value.value())
            .ok()
            .map(str::to_string);
        match atv.oid {
            GIVEN_NAME => given = text,
            SURNAME => surnames = text,
            SERIAL_NUMBER => nif = text.map(|t| t.trim_start_matches("IDCES-").to_string()),
            _ => {}
        }
    }
    let email = san.and_then(|san| {
        san.0.into_iter().find_map(|n| match n {
            GeneralName::Rfc822Name(m) => Some(m.to_string()),
            _ => None,
        })
    });
    match (given, surnames, nif, email) {
        (Some(given_name), Some(surnames), Some(nif), Some(email)) => Ok(Holder {
            given_name,
            surnames,
            nif,
            email,
        }),
        _ => Err(refuse(
            Failure::BadCertTemplate,
            "the request must name the holder: givenName, surname, serialNumber IDCES-<NIF> and an e-mail in subjectAltName",
        )),
    }
}

/// The subjectAltName a PKCS#10 request asks for (extensionRequest).
pub(crate) fn subject_alt_name_in_csr(csr: &x509_cert::request::CertReq) -> Option<SubjectAltName> {
    csr.info
        .attributes
        .iter()
        .filter(|a| a.oid == x509_cert::request::ExtensionReq::OID)
        .flat_map(|a| a.values.iter())
        .filter_map(|v| v.decode_as::<x509_cert::request::ExtensionReq>().ok())
        .flat_map(|req| req.0)
        .find(|e| e.extn_id == <SubjectAltName as AssociatedOid>::OID)
        .and_then(|e| SubjectAltName::from_der(e.extn_value.as_bytes()).ok())
}

/// A small INTEGER's value.
pub(crate) fn int_value(int: &der::asn1::Int) -> Option<i64> {
    let bytes = int.as_bytes();
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    let negative = bytes[0] & 0x80 != 0;
    let mut value: i64 = if negative { -1 } else { 0 };
    for b in bytes {
        value = (value << 8) | i64::from(*b);
    }
    Some(value)
}

/// A certificate response refusing the request.
pub(crate) fn certificate_rejection(
    wrap: fn(CertRepMessage) -> Body,
    cert_req_id: i64,
    r: Refusal,
) -> Result<Body, Refusal> {
    Ok(wrap(CertRepMessage {
        ca_pubs: None,
        response: vec![CertResponse {
            cert_req_id,
            status: StatusInfo::rejection(r.failures, &r.text)
                .map_err(|e| refuse(Failure::SystemFailure, e.to_string()))?,
            certified_key_pair: None,
            rsp_info: None,
        }],
    }))
}

pub(crate) fn reason_of(details: &cmpv2::rev::RevDetails) -> RevocationReason {
    let reason = details
        .crl_entry_details
        .iter()
        .flatten()
        .find(|e| e.extn_id == CrlReason::OID)
        .and_then(|e| CrlReason::from_der(e.extn_value.as_bytes()).ok());
    match reason {
        Some(CrlReason::KeyCompromise) => RevocationReason::KeyCompromise,
        Some(CrlReason::AffiliationChanged) => RevocationReason::AffiliationChanged,
        Some(CrlReason::Superseded) => RevocationReason::Superseded,
        Some(CrlReason::CessationOfOperation) => RevocationReason::CessationOfOperation,
        _ => RevocationReason::Unspecified,
    }
}
