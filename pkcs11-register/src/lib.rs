//! Registers Firma's PKCS#11 module where a citizen's applications look for
//! it, and removes it again: p11-kit (GnuTLS, OpenSSL's pkcs11 provider,
//! ssh through p11-kit-proxy), Chrome's NSS database (`~/.pki/nssdb`) and
//! every Firefox profile. The command `firma-pkcs11-register` and the
//! citizen's card manager (`firma-card`) both call these functions and
//! word the typed [`Registration`] each in their own way.
//!
//! NSS databases are changed with NSS's own `modutil` (libnss3-tools), never
//! by writing `pkcs11.txt` ourselves: it is the tool Mozilla documents for
//! this, and it keeps the database consistent.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The name the module is registered under in NSS.
pub const NAME: &str = "Firma";
/// The module's file name.
pub const LIBRARY: &str = "libfirma_pkcs11.so";

/// Whose database a registration went into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    /// Chrome and Chromium share the user's NSS database `~/.pki/nssdb`.
    Chrome,
    /// One Firefox profile.
    Firefox,
}

/// One NSS database of the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NssDb {
    pub browser: Browser,
    pub path: PathBuf,
}

/// What became of one NSS database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Added,
    AlreadyThere,
    Removed,
    /// Nothing to remove there.
    NotThere,
}

/// What [`install`] or [`uninstall`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The user's p11-kit module file.
    pub p11kit: PathBuf,
    pub p11kit_outcome: Outcome,
    pub nss: Vec<(NssDb, Outcome)>,
}

/// Why a registration failed, with what to do.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("HOME is not set (or not an absolute path)")]
    NoHome,
    #[error("{LIBRARY} not found: install the firma-pkcs11 package, or say where it is with --module PATH")]
    ModuleNotFound,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot run modutil ({0}): install libnss3-tools")]
    NoModutil(std::io::Error),
    /// modutil refused: most often the browser holds its database open.
    #[error("{}: {message} (close Firefox and Chrome, then try again)", db.path.display())]
    Modutil { db: NssDb, message: String },
}

/// The user's home directory, from `HOME`.
pub fn home() -> Result<PathBuf, RegisterError> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
        .ok_or(RegisterError::NoHome)
}

/// The Debian multiarch PKCS#11 directory of this machine's architecture.
pub fn system_module_dir() -> PathBuf {
    let triplet = match std::env::consts::ARCH {
        "arm" => "arm-linux-gnueabihf".to_string(),
        "x86" => "i386-linux-gnu".to_string(),
        arch => format!("{arch}-linux-gnu"),
    };
    Path::new("/usr/lib").join(triplet).join("pkcs11")
}

/// Where the module is: `explicit` if given, else beside the running
/// program (a build tree), else the multiarch PKCS#11 directory (the
/// Debian package).
pub fn find_module(explicit: Option<&Path>) -> Result<PathBuf, RegisterError> {
    if let Some(p) = explicit {
        return std::fs::canonicalize(p).map_err(|source| RegisterError::Io {
            path: p.to_path_buf(),
            source,
        });
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(LIBRARY)));
    beside
        .into_iter()
        .chain([system_module_dir().join(LIBRARY)])
        .find(|p| p.exists())
        .ok_or(RegisterError::ModuleNotFound)
}

fn chrome_db(home: &Path) -> PathBuf {
    home.join(".pki").join("nssdb")
}

/// The user's NSS databases: Chrome's, then each Firefox profile (the
/// Debian package's and the snap's), in a stable order.
pub fn nss_databases(home: &Path) -> Vec<NssDb> {
    let mut dbs = Vec::new();
    let chrome = chrome_db(home);
    if chrome.join("cert9.db").exists() {
        dbs.push(NssDb {
            browser: Browser::Chrome,
            path: chrome,
        });
    }
    for root in [
        home.join(".mozilla").join("firefox"),
        home.join("snap/firefox/common/.mozilla/firefox"),
    ] {
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        let mut profiles: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("cert9.db").exists())
            .collect();
        profiles.sort();
        dbs.extend(profiles.into_iter().map(|path| NssDb {
            browser: Browser::Firefox,
            path,
        }));
    }
    dbs
}

/// Whether Firma's module is in `db`. modutil's exit status does not say:
/// it fails when a slot of the module holds no token (an empty reader),
/// after listing the module all the same.
pub fn registered(db: &Path) -> bool {
    Command::new("modutil")
        .args(["-dbdir", &sql(db), "-list", NAME])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == format!("Name: {NAME}"))
        })
}

fn sql(db: &Path) -> String {
    format!("sql:{}", db.display())
}

/// The user's p11-kit module file (`$XDG_CONFIG_HOME/pkcs11/modules`).
pub fn p11kit_file(home: &Path) -> PathBuf {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|c| c.is_absolute())
        .unwrap_or_else(|| home.join(".config"));
    config.join("pkcs11").join("modules").join("firma.module")
}

