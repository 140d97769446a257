//! Firma's CMP client (`CmpCa`) against an independent CMP server: OpenSSL's
//! own (`openssl cmp -port 0`), which checks the protection of requests and
//! the proof of possession, runs certConf, rr, kur, polling and sends the
//! errors it is told to.

use std::path::Path;

use firma_apdu::piv::{Algorithm, PublicKey};
use firma_station_engine::ca::cmp::{CmpCa, CmpConfig, Failure, RaCredential};
use firma_station_engine::ca::{CaError, CertificateAuthority, RevocationReason};
use firma_station_engine::csr;
use firma_station_engine::profile::{Holder, Profile};
use firma_tests::cmp::{openssl, MockOptions, MockServer, Pki};
use p256::ecdsa::signature::hazmat::PrehashSigner;

fn holder() -> Holder {
    Holder {
        given_name: "María José".into(),
        surnames: "Muñoz de la Peña".into(),
        nif: "12345678Z".into(),
        email: "maria@example.org".into(),
    }
}

/// A key playing the card's: a P-256 key and the request the station
/// builds on it and has it sign.
struct Card {
    key: p256::ecdsa::SigningKey,
}

impl Card {
    fn new() -> Self {
        Card {
            key: p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng),
        }
    }

    fn csr(&self) -> Vec<u8> {
        let public = PublicKey::Ec {
            algorithm: Algorithm::EccP256,
            point: self
                .key
                .verifying_key()
                .to_encoded_point(false)
                .as_bytes()
                .to_vec(),
        };
        let info = csr::request_info(&holder(), &public).unwrap();
        let hash = csr::card_input(Algorithm::EccP256, &info);
        let sig: p256::ecdsa::DerSignature = self.key.sign_prehash(&hash).unwrap();
        csr::assemble(&info, Algorithm::EccP256, sig.as_bytes()).unwrap()
    }
}

fn client(pki: &Pki, server: &MockServer) -> CmpCa {
    client_with(pki, server, |_| {})
}

fn client_with(pki: &Pki, server: &MockServer, tune: impl FnOnce(&mut CmpConfig)) -> CmpCa {
    let ra = RaCredential::from_files(&pki.path("ra.key"), &pki.path("ra.crt")).unwrap();
    let mut config = CmpConfig::new(&server.url(), pki.der("ca").unwrap(), ra);
    tune(&mut config);
    CmpCa::new(config).unwrap()
}

/// A PKI, a card's request, the certificate the CA issues for it, and the
/// server that will return it.
fn setup(args: Vec<&str>) -> (Pki, Card, Vec<u8>, std::path::PathBuf, MockServer) {
    setup_with(MockOptions {
        args,
        ..Default::default()
    })
}

fn setup_with(options: MockOptions<'_>) -> (Pki, Card, Vec<u8>, std::path::PathBuf, MockServer) {
    let pki = Pki::new().unwrap();
    let card = Card::new();
    let csr = card.csr();
    let crt = pki.issue("issued", &csr).unwrap();
    let server = MockServer::start(&pki, &crt, options).unwrap();
    (pki, card, csr, crt, server)
}

fn pem_to_der(path: &Path) -> Vec<u8> {
    let pem = std::fs::read(path).unwrap();
    der::pem::decode_vec(&pem).unwrap().1
}

#[test]
fn p10cr_issues_and_confirms_the_card_key_certificate() {
    let (pki, _card, csr, crt, server) = setup(vec![]);
    let ca = client(&pki, &server);
    let issued = ca
        .issue(&csr, &holder(), Profile::Signature.into())
        .unwrap();

    // The certificate OpenSSL's server returned, its serial as the station
    // records it, and it verifies against the CA the station trusts.
    assert_eq!(issued.der, pem_to_der(&crt));
    assert_eq!(issued.serial, pki.serial(&crt).unwrap());
    assert!(issued.not_after > issued.not_before);
    std::fs::write(pki.path("got.der"), &issued.der).unwrap();
    openssl(
        &pki.path(""),
        &[
            "x509", "-inform", "DER", "-in", "got.der", "-out", "got.pem",
        ],
    )
    .unwrap();
    let verified = openssl(&pki.path(""), &["verify", "-CAfile", "ca.crt", "got.pem"]).unwrap();
    assert!(verified.contains("got.pem: OK"), "{verified}");
    assert_eq!(ca.certificate(), pki.der("ca").unwrap().as_slice());
    // p10cr, then certConf: two requests, each on its own connection.
    assert_eq!(server.requests(2), 2);
}

#[test]
fn revocation_sends_rr_with_the_reason_and_an_unknown_serial_is_refused() {
    let (pki, _card, _csr, crt, server) = setup(vec![]);
    let ca = client(&pki, &server);
    let serial = pki.serial(&crt).unwrap();
    ca.revoke(&serial, RevocationReason::KeyCompromise).unwrap();

    // The server knows only its fixed certificate: another serial is not one
    // it issued, and the station says so.
    let err = ca
        .revoke("0123456789ABCDEF", RevocationReason::Superseded)
        .unwrap_err();
    assert!(matches!(err, CaError::CmpRejected { .. }), "{err}");
    // The CA's own words reach the operator.
    assert!(
        err.to_string().contains("wrong certificate to revoke"),
        "{err}"
    );
}

