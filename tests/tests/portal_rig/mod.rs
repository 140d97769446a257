//! What the portal's tests share: a station with a Generation Code, the
//! portal and chromedriver as process groups stopped when dropped,
//! Chromium sessions, and what OpenSSL, NSS and curl make of the answers.
#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use firma_tests::station::{run, Run, StationDir};

pub const APPS: &str = "given_name,surnames,nif,email,phone,card_serial
Ana,García López,12345678Z,ana@example.es,+34600111222,
";
pub const PASSWORD: &str = "Correcto-Caballo-7";

pub fn cli(dir: &StationDir, args: &[&str]) -> Run {
    run(dir.cli().args(args), "")
}

/// A station with Ana's application, her identity checked, and a code
/// issued for her on paper (read back from the letter).
pub fn station_with_code() -> (StationDir, String) {
    let dir = StationDir::new();
    let file = dir.path().join("apps.csv");
    std::fs::write(&file, APPS).unwrap();
    cli(&dir, &["applications", "import", file.to_str().unwrap()]).ok();
    let code = new_code(&dir);
    (dir, code)
}

/// Ana's identity checked again and a new code issued on paper.
pub fn new_code(dir: &StationDir) -> String {
    new_code_for(dir, "12345678Z")
}

/// The identity of `nif`'s citizen checked (a DNI of that number) and a
/// new code issued on paper.
pub fn new_code_for(dir: &StationDir, nif: &str) -> String {
    dir.identity_without_readers(nif);
    let letter = cli(dir, &["generation-code", "issue", nif]).ok();
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
    code
}

pub fn ok(cmd: &mut Command) -> String {
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
pub struct Server(pub Child);

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
pub struct Portal {
    _server: Server,
    pub url: String,
    /// The citizen's area's address, when it was asked for.
    pub area: Option<String>,
    pub log: PathBuf,
}

/// A self-signed P-256 certificate for `subject`, valid a day, in
/// `dir`/`name`.pem with its key in `name`.key; `extra` for `openssl req`.
pub fn self_signed(dir: &Path, name: &str, subject: &str, extra: &[&str]) {
    ok(Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "1", "-subj", subject, "-keyout"])
        .arg(format!("{name}.key"))
        .arg("-out")
        .arg(format!("{name}.pem"))
        .args(extra));
}

impl Portal {
    /// The portal's process id.
    pub fn pid(&self) -> u32 {
        self._server.0.id()
    }
}

pub fn start_portal(dir: &StationDir) -> Portal {
    start_portal_with(dir, false, &[], &[])
}

