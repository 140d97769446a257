//! ECDSA on the host side: the input the card signs and its DER answer
//! reshaped into PKCS#11's fixed-length `r || s`.

use super::{PaddingError, MAX_EC_FIELD_LEN};

/// A DER ECDSA signature (`SEQUENCE { INTEGER r, INTEGER s }`, what a PIV
/// card returns) as the fixed-length `r || s` that PKCS#11 `CKM_ECDSA`
/// returns, each integer left-padded with zeros to `field_len` bytes.
///
/// Beyond DER, redundant leading zero bytes in an INTEGER are tolerated:
/// they do not change the value, and refusing them would only break
/// signing with card firmware that pads its integers. Negative, empty or
/// zero integers, integers longer than the field, and trailing bytes are
/// rejected, since a signature with those can never verify and handing it
/// out would hide a card fault.
pub fn ecdsa_der_to_raw(der: &[u8], field_len: usize) -> Result<Vec<u8>, PaddingError> {
    if field_len == 0 || field_len > MAX_EC_FIELD_LEN {
        return Err(PaddingError::InvalidFieldLength);
    }
    let (tag, body, trailing) = der_tlv(der)?;
    if tag != 0x30 || !trailing.is_empty() {
        return Err(PaddingError::BadSignatureEncoding);
    }
    let (r_tag, r, body) = der_tlv(body)?;
    let (s_tag, s, body) = der_tlv(body)?;
    if r_tag != 0x02 || s_tag != 0x02 || !body.is_empty() {
        return Err(PaddingError::BadSignatureEncoding);
    }
    let mut raw = vec![0u8; 2 * field_len];
    let (r_out, s_out) = raw.split_at_mut(field_len);
    put_unsigned(r, r_out)?;
    put_unsigned(s, s_out)?;
    Ok(raw)
}

/// The input the card's ECDSA expects: `hash` truncated to its leftmost
/// `field_len` bytes if longer (the `bits2int` truncation of FIPS 186-5
/// §6.4.1 for curves whose order is a whole number of bytes, as P-256 and
/// P-384 are), shorter inputs left-padded with zeros to `field_len` (the
/// same integer, which is all ECDSA takes of a hash: a P-256 key signs a
/// SHA-1 digest), as PIV cards want an input exactly as long as the key.
///
/// The truncation is done here because a PIV card expects an input no
/// longer than the key, while applications legitimately sign e.g. a SHA-384
/// hash with a P-256 key.
pub fn ecdsa_input(hash: &[u8], field_len: usize) -> Vec<u8> {
    let taken = &hash[..hash.len().min(field_len)];
    let pad = field_len.min(MAX_EC_FIELD_LEN).saturating_sub(taken.len());
    let mut input = vec![0; pad];
    input.extend_from_slice(taken);
    input
}
/// Splits one DER TLV off the front of `input`: (tag, value, rest).
///
/// Only single-byte tags and lengths below 256 are accepted: a signature
/// over a field of at most [`MAX_EC_FIELD_LEN`] bytes is never longer, and
/// refusing the rest keeps the parser small.
fn der_tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), PaddingError> {
    let bad = PaddingError::BadSignatureEncoding;
    let (&tag, rest) = input.split_first().ok_or(bad)?;
    let (&first, rest) = rest.split_first().ok_or(bad)?;
    let (len, rest) = match first {
        0x00..=0x7F => (usize::from(first), rest),
        0x81 => {
            let (&len, rest) = rest.split_first().ok_or(bad)?;
            // DER uses the long form only when the short one cannot do.
            if len < 0x80 {
                return Err(bad);
            }
            (usize::from(len), rest)
        }
        _ => return Err(bad),
    };
    if rest.len() < len {
        return Err(bad);
    }
    let (value, rest) = rest.split_at(len);
    Ok((tag, value, rest))
}