#[test]
fn key_update_replaces_a_certificate_with_kur() {
    let (pki, _card, _csr, crt, server) = setup(vec!["-accept_raverified"]);
    let ca = client(&pki, &server);
    let old_serial = pki.serial(&crt).unwrap();
    // The mock's fixed answer is for the card's key; the renewal asks for
    // that key again under kur.
    let card_csr = std::fs::read(pki.path("issued.csr.der")).unwrap();
    let issued = ca
        .update_key(&old_serial, &card_csr, Profile::Authentication.into())
        .unwrap();
    assert_eq!(issued.der, pem_to_der(&crt));
    assert_eq!(server.requests(2), 2);
}

#[test]
fn a_tampered_request_is_refused_by_the_ca_for_its_proof_of_possession() {
    let (pki, _card, csr, _crt, server) = setup(vec![]);
    let ca = client(&pki, &server);
    let mut tampered = csr.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;

    // The station checks the card's signature itself before it vouches for
    // a request as the RA: nothing is sent.
    let err = ca
        .issue(&tampered, &holder(), Profile::Authentication.into())
        .unwrap_err();
    assert!(
        matches!(err, CaError::BadSignature | CaError::BadCsr(_)),
        "{err}"
    );
    assert_eq!(server.requests(0), 0);

    // Sent anyway, the CA refuses it: badPOP, in words.
    let err = ca.p10cr(&tampered, "firma-authentication").unwrap_err();
    let CaError::CmpRejected { failures, .. } = &err else {
        panic!("{err}");
    };
    assert!(failures.contains(Failure::BadPop), "{err}");
    assert!(err.to_string().contains("proof of possession"), "{err}");
}

#[test]
fn an_unprotected_response_is_refused() {
    let (pki, _card, csr, _crt, server) = setup(vec!["-send_unprotected"]);
    let ca = client(&pki, &server);
    let err = ca
        .issue(&csr, &holder(), Profile::Signature.into())
        .unwrap_err();
    assert!(matches!(err, CaError::CmpUntrusted(_)), "{err}");
    assert!(err.to_string().contains("not protected"), "{err}");
    // Nothing confirmed: the station stopped at the unverifiable answer.
    assert_eq!(server.requests(1), 1);
}

#[test]
fn a_response_signed_by_another_ca_is_refused() {
    let (pki, _card, csr, _crt, server) = setup_with(MockOptions {
        responder: Some("rogue-srv"),
        args: vec![],
    });
    let ca = client(&pki, &server);
    let err = ca
        .issue(&csr, &holder(), Profile::Signature.into())
        .unwrap_err();
    assert!(matches!(err, CaError::CmpUntrusted(_)), "{err}");
    assert!(
        err.to_string()
            .contains("neither the CA nor a certificate the CA issued"),
        "{err}"
    );
    assert_eq!(server.requests(1), 1);
}

#[test]
fn a_waiting_ca_is_polled_until_it_issues() {
    let (pki, _card, csr, crt, server) = setup(vec!["-poll_count", "2", "-check_after", "0"]);
    let ca = client(&pki, &server);
    let issued = ca
        .issue(&csr, &holder(), Profile::KeyManagement.into())
        .unwrap();
    assert_eq!(issued.der, pem_to_der(&crt));
    // p10cr (waiting), two pollReq, certConf.
    assert_eq!(server.requests(4), 4);
}

#[test]
fn a_ca_that_keeps_waiting_is_given_up_on_with_a_message() {
    let (pki, _card, csr, _crt, server) = setup(vec!["-poll_count", "1000", "-check_after", "0"]);
    let ca = client_with(&pki, &server, |c| c.max_wait = std::time::Duration::ZERO);
    let err = ca
        .issue(&csr, &holder(), Profile::KeyManagement.into())
        .unwrap_err();
    assert!(matches!(err, CaError::CmpStillWaiting { .. }), "{err}");
    assert!(
        err.to_string().contains("run the same command again later"),
        "{err}"
    );
}

#[test]
fn the_servers_refusal_is_reported_in_words() {
    let (pki, _card, csr, _crt, server) = setup(vec![
        "-pkistatus",
        "2",
        "-failure",
        "23",
        "-statusstring",
        "this RA is suspended",
    ]);
    let ca = client(&pki, &server);
    let err = ca
        .issue(&csr, &holder(), Profile::Signature.into())
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, CaError::CmpRejected { .. }), "{text}");
    assert!(
        text.contains("does not accept this station as a registration authority"),
        "{text}"
    );
    assert!(text.contains("this RA is suspended"), "{text}");
}

