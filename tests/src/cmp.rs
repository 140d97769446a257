//! CMP test rig: a small PKI made with `openssl` in a temporary directory,
//! and OpenSSL's own CMP server (`openssl cmp -port 0`), the independent
//! implementation Firma's CMP client is tested against.
//!
//! Facts about that server the rig follows: it takes one message per
//! connection; it accepts only the paths `/` and `/pkix/`; it speaks HTTP
//! only; it binds every interface, so the tests talk to it on 127.0.0.1
//! only; it returns a fixed certificate (`-rsp_cert`), so a test issues that
//! certificate for the key under test first.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::Result;

/// Runs `openssl` in `dir`; its output if it succeeds.
pub fn openssl(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("openssl (the test oracle) cannot run: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("openssl {}: {text}", args.join(" ")))
    }
}

/// A CA, the CMP responder's certificate it issued, the station's RA
/// certificate it issued, and a second CA that no one trusts. All P-256,
/// made at test time.
pub struct Pki {
    dir: tempfile::TempDir,
}

const EC: [&str; 2] = ["-pkeyopt", "ec_paramgen_curve:P-256"];

impl Pki {
    pub fn new() -> Result<Self> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path();
        for (name, cn) in [
            ("ca", "Firma Test CMP CA"),
            ("other-ca", "Someone Else's CA"),
        ] {
            let key = format!("{name}.key");
            let crt = format!("{name}.crt");
            let subj = format!("/C=ES/O=Firma/CN={cn}");
            openssl(
                d,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    EC[0],
                    EC[1],
                    "-nodes",
                    "-keyout",
                    &key,
                    "-out",
                    &crt,
                    "-subj",
                    &subj,
                    "-days",
                    "30",
                    "-addext",
                    "basicConstraints=critical,CA:true",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
                ],
            )?;
        }
        let ext = d.join("ee.ext");
        std::fs::write(
            &ext,
            "basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\n",
        )
        .map_err(|e| e.to_string())?;
        for (name, cn, issuer) in [
            ("srv", "Firma Test CMP Responder", "ca"),
            ("ra", "Firma Station RA 1", "ca"),
            ("rogue-srv", "Firma Test CMP Responder", "other-ca"),
        ] {
            let key = format!("{name}.key");
            let csr = format!("{name}.csr");
            let crt = format!("{name}.crt");
            let subj = format!("/C=ES/O=Firma/CN={cn}");
            openssl(
                d,
                &[
                    "req", "-newkey", "ec", EC[0], EC[1], "-nodes", "-keyout", &key, "-out", &csr,
                    "-subj", &subj,
                ],
            )?;
            self::sign(d, &csr, &crt, issuer)?;
        }
        Ok(Pki { dir })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// DER of a certificate of the PKI (`ca`, `srv`, `ra`, `other-ca`, ...).
    pub fn der(&self, name: &str) -> Result<Vec<u8>> {
        let out = self.path(&format!("{name}.der"));
        openssl(
            self.dir.path(),
            &[
                "x509",
                "-in",
                &format!("{name}.crt"),
                "-outform",
                "DER",
                "-out",
                out.to_str().ok_or("path")?,
            ],
        )?;
        std::fs::read(&out).map_err(|e| e.to_string())
    }

    /// The certificate the CA issues for a request (DER): what the server
    /// under test will return as its fixed answer. Returns its PEM path.
    pub fn issue(&self, name: &str, csr_der: &[u8]) -> Result<PathBuf> {
        let csr = format!("{name}.csr.der");
        std::fs::write(self.path(&csr), csr_der).map_err(|e| e.to_string())?;
        let crt = format!("{name}.crt");
        openssl(
            self.dir.path(),
            &[
                "x509",
                "-req",
                "-inform",
                "DER",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "30",
                "-out",
                &crt,
            ],
        )?;
        Ok(self.path(&crt))
    }

    /// The serial of a certificate of the PKI, uppercase hexadecimal.
    pub fn serial(&self, crt: &Path) -> Result<String> {
        let out = openssl(
            self.dir.path(),
            &[
                "x509",
                "-noout",
                "-serial",
                "-in",
                crt.to_str().ok_or("path")?,
            ],
        )?;
        Ok(out
            .trim()
            .trim_start_matches("serial=")
            .to_ascii_uppercase())
    }
}

fn sign(dir: &Path, csr: &str, crt: &str, issuer: &str) -> Result<String> {
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            &format!("{issuer}.crt"),
            "-CAkey",
            &format!("{issuer}.key"),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "ee.ext",
            "-out",
            crt,
        ],
    )
}

/// OpenSSL's CMP server on a free port, stopped when dropped.
pub struct MockServer {
    child: Child,
    port: u16,
    log: mpsc::Receiver<String>,
    seen: std::sync::Mutex<usize>,
}

