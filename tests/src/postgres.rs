//! A PostgreSQL server of the rig's own, for the central registry's tests:
//! Debian's PostgreSQL, `initdb` in a temporary directory, run as the
//! unprivileged `postgres` user when the tests run as root, listening on a
//! socket in that directory and on 127.0.0.1 at a free port. Local
//! connections (the administrator's) are trusted; TCP connections (the
//! stations') need their password. Dropping the server stops it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Result;

/// The login role stations use in the tests, granted `firma_station`.
pub const STATION_ROLE: &str = "pru_test";

/// A running PostgreSQL server.
pub struct PgServer {
    dir: tempfile::TempDir,
    child: std::sync::Mutex<Child>,
    port: u16,
    bin: PathBuf,
    databases: std::sync::atomic::AtomicU32,
}

/// Debian's newest PostgreSQL binaries.
fn bin_dir() -> Result<PathBuf> {
    let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| format!("PostgreSQL is not installed (scripts/setup.sh installs it): {e}"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort();
    let v = versions
        .last()
        .ok_or("no PostgreSQL under /usr/lib/postgresql")?;
    Ok(PathBuf::from(format!("/usr/lib/postgresql/{v}/bin")))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// `program` run as the unprivileged `postgres` user when we are root
/// (PostgreSQL refuses to run as root).
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn chown_to_postgres(path: &Path) -> Result<()> {
    if !is_root() {
        return Ok(());
    }
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .status()
        .map_err(|e| e.to_string())?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("chown {} failed", path.display()))
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// The server on `dir/data`, its socket in `dir`, its log in `dir/server.log`.
fn spawn_server(bin: &Path, dir: &Path, port: u16) -> Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .map_err(|e| e.to_string())?;
    as_postgres(&bin.join("postgres"))
        .arg("-D")
        .arg(dir.join("data"))
        .arg("-k")
        .arg(dir)
        .args(["-p", &port.to_string()])
        .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
        .args(["-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("postgres: {e}"))
}

impl PgServer {
    /// initdb and start; returns once the server accepts connections.
    pub fn start() -> Result<Self> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("firma-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        chown_to_postgres(dir.path())?;
        let out = as_postgres(&bin.join("initdb"))
            .args([
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-U",
                "postgres",
            ])
            .args(["--no-sync", "-E", "UTF8", "--locale=C", "-D"])
            .arg(&data)
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let port = free_port()?;
        let child = spawn_server(&bin, dir.path(), port)?;
        let server = PgServer {
            dir,
            child: std::sync::Mutex::new(child),
            port,
            bin,
            databases: Default::default(),
        };
        server.wait_ready()?;
        server.psql(
            "postgres",
            &format!(
                "CREATE ROLE {STATION_ROLE} LOGIN PASSWORD '{}'",
                Self::station_password()
            ),
        )?;
        Ok(server)
    }

    fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = Command::new(self.bin.join("pg_isready"))
                .arg("-h")
                .arg(self.dir.path())
                .args(["-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
                return Err(format!("PostgreSQL did not start:\n{log}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The test stations' password (the tests' own server only).
    pub fn station_password() -> &'static str {
        "station-secret-for-tests"
    }

    /// Runs `sql` as the administrator in `database`; returns its output.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String> {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.arg("-h").arg(self.dir.path()).args(["-U", "postgres"]);
        self.run_psql(cmd, database, sql)
    }

    /// Runs `sql` in `database` as a station does: over TCP, as
    /// [`STATION_ROLE`] with its password.
    pub fn psql_as_station(&self, database: &str, sql: &str) -> Result<String> {
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args(["-h", "127.0.0.1", "-U", STATION_ROLE])
            .env("PGPASSWORD", Self::station_password());
        self.run_psql(cmd, database, sql)
    }

    fn run_psql(&self, mut cmd: Command, database: &str, sql: &str) -> Result<String> {
        let out = cmd
            .args(["-p", &self.port.to_string(), "-d", database])
            .args(["-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql])
            .output()
            .map_err(|e| format!("psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// A new empty database; returns its name.
    pub fn create_database(&self) -> Result<String> {
        let n = self
            .databases
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("registry_{n}");
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(name)
    }

    /// The administrator's address of `database` (local socket, trusted).
    pub fn admin_url(&self, database: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={database}",
            self.dir.path().display(),
            self.port
        )
    }

    /// A station's address of `database` (TCP, password from a file).
    pub fn station_url(&self, database: &str) -> String {
        format!(
            "postgres://{STATION_ROLE}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// The server's log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Stops the server at once (an outage); [`PgServer::restart`] brings it back.
    pub fn stop(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the stopped server again on the same port, with its data.
    pub fn restart(&self) -> Result<()> {
        let _ = std::fs::remove_file(self.dir.path().join("data/postmaster.pid"));
        *self.child.lock().unwrap_or_else(|e| e.into_inner()) =
            spawn_server(&self.bin, self.dir.path(), self.port)?;
        self.wait_ready()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}
