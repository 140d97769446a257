//! The citizen's area of the generation portal, reached with the citizen's
//! own certificate (TLS client authentication): curl presents certificates
//! whose keys OpenSSL made, and the test checks who gets in, the list, a
//! renewal refused outside the 70 days before expiry and done inside them
//! (a new PKCS#12 that OpenSSL opens and verifies), and a revocation that
//! needs its confirmation and lands in the CA's CRL, as `openssl verify
//! -crl_check` sees it.

mod portal_rig;

use std::path::{Path, PathBuf};
use std::process::Command;

use firma_tests::station::StationDir;
use portal_rig::*;

/// A certificate of Ana's for a key OpenSSL made (`name`.key), through the
/// browser way's endpoint: the PEM chain in `name`.pem.
fn certificate_for(dir: &StationDir, portal: &Portal, code: &str, name: &str) -> PathBuf {
    let d = dir.path();
    let csr = openssl_request(d, name, &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let (status, _, chain) = post_request(
        portal,
        &[
            ("csrf", &token(portal)),
            ("nif", "12345678Z"),
            ("code", code),
            ("csr", &csr),
        ],
    );
    assert_eq!(status, 200, "{chain}");
    let pem = d.join(format!("{name}.pem"));
    std::fs::write(&pem, chain).unwrap();
    pem
}

fn serial_of(pem: &Path) -> String {
    ok(Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in"])
        .arg(pem))
    .trim()
    .strip_prefix("serial=")
    .unwrap()
    .to_string()
}

/// curl to the area as the holder of `who` (`name`.pem and `name`.key in
/// the station's directory), or with no certificate: the status (0 when
/// the TLS handshake failed) and the body.
fn area(
    dir: &StationDir,
    portal: &Portal,
    who: Option<&str>,
    path: &str,
    args: &[&str],
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-k", "-s", "--http1.1", "-w", "\n%{http_code}"]);
    if let Some(name) = who {
        cmd.arg("--cert")
            .arg(dir.path().join(format!("{name}.pem")))
            .arg("--key")
            .arg(dir.path().join(format!("{name}.key")));
    }
    let url = format!(
        "{}{}",
        portal.area.as_ref().unwrap(),
        path.trim_start_matches('/')
    );
    let out = cmd.args(args).arg(url).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.parse().unwrap_or(0), body.to_string())
}

/// A form token of the area for the holder of `who`: the one on the
/// revocation page of `serial` (a certificate of theirs).
fn area_token(dir: &StationDir, portal: &Portal, who: &str, serial: &str) -> String {
    let (status, page) = area(dir, portal, Some(who), &format!("/revoke/{serial}"), &[]);
    assert_eq!(status, 200, "{page}");
    csrf_of(&page)
}

/// A renewal form's fields with `token`.
fn renewal_fields(token: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("csrf", token),
        ("password", PASSWORD),
        ("password2", PASSWORD),
        ("key", "p256"),
    ]
}

/// The form token in an HTML page.
fn csrf_of(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect(page) + 19;
    page[start..start + page[start..].find('"').unwrap()].to_string()
}

fn form_args(fields: &[(&str, &str)]) -> Vec<String> {
    fields
        .iter()
        .flat_map(|(k, v)| ["--data-urlencode".to_string(), format!("{k}={v}")])
        .collect()
}

