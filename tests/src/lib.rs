//! The test rig: a private pcscd with vsmartcard's vpcd driver, and virtual
//! cards (`firma-vcard` processes) plugged into its readers.
//!
//! Each [`Pcscd`] runs in its own mount namespace with its own `/run/pcscd`
//! (bind-mounted from a temporary directory) and its own vpcd ports, so tests
//! run in parallel without sharing readers and never touch a pcscd that was
//! already running on the machine. Clients reach it through
//! `PCSCLITE_CSOCK_NAME`, which [`Pcscd::command`] sets. Dropping the rig
//! stops what it started, and only that.
#![forbid(unsafe_code)]

pub mod cmp;
pub mod nss;
pub mod oracle;
pub mod postgres;
pub mod readers;
pub mod station;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Reader names start with "Yubico" because ykcs11 2.2 ignores other readers.
pub const READER_PREFIX: &str = "Yubico Firma Virtual";
const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";

pub type Result<T> = std::result::Result<T, String>;

/// A pcscd of the rig's own, with two vpcd readers.
pub struct Pcscd {
    dir: tempfile::TempDir,
    child: Child,
    base_port: u16,
    /// Readers that have held a card before (see [`Pcscd::insert`]).
    used: std::sync::Mutex<[bool; 2]>,
}

/// Which implementation of PIV plays the card.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CardKind {
    /// `firma-vcard`: Firma's own virtual card, YubiKey-like.
    #[default]
    Firma,
    /// `firma-nitrokey`: Nitrokey 3's PIV application (`piv-authenticator`
    /// on Trussed), a card Firma did not write. It has a fixed serial, no
    /// SET PIN RETRIES, no metadata, no attestation and short APDUs only.
    Nitrokey,
}

impl CardKind {
    /// The serial number GET SERIAL answers: every Nitrokey PIV says 5437251.
    pub fn serial(self, asked: Option<u32>) -> u32 {
        match self {
            CardKind::Firma => asked.unwrap_or(10_000_001),
            CardKind::Nitrokey => NITROKEY_SERIAL,
        }
    }
}

pub const NITROKEY_SERIAL: u32 = 5_437_251;

/// Options for a virtual card.
#[derive(Debug, Clone, Default)]
pub struct CardOptions {
    pub kind: CardKind,
    pub state: Option<PathBuf>,
    pub serial: Option<u32>,
    pub fail_after: Option<u64>,
    pub keygen_delay_ms: Option<u64>,
    /// No Yubico extensions (`--plain-piv`).
    pub plain_piv: bool,
    pub log_apdus: Option<PathBuf>,
}

/// A running `firma-vcard` process, pulled out of its reader when dropped.
pub struct Card {
    child: Option<Child>,
    reader: String,
    socket: PathBuf,
}

/// A directory of the workspace's built binaries (`target/debug`).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FIRMA_BIN_DIR") {
        return dir.into();
    }
    // Test executables live in target/<profile>/deps; binaries one level up.
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    dir
}

/// The Nitrokey card's runner, built apart from the workspace (it pulls
/// Trussed) into `target/nitrokey` by scripts/test.sh.
pub fn nitrokey_bin() -> PathBuf {
    let path = match std::env::var_os("FIRMA_NITROKEY_BIN") {
        Some(p) => PathBuf::from(p),
        // bin_dir() is target/<profile>; the runner is always a dev build.
        None => bin_dir()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
            .join("nitrokey/debug/firma-nitrokey"),
    };
    assert!(
        path.exists(),
        "{} is missing: build it with scripts/build-nitrokey.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

/// The path of one of the workspace's binaries, with a clear message when it
/// has not been built.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace's binaries first (cargo build --workspace --bins)",
        path.display()
    );
    path
}

fn find_program(name: &str, fallbacks: &[&str]) -> Result<PathBuf> {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(fallbacks.iter().copied())
    {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return Ok(p);
        }
    }
    Err(format!(
        "{name} not found: install it (scripts/setup.sh installs the Debian packages)"
    ))
}

/// Two free consecutive TCP ports (vpcd listens on base and base+1).
fn free_port_pair() -> Result<u16> {
    for _ in 0..50 {
        let probe = TcpListener::bind("0.0.0.0:0").map_err(|e| e.to_string())?;
        // Linux hands out odd ports to bind(0); take the even one below.
        let base = probe.local_addr().map_err(|e| e.to_string())?.port() & !1;
        drop(probe);
        if TcpListener::bind(("0.0.0.0", base)).is_ok()
            && TcpListener::bind(("0.0.0.0", base + 1)).is_ok()
        {
            return Ok(base);
        }
    }
    Err("no free pair of TCP ports for vpcd".into())
}