/// The portal, with the citizen's area if `area`, its environment
/// extended by `env` and `args` after its own.
pub fn start_portal_with(
    dir: &StationDir,
    area: bool,
    env: &[(&str, &str)],
    args: &[&str],
) -> Portal {
    let d = dir.path();
    // The portal's TLS certificate, as the CA's web team would make it.
    self_signed(
        d,
        "tls",
        "/CN=localhost",
        &["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
    );
    let log = d.join("portal.log");
    let mut cmd = Command::new(firma_tests::bin("firma-portal"));
    cmd.arg("--data-dir")
        .arg(d)
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(d.join("tls.pem"))
        .arg("--tls-key")
        .arg(d.join("tls.key"))
        .envs(env.iter().copied())
        .env("FIRMA_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap(),
        );
    if area {
        cmd.args(["--area-listen", "127.0.0.1:0"]);
    }
    cmd.args(args);
    let mut server = Server::spawn(&mut cmd).expect("firma-portal");
    let mut out = BufReader::new(server.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let area = area.then(|| {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        line.trim()
            .strip_prefix("firma-portal: citizen's area on ")
            .unwrap_or_else(|| panic!("no citizen's area: {line:?}"))
            .to_string()
    });
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
        area,
        log,
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver, serving until dropped.
pub struct Driver {
    _server: Server,
    pub port: u16,
}

pub fn start_driver() -> Driver {
    start_driver_at(None)
}

/// chromedriver, and the Chromium it starts, with `home` as HOME: where
/// Chromium on Linux keeps its NSS database of client certificates
/// (`~/.pki/nssdb`).
pub fn start_driver_at(home: Option<&Path>) -> Driver {
    let port = free_port();
    let mut cmd = Command::new("chromedriver");
    cmd.arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(home) = home {
        cmd.env("HOME", home);
    }
    let server = Server::spawn(&mut cmd).expect("chromedriver (Debian's chromium-driver)");
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

pub async fn browser(driver: &Driver, profile: &Path, downloads: &Path) -> fantoccini::Client {
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

pub async fn fill_and_send(c: &fantoccini::Client, url: &str, nif: &str, code: &str, key: &str) {
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
pub fn downloaded(dir: &Path) -> PathBuf {
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

/// OpenSSL's copy of the certificate in `p12` (under [`PASSWORD`]), in `out`.
pub fn p12_leaf(p12: &Path, out: &Path) {
    p12_part(p12, &["-clcerts", "-nokeys"], out);
}

/// OpenSSL's copy of the key in `p12`, unencrypted, in `out`.
pub fn p12_key(p12: &Path, out: &Path) {
    p12_part(p12, &["-nocerts", "-nodes"], out);
}

fn p12_part(p12: &Path, what: &[&str], out: &Path) {
    ok(Command::new("openssl")
        .arg("pkcs12")
        .args(what)
        .args(["-passin", &format!("pass:{PASSWORD}"), "-in"])
        .arg(p12)
        .arg("-out")
        .arg(out));
}

/// Clicks the element `id` once it is on the page (after a link or a form
/// was followed).
pub async fn click(c: &fantoccini::Client, id: &str) {
    c.wait()
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"))
        .click()
        .await
        .unwrap();
}

/// The text of the element `id` once it is on the page.
pub async fn text_of(c: &fantoccini::Client, id: &str) -> String {
    c.wait()
        .for_element(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("#{id}: {e}"))
        .text()
        .await
        .unwrap()
}

/// What OpenSSL and NSS make of the file.
pub fn check_file(dir: &StationDir, p12: &Path, key_kind: &str) {
    let d = dir.path();
    let pass = format!("pass:{PASSWORD}");
    let info = ok(Command::new("openssl")
        .args([
            "pkcs12", "-info", "-nokeys", "-noout", "-passin", &pass, "-in",
        ])
        .arg(p12));
    for expected in [
        "MAC: sha256, Iteration 600000",
        "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 600000, PRF hmacWithSHA256",
        "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 600000, PRF hmacWithSHA256",
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
    p12_leaf(p12, &leaf);
    let key = d.join("key.pem");
    p12_key(p12, &key);
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

pub fn assert_code_nowhere(dir: &StationDir, portal: &Portal, code: &str) {
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

/// `curl` of `args` to the portal: the status and the body.
pub fn curl(portal: &Portal, path: &str, args: &[&str]) -> (u16, String) {
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

pub fn token(portal: &Portal) -> String {
    let (status, page) = curl(portal, "/", &[]);
    assert_eq!(status, 200);
    let start = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    page[start..start + page[start..].find('"').unwrap()].to_string()
}

pub fn post(portal: &Portal, fields: &[(&str, &str)]) -> (u16, String) {
    let mut args = vec![];
    for (k, v) in fields {
        args.push("--data-urlencode".to_string());
        args.push(format!("{k}={v}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    curl(portal, "/generate", &args)
}

/// What the browser way's page ends with: `done` or `error`, and its text.
pub async fn outcome(c: &fantoccini::Client) -> (String, String) {
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

/// A certificate request made by OpenSSL with a key of `key` (`openssl req
/// -newkey`'s argument) kept in `name`.key, as base64 of its DER.
pub fn openssl_request(dir: &Path, name: &str, key: &[&str]) -> String {
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
pub fn post_request(portal: &Portal, fields: &[(&str, &str)]) -> (u16, String, String) {
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
