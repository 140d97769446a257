//! A station data directory for end-to-end tests of `firma-station`: the
//! test CA copied in, and helpers to run the CLI against the rig's readers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use firma_station_engine::audit::Actor;
use firma_station_engine::ca::LocalCa;
use firma_station_engine::engine::{Config, RegistryLocation, Station};
use firma_station_engine::registry::PostgresRegistry;

use crate::postgres::{PgServer, STATION_ROLE};
use crate::{bin, fixtures, Pcscd};

pub struct StationDir {
    pub dir: tempfile::TempDir,
    /// The central registry this station uses, if not its embedded one.
    pub central: Option<Central>,
}

/// A station's central registry: a database on the rig's PostgreSQL server.
#[derive(Clone)]
pub struct Central {
    pub server: Arc<PgServer>,
    pub database: String,
}

impl Central {
    /// A new database on `server`, migrated, that stations may use.
    pub fn new(server: Arc<PgServer>) -> Self {
        let database = server.create_database().expect("a database");
        let mut admin =
            PostgresRegistry::connect_unchecked(&server.admin_url(&database), None).expect("admin");
        admin.migrate().expect("migrations");
        server
            .psql(&database, &format!("GRANT firma_station TO {STATION_ROLE}"))
            .expect("grant");
        Self { server, database }
    }

    /// The station's address of the database.
    pub fn url(&self) -> String {
        self.server.station_url(&self.database)
    }
}

/// Whether the station suites run on the central registry
/// (`FIRMA_TEST_REGISTRY=postgres`) instead of the embedded one.
pub fn central_registry_wanted() -> bool {
    std::env::var("FIRMA_TEST_REGISTRY").is_ok_and(|v| v == "postgres")
}

/// What a `firma-station` run did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The text (pdftotext) of the PUK letter the run wrote, or "".
    pub letter: String,
}

impl Run {
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "firma-station failed:\n{}{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl Default for StationDir {
    fn default() -> Self {
        Self::new()
    }
}

impl StationDir {
    /// A fresh data directory whose CA is a copy of `fixtures/test-ca`, with
    /// the embedded registry, or a central one of its own when
    /// `FIRMA_TEST_REGISTRY=postgres`.
    pub fn new() -> Self {
        let central = central_registry_wanted()
            .then(|| Central::new(Arc::new(PgServer::start().expect("PostgreSQL"))));
        Self::with_registry(central)
    }

