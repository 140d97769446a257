//! The station's key vault: each card's management key (and, for a card
//! that cannot reset its PUK, the PUK of an unfinished activation) is sealed
//! with AES-256-GCM under the station key before it reaches the registry,
//! bound to the card's serial so a sealed secret cannot be moved to another
//! card.
//!
//! The station key is a 32-byte file (`station.key`, mode 0600) in the data
//! directory. A production station would keep it in an HSM or the OS
//! keyring instead; this is the embedded default.

use std::fs;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use firma_apdu::piv::{ManagementKey, MgmAlgorithm, Puk};
use rand::RngCore;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("{} has no station key: run `firma-station --data-dir {} init` once to create it, or restore station.key from the station's backup if cards were activated here", .0.display(), .0.display())]
    Missing(PathBuf),
    #[error("cannot read the station key {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the station key {0} is damaged (it must be 32 bytes): restore it from the station's backup")]
    BadKey(PathBuf),
    #[error("card {0}'s sealed management key or PUK cannot be unsealed: it was sealed by another station key, or edited")]
    Unseal(u32),
}

pub struct Vault {
    cipher: Aes256Gcm,
}

const VERSION: u8 = 1;

impl Vault {
    /// Opens the station key in `dir`. A missing key is an error, never
    /// made anew here: `firma-station init` ([`crate::datadir::init`])
    /// creates it, once.
    pub fn open(dir: &Path) -> Result<Self, VaultError> {
        let path = dir.join(crate::datadir::STATION_KEY);
        let key = match fs::read(&path) {
            Ok(k) => Zeroizing::new(k),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VaultError::Missing(dir.to_path_buf()))
            }
            Err(source) => {
                return Err(VaultError::Io {
                    path: path.clone(),
                    source,
                })
            }
        };
        let cipher =
            Aes256Gcm::new_from_slice(&key).map_err(|_| VaultError::BadKey(path.clone()))?;
        Ok(Self { cipher })
    }

    fn aad(serial: u32, alg: u8) -> [u8; 6] {
        let s = serial.to_be_bytes();
        [VERSION, alg, s[0], s[1], s[2], s[3]]
    }

    /// `version || kind || nonce || ciphertext+tag`, the card's serial and
    /// the kind (a management key's algorithm id, or [`PUKS`]) authenticated.
    fn seal_bytes(&self, serial: u32, kind: u8, secret: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: &Self::aad(serial, kind),
                },
            )
            .expect("AES-GCM encryption of a short buffer cannot fail");
        let mut out = vec![VERSION, kind];
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The secret and its kind, when `sealed` was sealed for this card here.
    fn unseal_bytes(&self, serial: u32, sealed: &[u8]) -> Option<(u8, Zeroizing<Vec<u8>>)> {
        if sealed.len() < 14 || sealed[0] != VERSION {
            return None;
        }
        let kind = sealed[1];
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(&sealed[2..14]),
                Payload {
                    msg: &sealed[14..],
                    aad: &Self::aad(serial, kind),
                },
            )
            .ok()?;
        Some((kind, Zeroizing::new(plain)))
    }

    pub fn seal(&self, serial: u32, key: &ManagementKey) -> Vec<u8> {
        self.seal_bytes(serial, key.algorithm().id(), key.key_bytes())
    }

    pub fn unseal(&self, serial: u32, sealed: &[u8]) -> Result<ManagementKey, VaultError> {
        let bad = || VaultError::Unseal(serial);
        let (alg, plain) = self.unseal_bytes(serial, sealed).ok_or_else(bad)?;
        let alg = MgmAlgorithm::from_id(alg).ok_or_else(bad)?;
        ManagementKey::new(alg, &plain).map_err(|_| bad())
    }

    /// Seals the PUKs a card may hold, newest first.
    pub fn seal_puks(&self, serial: u32, puks: &[&Puk]) -> Vec<u8> {
        let mut plain = Zeroizing::new(Vec::with_capacity(8 * puks.len()));
        for puk in puks {
            plain.extend_from_slice(puk.padded());
        }
        self.seal_bytes(serial, PUKS, &plain)
    }

    pub fn unseal_puks(&self, serial: u32, sealed: &[u8]) -> Result<Vec<Puk>, VaultError> {
        let bad = || VaultError::Unseal(serial);
        match self.unseal_bytes(serial, sealed) {
            Some((PUKS, plain)) if plain.len() % 8 == 0 => plain
                .chunks(8)
                .map(|p| {
                    let digits = p.iter().position(|&b| b == 0xFF).unwrap_or(8);
                    Puk::new(&p[..digits]).map_err(|_| bad())
                })
                .collect(),
            _ => Err(bad()),
        }
    }
}

/// The kind byte of sealed PUKs (the PUK's key reference), apart from every
/// management key algorithm id.
const PUKS: u8 = 0x81;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_for_their_card_and_station() {
        let dir = tempfile::tempdir().unwrap();
        let vault = {
            crate::datadir::init(dir.path()).unwrap();
            Vault::open(dir.path()).unwrap()
        };
        let key = ManagementKey::random(MgmAlgorithm::Aes256);
        let sealed = vault.seal(7, &key);
        assert!(!sealed
            .windows(key.key_bytes().len())
            .any(|w| w == key.key_bytes()));
        let again = {
            crate::datadir::init(dir.path()).ok();
            Vault::open(dir.path()).unwrap()
        };
        assert_eq!(
            again.unseal(7, &sealed).unwrap().key_bytes(),
            key.key_bytes()
        );
        assert!(matches!(
            again.unseal(8, &sealed),
            Err(VaultError::Unseal(8))
        ));
        let other = tempfile::tempdir().unwrap();
        let stranger = {
            crate::datadir::init(other.path()).ok();
            Vault::open(other.path()).unwrap()
        };
        assert!(stranger.unseal(7, &sealed).is_err());
        let mut edited = sealed.clone();
        edited[1] = MgmAlgorithm::TripleDes.id();
        assert!(again.unseal(7, &edited).is_err());
    }

    #[test]
    fn sealed_puks_open_only_as_puks_for_their_card() {
        let dir = tempfile::tempdir().unwrap();
        let vault = {
            crate::datadir::init(dir.path()).ok();
            Vault::open(dir.path()).unwrap()
        };
        let (new, old) = (Puk::new("90817263").unwrap(), Puk::new("123456").unwrap());
        let sealed = vault.seal_puks(7, &[&new, &old]);
        assert!(!sealed.windows(8).any(|w| w == new.padded()));
        let puks = vault.unseal_puks(7, &sealed).unwrap();
        assert_eq!(puks.len(), 2);
        assert_eq!(puks[0].as_bytes(), b"90817263");
        assert_eq!(puks[1].as_bytes(), b"123456");
        assert!(vault.unseal_puks(8, &sealed).is_err());
        // A sealed PUK list is not a management key, and the reverse.
        assert!(vault.unseal(7, &sealed).is_err());
        let key = vault.seal(7, &ManagementKey::random(MgmAlgorithm::Aes192));
        assert!(vault.unseal_puks(7, &key).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_sealed_bytes_are_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80), serial: u32) {
            let dir = tempfile::tempdir().unwrap();
            let vault = { crate::datadir::init(dir.path()).ok(); Vault::open(dir.path()).unwrap() };
            proptest::prop_assert!(vault.unseal(serial, &bytes).is_err());
        }
    }
}
