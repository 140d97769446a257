//! The message layer on its own: requests built, signed and read back;
//! responses refused when tampered with or out of their transaction; any
//! bytes read without a panic.

use std::path::Path;

use der::Encode;
use proptest::prelude::*;

use super::body::{CertStatus, PollReqEntry};
use super::protection::ProtectionError;
use super::transaction::{requested_profile, CheckError};
use super::*;
use crate::ca::{CertificateAuthority, LocalCa};
use crate::csr::testing::{holder, SoftKey};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/test-ca");

/// The test CA's key and certificate, as an RA credential (a self-signed one
/// is enough to sign and check messages).
fn credential() -> (RaCredential, x509_cert::Certificate) {
    let dir = Path::new(FIXTURE);
    let ra = RaCredential::from_files(&dir.join("ca.key"), &dir.join("ca.pem")).unwrap();
    let cert = ra.certificate().clone();
    (ra, cert)
}

fn p10cr(ra: &RaCredential, tx: &mut Transaction) -> Vec<u8> {
    let csr = SoftKey::p256().csr(&holder());
    let recipient = ra.certificate().tbs_certificate.subject.clone();
    let header = tx.header(ra, &recipient, Some("firma-signature")).unwrap();
    let body = Body::P10cr(der::Decode::from_der(&csr).unwrap());
    let mut m = Message::new(header, body).unwrap();
    ra.protect(&mut m).unwrap();
    m.to_der().unwrap()
}

/// A response to `tx`'s last request, as the CA (here: `ra`) would sign it.
fn response(ra: &RaCredential, tx_id: &[u8], recip_nonce: &[u8], body: Body) -> Vec<u8> {
    let mut other = Transaction::new();
    let recipient = ra.certificate().tbs_certificate.subject.clone();
    let mut header = other.header(ra, &recipient, None).unwrap();
    header.trans_id = Some(der::asn1::OctetString::new(tx_id).unwrap());
    header.recip_nonce = Some(der::asn1::OctetString::new(recip_nonce).unwrap());
    let mut m = Message::new(header, body).unwrap();
    ra.protect(&mut m).unwrap();
    m.to_der().unwrap()
}

fn sent_nonce(request: &[u8]) -> Vec<u8> {
    let m = Message::from_der(request).unwrap();
    m.header.sender_nonce.unwrap().as_bytes().to_vec()
}

#[test]
fn a_signed_request_reads_back_and_verifies() {
    let (ra, ca) = credential();
    let mut tx = Transaction::new();
    let der = p10cr(&ra, &mut tx);
    let m = Message::from_der(&der).unwrap();
    assert!(matches!(m.body, Body::P10cr(_)));
    assert_eq!(m.header.trans_id.as_ref().unwrap().as_bytes(), tx.id());
    assert_eq!(
        requested_profile(&m.header).as_deref(),
        Some("firma-signature")
    );
    assert_eq!(m.extra_certs.len(), 1);
    protection::verify(&m, &ca).unwrap();
    // Written again, byte for byte.
    assert_eq!(m.to_der().unwrap(), der);
}

#[test]
fn a_tampered_message_is_refused() {
    let (ra, ca) = credential();
    let mut tx = Transaction::new();
    let mut der = p10cr(&ra, &mut tx);
    // The last byte of the certificate request's signature is inside the
    // protected part, well before the protection itself.
    let at = der.len() / 2;
    der[at] ^= 0x01;
    if let Ok(m) = Message::from_der(&der) {
        assert!(matches!(
            protection::verify(&m, &ca),
            Err(ProtectionError::BadSignature(_) | ProtectionError::UnknownSigner(_))
        ));
    }
}

#[test]
fn a_response_signed_by_someone_else_is_refused() {
    let (ra, _) = credential();
    let other_dir = tempfile::tempdir().unwrap();
    let other = LocalCa::init(other_dir.path(), "Someone Else").unwrap();
    let other_cert: x509_cert::Certificate = der::Decode::from_der(other.certificate()).unwrap();
    let mut tx = Transaction::new();
    let req = p10cr(&ra, &mut tx);
    let rsp = response(&ra, tx.id(), &sent_nonce(&req), Body::PkiConf);
    let m = Message::from_der(&rsp).unwrap();
    assert!(matches!(
        tx.check(&m, &other_cert),
        Err(CheckError::Protection(ProtectionError::UnknownSigner(_)))
    ));
}

