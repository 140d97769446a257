//! The Generation Code itself and the only form in which it is kept: a
//! keyed digest.
//!
//! A code is 10 characters drawn uniformly by the operating system's
//! generator from [`ALPHABET`]: 45 symbols, the digits, capitals and small
//! letters without the ones people misread on paper or a phone's screen
//! (0 O o, 1 I i j l, and the small letters shaped like their capitals: c k
//! p s u v w x z). That leaves 10 × log2(45) ≈ 54.9 bits; with three tries
//! before the code is void, a guess succeeds with odds of about 1 in 10^16.
//!
//! The registry holds HMAC-SHA-256(code key, NIF, code), never the code: a
//! copy of the registry without the code key (`generation-code.key`, 32
//! random bytes, 0600, beside the station key) gives nothing to try codes
//! against offline, and the NIF in the digest ties a code to its citizen.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The symbols of a code: case matters.
pub const ALPHABET: &[u8; 45] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZabdefghmnqrty";

/// Characters in a code.
pub const LENGTH: usize = 10;

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "generation-code.key";

/// A Generation Code in memory: zeroized when dropped, never shown by
/// `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct GenerationCode(Zeroizing<String>);

impl fmt::Debug for GenerationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GenerationCode(..)")
    }
}

/// Text that is not a Generation Code (said without repeating it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a Generation Code is {LENGTH} letters and digits")]
pub struct NotACode;

impl GenerationCode {
    /// A new code from the operating system's generator.
    pub fn generate() -> Self {
        let mut rng = rand::rngs::OsRng;
        let mut s = Zeroizing::new(String::with_capacity(LENGTH));
        for _ in 0..LENGTH {
            s.push(char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]));
        }
        GenerationCode(s)
    }

    /// A code as the citizen typed it: surrounding blanks and the spaces or
    /// hyphens of its printed groups are ignored, case is not.
    pub fn parse(typed: &str) -> Result<Self, NotACode> {
        let mut s = Zeroizing::new(String::with_capacity(LENGTH));
        for c in typed.chars().filter(|c| !matches!(c, ' ' | '-' | '\t')) {
            if s.len() == LENGTH || !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
                return Err(NotACode);
            }
            s.push(c);
        }
        if s.len() != LENGTH {
            return Err(NotACode);
        }
        Ok(GenerationCode(s))
    }

    /// The code, for the letter or the SMS only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// "ABCDE fghmn": two groups of five, for reading aloud or typing.
    pub fn grouped(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(LENGTH + 1));
        s.push_str(&self.0[..5]);
        s.push(' ');
        s.push_str(&self.0[5..]);
        s
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CodeKeyError {
    #[error("cannot read or create the Generation Code key {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the Generation Code key {0} is damaged (it must be 32 bytes): restore it from the station's backup")]
    BadKey(PathBuf),
}

/// The key of the codes' digests. Every station issuing codes and the
/// portal redeeming them share it.
pub struct CodeKey(Zeroizing<Vec<u8>>);

impl fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeKey(..)")
    }
}

impl CodeKey {
    /// Opens `DATA_DIR/generation-code.key`, creating it on first use.
    pub fn open_or_create(dir: &Path) -> Result<Self, CodeKeyError> {
        let path = dir.join(KEY_FILE);
        match Self::open(&path) {
            Err(CodeKeyError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            other => return other,
        }
        let io = |source| CodeKeyError::Io {
            path: path.clone(),
            source,
        };
        let mut key = Zeroizing::new(vec![0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&path).map_err(io)?;
        f.write_all(&key).and_then(|_| f.sync_all()).map_err(io)?;
        Ok(CodeKey(key))
    }

    /// Opens an existing key file (the portal never creates one).
    pub fn open(path: &Path) -> Result<Self, CodeKeyError> {
        let key = Zeroizing::new(fs::read(path).map_err(|source| CodeKeyError::Io {
            path: path.to_path_buf(),
            source,
        })?);
        if key.len() != 32 {
            return Err(CodeKeyError::BadKey(path.to_path_buf()));
        }
        Ok(CodeKey(key))
    }

    fn mac(&self, nif: &str, code: &GenerationCode) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"firma generation code v1\0");
        mac.update(nif.as_bytes());
        mac.update(b"\0");
        mac.update(code.expose().as_bytes());
        mac
    }

