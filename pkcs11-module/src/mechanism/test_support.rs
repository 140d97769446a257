//! What the mechanism tests share: one RSA key, the card's raw RSA
//! operation, and the hash list.

use proptest::prelude::*;
use rsa::hazmat::rsa_decrypt_and_check;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey};
use std::sync::OnceLock;

use super::Hash;

/// One RSA-2048 key for the whole test binary: generating keys is the
/// slow part, and nothing here depends on which key is used.
pub fn key2048() -> &'static RsaPrivateKey {
    static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen"))
}

/// What the card does: the raw RSA private operation, output left-padded
/// to the modulus length.
pub fn raw_private(key: &RsaPrivateKey, block: &[u8]) -> Vec<u8> {
    let c = BigUint::from_bytes_be(block);
    let m = rsa_decrypt_and_check(key, Some(&mut rand::thread_rng()), &c).expect("raw RSA");
    left_pad(&m.to_bytes_be(), key.size())
}

fn left_pad(bytes: &[u8], len: usize) -> Vec<u8> {
    assert!(bytes.len() <= len);
    let mut out = vec![0u8; len - bytes.len()];
    out.extend_from_slice(bytes);
    out
}

pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

pub const ALL: [Hash; 5] = [
    Hash::Sha1,
    Hash::Sha224,
    Hash::Sha256,
    Hash::Sha384,
    Hash::Sha512,
];

pub fn any_hash() -> impl Strategy<Value = Hash> {
    prop::sample::select(ALL.to_vec())
}
