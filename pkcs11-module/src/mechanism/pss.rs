//! EMSA-PSS (RFC 8017 §9.1): the probabilistic signature encoding.

use super::hash::mgf1_xor;
use super::{Hash, PaddingError, MAX_MODULUS_BITS};

/// EMSA-PSS-ENCODE (RFC 8017 §9.1.1) of an already computed message hash
/// `m_hash`, with MGF1(`mgf_hash`) and the given `salt`.
///
/// The caller fills `salt` from the OS RNG (its length is the `sLen` of
/// `CK_RSA_PKCS_PSS_PARAMS`), which keeps this function deterministic.
/// `mod_bits` is the exact bit length of the modulus; the output has
/// `emLen = ceil((mod_bits - 1) / 8)` bytes, which is one byte less than the
/// modulus when `mod_bits - 1` is a multiple of 8 — use [`pss_block`] to get
/// a block of exactly the modulus length.
pub fn pss_encode(
    m_hash: &[u8],
    hash: Hash,
    mgf_hash: Hash,
    salt: &[u8],
    mod_bits: usize,
) -> Result<Vec<u8>, PaddingError> {
    if mod_bits == 0 || mod_bits > MAX_MODULUS_BITS {
        return Err(PaddingError::InvalidModulusSize);
    }
    let h_len = hash.output_len();
    // Steps 1–2 (hashing M) are the caller's; we only check the result fits
    // the hash we were told about, else `H` below would silently be wrong.
    if m_hash.len() != h_len {
        return Err(PaddingError::HashLengthMismatch);
    }
    // emBits = modBits - 1 keeps the encoded integer below the modulus
    // (RFC 8017 §8.1.1 step 1).
    let em_bits = mod_bits - 1;
    let em_len = em_bits.div_ceil(8);
    // Step 3. `salt` is caller-controlled, so the sum is checked.
    let fits = h_len
        .checked_add(salt.len())
        .and_then(|n| n.checked_add(2))
        .is_some_and(|needed| em_len >= needed);
    if !fits {
        return Err(PaddingError::KeyTooShort);
    }

    // Steps 5–6: H = Hash(00 00 00 00 00 00 00 00 || mHash || salt).
    let mut hasher = hash.hasher();
    hasher.update(&[0u8; 8]);
    hasher.update(m_hash);
    hasher.update(salt);
    let h = hasher.finish();

    let db_len = em_len - h_len - 1;
    let mut em = vec![0u8; em_len];
    let (db, tail) = em.split_at_mut(db_len);
    // Steps 7–8: DB = PS || 0x01 || salt, with PS the zeros already there.
    let ps_len = db_len - salt.len() - 1;
    db[ps_len] = 0x01;
    db[ps_len + 1..].copy_from_slice(salt);
    // Steps 9–10: maskedDB = DB xor MGF(H, emLen - hLen - 1).
    mgf1_xor(mgf_hash, &h, db);
    // Step 11: clear the leftmost 8·emLen − emBits bits so the verifier's
    // view of EM has exactly emBits bits.
    db[0] &= 0xFF >> (8 * em_len - em_bits);
    // Step 12: EM = maskedDB || H || 0xbc.
    tail[..h_len].copy_from_slice(&h);
    tail[h_len] = 0xBC;
    Ok(em)
}

