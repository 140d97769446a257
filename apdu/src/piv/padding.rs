//! PKCS#1 v1.5 blocks for the card's raw RSA operation (RFC 8017 §9.2, §7.2.2).

use zeroize::Zeroizing;

use crate::{ct, Error};

/// DigestInfo prefixes (RFC 8017 §9.2 note 1).
pub const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// `00 01 FF..FF 00 DigestInfo` of `len` bytes.
pub fn pkcs1_sign_block(digest_info: &[u8], len: usize) -> Result<Vec<u8>, Error> {
    if digest_info.len() + 11 > len {
        return Err(Error::InvalidInput {
            what: "data to sign",
            why: "too long for the key",
        });
    }
    let mut block = vec![0x00, 0x01];
    block.resize(len - digest_info.len() - 1, 0xFF);
    block.push(0x00);
    block.extend_from_slice(digest_info);
    Ok(block)
}

/// EME-PKCS1-v1_5 decoding (RFC 8017 §7.2.2 step 3): the message inside a
/// decrypted block `00 02 PS 00 M`, PS being at least 8 non-zero bytes.
///
/// `block` must be the full modulus-length output of the raw RSA operation,
/// leading zero byte included. All bytes are examined whatever their
/// content, and every failure is the same error, so the time and the error
/// do not tell which check failed. That narrows but cannot close the
/// Bleichenbacher oracle inherent to PKCS#1 v1.5 decryption: whether
/// decryption succeeded at all is still visible.
pub fn pkcs1_decrypt_unpad(block: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let bad = Error::InvalidInput {
        what: "decrypted block",
        why: "not PKCS#1 v1.5 encryption padding",
    };
    // The length is public (it is the modulus length), so this early return
    // leaks nothing.
    if block.len() < 11 {
        return Err(bad);
    }
    let mut good = ct::is_zero(block[0]) & ct::is_zero(block[1] ^ 0x02);
    // Find the first zero byte after `00 02` without leaving the loop early.
    let mut looking = 0xFFu8;
    let mut separator = 0usize;
    for (i, &byte) in block.iter().enumerate().skip(2) {
        let is_zero = ct::is_zero(byte);
        separator = ct::select_usize(looking & is_zero, i, separator);
        looking &= !is_zero;
    }
    // There must be a separator, and PS = block[2..separator] at least 8 bytes.
    good &= !looking;
    good &= ct::ge_usize(separator, 10);
    if good != 0xFF {
        return Err(bad);
    }
    block
        .get(separator + 1..)
        .map(|m| Zeroizing::new(m.to_vec()))
        .ok_or(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks() {
        let b = pkcs1_sign_block(&[1, 2, 3], 16).unwrap();
        assert_eq!(
            b,
            vec![0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 1, 2, 3]
        );
        assert!(pkcs1_sign_block(&[0; 10], 16).is_err());
        let mut d = vec![0, 2];
        d.extend([9; 8]);
        d.push(0);
        d.extend(b"hi");
        assert_eq!(&pkcs1_decrypt_unpad(&d).unwrap()[..], b"hi");
        assert!(pkcs1_decrypt_unpad(&[0, 2, 1, 0, 5]).is_err());
    }
}
