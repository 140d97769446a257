//! `firma-ca serve` against an independent CMP client, OpenSSL's
//! (`openssl cmp -cmd p10cr|cr|kur|genm|rr`), and against Firma's own: enrolment,
//! revocation into the CRL it publishes, requests from an RA it does not
//! know, broken proofs of possession, replays and bad bytes refused, and
//! the CRL number kept across restarts, and a certificate never confirmed
//! revoked.

use std::path::Path;

use firma_apdu::piv::{Algorithm, PublicKey};
use firma_station_engine::ca::cmp::{CmpCa, CmpConfig, RaCredential};
use firma_station_engine::ca::{CaError, CertificateAuthority, RevocationReason};
use firma_station_engine::csr;
use firma_station_engine::profile::{Holder, Profile};
use firma_tests::cmp::{openssl, post, FirmaCa, Pki};
use p256::ecdsa::signature::hazmat::PrehashSigner;

const SUBJECT: &str =
    "/C=ES/GN=Juan/SN=Espanol Garcia/serialNumber=IDCES-12345678Z/CN=ESPANOL GARCIA JUAN - 12345678Z";

/// A PKI (for the RA certificates), a new `firma-ca` in it accepting the
/// station's RA certificate, and the server.
fn ca_with(args: &[&str]) -> (Pki, FirmaCa) {
    let pki = Pki::new().unwrap();
    let dir = pki.path("firma-ca");
    std::process::Command::new(firma_tests::bin("firma-ca"))
        .arg("--dir")
        .arg(&dir)
        .args(["init", "--name", "Firma Test CA"])
        .output()
        .unwrap();
    std::fs::copy(pki.path("ra.crt"), dir.join("ra/station.pem")).unwrap();
    let server = FirmaCa::start(&dir, args).unwrap();
    (pki, server)
}

/// `openssl cmp -cmd CMD` as the RA `ra` (a name of the PKI).
fn openssl_cmp(pki: &Pki, server: &FirmaCa, ra: &str, args: &[&str]) -> Result<String, String> {
    let cert = format!("{ra}.crt");
    let key = format!("{ra}.key");
    let mut all = vec![
        "cmp",
        "-server",
        server.server(),
        "-path",
        "pkix/",
        "-cert",
        &cert,
        "-key",
        &key,
        "-trusted",
        "firma-ca/ca.pem",
    ];
    all.extend_from_slice(args);
    openssl(&pki.path(""), &all)
}

fn request(pki: &Pki, name: &str) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    openssl(
        &pki.path(""),
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            SUBJECT,
            "-addext",
            "subjectAltName=email:juan@example.org",
        ],
    )
    .unwrap();
}

fn text_of(pki: &Pki, cert: &str) -> String {
    openssl(&pki.path(""), &["x509", "-in", cert, "-noout", "-text"]).unwrap()
}

fn serial_of(pki: &Pki, cert: &str) -> String {
    pki.serial(&pki.path(cert)).unwrap()
}

#[test]
fn openssl_enrols_with_p10cr_and_the_cas_profile_decides() {
    let (pki, server) = ca_with(&[
        "--default-profile",
        "signature",
        "--policy",
        "1.3.6.1.4.1.99999.1.2",
    ]);
    request(&pki, "juan");
    let out = openssl_cmp(
        &pki,
        &server,
        "ra",
        &["-cmd", "p10cr", "-csr", "juan.csr", "-certout", "juan.crt"],
    )
    .unwrap();
    assert!(out.contains("received PKICONF"), "{out}");
    let verified = openssl(
        &pki.path(""),
        &["verify", "-CAfile", "firma-ca/ca.pem", "juan.crt"],
    )
    .unwrap();
    assert!(verified.contains("juan.crt: OK"), "{verified}");
    let text = text_of(&pki, "juan.crt");
    // The subject rebuilt by the CA's profile; the qualified signature
    // profile's key usage and QC statements, which the CSR did not ask for.
    assert!(text.contains("serialNumber = IDCES-12345678Z"), "{text}");
    assert!(
        text.contains("CN = ESPANOL GARCIA JUAN - 12345678Z"),
        "{text}"
    );
    assert!(text.contains("Non Repudiation"), "{text}");
    assert!(
        text.contains("qcStatements") || text.contains("1.3.6.1.5.5.7.1.3"),
        "{text}"
    );
    assert!(text.contains("email:juan@example.org"), "{text}");
    // Where its CRL is, and the policy it was issued under.
    assert!(text.contains("CRL Distribution Points"), "{text}");
    assert!(
        text.contains(&format!("URI:{}", server.crl_url())),
        "{text}"
    );
    assert!(text.contains("Policy: 1.3.6.1.4.1.99999.1.2"), "{text}");
}

