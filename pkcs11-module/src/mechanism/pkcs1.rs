//! PKCS#1 v1.5: the signature block (RFC 8017 §9.2) and the decryption
//! unpadding (§7.2.2), both firma-apdu's (the one implementation, constant
//! time where it matters), with the errors the mechanisms map to `CK_RV`.

use zeroize::Zeroizing;

use super::{PaddingError, MAX_MODULUS_BYTES};
use firma_apdu::piv::padding;

/// EMSA-PKCS1-v1_5 block `00 01 FF.. 00 || T` of `k` bytes (RFC 8017 §9.2
/// steps 3–5), ready for the card's raw RSA operation.
///
/// `t` is the DER DigestInfo (`hash.digest_info_prefix() || H`) for the
/// hashing mechanisms, or the application's raw data for `CKM_RSA_PKCS`,
/// where PKCS#11 leaves building the DigestInfo to the application. `k` is
/// the modulus length in bytes.
pub fn pkcs1_v15_sign_block(t: &[u8], k: usize) -> Result<Vec<u8>, PaddingError> {
    if k > MAX_MODULUS_BYTES {
        return Err(PaddingError::InvalidModulusSize);
    }
    // Step 3: at least 8 bytes of FF padding plus the 00 01 and 00 framing,
    // which firma-apdu's block checks.
    padding::pkcs1_sign_block(t, k).map_err(|_| PaddingError::DataTooLong)
}

