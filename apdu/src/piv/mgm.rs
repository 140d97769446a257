//! The card management key (9B): 3DES or AES, used one block at a time in the
//! challenge-response of GENERAL AUTHENTICATE.

use std::fmt;

use aes::cipher::{generic_array::GenericArray, BlockDecrypt, BlockEncrypt, KeyInit};
use zeroize::Zeroizing;

use crate::Error;

/// Management key algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MgmAlgorithm {
    /// Three-key Triple DES (PIV algorithm 03), the factory default of older cards.
    TripleDes,
    /// AES-128 (PIV algorithm 08).
    Aes128,
    /// AES-192 (PIV algorithm 0A).
    Aes192,
    /// AES-256 (PIV algorithm 0C).
    Aes256,
}

impl MgmAlgorithm {
    /// Every algorithm, the strongest first: the order to offer a card a new key in.
    pub const STRONGEST_FIRST: [Self; 4] = [
        MgmAlgorithm::Aes256,
        MgmAlgorithm::Aes192,
        MgmAlgorithm::Aes128,
        MgmAlgorithm::TripleDes,
    ];

    /// The PIV algorithm identifier.
    pub fn id(self) -> u8 {
        match self {
            MgmAlgorithm::TripleDes => 0x03,
            MgmAlgorithm::Aes128 => 0x08,
            MgmAlgorithm::Aes192 => 0x0A,
            MgmAlgorithm::Aes256 => 0x0C,
        }
    }

    /// The algorithm with PIV identifier `id`, if it is a management-key algorithm.
    pub fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0x03 => MgmAlgorithm::TripleDes,
            0x08 => MgmAlgorithm::Aes128,
            0x0A => MgmAlgorithm::Aes192,
            0x0C => MgmAlgorithm::Aes256,
            _ => return None,
        })
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            MgmAlgorithm::TripleDes | MgmAlgorithm::Aes192 => 24,
            MgmAlgorithm::Aes128 => 16,
            MgmAlgorithm::Aes256 => 32,
        }
    }

    /// Cipher block length in bytes (the challenge length).
    pub fn block_len(self) -> usize {
        if self == MgmAlgorithm::TripleDes {
            8
        } else {
            16
        }
    }
}

impl fmt::Display for MgmAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MgmAlgorithm::TripleDes => "3DES",
            MgmAlgorithm::Aes128 => "AES-128",
            MgmAlgorithm::Aes192 => "AES-192",
            MgmAlgorithm::Aes256 => "AES-256",
        })
    }
}

/// The blank-card default: 3DES 0102030405060708 three times.
pub const DEFAULT_MGM_KEY: [u8; 24] = [
    1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
];

#[derive(Clone)]
/// A card management key (9B), wiped on drop.
pub struct ManagementKey {
    alg: MgmAlgorithm,
    key: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for ManagementKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ManagementKey({:?}, <redacted>)", self.alg)
    }
}

impl ManagementKey {
    /// A key for `alg`; fails if `key` has not the algorithm's length.
    pub fn new(alg: MgmAlgorithm, key: &[u8]) -> Result<Self, Error> {
        if key.len() != alg.key_len() {
            return Err(Error::InvalidInput {
                what: "management key",
                why: "wrong length for its algorithm",
            });
        }
        Ok(Self {
            alg,
            key: Zeroizing::new(key.to_vec()),
        })
    }

    /// Parses hex (as yubico-piv-tool prints keys).
    pub fn from_hex(alg: MgmAlgorithm, hex_key: &str) -> Result<Self, Error> {
        let key = Zeroizing::new(
            hex::decode(hex_key.trim()).map_err(|_| Error::InvalidInput {
                what: "management key",
                why: "not hexadecimal",
            })?,
        );
        Self::new(alg, &key)
    }

    /// The well-known factory key (Triple DES): a card still holding it is
    /// not personalized.
    pub fn default_key() -> Self {
        Self {
            alg: MgmAlgorithm::TripleDes,
            key: Zeroizing::new(DEFAULT_MGM_KEY.to_vec()),
        }
    }

    /// A fresh random key.
    pub fn random(alg: MgmAlgorithm) -> Self {
        let mut key = Zeroizing::new(vec![0u8; alg.key_len()]);
        getrandom::getrandom(&mut key).expect("the OS random generator is available");
        Self { alg, key }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> MgmAlgorithm {
        self.alg
    }

    /// The key bytes.
    pub fn key_bytes(&self) -> &[u8] {
        &self.key
    }

    /// Whether this is the factory key.
    pub fn is_default(&self) -> bool {
        self.alg == MgmAlgorithm::TripleDes && self.key[..] == DEFAULT_MGM_KEY
    }

    /// Encrypts (or decrypts) one block; `None` if `block` is not one block long.
    pub fn crypt(&self, block: &[u8], encrypt: bool) -> Option<Zeroizing<Vec<u8>>> {
        if block.len() != self.alg.block_len() {
            return None;
        }
        let mut buf = Zeroizing::new(block.to_vec());
        macro_rules! run {
            ($cipher:ty) => {{
                let c = <$cipher>::new_from_slice(&self.key).ok()?;
                let b = GenericArray::from_mut_slice(&mut buf[..]);
                if encrypt {
                    c.encrypt_block(b)
                } else {
                    c.decrypt_block(b)
                }
            }};
        }
        match self.alg {
            MgmAlgorithm::TripleDes => run!(des::TdesEde3),
            MgmAlgorithm::Aes128 => run!(aes::Aes128),
            MgmAlgorithm::Aes192 => run!(aes::Aes192),
            MgmAlgorithm::Aes256 => run!(aes::Aes256),
        }
        Some(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers_match_openssl() {
        // `openssl enc -des-ede3 -K 0102..08 x3 -nopad` of eight zero bytes.
        let k = ManagementKey::default_key();
        let ct = k.crypt(&[0; 8], true).unwrap();
        assert_eq!(hex::encode(&ct[..]), "b073dc3fb209536d");
        assert_eq!(&k.crypt(&ct, false).unwrap()[..], &[0; 8]);
        assert!(k.crypt(&[0; 16], true).is_none());
        // `openssl enc -aes-128-ecb -K 000102..0f -nopad` of sixteen zero bytes.
        let k = ManagementKey::new(MgmAlgorithm::Aes128, &(0..16).collect::<Vec<u8>>()).unwrap();
        let ct = k.crypt(&[0; 16], true).unwrap();
        assert_eq!(hex::encode(&ct[..]), "c6a13b37878f5b826f4f8162a1c8d879");
        assert!(!format!("{k:?}").contains("00"));
        assert!(ManagementKey::new(MgmAlgorithm::Aes256, &[0; 24]).is_err());
    }
}
