//! EME-OAEP decoding (RFC 8017 §7.1.2), constant-time.

use zeroize::Zeroizing;

use super::hash::mgf1_xor;
use super::{Hash, PaddingError, MAX_MODULUS_BYTES};
use firma_apdu::ct;

/// EME-OAEP decoding (RFC 8017 §7.1.2 step 3) of a `k`-byte decrypted block
/// `em`, with label `label` hashed by `hash` and masks from MGF1(`mgf_hash`).
///
/// `em` must be the full modulus-length output of the raw RSA operation,
/// leading zero byte included. Every check (leading zero, label hash,
/// separator) is evaluated over the whole block without branching on secret
/// data, and all of them fail with the same [`PaddingError::BadEncoding`],
/// as §7.1.2 requires to resist Manger's attack. The intermediate seed and
/// DB are wiped when dropped.
pub fn oaep_decode(
    em: &[u8],
    hash: Hash,
    mgf_hash: Hash,
    label: &[u8],
) -> Result<Zeroizing<Vec<u8>>, PaddingError> {
    let h_len = hash.output_len();
    let k = em.len();
    // Both size checks depend only on the public modulus length.
    if k > MAX_MODULUS_BYTES {
        return Err(PaddingError::InvalidModulusSize);
    }
    if k < 2 * h_len + 2 {
        return Err(PaddingError::KeyTooShort);
    }
    // Step 3a.
    let l_hash = hash.digest(label);
    // Step 3b: EM = Y || maskedSeed || maskedDB.
    let (&y, rest) = em.split_first().ok_or(PaddingError::BadEncoding)?;
    let (masked_seed, masked_db) = rest.split_at(h_len);
    // Steps 3c–3f: unmask the seed, then DB.
    let mut seed = Zeroizing::new(masked_seed.to_vec());
    mgf1_xor(mgf_hash, masked_db, &mut seed);
    let mut db = Zeroizing::new(masked_db.to_vec());
    mgf1_xor(mgf_hash, &seed, &mut db);

    // Step 3g: DB = lHash' || PS || 0x01 || M, Y = 0. Accumulate all checks
    // in one mask instead of returning at the first failure.
    let (l_hash_prime, ps_and_m) = db.split_at(h_len);
    let mut good = ct::is_zero(y);
    for (a, b) in l_hash_prime.iter().zip(&l_hash) {
        good &= ct::is_zero(a ^ b);
    }
    // The first non-zero byte after lHash' must be 0x01; note where it is.
    let mut looking = 0xFFu8;
    let mut separator = 0usize;
    for (i, &byte) in ps_and_m.iter().enumerate() {
        let is_zero = ct::is_zero(byte);
        let is_one = ct::is_zero(byte ^ 0x01);
        separator = ct::select_usize(looking & is_one, i, separator);
        // While still in PS, anything but 00 or 01 is an error.
        good &= !looking | is_zero | is_one;
        looking &= is_zero;
    }
    // A PS running to the end of the block means there is no separator.
    good &= !looking;
    if good != 0xFF {
        return Err(PaddingError::BadEncoding);
    }
    ps_and_m
        .get(separator + 1..)
        .map(|m| Zeroizing::new(m.to_vec()))
        .ok_or(PaddingError::BadEncoding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::test_support::*;
    use proptest::prelude::*;
    use rsa::traits::PublicKeyParts;
    use rsa::Oaep;

    #[test]
    fn oaep_decodes_rsa_crate_ciphertexts() {
        let key = key2048();
        let public = key.to_public_key();
        let mut rng = rand::thread_rng();
        let k = key.size();

        let plain = b"session key material".to_vec();
        let ct = public
            .encrypt(&mut rng, Oaep::new::<sha2::Sha256>(), &plain)
            .expect("encrypt");
        let em = raw_private(key, &ct);
        let got = oaep_decode(&em, Hash::Sha256, Hash::Sha256, b"").expect("decode");
        assert_eq!(&got[..], &plain[..]);

        // A wrong label, hash or MGF hash is a decryption error.
        assert_eq!(
            oaep_decode(&em, Hash::Sha256, Hash::Sha256, b"x"),
            Err(PaddingError::BadEncoding)
        );
        assert_eq!(
            oaep_decode(&em, Hash::Sha256, Hash::Sha1, b""),
            Err(PaddingError::BadEncoding)
        );
        assert_eq!(
            oaep_decode(&em, Hash::Sha384, Hash::Sha384, b""),
            Err(PaddingError::BadEncoding)
        );

        // Tampering with Y, the masked seed, the masked DB or the last byte
        // all give the same error.
        for pos in [0, 1, 20, 33, 100, k - 1] {
            let mut bad = em.clone();
            bad[pos] ^= 0x01;
            assert_eq!(
                oaep_decode(&bad, Hash::Sha256, Hash::Sha256, b""),
                Err(PaddingError::BadEncoding),
                "byte {pos}"
            );
        }

        // With a label.
        let ct = public
            .encrypt(
                &mut rng,
                Oaep::new_with_label::<sha2::Sha256, _>("firma label"),
                &plain,
            )
            .expect("encrypt");
        let em = raw_private(key, &ct);
        let got = oaep_decode(&em, Hash::Sha256, Hash::Sha256, b"firma label").expect("decode");
        assert_eq!(&got[..], &plain[..]);
        assert_eq!(
            oaep_decode(&em, Hash::Sha256, Hash::Sha256, b""),
            Err(PaddingError::BadEncoding)
        );

        // SHA-256 with MGF1-SHA1, a combination applications really use.
        let ct = public
            .encrypt(
                &mut rng,
                Oaep::new_with_mgf_hash::<sha2::Sha256, sha1::Sha1>(),
                &plain,
            )
            .expect("encrypt");
        let em = raw_private(key, &ct);
        let got = oaep_decode(&em, Hash::Sha256, Hash::Sha1, b"").expect("decode");
        assert_eq!(&got[..], &plain[..]);

        // Empty and maximum-length messages with SHA-1 and SHA-512.
        let max1 = k - 2 * 20 - 2;
        for msg in [Vec::new(), vec![0xC3; max1]] {
            let ct = public
                .encrypt(&mut rng, Oaep::new::<sha1::Sha1>(), &msg)
                .expect("encrypt");
            let em = raw_private(key, &ct);
            let got = oaep_decode(&em, Hash::Sha1, Hash::Sha1, b"").expect("decode");
            assert_eq!(&got[..], &msg[..]);
        }
        let max512 = k - 2 * 64 - 2;
        for msg in [Vec::new(), vec![0x01; max512]] {
            let ct = public
                .encrypt(&mut rng, Oaep::new::<sha2::Sha512>(), &msg)
                .expect("encrypt");
            let em = raw_private(key, &ct);
            let got = oaep_decode(&em, Hash::Sha512, Hash::Sha512, b"").expect("decode");
            assert_eq!(&got[..], &msg[..]);
        }
    }

    /// Masks a hand-made DB the way RFC 8017 §7.1.1 steps 2g–2i do, so that
    /// malformed DBs (which no real encoder produces) can be fed to the
    /// decoder. The MGF1 used is validated by the rsa-crate round trips above.
    fn oaep_mask(db: &[u8], seed: &[u8], mgf: Hash) -> Vec<u8> {
        let mut masked_db = db.to_vec();
        mgf1_xor(mgf, seed, &mut masked_db);
        let mut masked_seed = seed.to_vec();
        mgf1_xor(mgf, &masked_db, &mut masked_seed);
        let mut em = vec![0u8];
        em.extend_from_slice(&masked_seed);
        em.extend_from_slice(&masked_db);
        em
    }

    #[test]
    fn oaep_checks_the_padding_string() {
        let l_hash = Hash::Sha256.digest(b"");
        let seed = [0x42u8; 32];
        let db = |tail: &[u8]| {
            let mut db = l_hash.clone();
            db.extend_from_slice(tail);
            db
        };
        let decode = |db: &[u8]| {
            oaep_decode(
                &oaep_mask(db, &seed, Hash::Sha256),
                Hash::Sha256,
                Hash::Sha256,
                b"",
            )
        };
        // Empty PS and empty M are both legal.
        assert_eq!(
            &decode(&db(&[0x01, 0xAA, 0xBB])).expect("empty PS")[..],
            &[0xAA, 0xBB]
        );
        assert!(decode(&db(&[0, 0, 0, 0x01])).expect("empty M").is_empty());
        // After the separator anything goes, including 00, 01 and 02.
        assert_eq!(
            &decode(&db(&[0, 0x01, 0x02, 0x00, 0x01])).expect("M")[..],
            &[0x02, 0x00, 0x01]
        );
        // A byte other than 00 before the 01, or no 01 at all, is an error.
        for tail in [
            &[0, 0x02, 0x01, 0xAA][..],
            &[0xFF, 0x01][..],
            &[0, 0, 0, 0][..],
        ] {
            assert_eq!(
                decode(&db(tail)),
                Err(PaddingError::BadEncoding),
                "{tail:02x?}"
            );
        }
    }

    #[test]
    fn oaep_rejects_short_blocks() {
        // 2·hLen + 2 is the minimum block for the hash.
        assert_eq!(
            oaep_decode(&[0; 65], Hash::Sha256, Hash::Sha256, b""),
            Err(PaddingError::KeyTooShort)
        );
        assert_eq!(
            oaep_decode(&[], Hash::Sha1, Hash::Sha1, b""),
            Err(PaddingError::KeyTooShort)
        );
        // All zeros has the right size but no 0x01 separator (and a wrong
        // label hash).
        assert_eq!(
            oaep_decode(&[0; 66], Hash::Sha256, Hash::Sha256, b""),
            Err(PaddingError::BadEncoding)
        );
    }

    proptest! {
        #[test]
        fn oaep_decode_never_panics(
            em in prop::collection::vec(any::<u8>(), 0..600),
            hash in any_hash(),
            mgf in any_hash(),
            label in prop::collection::vec(any::<u8>(), 0..16),
        ) {
            let _ = oaep_decode(&em, hash, mgf, &label);
        }

        #[test]
        fn oaep_decode_follows_the_db_grammar(
            tail in prop::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..40),
            seed in prop::collection::vec(any::<u8>(), 20),
        ) {
            // DB = lHash || tail with a 48-byte minimum block for SHA-1.
            let mut tail = tail;
            tail.resize(tail.len().max(7), 0);
            let mut db = Hash::Sha1.digest(b"L");
            db.extend_from_slice(&tail);
            let em = oaep_mask(&db, &seed, Hash::Sha1);
            let result = oaep_decode(&em, Hash::Sha1, Hash::Sha1, b"L");
            match tail.iter().position(|&b| b != 0) {
                Some(i) if tail[i] == 0x01 => {
                    prop_assert_eq!(&result.expect("valid")[..], &tail[i + 1..]);
                }
                _ => prop_assert_eq!(result, Err(PaddingError::BadEncoding)),
            }
        }
    }
}
