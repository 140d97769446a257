//! The generation portal (`firma-portal`) as a citizen and an attacker meet
//! it: a station issues a Generation Code, the portal serves HTTPS on
//! loopback, and headless Chromium driven through chromedriver (WebDriver,
//! with fantoccini) fills in NIF, code and password and downloads the
//! PKCS#12. OpenSSL opens the file and checks its algorithms and the
//! certificate's chain and profile, NSS's pk12util imports it, and the same
//! code is refused the second time. Raw requests with curl check the
//! refusals: missing fields, a replayed or forged form token, an oversized
//! body and a flood from one address.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use firma_tests::station::{run, Run, StationDir};

const APPS: &str = "given_name,surnames,nif,email,phone,card_serial
Ana,García López,12345678Z,ana@example.es,+34600111222,
";
const PASSWORD: &str = "Correcto-Caballo-7";

fn cli(dir: &StationDir, args: &[&str]) -> Run {
    run(dir.cli().args(args), "")
}

/// A station with Ana's application, her identity checked, and a code
/// issued for her on paper (read back from the letter).
fn station_with_code() -> (StationDir, String) {
    let dir = StationDir::new();
    let file = dir.path().join("apps.csv");
    std::fs::write(&file, APPS).unwrap();
    cli(&dir, &["applications", "import", file.to_str().unwrap()]).ok();
    cli(
        &dir,
        &[
            "identity",
            "12345678Z",
            "--kind",
            "DNI",
            "--number",
            "12345678Z",
            "--expires",
            "2035-01-01",
            "--seen",
        ],
    )
    .ok();
    let letter = cli(&dir, &["generation-code", "issue", "12345678Z"]).ok();
    let mut lines = letter
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Su código"));
    lines.next().expect("the code's label");
    let code: String = lines
        .find(|l| !l.trim().is_empty())
        .expect("the code")
        .split_whitespace()
        .collect();
    assert_eq!(code.len(), 10, "{code:?}");
    (dir, code)
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the command runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?}: {text}");
    text
}

/// A server the test started in a process group of its own, stopped with
/// everything it started when dropped, even after a failed assertion:
/// a Chromium left behind by chromedriver would count as a running
/// browser in firma-card's tests.
struct Server(Child);