fn post_area(
    dir: &StationDir,
    portal: &Portal,
    who: &str,
    path: &str,
    fields: &[(&str, &str)],
    out: Option<&Path>,
) -> (u16, String) {
    let mut args = form_args(fields);
    if let Some(file) = out {
        args.push("-o".into());
        args.push(file.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    area(dir, portal, Some(who), path, &args)
}

#[test]
fn the_citizen_lists_renews_in_the_window_and_revokes_with_their_certificate() {
    let (dir, code) = station_with_code();
    let d = dir.path();
    let ca = dir.ca().join("ca.pem");
    // A certificate of the CA's usual length: renewal not open yet.
    let portal = start_portal_with(&dir, true, &[], &[]);
    let long = certificate_for(&dir, &portal, &code, "long");
    let long_serial = serial_of(&long);

    // No certificate, or one the CA did not issue: no TLS session at all.
    assert_eq!(area(&dir, &portal, None, "/", &[]).0, 0);
    self_signed(
        d,
        "forged",
        "/serialNumber=IDCES-12345678Z/CN=GARCIA LOPEZ ANA - 12345678Z",
        &[],
    );
    assert_eq!(area(&dir, &portal, Some("forged"), "/", &[]).0, 0);

    let (status, page) = area(&dir, &portal, Some("long"), "/?lang=en", &[]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Ana García López (12345678Z)"), "{page}");
    assert!(page.contains(&long_serial), "{page}");
    assert!(page.contains("Renewable from"), "{page}");
    assert!(!page.contains(&format!("renew-{long_serial}")), "{page}");
    let (status, page) = area(
        &dir,
        &portal,
        Some("long"),
        &format!("/renew/{long_serial}?lang=en"),
        &[],
    );
    assert_eq!(status, 403, "{page}");
    assert!(
        page.contains("Renewal of this certificate opens on"),
        "{page}"
    );
    // Sent anyway, with a token of the area for this certificate: the
    // same refusal.
    let bound = area_token(&dir, &portal, "long", &long_serial);
    let (status, page) = post_area(
        &dir,
        &portal,
        "long",
        &format!("/renew/{long_serial}?lang=en"),
        &renewal_fields(&bound),
        None,
    );
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("opens on"), "{page}");
    drop(portal);

    // A second code, redeemed while the CA issues 30-day certificates:
    // inside the 70 days, renewal is open.
    let code = new_code(&dir);
    let portal = start_portal_with(&dir, true, &[("FIRMA_STATION_CERT_DAYS", "30")], &[]);
    let short = certificate_for(&dir, &portal, &code, "short");
    let short_serial = serial_of(&short);
    let (status, page) = area(&dir, &portal, Some("short"), "/?lang=en", &[]);
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&long_serial) && page.contains(&short_serial),
        "{page}"
    );
    assert!(page.contains("Valid; you can renew it now"), "{page}");
    let renew = format!("/renew/{short_serial}?lang=en");
    let (status, form) = area(&dir, &portal, Some("short"), &renew, &[]);
    assert_eq!(status, 200, "{form}");
    // Two passwords that differ: nothing issued.
    let csrf = csrf_of(&form);
    let (status, page) = post_area(
        &dir,
        &portal,
        "short",
        &renew,
        &[
            ("csrf", &csrf),
            ("password", PASSWORD),
            ("password2", "another-one-9"),
            ("key", "p256"),
        ],
        None,
    );
    assert_eq!(status, 400, "{page}");
    let csrf = csrf_of(&page);
    let p12 = d.join("renewed.p12");
    let (status, _) = post_area(
        &dir,
        &portal,
        "short",
        &renew,
        &[
            ("csrf", &csrf),
            ("password", PASSWORD),
            ("password2", PASSWORD),
            ("key", "p256"),
        ],
        Some(&p12),
    );
    assert_eq!(status, 200);
    let renewed = d.join("renewed.pem");
    p12_leaf(&p12, &renewed);
    p12_key(&p12, &d.join("renewed.key"));
    ok(Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(&ca)
        .arg(&renewed));
    let text = ok(Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-in"])
        .arg(&renewed));
    assert!(text.contains("IDCES-12345678Z"), "{text}");
    let renewed_serial = serial_of(&renewed);
    assert_ne!(renewed_serial, short_serial);

    // Renewed once only; the renewed certificate opens the area too.
    let (status, page) = area(&dir, &portal, Some("renewed"), "/?lang=en", &[]);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Valid; renewed already"), "{page}");
    assert!(page.contains(&renewed_serial), "{page}");
    let bound = area_token(&dir, &portal, "short", &short_serial);
    let (status, page) = post_area(
        &dir,
        &portal,
        "short",
        &renew,
        &renewal_fields(&bound),
        None,
    );
    assert_eq!(status, 409, "{page}");

    // Forms of the area take only tokens made for the certificate that
    // sends them: not one of the public pages (which anyone can fetch, and
    // a forged page could send with the citizen's certificate), nor one
    // made for another certificate; nothing is revoked.
    let revoke_short = format!("/revoke/{short_serial}?lang=en");
    let elsewhere = area_token(&dir, &portal, "renewed", &short_serial);
    for foreign in [token(&portal), elsewhere] {
        let (status, page) = post_area(
            &dir,
            &portal,
            "short",
            &revoke_short,
            &[("csrf", &foreign), ("confirm", "yes")],
            None,
        );
        assert_eq!(status, 403, "{page}");
    }
    let (_, page) = area(&dir, &portal, Some("short"), "/?lang=en", &[]);
    assert!(!page.contains("Revoked"), "{page}");

    // The renewed certificate (30 days too) renewed in turn with a key made
    // elsewhere, as the page's script does: a request OpenSSL made. A broken
    // request first: refused, with a fresh token, and nothing issued.
    let by_request = format!("/renew/{renewed_serial}/certificate?lang=en");
    let (status, page) = area(
        &dir,
        &portal,
        Some("renewed"),
        &format!("/renew/{renewed_serial}/browser?lang=en"),
        &[],
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("/assets/browser.js"), "{page}");
    let mut args = form_args(&[("csrf", &csrf_of(&page)), ("csr", "not a request")]);
    args.push("-i".into());
    let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, answer) = area(&dir, &portal, Some("renewed"), &by_request, &args_ref);
    assert_eq!(status, 400, "{answer}");
    let fresh = answer
        .lines()
        .find_map(|l| l.strip_prefix("x-firma-csrf: "))
        .unwrap_or_else(|| panic!("no fresh token: {answer}"))
        .trim()
        .to_string();
    let csr = openssl_request(d, "third", &["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    let (status, chain) = post_area(
        &dir,
        &portal,
        "renewed",
        &by_request,
        &[("csrf", &fresh), ("csr", &csr)],
        None,
    );
    assert_eq!(status, 200, "{chain}");
    let third = d.join("third.pem");
    std::fs::write(&third, &chain).unwrap();
    ok(Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(&ca)
        .arg(&third));
    let pubkey = |args: &[&str], file: &Path| ok(Command::new("openssl").args(args).arg(file));
    assert_eq!(
        pubkey(&["pkey", "-pubout", "-in"], &d.join("third.key")),
        pubkey(&["x509", "-noout", "-pubkey", "-in"], &third)
    );
    let (status, page) = area(&dir, &portal, Some("third"), "/?lang=en", &[]);
    assert_eq!(status, 200, "the new certificate opens the area: {page}");

    // Revocation: not without the confirmation, then at once into the CRL.
    let revoke = format!("/revoke/{renewed_serial}?lang=en");
    let (status, form) = area(&dir, &portal, Some("long"), &revoke, &[]);
    assert_eq!(status, 200, "{form}");
    assert!(form.contains("stops working at once"), "{form}");
    let (status, page) = post_area(
        &dir,
        &portal,
        "long",
        &revoke,
        &[("csrf", &csrf_of(&form))],
        None,
    );
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("nothing was revoked"), "{page}");
    assert_eq!(area(&dir, &portal, Some("renewed"), "/", &[]).0, 200);
    let (status, page) = post_area(
        &dir,
        &portal,
        "long",
        &revoke,
        &[("csrf", &csrf_of(&page)), ("confirm", "yes")],
        None,
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("is revoked"), "{page}");
    let crl = dir.ca().join("crl.pem");
    let listed = ok(Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(&crl));
    assert!(listed.contains(&renewed_serial), "{listed}");
    let checked = |pem: &Path| {
        Command::new("openssl")
            .args(["verify", "-crl_check", "-CAfile"])
            .arg(&ca)
            .arg("-CRLfile")
            .arg(&crl)
            .arg(pem)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(!checked(&renewed), "the revoked certificate still verifies");
    assert!(checked(&long), "the others are untouched");
    // The revoked certificate opens nothing now; the list says revoked.
    let (status, page) = area(&dir, &portal, Some("renewed"), "/?lang=en", &[]);
    assert_eq!(status, 403, "{page}");
    let (_, page) = area(&dir, &portal, Some("long"), "/?lang=en", &[]);
    assert!(page.contains("Revoked"), "{page}");
    // Nothing of someone else's: an unknown serial.
    let (status, _) = area(&dir, &portal, Some("long"), "/revoke/0123ABCD", &[]);
    assert_eq!(status, 404);

    let audit = cli(&dir, &["audit", "show"]).ok().stdout;
    assert!(audit.contains("software certificate renewed"), "{audit}");
    assert!(audit.contains("software certificate revoked"), "{audit}");
    let log = std::fs::read_to_string(&portal.log).unwrap();
    assert!(!log.contains(PASSWORD), "the password is in the log");
}

