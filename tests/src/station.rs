//! A station data directory for end-to-end tests of `firma-station`: the
//! test CA copied in, and helpers to run the CLI against the rig's readers.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use firma_station_engine::audit::Actor;
use firma_station_engine::ca::LocalCa;
use firma_station_engine::engine::{Config, Station};

use crate::{bin, fixtures, Pcscd};

pub struct StationDir {
    pub dir: tempfile::TempDir,
}

/// What a `firma-station` run did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
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
    /// A fresh data directory whose CA is a copy of `fixtures/test-ca`.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ca = dir.path().join("ca");
        std::fs::create_dir_all(&ca).unwrap();
        for f in ["ca.key", "ca.pem"] {
            std::fs::copy(fixtures().join("test-ca").join(f), ca.join(f)).unwrap();
        }
        Self { dir }
    }

    /// The station's engine on this directory, in process, with the test
    /// CA: `operator` working at `station`.
    pub fn open_station(&self, operator: &str, station: &str, config: Config) -> Station {
        let ca = LocalCa::open(&self.ca()).expect("the test CA");
        let actor = Actor {
            operator: operator.into(),
            station: station.into(),
        };
        Station::open(self.path(), Box::new(ca), actor, config).expect("the station opens")
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
        let mut cmd = rig.command(bin("firma-station"));
        cmd.arg("--data-dir")
            .arg(self.path())
            .args(["--operator", "tester", "--station", "pru-test", "--log"])
            .arg(self.log());
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
        self.run(
            rig,
            &[
                "identity",
                nif,
                "--kind",
                "DNI",
                "--number",
                nif,
                "--expires",
                "2035-01-01",
                "--seen",
            ],
            "",
        )
        .ok();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

pub fn run(cmd: &mut Command, stdin: &str) -> Run {
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
    }
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