impl Server {
    fn spawn(cmd: &mut Command) -> std::io::Result<Self> {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0).spawn().map(Server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

/// The portal, serving until dropped.
struct Portal {
    _server: Server,
    url: String,
    log: PathBuf,
}

fn start_portal(dir: &StationDir) -> Portal {
    let d = dir.path();
    // The portal's TLS certificate, as the CA's web team would make it.
    ok(Command::new("openssl").current_dir(d).args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "tls.key",
        "-out",
        "tls.pem",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ]));
    let log = d.join("portal.log");
    let mut server = Server::spawn(
        Command::new(firma_tests::bin("firma-portal"))
            .arg("--data-dir")
            .arg(d)
            .args(["--listen", "127.0.0.1:0", "--tls-cert"])
            .arg(d.join("tls.pem"))
            .arg("--tls-key")
            .arg(d.join("tls.key"))
            .env("FIRMA_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap()),
    )
    .expect("firma-portal");
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("firma-portal: listening on ")
        .unwrap_or_else(|| {
            panic!(
                "the portal did not start: {line:?} {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
        .to_string();
    Portal {
        _server: server,
        url,
        log,
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver, serving until dropped.
struct Driver {
    _server: Server,
    port: u16,
}

fn start_driver() -> Driver {
    let port = free_port();
    let server = Server::spawn(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .expect("chromedriver (Debian's chromium-driver)");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Driver {
        _server: server,
        port,
    }
}

async fn browser(driver: &Driver, profile: &Path, downloads: &Path) -> fantoccini::Client {
    let mut caps = serde_json::Map::new();
    // The portal's certificate is the test's own.
    caps.insert("acceptInsecureCerts".into(), true.into());
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads.to_str().unwrap(),
                "download.prompt_for_download": false,
            },
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session in Chromium")
}

async fn fill_and_send(c: &fantoccini::Client, url: &str, nif: &str, code: &str, key: &str) {
    c.goto(url).await.unwrap();
    c.find(Locator::Id("nif"))
        .await
        .unwrap()
        .send_keys(nif)
        .await
        .unwrap();
    c.find(Locator::Id("code"))
        .await
        .unwrap()
        .send_keys(code)
        .await
        .unwrap();
    for id in ["password", "password2"] {
        c.find(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(PASSWORD)
            .await
            .unwrap();
    }
    c.find(Locator::Css(&format!("#key option[value='{key}']")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.find(Locator::Id("generate"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// The one finished download in `dir`.
fn downloaded(dir: &Path) -> PathBuf {
    let start = Instant::now();
    loop {
        let done: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "p12"))
            .collect();
        if let [file] = done.as_slice() {
            return file.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no PKCS#12 downloaded: {done:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What OpenSSL and NSS make of the file.
fn check_file(dir: &StationDir, p12: &Path, key_kind: &str) {
    let d = dir.path();
    let pass = format!("pass:{PASSWORD}");
    let info = ok(Command::new("openssl")
        .args([
            "pkcs12", "-info", "-nokeys", "-noout", "-passin", &pass, "-in",
        ])
        .arg(p12));
    for expected in [
        "MAC: sha256",
        "PBES2, PBKDF2, AES-256-CBC",
        "Iteration 600000",
    ] {
        assert!(info.contains(expected), "{expected}: {info}");
    }
    // A wrong password opens nothing.
    let wrong = Command::new("openssl")
        .args([
            "pkcs12",
            "-noout",
            "-passin",
            "pass:not-the-password",
            "-in",
        ])
        .arg(p12)
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let leaf = d.join("leaf.pem");
    ok(Command::new("openssl")
        .args(["pkcs12", "-clcerts", "-nokeys", "-passin", &pass, "-in"])
        .arg(p12)
        .arg("-out")
        .arg(&leaf));
    let key = d.join("key.pem");
    ok(Command::new("openssl")
        .args(["pkcs12", "-nocerts", "-nodes", "-passin", &pass, "-in"])
        .arg(p12)
        .arg("-out")
        .arg(&key));
    let ca = dir.ca().join("ca.pem");
    ok(Command::new("openssl")
        .args(["verify", "-purpose", "sslclient", "-CAfile"])
        .arg(&ca)
        .arg(&leaf));
    let text = ok(Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&leaf));
    assert!(
        text.contains("Digital Signature, Non Repudiation"),
        "{text}"
    );
    assert!(
        text.contains("TLS Web Client Authentication, E-mail Protection"),
        "{text}"
    );
    assert!(!text.contains("qcStatements"), "not qualified: {text}");
    assert!(text.contains("IDCES-12345678Z"), "{text}");
    assert!(text.contains(key_kind), "{key_kind}: {text}");
    // The key in the file is the certificate's.
    let pubkey = |args: &[&str], file: &Path| ok(Command::new("openssl").args(args).arg(file));
    assert_eq!(
        pubkey(&["pkey", "-pubout", "-in"], &key),
        pubkey(&["x509", "-noout", "-pubkey", "-in"], &leaf)
    );
    // NSS imports it, key and certificate.
    let nss = d.join("nssdb");
    std::fs::create_dir_all(&nss).unwrap();
    let db = format!("sql:{}", nss.display());
    ok(Command::new("certutil").args(["-N", "-d", &db, "--empty-password"]));
    ok(Command::new("pk12util")
        .args(["-d", &db, "-W", PASSWORD, "-i"])
        .arg(p12));
    let keys = ok(Command::new("certutil").args(["-K", "-d", &db]));
    assert!(keys.contains("12345678Z"), "{keys}");
}

fn assert_code_nowhere(dir: &StationDir, portal: &Portal, code: &str) {
    let registry = std::fs::read(dir.path().join("registry.sqlite")).unwrap();
    assert!(
        !registry.windows(code.len()).any(|w| w == code.as_bytes()),
        "the code is in the registry"
    );
    let log = std::fs::read_to_string(&portal.log).unwrap();
    assert!(!log.contains(code) && !log.contains(PASSWORD), "{log}");
    let audit = cli(dir, &["audit", "show"]).ok();
    assert!(!audit.stdout.contains(code), "{}", audit.stdout);
    assert!(
        audit.stdout.contains("generation code redeemed"),
        "{}",
        audit.stdout
    );
}

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

/// `curl` of `args` to the portal: the status and the body.
fn curl(portal: &Portal, path: &str, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        // HTTP/1.1: curl 7.88 reports an h2 answer sent before the body
        // was read (the 413) as an empty reply.
        .args(["-k", "-s", "--http1.1", "-w", "\n%{http_code}"])
        .args(args)
        .arg(format!("{}{}", portal.url, path.trim_start_matches('/')))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.parse().unwrap(), body.to_string())
}

fn token(portal: &Portal) -> String {
    let (status, page) = curl(portal, "/", &[]);
    assert_eq!(status, 200);
    let start = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    page[start..start + page[start..].find('"').unwrap()].to_string()
}

fn post(portal: &Portal, fields: &[(&str, &str)]) -> (u16, String) {
    let mut args = vec![];
    for (k, v) in fields {
        args.push("--data-urlencode".to_string());
        args.push(format!("{k}={v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    curl(portal, "/generate", &args)
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

/// What the browser way's page ends with: `done` or `error`, and its text.
async fn outcome(c: &fantoccini::Client) -> (String, String) {
    let start = Instant::now();
    loop {
        for id in ["done", "error"] {
            let el = c.find(Locator::Id(id)).await.unwrap();
            if el.is_displayed().await.unwrap() {
                return (id.to_string(), el.text().await.unwrap());
            }
        }
        let status = c.find(Locator::Id("status")).await.unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the page still says {:?}",
            status.text().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

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

/// A certificate request made by OpenSSL with a key of `key` (`openssl req
/// -newkey`'s argument) kept in `name`.key, as base64 of its DER.
fn openssl_request(dir: &Path, name: &str, key: &[&str]) -> String {
    let der = dir.join(format!("{name}.der"));
    ok(Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-new",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-newkey",
        ])
        .args(key)
        .args(["-subj", "/CN=12345678Z", "-outform", "DER", "-out"])
        .arg(&der));
    ok(Command::new("openssl")
        .args(["base64", "-A", "-in"])
        .arg(&der))
}

/// `curl` -i of a form to the browser way's endpoint: status, headers and
/// body.
fn post_request(portal: &Portal, fields: &[(&str, &str)]) -> (u16, String, String) {
    let mut args = vec!["-i".to_string()];
    for (k, v) in fields {
        args.push("--data-urlencode".to_string());
        args.push(format!("{k}={v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, answer) = curl(portal, "/browser/certificate?lang=en", &args);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (status, head.to_lowercase(), body.to_string())
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