/// Whether something listens on a local TCP port, read from /proc so the
/// check does not itself connect (vpcd would take a connection for a card).
pub fn listening(port: u16) -> bool {
    let needle = format!(":{port:04X} ");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
        std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() > 3 && format!("{} ", cols[1]).ends_with(&needle) && cols[3] == "0A"
            })
    })
}

fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > timeout {
            return Err(format!("timed out after {timeout:?} waiting for {what}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

impl Pcscd {
    /// Starts a private pcscd with two vpcd readers and waits for them.
    pub fn start() -> Result<Self> {
        let pcscd = find_program("pcscd", &["/usr/sbin", "/sbin"])?;
        if !Path::new(VPCD_DRIVER).exists() {
            return Err(format!("{VPCD_DRIVER} missing: install vsmartcard-vpcd"));
        }
        let mut dir = tempfile::Builder::new()
            .prefix("firma-rig-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let run = dir.path().join("run");
        let conf = dir.path().join("reader.conf.d");
        std::fs::create_dir_all(&run).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(&conf).map_err(|e| e.to_string())?;
        let mut last_err = String::new();
        for _ in 0..5 {
            let base_port = free_port_pair()?;
            let entry = format!(
                "FRIENDLYNAME \"{READER_PREFIX}\"\nDEVICENAME /dev/null:0x{base_port:04X}\nLIBPATH {VPCD_DRIVER}\n"
            );
            std::fs::write(conf.join("vpcd"), entry).map_err(|e| e.to_string())?;
            let child = spawn_pcscd(&pcscd, dir.path())?;
            let mut rig = Self {
                dir,
                child,
                base_port,
                used: Default::default(),
            };
            let socket = rig.socket();
            let ready = wait_until(
                Duration::from_secs(10),
                "pcscd and its vpcd readers",
                || socket.exists() && listening(base_port) && listening(base_port + 1),
            );
            match ready {
                Ok(()) => return Ok(rig),
                Err(e) => {
                    last_err = format!("{e}; pcscd log:\n{}", rig.log());
                    let _ = rig.child.kill();
                    let _ = rig.child.wait();
                    dir = std::mem::replace(
                        &mut rig.dir,
                        tempfile::tempdir().map_err(|e| e.to_string())?,
                    );
                    // `rig` is dropped here without its directory.
                }
            }
        }
        Err(last_err)
    }

    /// The pcscd socket clients must use (`PCSCLITE_CSOCK_NAME`).
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("run").join("pcscd.comm")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What pcscd printed so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pcscd.log")).unwrap_or_default()
    }

    /// Reader name of slot 0 or 1.
    pub fn reader(&self, slot: u8) -> String {
        format!("{READER_PREFIX} 00 {slot:02}")
    }

    /// vpcd address a card for slot 0 or 1 connects to.
    pub fn vpcd_addr(&self, slot: u8) -> String {
        format!("127.0.0.1:{}", self.base_port + u16::from(slot))
    }

    /// A command that talks to this pcscd.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("PCSCLITE_CSOCK_NAME", self.socket());
        cmd
    }

    /// Plugs a new `firma-vcard` into reader `slot` and waits until pcscd sees it.
    pub fn insert(&self, slot: u8, opts: &CardOptions) -> Result<Card> {
        let reused = std::mem::replace(&mut self.used.lock().unwrap()[usize::from(slot & 1)], true);
        if reused {
            // pcscd's reader thread polls vpcd every 400 ms and notices a new
            // card only if it saw the reader empty in between; after a card
            // dropped mid-transmit, SCardGetStatusChange already says "empty"
            // before that thread has looked. Give it two polls.
            std::thread::sleep(Duration::from_millis(900));
        }
        let mut cmd = match opts.kind {
            CardKind::Firma => Command::new(bin("firma-vcard")),
            CardKind::Nitrokey => Command::new(nitrokey_bin()),
        };
        cmd.arg("--vpcd")
            .arg(self.vpcd_addr(slot))
            .arg("--wait")
            .arg("10");
        if let Some(p) = &opts.state {
            cmd.arg("--state").arg(p);
        }
        if let Some(n) = opts.fail_after {
            cmd.arg("--fail-after").arg(n.to_string());
        }
        match opts.kind {
            CardKind::Firma => {
                if let Some(s) = opts.serial {
                    cmd.arg("--serial").arg(s.to_string());
                }
                if opts.plain_piv {
                    cmd.arg("--plain-piv");
                }
                if let Some(ms) = opts.keygen_delay_ms {
                    cmd.arg("--keygen-delay-ms").arg(ms.to_string());
                }
            }
            CardKind::Nitrokey => {
                if opts.serial.is_some_and(|s| s != NITROKEY_SERIAL)
                    || opts.plain_piv
                    || opts.keygen_delay_ms.is_some()
                {
                    return Err(format!("a Nitrokey card has a fixed serial ({NITROKEY_SERIAL}), its own applet and its own key generation time: {opts:?} asks for what it cannot do"));
                }
            }
        }
        if let Some(p) = &opts.log_apdus {
            cmd.arg("--log-apdus").arg(p);
        }
        let log = std::fs::File::create(self.dir.path().join(format!("vcard{slot}.log")))
            .map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| e.to_string())?;
        let card = Card {
            child: Some(child),
            reader: self.reader(slot),
            socket: self.socket(),
        };
        card.wait_present(true, Duration::from_secs(10))
            .map_err(|e| {
                let vcard =
                    std::fs::read_to_string(self.dir.path().join(format!("vcard{slot}.log")))
                        .unwrap_or_default();
                let log = self.log();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                format!(
                    "{e}\nthe card said:\n{vcard}\npcscd log (last lines, newest first):\n{}",
                    tail.join("\n")
                )
            })?;
        Ok(card)
    }
}

/// Starts pcscd in its own mount namespace, with `/run/pcscd` bound to
/// `dir/run` and the reader configuration of `dir/reader.conf.d`.
fn spawn_pcscd(pcscd: &Path, dir: &Path) -> Result<Child> {
    let (run, conf) = (dir.join("run"), dir.join("reader.conf.d"));
    let script = format!(
        "mkdir -p /run/pcscd && mount --bind '{}' /run/pcscd && exec '{}' --foreground -c '{}'",
        run.display(),
        pcscd.display(),
        conf.display()
    );
    let mut cmd = Command::new("unshare");
    if !is_root() {
        cmd.args(["--user", "--map-root-user"]);
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("pcscd.log"))
        .map_err(|e| e.to_string())?;
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot run unshare: {e}"))
}

impl Pcscd {
    /// Stops pcscd and starts it again on the same readers, as after an
    /// update or a crash; the cards reconnect by themselves.
    pub fn restart(&mut self) -> Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let socket = self.socket();
        let _ = std::fs::remove_file(&socket);
        let port = self.base_port;
        wait_until(Duration::from_secs(10), "vpcd ports to close", || {
            !listening(port) && !listening(port + 1)
        })?;
        self.child = spawn_pcscd(
            &find_program("pcscd", &["/usr/sbin", "/sbin"])?,
            self.dir.path(),
        )?;
        wait_until(Duration::from_secs(10), "pcscd to come back", || {
            socket.exists() && listening(port) && listening(port + 1)
        })
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    // The effective uid from /proc avoids an unsafe libc call.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

impl Card {
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// Waits until pcscd reports the card present (or absent).
    pub fn wait_present(&self, present: bool, timeout: Duration) -> Result<()> {
        let status = Command::new(bin("firma-rig"))
            .env("PCSCLITE_CSOCK_NAME", &self.socket)
            .args([
                "wait-card",
                &self.reader,
                if present { "present" } else { "absent" },
            ])
            .arg(timeout.as_millis().to_string())
            .status()
            .map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "card in {:?} did not become {}",
                self.reader,
                if present { "present" } else { "absent" }
            ))
        }
    }

    /// Waits for the card process to end by itself (after `--fail-after`).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let child = self.child.as_mut().ok_or("card already removed")?;
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                self.child = None;
                return Ok(status);
            }
            if start.elapsed() > timeout {
                return Err("card process did not exit".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Pulls the card out and waits until the reader is empty.
    pub fn remove(mut self) -> Result<()> {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.wait_present(false, Duration::from_secs(10))
    }
}

impl Drop for Card {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs a command and returns its stdout and stderr together; panics with
/// both when it fails, so a test failure shows what the tool said.
pub fn ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{text}",
        out.status
    );
    text
}