    /// The digest the registry keeps for `code` issued to `nif`.
    pub fn digest(&self, nif: &str, code: &GenerationCode) -> Vec<u8> {
        self.mac(nif, code).finalize().into_bytes().to_vec()
    }

    /// Whether `code` typed with `nif` is the one `digest` was made of,
    /// compared in constant time.
    pub fn matches(&self, digest: &[u8], nif: &str, code: &GenerationCode) -> bool {
        self.mac(nif, code).verify_slice(digest).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_alphabet_has_no_look_alikes_and_no_repeats() {
        for c in b"0Oo1Iiljckpsuvwxz" {
            assert!(!ALPHABET.contains(c), "{}", *c as char);
        }
        let mut sorted = ALPHABET.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ALPHABET.len());
        let bits = LENGTH as f64 * (ALPHABET.len() as f64).log2();
        assert!(bits > 54.0, "{bits}");
    }

    #[test]
    fn codes_are_ten_symbols_of_the_alphabet_and_differ() {
        let a = GenerationCode::generate();
        let b = GenerationCode::generate();
        assert_eq!(a.expose().len(), LENGTH);
        assert!(a.expose().bytes().all(|c| ALPHABET.contains(&c)));
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "GenerationCode(..)");
        assert_eq!(GenerationCode::parse(&a.grouped()), Ok(a.clone()));
    }

    #[test]
    fn every_symbol_turns_up() {
        // 2000 codes are 20000 draws: a symbol missing would mean a biased draw.
        let mut seen = [0usize; 256];
        for _ in 0..2000 {
            for c in GenerationCode::generate().expose().bytes() {
                seen[c as usize] += 1;
            }
        }
        for c in ALPHABET {
            let n = seen[*c as usize];
            assert!((250..=650).contains(&n), "{}: {n}", *c as char);
        }
    }

    #[test]
    fn parsing_keeps_case_and_refuses_what_is_not_a_code() {
        let c = GenerationCode::parse("ABCDE fghmn").unwrap();
        assert_eq!(c.expose(), "ABCDEfghmn");
        assert_ne!(
            GenerationCode::parse("ABDEFghmnq").unwrap(),
            GenerationCode::parse("abDEFghmnq").unwrap()
        );
        for bad in ["", "ABCDEfghm", "ABCDEfghmnA", "ABCDEfgh0n", "ABCDEfghmñ"] {
            assert_eq!(GenerationCode::parse(bad), Err(NotACode), "{bad}");
        }
    }

    #[test]
    fn the_digest_binds_the_code_to_its_nif_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = CodeKey::open_or_create(dir.path()).unwrap();
        let again = CodeKey::open_or_create(dir.path()).unwrap();
        let code = GenerationCode::parse("ABCDEfghmn").unwrap();
        let d = key.digest("12345678Z", &code);
        assert!(again.matches(&d, "12345678Z", &code));
        assert!(!key.matches(&d, "87654321X", &code));
        let other = GenerationCode::parse("ABCDEfghmN").unwrap();
        assert!(!key.matches(&d, "12345678Z", &other));
        let elsewhere = tempfile::tempdir().unwrap();
        let foreign = CodeKey::open_or_create(elsewhere.path()).unwrap();
        assert!(!foreign.matches(&d, "12345678Z", &code));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        assert!(matches!(
            CodeKey::open_or_create(dir.path()),
            Err(CodeKeyError::BadKey(_))
        ));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_accepts_only_codes(s in "\\PC{0,24}") {
            if let Ok(c) = GenerationCode::parse(&s) {
                prop_assert_eq!(c.expose().len(), LENGTH);
                prop_assert!(c.expose().bytes().all(|b| ALPHABET.contains(&b)));
            }
        }
    }
}
