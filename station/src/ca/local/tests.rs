use super::*;
use crate::csr::testing::*;
use crate::profile::Profile;
use der::asn1::ObjectIdentifier;
use der::Encode;
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
        let profiles = Profile::all().map(CertProfile::Card);
        for profile in profiles.into_iter().chain([CertProfile::Software]) {
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
                CertProfile::Card(Profile::Authentication) | CertProfile::Software => {
                    // The software certificate also signs, but is not
                    // qualified: no device vouches for where its key is.
                    let expected = match profile {
                        CertProfile::Software => "Digital Signature, Non Repudiation",
                        _ => "Digital Signature",
                    };
                    assert_eq!(usage, expected, "{what}");
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
                CertProfile::Card(Profile::Signature) => {
                    assert_eq!(usage, "Non Repudiation", "{what}");
                    assert_eq!(eku, None);
                    assert!(text.contains("qcStatements"), "{text}");
                    let (ok, asn1) = openssl(&["asn1parse", "-in", "cert.pem"], d);
                    assert!(ok, "{asn1}");
                    // The statements are decoded by OpenSSL from the DER.
                    let qc = extension_der(&issued.der, PE_QC_STATEMENTS);
                    fs::write(d.join("qc.der"), qc).unwrap();
                    let (ok, qc) = openssl(&["asn1parse", "-inform", "DER", "-in", "qc.der"], d);
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
                CertProfile::Card(Profile::KeyManagement) => {
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
    let revoked = ca
        .issue(&csr, &ascii_holder(), Profile::Signature.into())
        .unwrap();
    let kept = ca
        .issue(&csr, &ascii_holder(), Profile::Authentication.into())
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
        .issue(&csr, &ascii_holder(), Profile::Authentication.into())
        .unwrap_err();
    assert!(matches!(err, CaError::BadSignature), "{err}");
    assert!(err
        .to_string()
        .contains("did not sign it with the key it names"));
    // RSA key named, signed by the RSA key over a different request: also refused.
    let csr = SoftKey::rsa().csr_signed_by(&ascii_holder(), &SoftKey::p256());
    assert!(matches!(
        ca.issue(&csr, &ascii_holder(), Profile::Signature.into()),
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
        .issue(&csr, &ascii_holder(), Profile::Signature.into())
        .unwrap_err();
    assert!(matches!(err, CaError::BadSignature), "{err}");
    let err = ca
        .issue(
            &csr[..csr.len() - 3],
            &ascii_holder(),
            Profile::Signature.into(),
        )
        .unwrap_err();
    assert!(matches!(err, CaError::BadCsr(_)), "{err}");
    assert!(matches!(
        ca.issue(b"not a request", &ascii_holder(), Profile::Signature.into()),
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
    let issued = ca
        .issue(&csr, &holder(), Profile::Authentication.into())
        .unwrap();
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
        .issue(&csr, &ascii_holder(), Profile::Authentication.into())
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
            Profile::KeyManagement.into(),
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
