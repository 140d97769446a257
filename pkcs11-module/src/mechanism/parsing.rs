//! An application's `CK_MECHANISM` as a typed mechanism.
//!
//! The parameters live in the application's memory, so the FFI layer reads
//! them (it is the only place allowed to dereference a C pointer) and hands
//! them here through a closure, called only for the mechanisms that take
//! parameters: the checks are safe Rust and the same for every caller.

use cryptoki_sys::*;

use super::Hash;
use crate::error::{Error, Result};

/// Longest PSS salt accepted; no modulus Firma handles has room for more.
const MAX_PSS_SALT: CK_ULONG = 512;

/// A signature mechanism with what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignMech {
    /// CKM_RSA_PKCS: PKCS#1 v1.5 over the application's DigestInfo.
    RsaPkcs,
    /// CKM_RSA_X_509: raw RSA.
    RsaX509,
    /// CKM_RSA_PKCS_PSS: PSS over the application's hash.
    RsaPss {
        /// The message hash.
        hash: Hash,
        /// The MGF1 hash.
        mgf: Hash,
        /// Salt length in bytes.
        salt: usize,
    },
    /// CKM_SHA*_RSA_PKCS: the module hashes, then PKCS#1 v1.5.
    HashRsaPkcs(Hash),
    /// CKM_SHA*_RSA_PKCS_PSS: the module hashes, then PSS.
    HashRsaPss {
        /// The message hash.
        hash: Hash,
        /// The MGF1 hash.
        mgf: Hash,
        /// Salt length in bytes.
        salt: usize,
    },
    /// CKM_ECDSA over the application's hash.
    Ecdsa,
    /// CKM_ECDSA_SHA*: the module hashes, then ECDSA.
    HashEcdsa(Hash),
}

impl SignMech {
    /// Whether the mechanism needs an RSA key (else an EC key).
    pub fn is_rsa(self) -> bool {
        !matches!(self, SignMech::Ecdsa | SignMech::HashEcdsa(_))
    }

    /// The hash the module computes over the data, for the hashing mechanisms.
    pub fn hash(self) -> Option<Hash> {
        match self {
            SignMech::HashRsaPkcs(hash)
            | SignMech::HashRsaPss { hash, .. }
            | SignMech::HashEcdsa(hash) => Some(hash),
            _ => None,
        }
    }
}

/// A decryption mechanism with what it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecryptMech {
    /// CKM_RSA_PKCS: PKCS#1 v1.5 decryption.
    RsaPkcs,
    /// CKM_RSA_X_509: raw RSA.
    RsaX509,
    /// CKM_RSA_PKCS_OAEP.
    RsaOaep {
        /// The label hash.
        hash: Hash,
        /// The MGF1 hash.
        mgf: Hash,
        /// The label (empty by default).
        label: Vec<u8>,
    },
}

/// `CK_RSA_PKCS_OAEP_PARAMS` with its label copied out of the application's
/// memory (empty unless `source` is `CKZ_DATA_SPECIFIED`).
pub struct OaepParams {
    /// The structure as the application gave it.
    pub params: CK_RSA_PKCS_OAEP_PARAMS,
    /// The bytes `pSourceData` pointed to.
    pub label: Vec<u8>,
}

/// The signature mechanism `kind`; `pss` reads its `CK_RSA_PKCS_PSS_PARAMS`.
pub fn sign_mech(
    kind: CK_MECHANISM_TYPE,
    pss: impl FnOnce() -> Result<CK_RSA_PKCS_PSS_PARAMS>,
) -> Result<SignMech> {
    let hashed_pss = |h: Hash, pss: CK_RSA_PKCS_PSS_PARAMS| -> Result<SignMech> {
        let (hash, mgf, salt) = pss_params(pss, Some(h))?;
        Ok(SignMech::HashRsaPss { hash, mgf, salt })
    };
    Ok(match kind {
        CKM_RSA_PKCS => SignMech::RsaPkcs,
        CKM_RSA_X_509 => SignMech::RsaX509,
        CKM_RSA_PKCS_PSS => {
            let (hash, mgf, salt) = pss_params(pss()?, None)?;
            SignMech::RsaPss { hash, mgf, salt }
        }
        CKM_SHA1_RSA_PKCS => SignMech::HashRsaPkcs(Hash::Sha1),
        CKM_SHA224_RSA_PKCS => SignMech::HashRsaPkcs(Hash::Sha224),
        CKM_SHA256_RSA_PKCS => SignMech::HashRsaPkcs(Hash::Sha256),
        CKM_SHA384_RSA_PKCS => SignMech::HashRsaPkcs(Hash::Sha384),
        CKM_SHA512_RSA_PKCS => SignMech::HashRsaPkcs(Hash::Sha512),
        CKM_SHA1_RSA_PKCS_PSS => hashed_pss(Hash::Sha1, pss()?)?,
        CKM_SHA224_RSA_PKCS_PSS => hashed_pss(Hash::Sha224, pss()?)?,
        CKM_SHA256_RSA_PKCS_PSS => hashed_pss(Hash::Sha256, pss()?)?,
        CKM_SHA384_RSA_PKCS_PSS => hashed_pss(Hash::Sha384, pss()?)?,
        CKM_SHA512_RSA_PKCS_PSS => hashed_pss(Hash::Sha512, pss()?)?,
        CKM_ECDSA => SignMech::Ecdsa,
        CKM_ECDSA_SHA1 => SignMech::HashEcdsa(Hash::Sha1),
        CKM_ECDSA_SHA224 => SignMech::HashEcdsa(Hash::Sha224),
        CKM_ECDSA_SHA256 => SignMech::HashEcdsa(Hash::Sha256),
        CKM_ECDSA_SHA384 => SignMech::HashEcdsa(Hash::Sha384),
        CKM_ECDSA_SHA512 => SignMech::HashEcdsa(Hash::Sha512),
        _ => return Err(Error::MECHANISM_INVALID),
    })
}

