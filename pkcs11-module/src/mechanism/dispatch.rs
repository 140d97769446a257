//! Which host-side steps each mechanism takes around the card's raw
//! operation: the block to send before, the answer to reshape after.

use zeroize::Zeroizing;

use super::{
    ecdsa_der_to_raw, ecdsa_input, oaep_decode, pkcs1_v15_decrypt_implicit, pkcs1_v15_sign_block,
    pss_block, DecryptMech, SignMech,
};
use crate::error::{Error, Result};

/// The key a signature or decryption uses, as far as the encodings care.
#[derive(Debug, Clone, Copy)]
pub struct KeySize {
    /// Modulus length (RSA) or field length (EC) in bytes.
    pub bytes: usize,
    /// Exact bit length of the RSA modulus (PSS needs it).
    pub bits: usize,
}

/// What the card must sign for `mech`. `data` is the application's data
/// for the mechanisms that do not hash, `digest` the finished hash for those
/// that do; `fill_salt` fills the PSS salt from the OS RNG.
pub fn sign_input(
    mech: SignMech,
    data: &[u8],
    digest: Option<&[u8]>,
    key: KeySize,
    fill_salt: impl FnOnce(&mut [u8]) -> Result<()>,
) -> Result<Zeroizing<Vec<u8>>> {
    let k = key.bytes;
    Ok(Zeroizing::new(match mech {
        SignMech::RsaPkcs => pkcs1_v15_sign_block(data, k).map_err(|_| Error::DATA_LEN_RANGE)?,
        SignMech::RsaX509 => {
            if data.len() > k {
                return Err(Error::DATA_LEN_RANGE);
            }
            let mut block = vec![0u8; k - data.len()];
            block.extend_from_slice(data);
            block
        }
        SignMech::HashRsaPkcs(hash) => {
            let mut t = hash.digest_info_prefix().to_vec();
            t.extend_from_slice(digest.unwrap_or_default());
            pkcs1_v15_sign_block(&t, k).map_err(|_| Error::DATA_LEN_RANGE)?
        }
        SignMech::RsaPss { hash, mgf, salt } | SignMech::HashRsaPss { hash, mgf, salt } => {
            let m_hash = digest.unwrap_or(data);
            if m_hash.len() != hash.output_len() {
                return Err(Error::DATA_LEN_RANGE);
            }
            let mut salt_bytes = vec![0u8; salt];
            fill_salt(&mut salt_bytes)?;
            pss_block(m_hash, hash, mgf, &salt_bytes, k, key.bits)
                .map_err(|_| Error::DATA_LEN_RANGE)?
        }
        SignMech::Ecdsa => ecdsa_input(data, k),
        SignMech::HashEcdsa(_) => ecdsa_input(digest.unwrap_or_default(), k),
    }))
}

/// The card's raw RSA answer as long as the modulus: some cards drop its
/// leading zero bytes.
pub fn left_pad(answer: &[u8], k: usize) -> Result<Zeroizing<Vec<u8>>> {
    if answer.len() > k {
        return Err(Error::DEVICE_ERROR);
    }
    let mut block = Zeroizing::new(vec![0; k - answer.len()]);
    block.extend_from_slice(answer);
    Ok(block)
}

/// The signature PKCS#11 returns, from the card's answer: RSA left-padded
/// to the modulus length, ECDSA reshaped from DER into `r || s`.
pub fn sign_output(mech: SignMech, answer: &[u8], key: KeySize) -> Result<Vec<u8>> {
    if mech.is_rsa() {
        Ok(left_pad(answer, key.bytes)?.to_vec())
    } else {
        ecdsa_der_to_raw(answer, key.bytes).map_err(|_| Error::DEVICE_ERROR)
    }
}

/// The plaintext inside the card's raw RSA answer `block` (left-padded to
/// the modulus length) for `cipher`. `CKM_RSA_PKCS` never fails on bad
/// padding: implicit rejection with the token's `rejection_key`.
pub fn decrypt_output(
    mech: &DecryptMech,
    block: Zeroizing<Vec<u8>>,
    cipher: &[u8],
    rejection_key: &[u8; 32],
) -> Result<Zeroizing<Vec<u8>>> {
    match mech {
        DecryptMech::RsaX509 => Ok(block),
        DecryptMech::RsaPkcs => Ok(pkcs1_v15_decrypt_implicit(&block, cipher, rejection_key)),
        DecryptMech::RsaOaep { hash, mgf, label } => {
            oaep_decode(&block, *hash, *mgf, label).map_err(|_| Error::ENCRYPTED_DATA_INVALID)
        }
    }
}