#[test]
fn openssl_genm_is_answered() {
    let (pki, server) = ca_with(&[]);
    let out = openssl_cmp(&pki, &server, "ra", &["-cmd", "genm"]).unwrap();
    assert!(out.contains("received GENP"), "{out}");
}

#[test]
fn openssl_revokes_and_the_serial_is_in_the_crl_with_its_reason() {
    let (pki, server) = ca_with(&["--default-profile", "authentication"]);
    request(&pki, "juan");
    openssl_cmp(
        &pki,
        &server,
        "ra",
        &["-cmd", "p10cr", "-csr", "juan.csr", "-certout", "juan.crt"],
    )
    .unwrap();
    let out = openssl_cmp(
        &pki,
        &server,
        "ra",
        &["-cmd", "rr", "-oldcert", "juan.crt", "-revreason", "1"],
    )
    .unwrap();
    assert!(out.contains("revocation accepted"), "{out}");
    // Twice: refused, in words.
    let err = openssl_cmp(
        &pki,
        &server,
        "ra",
        &["-cmd", "rr", "-oldcert", "juan.crt", "-revreason", "1"],
    )
    .unwrap_err();
    assert!(err.contains("certRevoked"), "{err}");

    // The CRL it publishes, read by openssl.
    let status_and_crl = http_get(server.crl_url());
    std::fs::write(pki.path("ca.crl"), status_and_crl).unwrap();
    let crl = openssl(
        &pki.path(""),
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "ca.crl",
            "-noout",
            "-text",
            "-CAfile",
            "firma-ca/ca.pem",
        ],
    )
    .unwrap();
    assert!(crl.contains("verify OK"), "{crl}");
    assert!(crl.contains(&serial_of(&pki, "juan.crt")), "{crl}");
    assert!(crl.contains("Key Compromise"), "{crl}");
}

#[test]
fn a_request_from_an_ra_the_ca_does_not_know_is_refused() {
    let (pki, server) = ca_with(&["--default-profile", "authentication"]);
    request(&pki, "juan");
    // "srv" has a certificate of the same PKI, but is not a configured RA.
    let err = openssl_cmp(
        &pki,
        &server,
        "srv",
        &["-cmd", "p10cr", "-csr", "juan.csr", "-certout", "x.crt"],
    )
    .unwrap_err();
    assert!(err.contains("notAuthorized"), "{err}");
    assert!(!pki.path("x.crt").exists());
}

#[test]
fn a_request_with_a_broken_signature_is_refused_as_badpop() {
    let (pki, server) = ca_with(&["--default-profile", "authentication"]);
    request(&pki, "juan");
    openssl(
        &pki.path(""),
        &[
            "req", "-in", "juan.csr", "-outform", "DER", "-out", "juan.der",
        ],
    )
    .unwrap();
    let mut der = std::fs::read(pki.path("juan.der")).unwrap();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    std::fs::write(pki.path("broken.der"), &der).unwrap();
    openssl(
        &pki.path(""),
        &[
            "req",
            "-inform",
            "DER",
            "-in",
            "broken.der",
            "-out",
            "broken.csr",
        ],
    )
    .unwrap();
    let err = openssl_cmp(
        &pki,
        &server,
        "ra",
        &["-cmd", "p10cr", "-csr", "broken.csr", "-certout", "x.crt"],
    )
    .unwrap_err();
    assert!(err.contains("badPOP"), "{err}");
}