/// How the server is set up beyond its fixed certificate.
#[derive(Default)]
pub struct MockOptions<'a> {
    /// The responder's certificate and key names in the PKI (default `srv`).
    pub responder: Option<&'a str>,
    /// More `openssl cmp` server options (`-poll_count 2`, `-send_error`, ...).
    pub args: Vec<&'a str>,
}

impl MockServer {
    /// Starts `openssl cmp -port 0` answering with `rsp_cert`, protecting
    /// with the responder's key, trusting the station's RA certificate.
    pub fn start(pki: &Pki, rsp_cert: &Path, options: MockOptions<'_>) -> Result<Self> {
        let responder = options.responder.unwrap_or("srv");
        let mut cmd = Command::new("openssl");
        cmd.current_dir(pki.dir.path())
            .args(["cmp", "-port", "0", "-srv_cert"])
            .arg(format!("{responder}.crt"))
            .arg("-srv_key")
            .arg(format!("{responder}.key"))
            .args(["-srv_trusted", "ca.crt", "-rsp_cert"])
            .arg(rsp_cert)
            .args(["-rsp_capubs", "ca.crt"])
            .args(&options.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("openssl cmp cannot start: {e}"))?;
        // It logs to both streams ("ACCEPT ..." and each request on stdout).
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        forward(stdout, tx.clone());
        forward(stderr, tx);
        let mut server = MockServer {
            child,
            port: 0,
            log: rx,
            seen: std::sync::Mutex::new(0),
        };
        // "ACCEPT [::]:PORT PID=..." once it listens.
        loop {
            let line = server
                .log
                .recv_timeout(Duration::from_secs(20))
                .map_err(|_| "openssl cmp did not start listening".to_string())?;
            if let Some(rest) = line.strip_prefix("ACCEPT ") {
                let port = rest
                    .split_whitespace()
                    .next()
                    .and_then(|a| a.rsplit(':').next())
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| format!("cannot read the port in {line:?}"))?;
                server.port = port;
                return Ok(server);
            }
        }
    }

    /// The address Firma's client is given (loopback only).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/pkix/", self.port)
    }

    /// The number of requests the server has received, once it has logged
    /// at least `at_least` (or after 10 s): its log arrives through a pipe,
    /// a little after the answer the client already has.
    pub fn requests(&self, at_least: usize) -> usize {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            *seen += self
                .log
                .try_iter()
                .filter(|l| l.contains("Received request"))
                .count();
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if *seen >= at_least || left.is_zero() {
                return *seen;
            }
            if let Ok(line) = self.log.recv_timeout(left.min(Duration::from_millis(100))) {
                *seen += usize::from(line.contains("Received request"));
            }
        }
    }
}

fn forward(stream: impl std::io::Read + Send + 'static, tx: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(|l| l.ok()) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Serves `body` over HTTP on 127.0.0.1 to the next `requests` requests
/// (a CA's CRL distribution point); returns its URL. The thread ends after
/// the last one.
pub fn serve_once(body: Vec<u8>, requests: usize) -> Result<String> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/pkix-crl\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    Ok(format!("http://127.0.0.1:{port}/ca.crl"))
}

/// `firma-ca serve` on a free loopback port, stopped when dropped.
pub struct FirmaCa {
    child: Child,
    url: String,
    crl_url: String,
}

impl FirmaCa {
    /// `firma-ca --dir DIR serve --listen 127.0.0.1:0 ARGS...` (the CA in
    /// `dir` made with `firma-ca init` first).
    pub fn start(dir: &Path, args: &[&str]) -> Result<Self> {
        let mut child = Command::new(crate::bin("firma-ca"))
            .arg("--dir")
            .arg(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("firma-ca cannot start: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        // "firma-ca: serving CMP on http://ADDR/pkix/ (CRL on http://ADDR/crl)"
        let mut urls = line.split_whitespace().filter(|w| w.starts_with("http://"));
        let url = urls
            .next()
            .ok_or_else(|| format!("firma-ca did not start: {line:?}"))?;
        let crl = urls
            .next()
            .ok_or_else(|| format!("firma-ca did not start: {line:?}"))?;
        Ok(FirmaCa {
            child,
            url: url.to_string(),
            crl_url: crl.trim_end_matches(')').to_string(),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn crl_url(&self) -> &str {
        &self.crl_url
    }

    /// `host:port` for `openssl cmp -server`.
    pub fn server(&self) -> &str {
        self.url
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or("")
    }

    /// Stops the server (as a crash would) and waits for it.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for FirmaCa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One raw HTTP/1.1 POST of `body` to `url` (`http://host:port/path`);
/// the status and the answer's body.
pub fn post(url: &str, content_type: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
    use std::io::Write;
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').ok_or("no path")?;
    let mut stream = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let head = format!(
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .map_err(|e| e.to_string())?;
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP answer")?;
    let status = String::from_utf8_lossy(&answer[..split])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("no HTTP status")?;
    Ok((status, answer[split + 4..].to_vec()))
}