    /// A fresh data directory on `central` (or the embedded registry).
    pub fn with_registry(central: Option<Central>) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        // `firma-station init`, in process: the station key.
        firma_station_engine::datadir::init(dir.path()).expect("the station's data directory");
        let ca = dir.path().join("ca");
        std::fs::create_dir_all(&ca).unwrap();
        for f in ["ca.key", "ca.pem"] {
            std::fs::copy(fixtures().join("test-ca").join(f), ca.join(f)).unwrap();
        }
        if central.is_some() {
            std::fs::write(
                dir.path().join("registry.password"),
                PgServer::station_password(),
            )
            .unwrap();
        }
        Self { dir, central }
    }

    /// The file the station reads the central registry's password from.
    pub fn password_file(&self) -> PathBuf {
        self.path().join("registry.password")
    }

    /// The station's engine on this directory, in process, with the test
    /// CA: `operator` working at `station`.
    pub fn open_station(&self, operator: &str, station: &str, config: Config) -> Station {
        let ca = LocalCa::open(&self.ca()).expect("the test CA");
        let actor = Actor {
            operator: operator.into(),
            station: station.into(),
        };
        let registry = match &self.central {
            Some(central) => RegistryLocation::Central {
                url: central.url(),
                password_file: Some(self.password_file()),
            },
            None => RegistryLocation::Embedded,
        };
        Station::open_at(self.path(), &registry, Box::new(ca), actor, config)
            .expect("the station opens")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn ca(&self) -> PathBuf {
        self.path().join("ca")
    }

    /// The diagnostic log every run writes (`--log`).
    pub fn log(&self) -> PathBuf {
        self.path().join("station.log")
    }

    /// `firma-station --data-dir DIR --operator tester --station pru-test
    /// --log DIR/station.log`, talking to the rig's pcscd.
    pub fn command(&self, rig: &Pcscd) -> Command {
        let mut cmd = self.cli();
        cmd.env("PCSCLITE_CSOCK_NAME", rig.socket());
        cmd
    }

    /// The same `firma-station` command for work that needs no reader.
    pub fn cli(&self) -> Command {
        let mut cmd = Command::new(bin("firma-station"));
        cmd.arg("--data-dir")
            .arg(self.path())
            .args(["--operator", "tester", "--station", "pru-test", "--log"])
            .arg(self.log());
        if let Some(central) = &self.central {
            cmd.arg("--registry")
                .arg(central.url())
                .arg("--registry-password-file")
                .arg(self.password_file());
        }
        cmd
    }

    /// Runs `firma-station ARGS` with `stdin`.
    pub fn run(&self, rig: &Pcscd, args: &[&str], stdin: &str) -> Run {
        run(self.command(rig).args(args), stdin)
    }

    /// Imports applications from CSV text; returns the command's stdout.
    pub fn import_csv(&self, rig: &Pcscd, csv: &str) -> Run {
        let file = self.path().join(format!("apps-{}.csv", rand_suffix()));
        std::fs::write(&file, csv).unwrap();
        self.run(rig, &["applications", "import", file.to_str().unwrap()], "")
    }

    /// Records a DNI check for `nif`, valid for years.
    pub fn identity(&self, rig: &Pcscd, nif: &str) {
        self.run(rig, &identity_args(nif), "").ok();
    }

    /// [`Self::identity`] for a station that uses no reader (no pcscd).
    pub fn identity_without_readers(&self, nif: &str) {
        run(self.cli().args(identity_args(nif)), "").ok();
    }

    /// `firma-station activate` of `nif`'s application in reader 00 00,
    /// the citizen typing `pin` twice.
    pub fn activate(&self, rig: &Pcscd, nif: &str, pin: &str) -> Run {
        self.run(
            rig,
            &[
                "activate",
                "--reader",
                "00 00",
                "--application",
                nif,
                "--pin-stdin",
            ],
            &format!("{pin}\n{pin}\n"),
        )
    }
}

/// A DNI check of `nif`, valid for years, seen by the operator.
fn identity_args(nif: &str) -> [&str; 9] {
    [
        "identity",
        nif,
        "--kind",
        "DNI",
        "--number",
        nif,
        "--expires",
        "2035-01-01",
        "--seen",
    ]
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Runs `cmd` with `stdin`. An `activate` that names no letter file gets a
/// new one (`--letter`; the CLI never shows the PUK), read back into
/// [`Run::letter`] as a citizen would read it.
pub fn run(cmd: &mut Command, stdin: &str) -> Run {
    let args: Vec<_> = cmd.get_args().map(|a| a.to_os_string()).collect();
    let letter = (args.iter().any(|a| a == "activate")
        && !args.iter().any(|a| a == "--letter" || a == "--print"))
    .then(|| {
        let dir = tempfile::tempdir().expect("a directory for the letter");
        let path = dir.path().join("puk-letter.pdf");
        cmd.arg("--letter").arg(&path);
        (dir, path)
    });
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out: Output = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        letter: letter
            .filter(|(_, path)| path.exists())
            .map(|(_, path)| pdf_text(&path))
            .unwrap_or_default(),
    }
}

/// The text of a PDF, by poppler's pdftotext (an independent reader).
pub fn pdf_text(path: &Path) -> String {
    let out = Command::new("pdftotext")
        .arg(path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils, scripts/setup.sh) runs");
    assert!(out.status.success(), "pdftotext {}", path.display());
    String::from_utf8_lossy(&out.stdout).into()
}

/// The PUK in a letter printed on stdout ("1234 5678").
pub fn puk_from_letter(letter: &str) -> Option<String> {
    letter.lines().find_map(|l| {
        let digits: String = l.chars().filter(|c| !c.is_whitespace()).collect();
        let t = l.trim();
        (digits.len() == 8
            && digits.chars().all(|c| c.is_ascii_digit())
            && t.len() == 9
            && t.as_bytes()[4] == b' ')
            .then_some(digits)
    })
}