/// Chromium with the file it downloaded imported in its NSS database
/// enters the area with it (the test machine's Chromium policy
/// AutoSelectCertificateForUrls, written by scripts/setup.sh, picks the
/// certificate on 127.0.0.1 as a citizen would in the browser's dialog),
/// revokes it after ticking the confirmation, and is turned away with it
/// afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_enters_the_area_with_the_certificate_it_downloaded_and_revokes_it() {
    use fantoccini::Locator;
    let policy = "/etc/chromium/policies/managed/firma-tests.json";
    assert!(
        Path::new(policy).exists(),
        "{policy} is missing: run scripts/setup.sh (without it Chromium waits for a \
         certificate dialog nobody sees)"
    );
    let (dir, code) = station_with_code();
    let d = dir.path();
    // 30-day certificates: renewal is open at once.
    let portal = start_portal_with(&dir, true, &[("FIRMA_STATION_CERT_DAYS", "30")], &[]);
    let home = d.join("home");
    let downloads = d.join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let nss = home.join(".pki/nssdb");
    std::fs::create_dir_all(&nss).unwrap();
    let db = format!("sql:{}", nss.display());
    ok(Command::new("certutil").args(["-N", "-d", &db, "--empty-password"]));
    let driver = start_driver_at(Some(&home));

    let c = browser(&driver, &d.join("chromium"), &downloads).await;
    fill_and_send(&c, &portal.url, "12345678Z", &code, "p256").await;
    let p12 = downloaded(&downloads);
    c.close().await.unwrap();
    ok(Command::new("pk12util")
        .args(["-d", &db, "-W", PASSWORD, "-i"])
        .arg(&p12));
    let leaf = d.join("leaf.pem");
    p12_leaf(&p12, &leaf);
    let serial = serial_of(&leaf);

    let renewals = d.join("renewals");
    std::fs::create_dir_all(&renewals).unwrap();
    let c = browser(&driver, &d.join("chromium2"), &renewals).await;
    let area = portal.area.clone().unwrap();

    // Renewal with a key Chromium makes: the renew link, then the way
    // where the key stays in the browser.
    c.goto(&format!("{area}?lang=en")).await.unwrap();
    click(&c, &format!("renew-{serial}")).await;
    click(&c, "browser-way").await;
    for id in ["password", "password2"] {
        c.wait()
            .for_element(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(PASSWORD)
            .await
            .unwrap();
    }
    click(&c, "generate").await;
    let (shown, text) = outcome(&c).await;
    assert_eq!(shown, "done", "{text}");
    let renewed = downloaded(&renewals);
    check_file(&dir, &renewed, "id-ecPublicKey");
    let renewed_leaf = d.join("leaf.pem");
    assert_ne!(serial_of(&renewed_leaf), serial, "a new certificate");

    c.goto(&format!("{area}?lang=en")).await.unwrap();
    let hello = text_of(&c, "hello").await;
    assert!(
        hello.contains(&serial) && hello.contains("12345678Z"),
        "{hello}"
    );
    click(&c, &format!("revoke-{serial}")).await;
    // The confirmation page follows the link.
    click(&c, "confirm").await;
    click(&c, "revoke").await;
    let done = text_of(&c, "done").await;
    assert!(done.contains("is revoked"), "{done}");
    // Revoked: the same browser is turned away.
    c.goto(&format!("{area}?lang=en")).await.unwrap();
    let error = text_of(&c, "error").await;
    assert!(error.contains("does not open the area"), "{error}");
    c.close().await.unwrap();
    let crl = ok(Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(dir.ca().join("crl.pem")));
    assert!(crl.contains(&serial), "{crl}");
}