/// EME-PKCS1-v1_5 decoding (RFC 8017 §7.2.2 step 3) of a decrypted block
/// `00 02 PS 00 M`, PS being at least 8 non-zero bytes.
///
/// `em` must be the full modulus-length output of the raw RSA operation,
/// leading zero byte included. All bytes are examined whatever their
/// content, and every failure is the same [`PaddingError::BadEncoding`], so
/// the time and the error do not tell which check failed. That narrows but
/// cannot close the Bleichenbacher oracle inherent to `CKM_RSA_PKCS`
/// decryption: whether decryption succeeded at all is still visible.
pub fn pkcs1_v15_decrypt_unpad(em: &[u8]) -> Result<Zeroizing<Vec<u8>>, PaddingError> {
    padding::pkcs1_decrypt_unpad(em).map_err(|_| PaddingError::BadEncoding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::test_support::*;
    use crate::mechanism::Hash;
    use proptest::prelude::*;
    use rsa::traits::PublicKeyParts;
    use rsa::{Pkcs1v15Encrypt, Pkcs1v15Sign};

    #[test]
    fn pkcs1_v15_signatures_verify_with_rsa_crate() {
        let key = key2048();
        let public = key.to_public_key();
        let msg = b"Firma PKCS#1 v1.5 signature test";

        macro_rules! check {
            ($hash:expr, $d:ty) => {{
                let h = <$d as sha2::Digest>::digest(msg).to_vec();
                let mut t = $hash.digest_info_prefix().to_vec();
                t.extend_from_slice(&h);
                let block = pkcs1_v15_sign_block(&t, key.size()).expect("block");
                assert_eq!(block.len(), key.size());
                let sig = raw_private(key, &block);
                public
                    .verify(Pkcs1v15Sign::new::<$d>(), &h, &sig)
                    .expect(stringify!($d));
            }};
        }
        check!(Hash::Sha224, sha2::Sha224);
        check!(Hash::Sha256, sha2::Sha256);
        check!(Hash::Sha384, sha2::Sha384);
        check!(Hash::Sha512, sha2::Sha512);

        // CKM_RSA_PKCS: the application's bytes go in as T unchanged, up to
        // the k - 11 maximum.
        for len in [0, 1, 35, key.size() - 11] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let block = pkcs1_v15_sign_block(&data, key.size()).expect("block");
            let sig = raw_private(key, &block);
            public
                .verify(Pkcs1v15Sign::new_unprefixed(), &data, &sig)
                .expect("raw data");
        }
    }

    #[test]
    fn pkcs1_v15_sign_block_layout_and_limits() {
        let block = pkcs1_v15_sign_block(&[0xAA, 0xBB], 16).expect("block");
        assert_eq!(block, hex("0001ffffffffffffffffffffff00aabb"));
        // Exactly 8 bytes of FF is the minimum…
        assert!(pkcs1_v15_sign_block(&[0; 5], 16).is_ok());
        // …7 is too few.
        assert_eq!(
            pkcs1_v15_sign_block(&[0; 6], 16),
            Err(PaddingError::DataTooLong)
        );
        assert_eq!(
            pkcs1_v15_sign_block(&[], 10),
            Err(PaddingError::DataTooLong)
        );
        assert_eq!(pkcs1_v15_sign_block(&[], 0), Err(PaddingError::DataTooLong));
        assert_eq!(
            pkcs1_v15_sign_block(&[], MAX_MODULUS_BYTES + 1),
            Err(PaddingError::InvalidModulusSize)
        );
    }

    #[test]
    fn pkcs1_v15_unpads_rsa_crate_ciphertexts() {
        let key = key2048();
        let public = key.to_public_key();
        let mut rng = rand::thread_rng();
        let k = key.size();
        for msg in [
            Vec::new(),
            b"AES key 0123456789abcdef".to_vec(),
            vec![0xEE; k - 11],
        ] {
            let ct = public
                .encrypt(&mut rng, Pkcs1v15Encrypt, &msg)
                .expect("encrypt");
            let em = raw_private(key, &ct);
            let got = pkcs1_v15_decrypt_unpad(&em).expect("unpad");
            assert_eq!(&got[..], &msg[..]);
        }
    }

    #[test]
    fn pkcs1_v15_unpad_checks() {
        // Hand-built blocks of 32 bytes: 00 02 PS 00 M.
        fn block(first: u8, bt: u8, ps_len: usize, msg: &[u8]) -> Vec<u8> {
            let mut em = vec![first, bt];
            em.resize(em.len() + ps_len, 0x5A);
            em.push(0);
            em.extend_from_slice(msg);
            em
        }
        let ok = block(0, 2, 8, &[1; 21]);
        assert_eq!(
            &pkcs1_v15_decrypt_unpad(&ok).expect("8-byte PS")[..],
            &[1; 21]
        );
        let empty = block(0, 2, 29, &[]);
        assert!(pkcs1_v15_decrypt_unpad(&empty).expect("empty M").is_empty());
        // PS of 7 bytes, wrong first byte, wrong block type, no separator.
        let cases = [
            block(0, 2, 7, &[1; 22]),
            block(1, 2, 8, &[1; 21]),
            block(0, 1, 8, &[1; 21]),
            vec![0, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
            vec![0; 10],
        ];
        for em in cases {
            assert_eq!(
                pkcs1_v15_decrypt_unpad(&em),
                Err(PaddingError::BadEncoding),
                "{em:02x?}"
            );
        }
    }

    proptest! {
        #[test]
        fn pkcs1_v15_unpad_never_panics(em in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = pkcs1_v15_decrypt_unpad(&em);
        }

        #[test]
        fn pkcs1_v15_unpad_accepts_exactly_valid_blocks(
            ps in prop::collection::vec(1u8..=255, 0..40),
            msg in prop::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut em = vec![0, 2];
            em.extend_from_slice(&ps);
            em.push(0);
            em.extend_from_slice(&msg);
            let result = pkcs1_v15_decrypt_unpad(&em);
            if ps.len() >= 8 {
                prop_assert_eq!(&result.expect("valid")[..], &msg[..]);
            } else {
                prop_assert_eq!(result, Err(PaddingError::BadEncoding));
            }
        }

        #[test]
        fn pkcs1_v15_sign_block_never_panics(
            t in prop::collection::vec(any::<u8>(), 0..600),
            k in prop_oneof![0usize..700, any::<usize>()],
        ) {
            if let Ok(block) = pkcs1_v15_sign_block(&t, k) {
                prop_assert_eq!(block.len(), k);
                prop_assert!(block.ends_with(&t));
            }
        }
    }
}
