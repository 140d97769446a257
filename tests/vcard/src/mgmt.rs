//! The card management key (slot 9B): 3DES or AES, used one block at a time
//! in the challenge-response of GENERAL AUTHENTICATE.

use aes::cipher::{generic_array::GenericArray, BlockDecrypt, BlockEncrypt, KeyInit};
use zeroize::Zeroizing;

/// Algorithm identifiers of symmetric management keys.
pub const TDES: u8 = 0x03;
pub const AES128: u8 = 0x08;
pub const AES192: u8 = 0x0A;
pub const AES256: u8 = 0x0C;

/// The blank-card default: 3DES 0102030405060708 three times.
pub const DEFAULT_KEY: [u8; 24] = [
    1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
];

/// Key length for a management key algorithm, `None` when not one.
pub fn key_len(alg: u8) -> Option<usize> {
    match alg {
        TDES | AES192 => Some(24),
        AES128 => Some(16),
        AES256 => Some(32),
        _ => None,
    }
}

/// Cipher block length: 8 for 3DES, 16 for AES.
pub fn block_len(alg: u8) -> usize {
    if alg == TDES {
        8
    } else {
        16
    }
}

#[derive(Clone)]
pub struct MgmKey {
    pub alg: u8,
    pub key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for MgmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MgmKey {{ alg: {:02X}, key: <redacted> }}", self.alg)
    }
}

impl MgmKey {
    pub fn default_key() -> Self {
        Self {
            alg: TDES,
            key: Zeroizing::new(DEFAULT_KEY.to_vec()),
        }
    }

    pub fn is_default(&self) -> bool {
        self.alg == TDES && self.key[..] == DEFAULT_KEY
    }

    /// Encrypts (or decrypts) one block; `None` if `block` is not one block long.
    pub fn crypt(&self, block: &[u8], encrypt: bool) -> Option<Zeroizing<Vec<u8>>> {
        if block.len() != block_len(self.alg) {
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
            TDES => run!(des::TdesEde3),
            AES128 => run!(aes::Aes128),
            AES192 => run!(aes::Aes192),
            AES256 => run!(aes::Aes256),
            _ => return None,
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
        let k = MgmKey::default_key();
        let ct = k.crypt(&[0; 8], true).unwrap();
        assert_eq!(hex::encode(&ct[..]), "b073dc3fb209536d");
        assert_eq!(&k.crypt(&ct, false).unwrap()[..], &[0; 8]);
        assert!(k.crypt(&[0; 16], true).is_none());
        // `openssl enc -aes-128-ecb -K 000102..0f -nopad` of sixteen zero bytes.
        let k = MgmKey {
            alg: AES128,
            key: Zeroizing::new((0..16).collect()),
        };
        let ct = k.crypt(&[0; 16], true).unwrap();
        assert_eq!(hex::encode(&ct[..]), "c6a13b37878f5b826f4f8162a1c8d879");
    }
}
