//! The generation portal as a registration authority of `firma-ca` over
//! CMP, holding no CA key: software certificates issued for both ways
//! (server-side key, and a request made by OpenSSL through the browser
//! way's endpoint) verify against firma-ca's CA and not the station's local
//! one, the citizen's area trusts that CA for client authentication, and a
//! revocation in the area reaches the CRL firma-ca publishes.

mod portal_rig;

use std::process::Command;

use firma_tests::cmp::{FirmaCa, Pki};
use portal_rig::*;

#[test]
fn the_portal_enrols_and_revokes_over_cmp_with_firma_ca() {
    let pki = Pki::new().unwrap();
    let ca_dir = pki.path("firma-ca");
    ok(Command::new(firma_tests::bin("firma-ca"))
        .arg("--dir")
        .arg(&ca_dir)
        .args(["init", "--name", "Firma CMP Test CA"]));
    std::fs::copy(pki.path("ra.crt"), ca_dir.join("ra/portal.pem")).unwrap();
    let server = FirmaCa::start(&ca_dir, &[]).unwrap();
    let cmp_ca = ca_dir.join("ca.pem");

    let (dir, code) = station_with_code();
    let d = dir.path();
    let (ra_key, ra_cert) = (pki.path("ra.key"), pki.path("ra.crt"));
    let portal = start_portal_with(
        &dir,
        true,
        &[],
        &[
            "--ca-url",
            server.url(),
            "--ca-cert",
            cmp_ca.to_str().unwrap(),
            "--ra-key",
            ra_key.to_str().unwrap(),
            "--ra-cert",
            ra_cert.to_str().unwrap(),
            "--crl-url",
            server.crl_url(),
        ],
    );

    // The browser way, with a request OpenSSL made.
    let csr = openssl_request(d, "ana", &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let (status, _, chain) = post_request(
        &portal,
        &[
            ("csrf", &token(&portal)),
            ("nif", "12345678Z"),
            ("code", &code),
            ("csr", &csr),
        ],
    );
    assert_eq!(
        status,
        200,
        "{chain} {}",
        std::fs::read_to_string(&portal.log).unwrap_or_default()
    );
    let leaf = d.join("ana.pem");
    std::fs::write(&leaf, &chain).unwrap();
    let verify = |ca: &std::path::Path, pem: &std::path::Path| {
        Command::new("openssl")
            .args(["verify", "-purpose", "sslclient", "-CAfile"])
            .arg(ca)
            .arg(pem)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(verify(&cmp_ca, &leaf), "firma-ca's CA issued it");
    assert!(!verify(&dir.ca().join("ca.pem"), &leaf), "not the local CA");
    let ca_in_chain = chain.rsplit_once("-----BEGIN CERTIFICATE-----").unwrap().1;
    let ca_file = std::fs::read_to_string(&cmp_ca).unwrap();
    assert!(
        ca_file.contains(ca_in_chain.trim_end()),
        "the chain ends in firma-ca's CA"
    );

    // The server-side way, with a second code.
    let code = new_code(&dir);
    let p12 = d.join("server.p12");
    let fields = [
        ("csrf", token(&portal)),
        ("nif", "12345678Z".to_string()),
        ("code", code),
        ("password", PASSWORD.to_string()),
        ("password2", PASSWORD.to_string()),
        ("key", "p256".to_string()),
    ];
    let mut args: Vec<String> = vec!["-o".into(), p12.display().to_string()];
    for (k, v) in &fields {
        args.push("--data-urlencode".into());
        args.push(format!("{k}={v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, _) = curl(&portal, "/generate", &args);
    assert_eq!(status, 200);
    let server_leaf = d.join("server.pem");
    p12_leaf(&p12, &server_leaf);
    assert!(
        verify(&cmp_ca, &server_leaf),
        "firma-ca's CA issued the file's certificate"
    );

    // The area trusts firma-ca's CA; a revocation there reaches its CRL.
    let area = portal.area.clone().unwrap();
    let as_ana = |path: &str, extra: &[&str]| {
        let out = Command::new("curl")
            .args(["-k", "-s", "--http1.1", "-w", "\n%{http_code}", "--cert"])
            .arg(&leaf)
            .arg("--key")
            .arg(d.join("ana.key"))
            .args(extra)
            .arg(format!("{area}{}", path.trim_start_matches('/')))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, status) = text.rsplit_once('\n').unwrap();
        (status.parse::<u16>().unwrap_or(0), body.to_string())
    };
    let serial = ok(Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(&server_leaf));
    let serial = serial.trim().trim_start_matches("serial=").to_string();
    let (status, page) = as_ana(&format!("/revoke/{serial}?lang=en"), &[]);
    assert_eq!(status, 200, "{page}");
    let start = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = &page[start..start + page[start..].find('"').unwrap()];
    let (status, page) = as_ana(
        &format!("/revoke/{serial}?lang=en"),
        &[
            "--data-urlencode",
            &format!("csrf={csrf}"),
            "--data-urlencode",
            "confirm=yes",
        ],
    );
    assert_eq!(status, 200, "{page}");
    let crl = d.join("cmp.crl");
    ok(Command::new("curl")
        .args(["-s", "-o"])
        .arg(&crl)
        .arg(server.crl_url()));
    let inform = if std::fs::read(&crl).unwrap().starts_with(b"-----") {
        "PEM"
    } else {
        "DER"
    };
    let listed = ok(Command::new("openssl")
        .args(["crl", "-noout", "-text", "-inform", inform, "-in"])
        .arg(&crl));
    assert!(
        listed.contains(&serial),
        "{serial} not in firma-ca's CRL: {listed}"
    );
}
