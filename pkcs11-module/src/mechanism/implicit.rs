//! `CKM_RSA_PKCS` decryption with implicit rejection: a ciphertext whose
//! padding is bad decrypts to a synthetic plaintext, deterministic for that
//! ciphertext, instead of an error. Whether the padding was valid is then
//! not told by the return value (the Bleichenbacher oracle), as NSS and
//! OpenSSL 3.2 do (draft-irtf-cfrg-rsa-guidance, "implicit rejection").
//!
//! The draft derives the key-derivation key from the private exponent; the
//! card keeps that, so the key here is a secret the token draws from the OS
//! when the card is read (one per card insertion, zeroized with the token).
//! Every check is masked with `subtle`: the same work whatever the block.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{ConditionallySelectable, ConstantTimeEq, ConstantTimeGreater, ConstantTimeLess};
use zeroize::Zeroizing;

type HmacSha256 = Hmac<Sha256>;

/// Tries the draft's length derivation makes (its `MAX_LEN_GEN`).
const LENGTH_CANDIDATES: usize = 128;

/// The draft's PRF: HMAC-SHA256 in counter mode, `out.len()` bytes for
/// `label`, each block `HMAC(key, I || label || L)` with 16-bit big-endian
/// block counter `I` and output length in bits `L`.
fn prf(key: &[u8; 32], label: &[u8], out: &mut [u8]) {
    let bits = (out.len() * 8) as u16;
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(&(i as u16).to_be_bytes());
        mac.update(label);
        mac.update(&bits.to_be_bytes());
        let block = mac.finalize().into_bytes();
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

/// EME-PKCS1-v1_5 decoding (RFC 8017 §7.2.2 step 3) of the card's raw
/// answer `em` (`k` bytes), for the ciphertext `cipher`; a bad block gives
/// the synthetic plaintext. `secret` is the token's rejection key.
pub fn pkcs1_v15_decrypt_implicit(
    em: &[u8],
    cipher: &[u8],
    secret: &[u8; 32],
) -> Zeroizing<Vec<u8>> {
    let k = em.len();
    if k < 11 {
        return Zeroizing::new(Vec::new());
    }
    // The key-derivation key for this ciphertext (left-padded to k bytes).
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&vec![0u8; k.saturating_sub(cipher.len())]);
    mac.update(cipher);
    let kdk: Zeroizing<[u8; 32]> = Zeroizing::new(mac.finalize().into_bytes().into());

    // The synthetic message: the last `synthetic_len` bytes of a k-byte PRF
    // output, its length the last candidate below the longest possible.
    let mut synthetic = Zeroizing::new(vec![0u8; k]);
    prf(&kdk, b"message", &mut synthetic);
    let mut candidates = Zeroizing::new([0u8; 2 * LENGTH_CANDIDATES]);
    prf(&kdk, b"length", &mut candidates[..]);
    let max_len = (k - 10) as u32;
    // Every bit up to the highest of `max_len` (OpenSSL's smeared mask).
    let mask = u32::MAX >> max_len.leading_zeros();
    let mut synthetic_len = 0u32;
    for pair in candidates.chunks(2) {
        let candidate = (u32::from(pair[0]) << 8 | u32::from(pair[1])) & mask;
        synthetic_len.conditional_assign(&candidate, candidate.ct_lt(&max_len));
    }

    // The real block: 00 02, at least 8 non-zero bytes, 00, the message.
    let mut good = em[0].ct_eq(&0) & em[1].ct_eq(&2);
    let mut found = subtle::Choice::from(0);
    let mut zero_at = 0u32;
    for (i, b) in em.iter().enumerate().skip(2) {
        let is_zero = b.ct_eq(&0);
        zero_at.conditional_assign(&(i as u32), is_zero & !found);
        found |= is_zero;
    }
    good &= found & zero_at.ct_gt(&9);
    let real_len = (k as u32).wrapping_sub(zero_at).wrapping_sub(1);

    // Both messages sit at the end of a k-byte buffer: pick byte by byte.
    let mut out = Zeroizing::new(vec![0u8; k]);
    for i in 0..k {
        out[i] = u8::conditional_select(&synthetic[i], &em[i], good);
    }
    let len = u32::conditional_select(&synthetic_len, &real_len, good) as usize;
    Zeroizing::new(out[k - len..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::test_support::*;
    use rsa::traits::PublicKeyParts;
    use rsa::Pkcs1v15Encrypt;

    const SECRET: [u8; 32] = [7; 32];

    #[test]
    fn good_blocks_decrypt_as_the_rsa_crate_encrypted_them() {
        let key = key2048();
        let public = key.to_public_key();
        let mut rng = rand::thread_rng();
        for msg in [
            Vec::new(),
            b"AES key 0123456789abcdef".to_vec(),
            vec![0xEE; key.size() - 11],
        ] {
            let ct = public.encrypt(&mut rng, Pkcs1v15Encrypt, &msg).unwrap();
            let em = raw_private(key, &ct);
            assert_eq!(*pkcs1_v15_decrypt_implicit(&em, &ct, &SECRET), msg);
        }
    }

    #[test]
    fn bad_blocks_give_a_deterministic_synthetic_message() {
        let k = 256;
        let cipher = vec![0x42; k];
        let mut em = vec![0u8; k];
        em[1] = 2;
        em[2..].fill(0x33); // no separator
        let a = pkcs1_v15_decrypt_implicit(&em, &cipher, &SECRET);
        let b = pkcs1_v15_decrypt_implicit(&em, &cipher, &SECRET);
        assert_eq!(a, b, "the same ciphertext, the same plaintext");
        assert!(a.len() <= k - 11);
        let other = pkcs1_v15_decrypt_implicit(&em, &[0x43; 256], &SECRET);
        assert_ne!(a, other, "another ciphertext, another plaintext");
        // Every kind of bad block: first byte, type, short padding.
        for (i, v) in [(0usize, 1u8), (1, 1)] {
            let mut bad = em.clone();
            bad[10] = 0;
            bad[i] = v;
            assert_eq!(pkcs1_v15_decrypt_implicit(&bad, &cipher, &SECRET), a);
        }
        let mut short = em.clone();
        short[5] = 0;
        assert_eq!(pkcs1_v15_decrypt_implicit(&short, &cipher, &SECRET), a);
        // Eight bytes of padding is enough.
        let mut ok = em.clone();
        ok[10] = 0;
        assert_eq!(*pkcs1_v15_decrypt_implicit(&ok, &cipher, &SECRET), em[11..]);
    }
}