/// Runs a command that must fail; returns what it printed.
pub fn fails(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "{cmd:?} should have failed but succeeded:\n{text}"
    );
    text
}

/// The fixtures directory of the workspace.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fixtures")
}

/// Issues a certificate from the test CA for a public key (PEM), as an
/// independent CA would: `openssl x509 -new -force_pubkey`.
pub fn issue_cert(pubkey_pem: &Path, subject: &str, out: &Path) {
    let ca = fixtures().join("test-ca");
    ok(Command::new("openssl")
        .args([
            "x509",
            "-new",
            "-days",
            "30",
            "-subj",
            subject,
            "-force_pubkey",
        ])
        .arg(pubkey_pem)
        .arg("-CA")
        .arg(ca.join("ca.pem"))
        .arg("-CAkey")
        .arg(ca.join("ca.key"))
        .arg("-out")
        .arg(out));
}

/// OpenSC's PKCS#11 module.
pub const OPENSC_PKCS11: &str = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
/// Yubico's PKCS#11 module.
pub const YKCS11: &str = "/usr/lib/x86_64-linux-gnu/libykcs11.so";

impl Pcscd {
    /// `yubico-piv-tool -r READER ARGS...` against reader `slot`.
    pub fn yubico(&self, slot: u8, args: &[&str]) -> Command {
        let mut cmd = self.command("yubico-piv-tool");
        cmd.arg("-r").arg(self.reader(slot)).args(args);
        cmd
    }