/// [`pss_encode`] left-padded with zeros to exactly `k_bytes`, the modulus
/// length in bytes, ready for the card's raw RSA operation (RFC 8017 §8.1.1
/// step 2a converts EM to an integer, so the leading zero byte changes
/// nothing mathematically but the card wants a full-length input).
///
/// `k_bytes` must equal `ceil(mod_bits / 8)`; a mismatch means the caller
/// read the key's attributes wrongly and is rejected rather than guessed.
pub fn pss_block(
    m_hash: &[u8],
    hash: Hash,
    mgf_hash: Hash,
    salt: &[u8],
    k_bytes: usize,
    mod_bits: usize,
) -> Result<Vec<u8>, PaddingError> {
    if mod_bits == 0 || mod_bits > MAX_MODULUS_BITS || k_bytes != mod_bits.div_ceil(8) {
        return Err(PaddingError::InvalidModulusSize);
    }
    let em = pss_encode(m_hash, hash, mgf_hash, salt, mod_bits)?;
    // em is k_bytes or k_bytes - 1 long by construction.
    let mut block = vec![0u8; k_bytes - em.len()];
    block.extend_from_slice(&em);
    Ok(block)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::test_support::*;
    use proptest::prelude::*;
    use rand::Rng;
    use rsa::traits::PublicKeyParts;
    use rsa::{Pss, RsaPrivateKey};

    #[test]
    fn pss_signatures_verify_with_rsa_crate() {
        let key = key2048();
        let public = key.to_public_key();
        let mod_bits = key.n().bits();
        let msg = b"Firma PSS signature test";
        let mut rng = rand::thread_rng();

        for salt_len in [0usize, 32] {
            let salt: Vec<u8> = (0..salt_len).map(|_| rng.gen()).collect();

            let h256 = <sha2::Sha256 as sha2::Digest>::digest(msg).to_vec();
            let block = pss_block(
                &h256,
                Hash::Sha256,
                Hash::Sha256,
                &salt,
                key.size(),
                mod_bits,
            )
            .expect("block");
            let sig = raw_private(key, &block);
            public
                .verify(Pss::new_with_salt::<sha2::Sha256>(salt_len), &h256, &sig)
                .expect("SHA-256");

            let h384 = <sha2::Sha384 as sha2::Digest>::digest(msg).to_vec();
            let block = pss_block(
                &h384,
                Hash::Sha384,
                Hash::Sha384,
                &salt,
                key.size(),
                mod_bits,
            )
            .expect("block");
            let sig = raw_private(key, &block);
            public
                .verify(Pss::new_with_salt::<sha2::Sha384>(salt_len), &h384, &sig)
                .expect("SHA-384");
            // The rsa crate checks the salt length: a wrong one must fail,
            // which shows the verification above is not vacuous.
            assert!(public
                .verify(
                    Pss::new_with_salt::<sha2::Sha384>(salt_len + 1),
                    &h384,
                    &sig
                )
                .is_err());
        }
    }

    #[test]
    fn pss_with_odd_modulus_sizes() {
        // 1025 bits: modBits − 1 is a multiple of 8, so EM is one byte
        // shorter than the modulus and pss_block must add the leading zero.
        // 1028 and 1031 bits: EM has the modulus' length and step 11 clears
        // 5 and 2 bits of its first byte respectively.
        let mut rng = rand::thread_rng();
        for bits in [1025usize, 1028, 1031] {
            let key = RsaPrivateKey::new(&mut rng, bits).expect("keygen");
            assert_eq!(key.n().bits(), bits);
            let h = <sha2::Sha256 as sha2::Digest>::digest(b"odd").to_vec();
            let salt = [0x5Au8; 20];
            let em = pss_encode(&h, Hash::Sha256, Hash::Sha256, &salt, bits).expect("encode");
            assert_eq!(em.len(), (bits - 1).div_ceil(8));
            let block =
                pss_block(&h, Hash::Sha256, Hash::Sha256, &salt, key.size(), bits).expect("block");
            assert_eq!(block.len(), key.size());
            let sig = raw_private(&key, &block);
            key.to_public_key()
                .verify(Pss::new_with_salt::<sha2::Sha256>(20), &h, &sig)
                .unwrap_or_else(|e| panic!("{bits} bits: {e}"));
        }
    }

    #[test]
    fn pss_rejects_bad_parameters() {
        let h = [0u8; 32];
        // Hash of the wrong length.
        assert_eq!(
            pss_block(&h[..20], Hash::Sha256, Hash::Sha256, &[], 256, 2048),
            Err(PaddingError::HashLengthMismatch)
        );
        // k and bits disagree.
        assert_eq!(
            pss_block(&h, Hash::Sha256, Hash::Sha256, &[], 255, 2048),
            Err(PaddingError::InvalidModulusSize)
        );
        assert_eq!(
            pss_block(&h, Hash::Sha256, Hash::Sha256, &[], 0, 0),
            Err(PaddingError::InvalidModulusSize)
        );
        // emLen = 65 bytes for 520 bits; hLen + sLen + 2 = 66 does not fit,
        // 65 just does.
        assert_eq!(
            pss_encode(&h, Hash::Sha256, Hash::Sha256, &[0; 32], 520),
            Err(PaddingError::KeyTooShort)
        );
        assert!(pss_encode(&h, Hash::Sha256, Hash::Sha256, &[0; 31], 520).is_ok());
    }

    proptest! {
        #[test]
        fn pss_block_never_panics(
            m_hash in prop::collection::vec(any::<u8>(), 0..70),
            hash in any_hash(),
            mgf in any_hash(),
            salt in prop::collection::vec(any::<u8>(), 0..100),
            mod_bits in prop_oneof![0usize..5000, any::<usize>()],
            k_delta in prop_oneof![Just(0isize), -2isize..=2],
            k_any in any::<usize>(),
            use_any_k in any::<bool>(),
        ) {
            let k_bytes = if use_any_k {
                k_any
            } else {
                mod_bits.div_ceil(8).saturating_add_signed(k_delta)
            };
            if let Ok(block) = pss_block(&m_hash, hash, mgf, &salt, k_bytes, mod_bits) {
                prop_assert_eq!(block.len(), k_bytes);
                prop_assert_eq!(block.last(), Some(&0xBC));
                // The encoded integer is below 2^(modBits - 1), hence below n.
                let excess_bits = 8 * k_bytes - (mod_bits - 1);
                let leading_zero_bits = block
                    .iter()
                    .position(|&b| b != 0)
                    .map_or(8 * k_bytes, |i| 8 * i + block[i].leading_zeros() as usize);
                prop_assert!(leading_zero_bits >= excess_bits);
            }
        }
    }
}