/// A config section giving the holder's e-mail as subjectAltName (OpenSSL
/// 3.0's `-sans` takes no e-mail address).
fn holder_extensions(pki: &Pki) {
    std::fs::write(
        pki.path("holder.cnf"),
        "[holder]\nsubjectAltName = email:juan@example.org\n",
    )
    .unwrap();
}

#[test]
fn openssl_enrols_with_cr_and_renews_with_kur() {
    let (pki, server) = ca_with(&["--default-profile", "authentication"]);
    holder_extensions(&pki);
    for key in ["first.key", "second.key"] {
        openssl(
            &pki.path(""),
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                key,
            ],
        )
        .unwrap();
    }
    // cr: the CRMF proof of possession is the new key's signature.
    let out = openssl_cmp(
        &pki,
        &server,
        "ra",
        &[
            "-config",
            "holder.cnf",
            "-cmd",
            "cr",
            "-newkey",
            "first.key",
            "-subject",
            SUBJECT,
            "-reqexts",
            "holder",
            "-certout",
            "first.crt",
        ],
    )
    .unwrap();
    assert!(out.contains("received PKICONF"), "{out}");
    let first = text_of(&pki, "first.crt");
    assert!(first.contains("TLS Web Client Authentication"), "{first}");
    assert!(first.contains("email:juan@example.org"), "{first}");
    // kur: a new key for the holder of the first certificate.
    let out = openssl_cmp(
        &pki,
        &server,
        "ra",
        &[
            "-cmd",
            "kur",
            "-newkey",
            "second.key",
            "-oldcert",
            "first.crt",
            "-certout",
            "second.crt",
        ],
    )
    .unwrap();
    assert!(out.contains("received PKICONF"), "{out}");
    let verified = openssl(
        &pki.path(""),
        &["verify", "-CAfile", "firma-ca/ca.pem", "second.crt"],
    )
    .unwrap();
    assert!(verified.contains("second.crt: OK"), "{verified}");
    assert_ne!(serial_of(&pki, "first.crt"), serial_of(&pki, "second.crt"));
    assert!(text_of(&pki, "second.crt").contains("serialNumber = IDCES-12345678Z"));
}

#[test]
fn a_certificate_never_confirmed_is_revoked() {
    use firma_station_engine::ca::cmp::Body;
    let (pki, server) = ca_with(&["--confirm-timeout-secs", "0"]);
    // A station that dies between cp and certConf.
    let (_, answer) = post(server.url(), "application/pkixcmp", &signed_p10cr(&pki)).unwrap();
    let Body::Cp(rep) = answer_body(&answer) else {
        panic!("no certificate response");
    };
    let Some(firma_station_engine::ca::cmp::cmpv2::certified_key_pair::CertOrEncCert::Certificate(
        cert,
    )) = rep.response[0]
        .certified_key_pair
        .as_ref()
        .map(|k| k.cert_or_enc_cert.clone())
    else {
        panic!("no certificate");
    };
    let serial = hex::encode_upper(cert.tbs_certificate.serial_number.as_bytes());
    // The next request finds it unconfirmed past its time: revoked.
    openssl_cmp(&pki, &server, "ra", &["-cmd", "genm"]).unwrap();
    let crl: x509_cert::crl::CertificateList =
        der::Decode::from_der(&http_get(server.crl_url())).unwrap();
    let revoked: Vec<String> = crl
        .tbs_cert_list
        .revoked_certificates
        .iter()
        .flatten()
        .map(|r| hex::encode_upper(r.serial_number.as_bytes()))
        .collect();
    assert_eq!(revoked, vec![serial]);
}

fn http_get(url: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    answer[split + 4..].to_vec()
}

