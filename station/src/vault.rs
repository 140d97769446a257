//! The station's key vault: each card's management key is sealed with
//! AES-256-GCM under the station key before it reaches the registry, bound
//! to the card's serial so a sealed key cannot be moved to another card.
//!
//! The station key is a 32-byte file (`station.key`, mode 0600) in the data
//! directory. A production station would keep it in an HSM or the OS
//! keyring instead; this is the embedded default.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use firma_apdu::piv::{ManagementKey, MgmAlgorithm};
use rand::RngCore;
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("cannot read or create the station key {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the station key {0} is damaged (it must be 32 bytes): restore it from the station's backup")]
    BadKey(PathBuf),
    #[error("card {0}'s management key cannot be unsealed: it was sealed by another station key, or edited")]
    Unseal(u32),
}

pub struct Vault {
    cipher: Aes256Gcm,
}

const VERSION: u8 = 1;

impl Vault {
    /// Opens the station key in `dir`, creating it on first use.
    pub fn open_or_create(dir: &Path) -> Result<Self, VaultError> {
        let path = dir.join("station.key");
        let io = |source| VaultError::Io {
            path: path.clone(),
            source,
        };
        let key = match fs::read(&path) {
            Ok(k) => Zeroizing::new(k),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut k = Zeroizing::new(vec![0u8; 32]);
                rand::rngs::OsRng.fill_bytes(&mut k);
                let mut opts = fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(&path).map_err(io)?;
                f.write_all(&k).and_then(|_| f.sync_all()).map_err(io)?;
                k
            }
            Err(e) => return Err(io(e)),
        };
        let cipher =
            Aes256Gcm::new_from_slice(&key).map_err(|_| VaultError::BadKey(path.clone()))?;
        Ok(Self { cipher })
    }

    fn aad(serial: u32, alg: u8) -> [u8; 6] {
        let s = serial.to_be_bytes();
        [VERSION, alg, s[0], s[1], s[2], s[3]]
    }

    /// `version || algorithm || nonce || ciphertext+tag`.
    pub fn seal(&self, serial: u32, key: &ManagementKey) -> Vec<u8> {
        let alg = key.algorithm().id();
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: key.key_bytes(),
                    aad: &Self::aad(serial, alg),
                },
            )
            .expect("AES-GCM encryption of a short buffer cannot fail");
        let mut out = vec![VERSION, alg];
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn unseal(&self, serial: u32, sealed: &[u8]) -> Result<ManagementKey, VaultError> {
        let bad = || VaultError::Unseal(serial);
        if sealed.len() < 14 || sealed[0] != VERSION {
            return Err(bad());
        }
        let alg = sealed[1];
        let plain = Zeroizing::new(
            self.cipher
                .decrypt(
                    Nonce::from_slice(&sealed[2..14]),
                    Payload {
                        msg: &sealed[14..],
                        aad: &Self::aad(serial, alg),
                    },
                )
                .map_err(|_| bad())?,
        );
        let alg = MgmAlgorithm::from_id(alg).ok_or_else(bad)?;
        ManagementKey::new(alg, &plain).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_for_their_card_and_station() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::open_or_create(dir.path()).unwrap();
        let key = ManagementKey::random(MgmAlgorithm::Aes256);
        let sealed = vault.seal(7, &key);
        assert!(!sealed
            .windows(key.key_bytes().len())
            .any(|w| w == key.key_bytes()));
        let again = Vault::open_or_create(dir.path()).unwrap();
        assert_eq!(
            again.unseal(7, &sealed).unwrap().key_bytes(),
            key.key_bytes()
        );
        assert!(matches!(
            again.unseal(8, &sealed),
            Err(VaultError::Unseal(8))
        ));
        let other = tempfile::tempdir().unwrap();
        let stranger = Vault::open_or_create(other.path()).unwrap();
        assert!(stranger.unseal(7, &sealed).is_err());
        let mut edited = sealed.clone();
        edited[1] = MgmAlgorithm::TripleDes.id();
        assert!(again.unseal(7, &edited).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_sealed_bytes_are_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80), serial: u32) {
            let dir = tempfile::tempdir().unwrap();
            let vault = Vault::open_or_create(dir.path()).unwrap();
            proptest::prop_assert!(vault.unseal(serial, &bytes).is_err());
        }
    }
}
