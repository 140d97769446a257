//! The station's data directory: personal data of citizens (the registry,
//! its WAL, logs, PUK letters) and the station key. Only the station's OS
//! user may read any of it: the directory is 0700, the files in it 0600, and
//! the station refuses to start on anything looser, naming the `chmod` that
//! fixes it (a umask-default 0644 registry is every local user's to read).
//!
//! The station key is made only by an explicit `firma-station init`: a
//! missing key is never replaced silently, since every card's sealed
//! management key depends on it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// The station key's file name in the data directory.
pub const STATION_KEY: &str = "station.key";

/// The files the station keeps private in its data directory (when they
/// exist): the key, the embedded registry and SQLite's side files.
pub const PRIVATE_FILES: &[&str] = &[
    STATION_KEY,
    "registry.sqlite",
    "registry.sqlite-wal",
    "registry.sqlite-shm",
    "registry.sqlite-journal",
];

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("{} can be read by other users (mode {mode:03o}): run `chmod {want:o} {}` and start the station again", path.display(), path.display())]
    TooOpen { path: PathBuf, mode: u32, want: u32 },
    #[error("{} has no station key: run `firma-station --data-dir {} init` once to create it (or restore station.key from the station's backup)", dir.display(), dir.display())]
    NotInitialized { dir: PathBuf },
    #[error("{} already has a station key: it is never replaced, since the cards' sealed management keys depend on it", path.display())]
    AlreadyInitialized { path: PathBuf },
    #[error("{} holds a registry with {cards} cards but no station key: restore station.key from the station's backup (a new key could not administer those cards)", dir.display())]
    KeyLost { dir: PathBuf, cards: u64 },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError {
    let path = path.to_path_buf();
    move |source| DataDirError::Io { what, path, source }
}

/// Creates the data directory (0700) if it is missing.
pub fn create_dir(dir: &Path) -> Result<(), DataDirError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    b.mode(0o700);
    b.create(dir)
        .map_err(io("cannot create the data directory", dir))
}

/// Refuses a data directory or private file that others can read or write.
pub fn check(dir: &Path) -> Result<(), DataDirError> {
    check_mode(dir, 0o700)?;
    for name in PRIVATE_FILES {
        let path = dir.join(name);
        if path.exists() {
            check_mode(&path, 0o600)?;
        }
    }
    Ok(())
}

/// Refuses `path` if group or others have any access to it.
pub fn check_mode(path: &Path, want: u32) -> Result<(), DataDirError> {
    #[cfg(unix)]
    {
        let meta = fs::metadata(path).map_err(io("cannot read", path))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(DataDirError::TooOpen {
                path: path.to_path_buf(),
                mode,
                want,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (path, want);
    Ok(())
}

/// Creates a new private file (0600) for writing. It never opens what is
/// already there: `O_CREAT | O_EXCL` fails on an existing file and on a
/// symbolic link (even a dangling one), so a link planted at the path
/// cannot redirect a secret elsewhere.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    opts.open(path)
}

/// Makes sure a file the station will create later (the SQLite registry)
/// starts private: SQLite gives its WAL and shared-memory files the mode
/// of the database file.
pub fn touch_private(path: &Path) -> Result<(), DataDirError> {
    match create_private(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io("cannot create", path)(e)),
    }
}

/// `firma-station init`: the data directory (made 0700) and a new station
/// key (32 random bytes, 0600). Refuses if a key is there already.
pub fn init(dir: &Path) -> Result<PathBuf, DataDirError> {
    create_dir(dir)?;
    // An existing directory (made by hand, or by a tool with its own
    // umask) becomes the station's own: init is the operator's explicit say.
    #[cfg(unix)]
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(io("cannot make the data directory private", dir))?;
    check(dir)?;
    let path = dir.join(STATION_KEY);
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key[..]);
    let mut f = create_private(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            DataDirError::AlreadyInitialized { path: path.clone() }
        } else {
            io("cannot create the station key", &path)(e)
        }
    })?;
    f.write_all(&key[..])
        .and_then(|_| f.sync_all())
        .map_err(io("cannot write the station key", &path))?;
    Ok(path)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn init_makes_a_private_directory_and_key_once() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("station");
        let key = init(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&key), 0o600);
        assert_eq!(fs::read(&key).unwrap().len(), 32);
        let before = fs::read(&key).unwrap();
        assert!(matches!(
            init(&dir),
            Err(DataDirError::AlreadyInitialized { .. })
        ));
        assert_eq!(fs::read(&key).unwrap(), before, "the key is never replaced");
    }

    #[test]
    fn a_readable_directory_or_file_is_refused_with_the_chmod() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        init(dir).unwrap();
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        let e = check(dir).unwrap_err().to_string();
        assert!(e.contains(&format!("chmod 700 {}", dir.display())), "{e}");
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
        let reg = dir.join("registry.sqlite");
        fs::write(&reg, b"").unwrap();
        fs::set_permissions(&reg, fs::Permissions::from_mode(0o644)).unwrap();
        let e = check(dir).unwrap_err().to_string();
        assert!(e.contains(&format!("chmod 600 {}", reg.display())), "{e}");
        fs::set_permissions(&reg, fs::Permissions::from_mode(0o600)).unwrap();
        check(dir).unwrap();
    }

    #[test]
    fn a_private_file_is_never_opened_through_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("elsewhere");
        let link = tmp.path().join("letter.pdf");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(create_private(&link).is_err());
        assert!(!target.exists(), "nothing was written through the link");
        let new = tmp.path().join("new.pdf");
        create_private(&new).unwrap();
        assert_eq!(mode(&new), 0o600);
        assert!(create_private(&new).is_err(), "an existing file is refused");
    }
}