/// A key playing the card's (as in `cmp_client.rs`).
fn card_csr(holder: &Holder) -> Vec<u8> {
    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let public = PublicKey::Ec {
        algorithm: Algorithm::EccP256,
        point: key
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
    };
    let info = csr::request_info(holder, &public).unwrap();
    let sig: p256::ecdsa::DerSignature = key
        .sign_prehash(&csr::card_input(Algorithm::EccP256, &info))
        .unwrap();
    csr::assemble(&info, Algorithm::EccP256, sig.as_bytes()).unwrap()
}

fn holder() -> Holder {
    Holder {
        given_name: "María José".into(),
        surnames: "Muñoz de la Peña".into(),
        nif: "12345678Z".into(),
        email: "maria@example.org".into(),
    }
}

fn firma_client(pki: &Pki, server: &FirmaCa) -> CmpCa {
    let ra = RaCredential::from_files(&pki.path("ra.key"), &pki.path("ra.crt")).unwrap();
    let pem = std::fs::read(pki.path("firma-ca/ca.pem")).unwrap();
    let ca = der::pem::decode_vec(&pem).unwrap().1;
    let mut config = CmpConfig::new(server.url(), ca, ra);
    config.crl_url = Some(server.crl_url().to_string());
    CmpCa::new(config).unwrap()
}

#[test]
fn firmas_client_enrols_each_profile_revokes_and_reads_the_crl() {
    // No default profile: Firma's client names one in every request.
    let (pki, server) = ca_with(&[]);
    let ca = firma_client(&pki, &server);
    let mut serials = Vec::new();
    for profile in Profile::all() {
        let issued = ca
            .issue(&card_csr(&holder()), &holder(), profile.into())
            .unwrap();
        std::fs::write(pki.path("got.der"), &issued.der).unwrap();
        let text = openssl(
            &pki.path(""),
            &[
                "x509", "-inform", "DER", "-in", "got.der", "-noout", "-text",
            ],
        )
        .unwrap();
        let expected = match profile {
            Profile::Authentication => "TLS Web Client Authentication",
            Profile::Signature => "Non Repudiation",
            Profile::KeyManagement => "Key Agreement",
        };
        assert!(text.contains(expected), "{profile}: {text}");
        serials.push(issued.serial);
    }
    ca.revoke(&serials[1], RevocationReason::Superseded)
        .unwrap();
    assert!(matches!(
        ca.revoke(&serials[1], RevocationReason::Superseded),
        Err(CaError::AlreadyRevoked(_))
    ));
    assert!(matches!(
        ca.revoke("0123456789ABCDEF", RevocationReason::Superseded),
        Err(CaError::UnknownSerial(_))
    ));
    let crl: x509_cert::crl::CertificateList = der::Decode::from_der(&ca.crl().unwrap()).unwrap();
    let revoked: Vec<String> = crl
        .tbs_cert_list
        .revoked_certificates
        .iter()
        .flatten()
        .map(|r| hex::encode_upper(r.serial_number.as_bytes()))
        .collect();
    assert_eq!(revoked, vec![serials[1].clone()]);
}

#[test]
fn a_profile_the_ca_does_not_have_is_refused_in_words() {
    let (pki, server) = ca_with(&[]);
    let ca = firma_client(&pki, &server);
    let err = ca.p10cr(&card_csr(&holder()), "gold-plated").unwrap_err();
    assert!(err.to_string().contains("certificate profile"), "{err}");
}

/// A p10cr as Firma's client signs it, to send by hand.
fn signed_p10cr(pki: &Pki) -> Vec<u8> {
    use firma_station_engine::ca::cmp::{Body, Message, Transaction};
    let ra = RaCredential::from_files(&pki.path("ra.key"), &pki.path("ra.crt")).unwrap();
    let pem = std::fs::read(pki.path("firma-ca/ca.pem")).unwrap();
    let ca: x509_cert::Certificate =
        der::Decode::from_der(&der::pem::decode_vec(&pem).unwrap().1).unwrap();
    let mut tx = Transaction::new();
    let header = tx
        .header(
            &ra,
            &ca.tbs_certificate.subject,
            Some("firma-authentication"),
        )
        .unwrap();
    let body = Body::P10cr(der::Decode::from_der(&card_csr(&holder())).unwrap());
    let mut m = Message::new(header, body).unwrap();
    ra.protect(&mut m).unwrap();
    m.to_der().unwrap()
}