    /// OpenSC's `pkcs11-tool` on the token in reader `slot` (any card kind).
    pub fn opensc(&self, slot: u8, args: &[&str]) -> Command {
        let mut cmd = self.pkcs11_tool(OPENSC_PKCS11, &["--slot-description"]);
        cmd.arg(self.reader(slot)).args(args);
        cmd
    }

    /// `pkcs11-tool --module MODULE ARGS...`.
    pub fn pkcs11_tool(&self, module: &str, args: &[&str]) -> Command {
        let mut cmd = self.command("pkcs11-tool");
        cmd.args(["--module", module]).args(args);
        cmd
    }
}

/// Checks a signature with openssl against the public key of a certificate.
pub fn verify_with_cert(
    cert: &std::path::Path,
    digest: &str,
    data: &std::path::Path,
    sig: &std::path::Path,
) {
    let dir = cert.parent().unwrap();
    let key = dir.join(format!(
        "{}.key.pem",
        cert.file_name().unwrap().to_string_lossy()
    ));
    let pubkey = ok(Command::new("openssl")
        .args(["x509", "-noout", "-pubkey", "-in"])
        .arg(cert));
    std::fs::write(&key, pubkey).unwrap();
    let out = ok(Command::new("openssl")
        .args(["dgst", &format!("-{digest}"), "-verify"])
        .arg(&key)
        .arg("-signature")
        .arg(sig)
        .arg(data));
    assert!(out.contains("Verified OK"), "{out}");
}

/// Certificates of a card personalized by yubico-piv-tool, by slot name.
pub struct Personalized {
    pub dir: tempfile::TempDir,
    pub certs: Vec<(&'static str, PathBuf)>,
}

impl Personalized {
    pub fn cert(&self, slot: &str) -> &Path {
        &self
            .certs
            .iter()
            .find(|(s, _)| *s == slot)
            .expect("a slot that was personalized")
            .1
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Has yubico-piv-tool (independent of Firma) generate keys on the card in
/// reader `reader`, the test CA certify them, and the certificates go on the
/// card: `keys` are (slot, algorithm) such as ("9a", "RSA2048").
pub fn personalize(
    rig: &Pcscd,
    reader: u8,
    keys: &[(&'static str, &str)],
    holder: &str,
) -> Personalized {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut certs = Vec::new();
    for (slot, alg) in keys {
        let pubkey = dir.path().join(format!("{slot}.pub.pem"));
        let cert = dir.path().join(format!("{slot}.crt.pem"));
        ok(&mut rig.yubico(
            reader,
            &[
                "-a",
                "generate",
                "-s",
                slot,
                "-A",
                alg,
                "-o",
                pubkey.to_str().unwrap(),
            ],
        ));
        issue_cert(&pubkey, &format!("/C=ES/CN={holder}"), &cert);
        ok(&mut rig.yubico(
            reader,
            &[
                "-a",
                "import-certificate",
                "-s",
                slot,
                "-i",
                cert.to_str().unwrap(),
            ],
        ));
        certs.push((*slot, cert));
    }
    Personalized { dir, certs }
}

/// Firma's PKCS#11 module as built in this workspace.
pub fn firma_module() -> String {
    let path = bin_dir().join("libfirma_pkcs11.so");
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

/// One test of a binary that shares one rig (see [`run_with_shared_rig`]).
pub type SharedRigTest = fn(&mut Pcscd);

/// The `main` of a test binary whose tests use PC/SC in process: libpcsclite
/// reads the pcscd socket path once per process, so they share one private
/// pcscd and run one after the other. Prints libtest's format; `after_each`
/// runs after every test whatever its outcome. Command-line words filter
/// tests by name, as with libtest.
pub fn run_with_shared_rig(
    tests: &[(&str, SharedRigTest)],
    after_each: fn(),
) -> std::process::ExitCode {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let start = Instant::now();
    let mut rig = Pcscd::start().expect("rig");
    // Set before any PC/SC call and before any thread exists.
    std::env::set_var("PCSCLITE_CSOCK_NAME", rig.socket());
    let selected: Vec<_> = tests
        .iter()
        .filter(|(n, _)| filter.is_empty() || filter.iter().any(|f| n.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in &selected {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| test(&mut rig)));
        after_each();
        println!(
            "test {name} ... {}",
            if outcome.is_ok() { "ok" } else { "FAILED" }
        );
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    drop(rig);
    if !failed.is_empty() {
        println!("\nfailures:\n    {}", failed.join("\n    "));
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() - failed.len(),
        failed.len(),
        tests.len() - selected.len(),
        start.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