/// Writes the DER INTEGER contents `value` as an unsigned big-endian number
/// right-aligned in `out`, which must be zero-filled.
fn put_unsigned(value: &[u8], out: &mut [u8]) -> Result<(), PaddingError> {
    let bad = PaddingError::BadSignatureEncoding;
    let &first = value.first().ok_or(bad)?;
    // r and s are positive; a set top bit without a 00 in front is negative.
    if first & 0x80 != 0 {
        return Err(bad);
    }
    let start = value.iter().position(|&b| b != 0).ok_or(bad)?;
    let digits = &value[start..];
    if digits.len() > out.len() {
        return Err(bad);
    }
    let offset = out.len() - digits.len();
    out[offset..].copy_from_slice(digits);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ecdsa_der_matches_p256_fixed_encoding() {
        use p256::ecdsa::signature::Signer;
        use p256::ecdsa::{Signature, SigningKey};
        let sk = SigningKey::random(&mut rand::thread_rng());
        // Enough signatures that r or s with the top bit set (a 00 byte in
        // DER) turns up in practice.
        for i in 0..64u32 {
            let sig: Signature = sk.sign(&i.to_be_bytes());
            let der = sig.to_der();
            let raw = ecdsa_der_to_raw(der.as_bytes(), 32).expect("convert");
            assert_eq!(raw, sig.to_bytes().to_vec());
        }

        // Crafted: r short (two leading zero bytes dropped in DER), s with
        // the top bit set (00 prepended in DER), then the converse.
        let mut r = [0u8; 32];
        r[2..].fill(0x11);
        let mut s = [0u8; 32];
        s.fill(0x80);
        for (r, s) in [(r, s), (s, r)] {
            let mut fixed = r.to_vec();
            fixed.extend_from_slice(&s);
            let sig = Signature::from_slice(&fixed).expect("valid scalars");
            let der = sig.to_der();
            let raw = ecdsa_der_to_raw(der.as_bytes(), 32).expect("convert");
            assert_eq!(raw, fixed);
        }

        // A tiny r = 1.
        let mut fixed = vec![0u8; 64];
        fixed[31] = 1;
        fixed[63] = 7;
        let sig = Signature::from_slice(&fixed).expect("valid scalars");
        assert_eq!(
            ecdsa_der_to_raw(sig.to_der().as_bytes(), 32).expect("convert"),
            fixed
        );
    }

    #[test]
    fn ecdsa_der_edge_cases() {
        // r = 0x00 0x80 (DER positive 128), s = 1, P-256.
        let der = [0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01];
        let raw = ecdsa_der_to_raw(&der, 32).expect("convert");
        assert_eq!(raw[31], 0x80);
        assert_eq!(raw[63], 0x01);
        assert!(raw[..31].iter().chain(&raw[32..63]).all(|&b| b == 0));
        // Redundant leading zeros are tolerated.
        let padded = [0x30, 0x08, 0x02, 0x03, 0x00, 0x00, 0x05, 0x02, 0x01, 0x01];
        assert_eq!(ecdsa_der_to_raw(&padded, 2).expect("convert"), [0, 5, 0, 1]);
        // Long-form length (P-521 sized signatures).
        let mut long = vec![0x30, 0x81, 0x88, 0x02, 0x42, 0x01];
        long.extend_from_slice(&[0xAB; 65]);
        long.extend_from_slice(&[0x02, 0x42, 0x01]);
        long.extend_from_slice(&[0xCD; 65]);
        let raw = ecdsa_der_to_raw(&long, 66).expect("P-521");
        assert_eq!(raw.len(), 132);
        assert_eq!(raw[0], 0x01);
        assert_eq!(raw[66], 0x01);

        let bad: [(&[u8], usize); 12] = [
            (&[], 32),
            (&[0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01], 32), // SET
            (&[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00], 32), // trailing
            (&[0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01], 32), // length overrun
            (&[0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01], 32), // negative r
            (&[0x30, 0x05, 0x02, 0x00, 0x02, 0x01, 0x01], 32),       // empty r
            (&[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01], 32), // r = 0
            (&[0x30, 0x06, 0x04, 0x01, 0x01, 0x02, 0x01, 0x01], 32), // OCTET STRING
            (&[0x30, 0x03, 0x02, 0x01, 0x01], 32),                   // no s
            (&[0x30, 0x07, 0x02, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01], 1), // r too long
            (&[0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01], 32), // non-minimal length
            (
                &[0x30, 0x82, 0x00, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
                32,
            ),
        ];
        for (der, field_len) in bad {
            assert_eq!(
                ecdsa_der_to_raw(der, field_len),
                Err(PaddingError::BadSignatureEncoding),
                "{der:02x?}"
            );
        }
        let ok = [0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01];
        assert_eq!(
            ecdsa_der_to_raw(&ok, 0),
            Err(PaddingError::InvalidFieldLength)
        );
        assert_eq!(
            ecdsa_der_to_raw(&ok, MAX_EC_FIELD_LEN + 1),
            Err(PaddingError::InvalidFieldLength)
        );
    }

    #[test]
    fn ecdsa_input_truncation_matches_p256() {
        use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
        use p256::ecdsa::{Signature, SigningKey};
        let h384 = <sha2::Sha384 as sha2::Digest>::digest(b"msg").to_vec();
        let input = ecdsa_input(&h384, 32);
        assert_eq!(input, h384[..32].to_vec());
        // Equal inputs are passed through, shorter ones left-padded.
        let mut padded = vec![0; 12];
        padded.extend_from_slice(&h384[..20]);
        assert_eq!(ecdsa_input(&h384[..20], 32), padded);
        assert_eq!(ecdsa_input(&h384, 48), h384);
        let sk = SigningKey::random(&mut rand::thread_rng());
        let sig: Signature = sk.sign_prehash(&padded).expect("sign");
        sk.verifying_key()
            .verify_prehash(&h384[..20], &sig)
            .expect("a padded SHA-1-sized digest is the same integer");

        // p256 truncates a long prehash itself (bits2field): a signature made
        // over our truncated input must verify against the full SHA-384 hash.
        let sk = SigningKey::random(&mut rand::thread_rng());
        let sig: Signature = sk.sign_prehash(&input).expect("sign");
        sk.verifying_key()
            .verify_prehash(&h384, &sig)
            .expect("verify with full hash");
    }

    /// DER-shaped inputs, so the parser gets past the first byte often.
    fn der_like() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec(any::<u8>(), 0..40),
            prop::collection::vec(any::<u8>(), 0..40),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
        )
            .prop_map(|(r, s, seq_len, r_len, s_len)| {
                let mut der = vec![0x30, seq_len, 0x02, r_len];
                der.extend_from_slice(&r);
                der.extend_from_slice(&[0x02, s_len]);
                der.extend_from_slice(&s);
                der
            })
    }

    proptest! {
        #[test]
        fn ecdsa_der_to_raw_never_panics(
            der in prop_oneof![prop::collection::vec(any::<u8>(), 0..200), der_like()],
            field_len in 0usize..80,
        ) {
            if let Ok(raw) = ecdsa_der_to_raw(&der, field_len) {
                prop_assert_eq!(raw.len(), 2 * field_len);
            }
        }

        #[test]
        fn ecdsa_input_never_panics(hash in prop::collection::vec(any::<u8>(), 0..80), field_len in any::<usize>()) {
            let out = ecdsa_input(&hash, field_len);
            let taken = &hash[..hash.len().min(field_len)];
            prop_assert!(out.ends_with(taken));
            prop_assert_eq!(out.len(), taken.len().max(field_len.min(MAX_EC_FIELD_LEN)));
        }
    }
}
