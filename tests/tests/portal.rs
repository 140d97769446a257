//! The generation portal (`firma-portal`) as a citizen and an attacker meet
//! it: a station issues a Generation Code, the portal serves HTTPS on
//! loopback, and headless Chromium driven through chromedriver (WebDriver,
//! with fantoccini) fills in NIF, code and password and downloads the
//! PKCS#12. OpenSSL opens the file and checks its algorithms and the
//! certificate's chain and profile, NSS's pk12util imports it, and the same
//! code is refused the second time. Raw requests with curl check the
//! refusals: missing fields, a replayed or forged form token, an oversized
//! body and a flood from one address.

mod portal_rig;

use fantoccini::Locator;
use portal_rig::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_downloads_the_certificate_in_chromium_and_the_code_works_once() {
    let (dir, code) = station_with_code();
    let portal = start_portal(&dir);
    let driver = start_driver();
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let c = browser(&driver, &dir.path().join("chromium"), &downloads).await;

    // The form in the citizen's language.
    c.goto(&format!("{}?lang=va", portal.url)).await.unwrap();
    let title = c
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(title, "Obtindre el seu certificat de programari");

    fill_and_send(&c, &portal.url, "12345678z", &code, "p256").await;
    let p12 = downloaded(&downloads);
    assert_eq!(
        p12.file_name().unwrap().to_str().unwrap(),
        "certificado-12345678Z.p12"
    );
    check_file(&dir, &p12, "id-ecPublicKey");

    // The same code again: refused, in the browser's language (headless
    // Chromium asks for en-US), and nothing downloaded.
    fill_and_send(&c, &portal.url, "12345678Z", &code, "p256").await;
    let error = c.wait().for_element(Locator::Id("error")).await.unwrap();
    let error = error.text().await.unwrap();
    assert!(
        error.contains("is not valid, or the code has expired or was used"),
        "{error}"
    );
    assert_eq!(std::fs::read_dir(&downloads).unwrap().count(), 1);
    c.close().await.unwrap();
    assert_code_nowhere(&dir, &portal, &code);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rsa_key_is_made_when_the_citizen_asks_for_one() {
    let (dir, code) = station_with_code();
    let portal = start_portal(&dir);
    let driver = start_driver();
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    let c = browser(&driver, &dir.path().join("chromium"), &downloads).await;
    fill_and_send(&c, &portal.url, "12345678Z", &code, "rsa2048").await;
    let p12 = downloaded(&downloads);
    c.close().await.unwrap();
    check_file(&dir, &p12, "Public-Key: (2048 bit)");
}

#[test]
fn malformed_forged_replayed_and_flooding_requests_get_4xx_and_change_nothing() {
    let (dir, code) = station_with_code();
    let portal = start_portal(&dir);
    let form = |t: &str, nif: &str, code: &str| {
        vec![
            ("csrf", t.to_string()),
            ("nif", nif.to_string()),
            ("code", code.to_string()),
            ("password", PASSWORD.to_string()),
            ("password2", PASSWORD.to_string()),
            ("key", "p256".to_string()),
        ]
    };
    let send = |fields: Vec<(&str, String)>| {
        let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post(&portal, &f)
    };
    // A missing field.
    let (status, _) = post(&portal, &[("nif", "12345678Z"), ("code", &code)]);
    assert_eq!(status, 400);
    // A token this portal did not make.
    let (status, body) = send(form(&"00".repeat(40), "12345678Z", &code));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("formulario caducó"), "{body}");
    // A body over the limit is refused unread.
    let big = "a".repeat(20_000);
    let (status, body) = send(form(&token(&portal), "12345678Z", &big));
    assert_eq!(status, 413, "{body}");
    // A wrong code, then its token replayed.
    let t = token(&portal);
    let (status, body) = send(form(&t, "12345678Z", "AAAAAAAAAA"));
    assert_eq!(status, 403);
    assert!(body.contains("no son válidos"), "{body}");
    assert!(!body.contains("AAAAAAAAAA"), "the code is not shown back");
    let (status, body) = send(form(&t, "12345678Z", &code));
    assert_eq!(status, 403);
    assert!(body.contains("formulario caducó"), "{body}");
    // Two passwords that differ: nothing is tried.
    let mut differ = form(&token(&portal), "12345678Z", &code);
    differ[4].1 = "otra-contraseña".into();
    let (status, body) = send(differ);
    assert_eq!(status, 400);
    assert!(body.contains("no coinciden"), "{body}");
    // A flood from one address is slowed: 429 with a time to wait.
    let mut throttled = None;
    for i in 0..25 {
        let (status, body) = send(form(&token(&portal), &format!("{i:08}X"), "BBBBBBBBBB"));
        if status == 429 {
            throttled = Some((i, body));
            break;
        }
        assert_eq!(status, 403, "{body}");
    }
    let (after, body) = throttled.expect("the flood was never slowed");
    assert!(after <= 20, "{after} attempts before 429");
    assert!(body.contains("Demasiados intentos"), "{body}");
    // The right code still works after all that (one wrong try on it),
    // though not from the flooding address: the code is live.
    let codes = cli(&dir, &["generation-code", "list", "12345678Z"]).ok();
    assert!(codes.stdout.contains("live"), "{}", codes.stdout);
}