fn modutil(db: &NssDb, args: &[&str], module: Option<&Path>) -> Result<(), RegisterError> {
    let mut cmd = Command::new("modutil");
    cmd.args(["-force", "-dbdir", &sql(&db.path)]).args(args);
    if let Some(m) = module {
        cmd.arg(m);
    }
    let out = cmd.output().map_err(RegisterError::NoModutil)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(RegisterError::Modutil {
            db: db.clone(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Registers `module` for the user of `home`: the p11-kit file, Chrome's
/// database (created when Chrome has not made it yet, so that Chrome finds
/// the module on its first start) and every Firefox profile. Running it
/// again changes nothing.
pub fn install(home: &Path, module: &Path) -> Result<Registration, RegisterError> {
    let file = p11kit_file(home);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RegisterError::Io { path, source }
    };
    let dir = file.parent().unwrap_or(home);
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let text = format!(
        "# Firma: PIV cards (registered by firma-pkcs11-register)\nmodule: {}\n",
        module.display()
    );
    let p11kit_outcome = if std::fs::read_to_string(&file).is_ok_and(|t| t == text) {
        Outcome::AlreadyThere
    } else {
        std::fs::write(&file, text).map_err(io(&file))?;
        Outcome::Added
    };
    let chrome = chrome_db(home);
    if !chrome.join("cert9.db").exists() {
        std::fs::create_dir_all(&chrome).map_err(io(&chrome))?;
        let out = Command::new("certutil")
            .args(["-N", "-d", &sql(&chrome), "--empty-password"])
            .output()
            .map_err(RegisterError::NoModutil)?;
        if !out.status.success() {
            return Err(RegisterError::Modutil {
                db: NssDb {
                    browser: Browser::Chrome,
                    path: chrome,
                },
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
    }
    let mut nss = Vec::new();
    for db in nss_databases(home) {
        if registered(&db.path) {
            nss.push((db, Outcome::AlreadyThere));
            continue;
        }
        modutil(&db, &["-add", NAME, "-libfile"], Some(module))?;
        nss.push((db, Outcome::Added));
    }
    Ok(Registration {
        p11kit: file,
        p11kit_outcome,
        nss,
    })
}

/// Removes what [`install`] added for the user of `home`.
pub fn uninstall(home: &Path) -> Result<Registration, RegisterError> {
    let file = p11kit_file(home);
    let p11kit_outcome = if file.exists() {
        std::fs::remove_file(&file).map_err(|source| RegisterError::Io {
            path: file.clone(),
            source,
        })?;
        Outcome::Removed
    } else {
        Outcome::NotThere
    };
    let mut nss = Vec::new();
    for db in nss_databases(home) {
        if !registered(&db.path) {
            nss.push((db, Outcome::NotThere));
            continue;
        }
        modutil(&db, &["-delete", NAME], None)?;
        nss.push((db, Outcome::Removed));
    }
    Ok(Registration {
        p11kit: file,
        p11kit_outcome,
        nss,
    })
}

/// Where the module is registered now, without changing anything.
pub fn status(home: &Path) -> Registration {
    let file = p11kit_file(home);
    let there = |yes: bool| {
        if yes {
            Outcome::AlreadyThere
        } else {
            Outcome::NotThere
        }
    };
    Registration {
        p11kit_outcome: there(file.exists()),
        p11kit: file,
        nss: nss_databases(home)
            .into_iter()
            .map(|db| {
                let o = there(registered(&db.path));
                (db, o)
            })
            .collect(),
    }
}

/// Browsers of this user that are running now: they keep their databases
/// open and load modules only when they start, so they are to be closed
/// before registering and opened again after.
pub fn running_browsers() -> Vec<Browser> {
    let mut found = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return found;
    };
    for p in procs.filter_map(Result::ok) {
        let Ok(comm) = std::fs::read_to_string(p.path().join("comm")) else {
            continue;
        };
        let browser = match comm.trim() {
            "firefox" | "firefox-esr" | "firefox-bin" => Browser::Firefox,
            "chrome" | "chromium" | "chromium-browse" | "google-chrome" => Browser::Chrome,
            _ => continue,
        };
        if !found.contains(&browser) {
            found.push(browser);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firefox_profiles_without_a_database_are_not_listed() {
        let home = tempfile::tempdir().unwrap();
        let ff = home.path().join(".mozilla/firefox");
        std::fs::create_dir_all(ff.join("b.default")).unwrap();
        std::fs::create_dir_all(ff.join("a.default")).unwrap();
        std::fs::write(ff.join("b.default/cert9.db"), b"").unwrap();
        std::fs::write(ff.join("a.default/cert9.db"), b"").unwrap();
        std::fs::create_dir_all(ff.join("c.empty")).unwrap();
        let dbs = nss_databases(home.path());
        let names: Vec<_> = dbs
            .iter()
            .map(|d| d.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.default", "b.default"]);
        assert!(dbs.iter().all(|d| d.browser == Browser::Firefox));
    }

    #[test]
    fn a_missing_module_says_where_to_get_it() {
        let e = find_module(Some(Path::new("/nonexistent/lib.so"))).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/lib.so"), "{e}");
    }
}
