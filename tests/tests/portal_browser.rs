//! The generation portal's browser way, where the key never leaves the
//! citizen's device: headless Chromium follows the form's link, its
//! WebCrypto makes the key and the page's PKI.js the PKCS#12, which OpenSSL
//! and NSS must open as they open the server-side file; raw requests with
//! curl and certificate requests made by `openssl req` check what the
//! portal takes and refuses.

mod portal_rig;

use std::path::Path;
use std::process::Command;

use fantoccini::Locator;
use portal_rig::*;

/// The way where the key is made in the browser: Chromium's WebCrypto makes
/// it, the page sends only a certificate request, and the PKCS#12 it builds
/// with PKI.js opens in OpenSSL and NSS as the portal's own does.
async fn browser_makes_the_key(key: &str, key_kind: &str) {
    let (dir, code) = station_with_code();
    let portal = start_portal(&dir);
    let driver = start_driver();
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let c = browser(&driver, &dir.path().join("chromium"), &downloads).await;

    // The usual form leads to this way.
    c.goto(&portal.url).await.unwrap();
    c.find(Locator::Id("browser-way"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let page = c.current_url().await.unwrap();
    assert_eq!(page.path(), "/browser", "{page}");

    let way = page.as_str().to_string();
    fill_and_send(&c, &way, "12345678z", &code, key).await;
    let (shown, done) = outcome(&c).await;
    assert_eq!(
        shown,
        "done",
        "{done} {}",
        std::fs::read_to_string(&portal.log).unwrap_or_default()
    );
    assert!(done.contains("certificado-12345678Z.p12"), "{done}");
    let p12 = downloaded(&downloads);
    assert_eq!(
        p12.file_name().unwrap().to_str().unwrap(),
        "certificado-12345678Z.p12"
    );
    check_file(&dir, &p12, key_kind);

    // The same code again: refused on the page, nothing more downloaded.
    fill_and_send(&c, &way, "12345678Z", &code, key).await;
    let (shown, error) = outcome(&c).await;
    assert_eq!(shown, "error", "{error}");
    assert!(
        error.contains("is not valid, or the code has expired or was used"),
        "{error}"
    );
    assert_eq!(std::fs::read_dir(&downloads).unwrap().count(), 1);
    c.close().await.unwrap();
    assert_code_nowhere(&dir, &portal, &code);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_makes_a_p256_key_and_the_certificate_file_itself() {
    browser_makes_the_key("p256", "id-ecPublicKey").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_makes_an_rsa_key_and_the_certificate_file_itself() {
    browser_makes_the_key("rsa2048", "Public-Key: (2048 bit)").await;
}

#[test]
fn the_browser_way_takes_an_openssl_request_and_refuses_bad_ones_keeping_the_code() {
    let (dir, code) = station_with_code();
    let portal = start_portal(&dir);
    let d = dir.path();
    let p256 = openssl_request(d, "p256", &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let send = |csr: &str, code: &str| {
        post_request(
            &portal,
            &[
                ("csrf", &token(&portal)),
                ("nif", "12345678Z"),
                ("code", code),
                ("csr", csr),
            ],
        )
    };
    // Not a request, a key the CA does not take, a request whose signature
    // is broken: 400, the code untouched, and a fresh token to go on with.
    let small = openssl_request(d, "small", &["rsa:1024"]);
    let mut broken = p256.clone();
    broken.replace_range(broken.len() - 8.., "AAAAAAAA");
    let mut head = String::new();
    for csr in ["not a request", &small, &broken] {
        let (status, h, body) = send(csr, &code);
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("code is still valid"), "{body}");
        head = h;
    }
    // The answer's token is good for one more try (each try counts
    // against the NIF's five in 15 minutes).
    let fresh = head
        .lines()
        .find_map(|l| l.strip_prefix("x-firma-csrf: "))
        .unwrap_or_else(|| panic!("no fresh token: {head}"))
        .trim()
        .to_string();
    let with = |t: &str, code: &str| {
        post_request(
            &portal,
            &[
                ("csrf", t),
                ("nif", "12345678Z"),
                ("code", code),
                ("csr", &p256),
            ],
        )
    };
    let (status, _, body) = with(&fresh, "AAAAAAAAAA");
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = with(&fresh, &code);
    assert_eq!(status, 403, "a spent token: {body}");
    let codes = cli(&dir, &["generation-code", "list", "12345678Z"]).ok();
    assert!(codes.stdout.contains("live"), "{}", codes.stdout);

    // OpenSSL's request with the right code: the chain, which OpenSSL
    // verifies, for OpenSSL's key.
    let (status, head, chain) = send(&p256, &code);
    assert_eq!(status, 200, "{chain}");
    assert!(head.contains("application/pem-certificate-chain"), "{head}");
    assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2, "{chain}");
    let leaf = d.join("chain.pem");
    std::fs::write(&leaf, &chain).unwrap();
    let ca = dir.ca().join("ca.pem");
    ok(Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(&ca)
        .arg(&leaf));
    let pubkey = |args: &[&str], file: &Path| ok(Command::new("openssl").args(args).arg(file));
    assert_eq!(
        pubkey(&["pkey", "-pubout", "-in"], &d.join("p256.key")),
        pubkey(&["x509", "-noout", "-pubkey", "-in"], &leaf)
    );
    // The request's subject was not the CA's to take: the registry names her.
    let text = pubkey(&["x509", "-noout", "-subject", "-in"], &leaf);
    assert!(text.contains("IDCES-12345678Z"), "{text}");
    // Used (the browser tests see the page refuse it).
    let codes = cli(&dir, &["generation-code", "list", "12345678Z"]).ok();
    assert!(!codes.stdout.contains("live"), "{}", codes.stdout);
}