#[test]
fn a_response_outside_the_transaction_is_refused() {
    let (ra, ca) = credential();
    let mut tx = Transaction::new();
    let req = p10cr(&ra, &mut tx);
    let nonce = sent_nonce(&req);

    let wrong_id = response(&ra, &[0u8; 16], &nonce, Body::PkiConf);
    assert_eq!(
        tx.check(&Message::from_der(&wrong_id).unwrap(), &ca)
            .unwrap_err(),
        CheckError::TransactionId
    );
    let wrong_nonce = response(&ra, tx.id(), &[7u8; 16], Body::PkiConf);
    assert_eq!(
        tx.check(&Message::from_der(&wrong_nonce).unwrap(), &ca)
            .unwrap_err(),
        CheckError::RecipientNonce
    );
    let good = response(&ra, tx.id(), &nonce, Body::PkiConf);
    let good = Message::from_der(&good).unwrap();
    tx.check(&good, &ca).unwrap();

    // The next request answers the CA's nonce.
    let recipient = ra.certificate().tbs_certificate.subject.clone();
    let next = tx.header(&ra, &recipient, None).unwrap();
    assert_eq!(next.recip_nonce, good.header.sender_nonce);
}

#[test]
fn an_unprotected_response_is_refused() {
    let (ra, ca) = credential();
    let mut tx = Transaction::new();
    let req = p10cr(&ra, &mut tx);
    let rsp = response(&ra, tx.id(), &sent_nonce(&req), Body::PkiConf);
    let mut m = Message::from_der(&rsp).unwrap();
    m.protection = None;
    let der = m.to_der().unwrap();
    assert_eq!(
        tx.check(&Message::from_der(&der).unwrap(), &ca)
            .unwrap_err(),
        CheckError::Protection(ProtectionError::Unprotected)
    );
}

#[test]
fn failure_bits_are_the_rfc_ones() {
    let f = Failures::default().with(Failure::BadPop);
    let bits = f.to_bits().unwrap();
    // badPOP is bit 9: two bytes, 6 unused bits, 0x00 0x40.
    assert_eq!(bits.raw_bytes(), &[0x00, 0x40]);
    assert_eq!(bits.unused_bits(), 6);
    assert_eq!(Failures::from_bits(&bits), f);
    assert_eq!(f.to_string(), "badPOP");
    assert!(f.explanation().contains("proof of possession"));
    let many = f.with(Failure::SystemFailure).with(Failure::BadTime);
    assert_eq!(Failures::from_bits(&many.to_bits().unwrap()), many);
    assert_eq!(many.to_string(), "badTime, badPOP, systemFailure");
}

#[test]
fn bodies_read_back() {
    let bodies = [
        Body::PkiConf,
        Body::PollReq(vec![PollReqEntry { cert_req_id: 0 }]),
        Body::CertConf(vec![CertStatus {
            cert_hash: der::asn1::OctetString::new([1u8; 32]).unwrap(),
            cert_req_id: -1,
            status_info: Some(StatusInfo::accepted()),
            hash_alg: None,
        }]),
        Body::Error(body::ErrorMsgContent {
            status: StatusInfo::rejection(Failures::default().with(Failure::BadPop), "no").unwrap(),
            error_code: Some(7),
            error_details: Some(vec!["details".into()]),
        }),
    ];
    for b in bodies {
        assert_eq!(Body::from_der(&b.to_der().unwrap()).unwrap(), b);
    }
}

fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    (
        proptest::collection::vec((0..len, any::<u8>()), 1..8),
        0..=len,
    )
        .prop_map(move |(flips, cut)| {
            let mut m = valid.clone();
            for (i, b) in flips {
                m[i] ^= b;
            }
            m.truncate(cut.max(1));
            m
        })
}

proptest! {
    #[test]
    fn any_bytes_read_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(m) = Message::from_der(&bytes) {
            let _ = m.to_der();
        }
        let _ = Body::from_der(&bytes);
    }

    #[test]
    fn a_mutated_message_reads_without_panic(bytes in mutated({
        let (ra, _) = credential();
        p10cr(&ra, &mut Transaction::new())
    })) {
        let (_, ca) = credential();
        if let Ok(m) = Message::from_der(&bytes) {
            let _ = protection::verify(&m, &ca);
            let _ = m.to_der();
            let _ = m.header.to_der();
        }
    }
}

#[test]
fn an_oversized_message_is_refused() {
    let big = vec![0x30; message::MAX_MESSAGE + 1];
    assert!(matches!(
        Message::from_der(&big),
        Err(DecodeError::TooLarge(_))
    ));
}

#[test]
fn the_ra_key_never_shows_in_debug_output() {
    use p256::pkcs8::DecodePrivateKey;
    let (ra, ca) = credential();
    let pem = std::fs::read_to_string(Path::new(FIXTURE).join("ca.key")).unwrap();
    let secret = p256::SecretKey::from_pkcs8_pem(&pem).unwrap().to_bytes();
    let config = CmpConfig::new("http://127.0.0.1:9/", ca.to_der().unwrap(), ra);
    let shown = format!("{config:?}");
    let client = CmpCa::new(config).unwrap();
    for text in [shown, format!("{client:?}")] {
        assert!(
            !text.to_lowercase().contains(&hex::encode(secret)),
            "{text}"
        );
        let decimal = format!("{:?}", &secret[..4]);
        assert!(!text.contains(decimal.trim_matches(['[', ']'])), "{text}");
        assert!(text.contains("RaCredential"), "{text}");
    }
}