/// The PSS hash, MGF hash and salt length; with `expect`, the hash the
/// mechanism's name fixes must be the one the parameters give.
fn pss_params(p: CK_RSA_PKCS_PSS_PARAMS, expect: Option<Hash>) -> Result<(Hash, Hash, usize)> {
    let hash = Hash::from_ckm(p.hashAlg).ok_or(Error::MECHANISM_PARAM_INVALID)?;
    let mgf = Hash::from_ckg(p.mgf).ok_or(Error::MECHANISM_PARAM_INVALID)?;
    if expect.is_some_and(|e| e != hash) || p.sLen > MAX_PSS_SALT {
        return Err(Error::MECHANISM_PARAM_INVALID);
    }
    Ok((hash, mgf, p.sLen as usize))
}

/// The decryption mechanism `kind`; `oaep` reads its OAEP parameters.
pub fn decrypt_mech(
    kind: CK_MECHANISM_TYPE,
    oaep: impl FnOnce() -> Result<OaepParams>,
) -> Result<DecryptMech> {
    Ok(match kind {
        CKM_RSA_PKCS => DecryptMech::RsaPkcs,
        CKM_RSA_X_509 => DecryptMech::RsaX509,
        CKM_RSA_PKCS_OAEP => {
            let OaepParams { params: p, label } = oaep()?;
            let hash = Hash::from_ckm(p.hashAlg).ok_or(Error::MECHANISM_PARAM_INVALID)?;
            let mgf = Hash::from_ckg(p.mgf).ok_or(Error::MECHANISM_PARAM_INVALID)?;
            let label = match p.source {
                0 => Vec::new(),
                CKZ_DATA_SPECIFIED => label,
                _ => return Err(Error::MECHANISM_PARAM_INVALID),
            };
            DecryptMech::RsaOaep { hash, mgf, label }
        }
        _ => return Err(Error::MECHANISM_INVALID),
    })
}

/// `CKM_ECDH1_DERIVE` with the null KDF and no shared data, the only
/// derivation Firma offers; `params` reads its `CK_ECDH1_DERIVE_PARAMS`.
pub fn ecdh_mech(
    kind: CK_MECHANISM_TYPE,
    params: impl FnOnce() -> Result<CK_ECDH1_DERIVE_PARAMS>,
) -> Result<CK_ECDH1_DERIVE_PARAMS> {
    if kind != CKM_ECDH1_DERIVE {
        return Err(Error::MECHANISM_INVALID);
    }
    let p = params()?;
    if p.kdf != CKD_NULL || p.ulSharedDataLen != 0 {
        return Err(Error::MECHANISM_PARAM_INVALID);
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pss(hash_alg: CK_MECHANISM_TYPE, s_len: CK_ULONG) -> CK_RSA_PKCS_PSS_PARAMS {
        CK_RSA_PKCS_PSS_PARAMS {
            hashAlg: hash_alg,
            mgf: CKG_MGF1_SHA256,
            sLen: s_len,
        }
    }

    #[test]
    fn pss_parameters_are_checked() {
        assert_eq!(
            sign_mech(CKM_SHA256_RSA_PKCS_PSS, || Ok(pss(CKM_SHA256, 32))),
            Ok(SignMech::HashRsaPss {
                hash: Hash::Sha256,
                mgf: Hash::Sha256,
                salt: 32
            })
        );
        // The mechanism's hash and the parameters' disagree.
        assert_eq!(
            sign_mech(CKM_SHA256_RSA_PKCS_PSS, || Ok(pss(CKM_SHA384, 32))),
            Err(Error::MECHANISM_PARAM_INVALID)
        );
        assert_eq!(
            sign_mech(CKM_RSA_PKCS_PSS, || Ok(pss(CKM_SHA256, MAX_PSS_SALT + 1))),
            Err(Error::MECHANISM_PARAM_INVALID)
        );
        // Mechanisms without parameters never read them.
        assert_eq!(sign_mech(CKM_ECDSA, || panic!("read")), Ok(SignMech::Ecdsa));
        assert_eq!(
            sign_mech(CKM_MD5_RSA_PKCS, || panic!("read")),
            Err(Error::MECHANISM_INVALID)
        );
    }
}
