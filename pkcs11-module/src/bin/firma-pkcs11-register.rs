//! Registers Firma's PKCS#11 module where a citizen's applications look for
//! it: p11-kit (GnuTLS, OpenSSL's pkcs11 provider, ssh via p11-kit-proxy),
//! Chrome's NSS database (~/.pki/nssdb) and every Firefox profile; and
//! removes it again.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const NAME: &str = "Firma";
const LIBRARY: &str = "libfirma_pkcs11.so";

fn usage() -> ExitCode {
    eprintln!(
        "usage: firma-pkcs11-register install [--module PATH] | uninstall | status\n\
         Close Firefox and Chrome first: they keep their certificate databases open."
    );
    ExitCode::from(2)
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
}

/// NSS databases of this user: Chrome's (created if missing) and Firefox's profiles.
fn nss_databases(home: &Path, create_chrome: bool) -> Vec<PathBuf> {
    let mut dbs = Vec::new();
    let chrome = home.join(".pki").join("nssdb");
    if !chrome.join("cert9.db").exists() && create_chrome {
        let _ = std::fs::create_dir_all(&chrome);
        let _ = Command::new("certutil")
            .arg("-N")
            .arg("-d")
            .arg(format!("sql:{}", chrome.display()))
            .arg("--empty-password")
            .output();
    }
    if chrome.join("cert9.db").exists() {
        dbs.push(chrome);
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
        dbs.extend(profiles);
    }
    dbs
}

fn registered(db: &Path) -> bool {
    Command::new("modutil")
        .args(["-dbdir", &format!("sql:{}", db.display()), "-list", NAME])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn p11kit_file(home: &Path) -> PathBuf {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".config"));
    config.join("pkcs11").join("modules").join("firma.module")
}

/// Where the module is: `--module`, else beside this program, else the
/// Debian multiarch PKCS#11 directory.
fn find_module(args: &[String]) -> Result<PathBuf, String> {
    if let Some(i) = args.iter().position(|a| a == "--module") {
        let p = PathBuf::from(args.get(i + 1).ok_or("--module needs a path")?);
        let p = std::fs::canonicalize(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        return Ok(p);
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(LIBRARY)));
    let system = PathBuf::from("/usr/lib/x86_64-linux-gnu/pkcs11").join(LIBRARY);
    beside
        .into_iter()
        .chain([system])
        .find(|p| p.exists())
        .ok_or_else(|| format!("{LIBRARY} not found: say where it is with --module PATH"))
}

fn install(home: &Path, module: &Path) -> Result<(), String> {
    let file = p11kit_file(home);
    std::fs::create_dir_all(file.parent().expect("has a parent")).map_err(|e| e.to_string())?;
    std::fs::write(
        &file,
        format!(
            "# Firma: PIV cards (registered by firma-pkcs11-register)\nmodule: {}\n",
            module.display()
        ),
    )
    .map_err(|e| format!("{}: {e}", file.display()))?;
    println!("p11-kit: {}", file.display());
    for db in nss_databases(home, true) {
        if registered(&db) {
            println!("NSS: {} (already registered)", db.display());
            continue;
        }
        let out = Command::new("modutil")
            .args([
                "-force",
                "-dbdir",
                &format!("sql:{}", db.display()),
                "-add",
                NAME,
                "-libfile",
            ])
            .arg(module)
            .output()
            .map_err(|e| format!("cannot run modutil ({e}): install libnss3-tools"))?;
        if !out.status.success() {
            return Err(format!(
                "{}: {}",
                db.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        println!("NSS: {}", db.display());
    }
    Ok(())
}

fn uninstall(home: &Path) -> Result<(), String> {
    let file = p11kit_file(home);
    if file.exists() {
        std::fs::remove_file(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        println!("p11-kit: removed {}", file.display());
    }
    for db in nss_databases(home, false) {
        if !registered(&db) {
            continue;
        }
        let out = Command::new("modutil")
            .args([
                "-force",
                "-dbdir",
                &format!("sql:{}", db.display()),
                "-delete",
                NAME,
            ])
            .output()
            .map_err(|e| format!("cannot run modutil ({e}): install libnss3-tools"))?;
        if !out.status.success() {
            return Err(format!(
                "{}: {}",
                db.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        println!("NSS: removed from {}", db.display());
    }
    Ok(())
}

fn status(home: &Path) {
    let file = p11kit_file(home);
    println!(
        "p11-kit: {}",
        if file.exists() {
            "registered"
        } else {
            "not registered"
        }
    );
    for db in nss_databases(home, false) {
        println!(
            "NSS {}: {}",
            db.display(),
            if registered(&db) {
                "registered"
            } else {
                "not registered"
            }
        );
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(home) = home() else {
        eprintln!("firma-pkcs11-register: HOME is not set");
        return ExitCode::FAILURE;
    };
    let result = match args.first().map(String::as_str) {
        Some("install") => find_module(&args).and_then(|m| install(&home, &m)),
        Some("uninstall") => uninstall(&home),
        Some("status") => {
            status(&home);
            Ok(())
        }
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firma-pkcs11-register: {e}");
            ExitCode::FAILURE
        }
    }
}