fn answer_body(bytes: &[u8]) -> firma_station_engine::ca::cmp::Body {
    firma_station_engine::ca::cmp::Message::from_der(bytes)
        .unwrap()
        .body
}

#[test]
fn a_replayed_request_is_refused() {
    use firma_station_engine::ca::cmp::{Body, Failure};
    let (pki, server) = ca_with(&[]);
    let request = signed_p10cr(&pki);
    let (status, first) = post(server.url(), "application/pkixcmp", &request).unwrap();
    assert_eq!(status, 200);
    assert!(matches!(answer_body(&first), Body::Cp(_)));
    let (_, second) = post(server.url(), "application/pkixcmp", &request).unwrap();
    let Body::Error(e) = answer_body(&second) else {
        panic!("a replay was answered");
    };
    assert!(e.status.failures().contains(Failure::BadSenderNonce));
}

#[test]
fn bad_bytes_never_stop_the_server() {
    let (pki, server) = ca_with(&["--default-profile", "authentication"]);
    let valid = signed_p10cr(&pki);
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"hello".to_vec(),
        vec![0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
        valid[..valid.len() / 2].to_vec(),
        valid.iter().map(|b| b ^ 0x5A).collect(),
        vec![0x30; 300 * 1024],
    ];
    for input in &inputs {
        // Answered (a CMP error or an HTTP refusal) or dropped, never a crash.
        let _ = post(server.url(), "application/pkixcmp", input);
    }
    let _ = post(server.url(), "text/plain", b"not CMP");
    // Still serving: OpenSSL enrols.
    request(&pki, "juan");
    let out = openssl_cmp(
        &pki,
        &server,
        "ra",
        &["-cmd", "p10cr", "-csr", "juan.csr", "-certout", "juan.crt"],
    )
    .unwrap();
    assert!(out.contains("received PKICONF"), "{out}");
}

fn crl_number(pki: &Pki, crl_pem: &Path) -> u64 {
    let text = openssl(
        &pki.path(""),
        &[
            "crl",
            "-in",
            crl_pem.to_str().unwrap(),
            "-noout",
            "-crlnumber",
        ],
    )
    .unwrap();
    u64::from_str_radix(text.trim().trim_start_matches("crlNumber=0x"), 16).unwrap()
}

#[test]
fn the_crl_number_goes_on_across_restarts() {
    let (pki, server) = ca_with(&["--default-profile", "authentication"]);
    let ca = firma_client(&pki, &server);
    let issued = ca
        .issue(
            &card_csr(&holder()),
            &holder(),
            Profile::Authentication.into(),
        )
        .unwrap();
    ca.revoke(&issued.serial, RevocationReason::KeyCompromise)
        .unwrap();
    server.stop();
    let dir = pki.path("firma-ca");
    let before = crl_number(&pki, &dir.join("crl.pem"));
    // A restarted server revokes on; its CRL number follows the last one.
    let server = FirmaCa::start(&dir, &[]).unwrap();
    let ca = firma_client(&pki, &server);
    let second = ca
        .issue(&card_csr(&holder()), &holder(), Profile::Signature.into())
        .unwrap();
    ca.revoke(&second.serial, RevocationReason::Superseded)
        .unwrap();
    let after = crl_number(&pki, &dir.join("crl.pem"));
    assert!(after > before, "{before} then {after}");
    // `firma-ca crl` writes the current one.
    let out = pki.path("now.pem");
    let status = std::process::Command::new(firma_tests::bin("firma-ca"))
        .arg("--dir")
        .arg(&dir)
        .args(["crl", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(crl_number(&pki, &out) >= after);
}