#[test]
fn the_servers_error_message_is_reported_in_words() {
    let (pki, _card, csr, _crt, server) = setup(vec!["-send_error"]);
    let ca = client(&pki, &server);
    let err = ca
        .issue(&csr, &holder(), Profile::Signature.into())
        .unwrap_err();
    assert!(matches!(err, CaError::CmpRejected { .. }), "{err}");
    assert!(
        err.to_string().starts_with("the CA refused the request"),
        "{err}"
    );
}

#[test]
fn an_unprotected_error_message_is_reported_as_unverified() {
    let (pki, _card, csr, _crt, server) = setup(vec!["-send_error", "-send_unprotected"]);
    let ca = client(&pki, &server);
    let err = ca
        .issue(&csr, &holder(), Profile::Signature.into())
        .unwrap_err();
    assert!(matches!(err, CaError::CmpUnverifiedError { .. }), "{err}");
    assert!(err.to_string().contains("cannot be verified"), "{err}");
    assert!(err.to_string().contains("nothing was changed"), "{err}");
}

#[test]
fn a_station_the_ca_does_not_know_is_refused() {
    let pki = Pki::new().unwrap();
    let card = Card::new();
    let csr = card.csr();
    let crt = pki.issue("issued", &csr).unwrap();
    // A server that trusts only the other CA's certificates as RAs.
    let server = MockServer::start(
        &pki,
        &crt,
        MockOptions {
            args: vec!["-srv_trusted", "other-ca.crt"],
            ..Default::default()
        },
    )
    .unwrap();
    let ca = client(&pki, &server);
    let err = ca
        .issue(&csr, &holder(), Profile::Signature.into())
        .unwrap_err();
    assert!(matches!(err, CaError::CmpRejected { .. }), "{err}");
    assert!(err.to_string().contains("no suitable sender cert"), "{err}");
}

#[test]
fn a_ca_that_is_down_is_reported() {
    let pki = Pki::new().unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ra = RaCredential::from_files(&pki.path("ra.key"), &pki.path("ra.crt")).unwrap();
    let ca = CmpCa::new(CmpConfig::new(
        &format!("http://127.0.0.1:{port}/pkix/"),
        pki.der("ca").unwrap(),
        ra,
    ))
    .unwrap();
    let csr = Card::new().csr();
    let err = ca
        .issue(&csr, &holder(), Profile::Signature.into())
        .unwrap_err();
    assert!(matches!(err, CaError::CaUnreachable { .. }), "{err}");
    assert!(err.to_string().contains("check the network"), "{err}");
}

#[test]
fn the_cas_crl_is_fetched_verified_and_kept() {
    use firma_station_engine::ca::LocalCa;
    let dir = tempfile::tempdir().unwrap();
    let local = LocalCa::init(&dir.path().join("ca"), "Firma CRL Test CA").unwrap();
    let other = LocalCa::init(&dir.path().join("other"), "Someone Else").unwrap();
    let ra =
        |pki: &Pki| RaCredential::from_files(&pki.path("ra.key"), &pki.path("ra.crt")).unwrap();
    let pki = Pki::new().unwrap();
    let crl = local.crl().unwrap();

    // The CA's CRL, served once: fetched and verified; then, with its
    // distribution point gone, the copy kept while it is current.
    let url = firma_tests::cmp::serve_once(crl.clone(), 1).unwrap();
    let mut config = CmpConfig::new(
        "http://127.0.0.1:9/pkix/",
        local.certificate().to_vec(),
        ra(&pki),
    );
    config.crl_url = Some(url);
    let ca = CmpCa::new(config).unwrap();
    assert_eq!(ca.crl().unwrap(), crl);
    assert_eq!(ca.crl().unwrap(), crl);

    // A CRL someone else signed is refused.
    let url = firma_tests::cmp::serve_once(other.crl().unwrap(), 1).unwrap();
    let mut config = CmpConfig::new(
        "http://127.0.0.1:9/pkix/",
        local.certificate().to_vec(),
        ra(&pki),
    );
    config.crl_url = Some(url);
    let err = CmpCa::new(config).unwrap().crl().unwrap_err();
    assert!(matches!(err, CaError::BadCrl { .. }), "{err}");
}

#[test]
fn a_certificate_for_another_key_is_rejected_in_the_confirmation() {
    let pki = Pki::new().unwrap();
    let card = Card::new();
    // The server's fixed answer certifies someone else's key.
    let crt = pki.issue("other", &Card::new().csr()).unwrap();
    let server = MockServer::start(&pki, &crt, MockOptions::default()).unwrap();
    let ca = client(&pki, &server);
    let err = ca
        .issue(&card.csr(), &holder(), Profile::Signature.into())
        .unwrap_err();
    assert!(matches!(err, CaError::CmpWrongCertificate(_)), "{err}");
    assert!(err.to_string().contains("another key"), "{err}");
    // p10cr, then the certConf that rejects it.
    assert_eq!(server.requests(2), 2);
}
