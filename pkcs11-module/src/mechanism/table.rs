//! The mechanisms Firma offers, as `C_GetMechanismList` and
//! `C_GetMechanismInfo` report them.

use cryptoki_sys::*;

/// One offered mechanism and what `CK_MECHANISM_INFO` says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offered {
    /// The CKM_* type.
    pub kind: CK_MECHANISM_TYPE,
    /// Smallest key size, in bits.
    pub min_bits: CK_ULONG,
    /// Largest key size, in bits.
    pub max_bits: CK_ULONG,
    /// CKF_* flags: what the mechanism does.
    pub flags: CK_FLAGS,
}

const RSA_SIGN: CK_FLAGS = CKF_HW | CKF_SIGN;
const EC_CURVES: CK_FLAGS = CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;

const fn rsa(kind: CK_MECHANISM_TYPE, flags: CK_FLAGS) -> Offered {
    Offered {
        kind,
        min_bits: 1024,
        max_bits: 2048,
        flags,
    }
}

const fn ec(kind: CK_MECHANISM_TYPE, flags: CK_FLAGS) -> Offered {
    Offered {
        kind,
        min_bits: 256,
        max_bits: 384,
        flags: flags | EC_CURVES,
    }
}

/// Every mechanism, in the order `C_GetMechanismList` lists them.
pub const MECHANISMS: &[Offered] = &[
    rsa(CKM_RSA_PKCS, CKF_HW | CKF_SIGN | CKF_DECRYPT),
    rsa(CKM_RSA_X_509, CKF_HW | CKF_SIGN | CKF_DECRYPT),
    rsa(CKM_RSA_PKCS_PSS, RSA_SIGN),
    rsa(CKM_RSA_PKCS_OAEP, CKF_HW | CKF_DECRYPT),
    rsa(CKM_SHA1_RSA_PKCS, RSA_SIGN),
    rsa(CKM_SHA224_RSA_PKCS, RSA_SIGN),
    rsa(CKM_SHA256_RSA_PKCS, RSA_SIGN),
    rsa(CKM_SHA384_RSA_PKCS, RSA_SIGN),
    rsa(CKM_SHA512_RSA_PKCS, RSA_SIGN),
    rsa(CKM_SHA1_RSA_PKCS_PSS, RSA_SIGN),
    rsa(CKM_SHA224_RSA_PKCS_PSS, RSA_SIGN),
    rsa(CKM_SHA256_RSA_PKCS_PSS, RSA_SIGN),
    rsa(CKM_SHA384_RSA_PKCS_PSS, RSA_SIGN),
    rsa(CKM_SHA512_RSA_PKCS_PSS, RSA_SIGN),
    ec(CKM_ECDSA, CKF_HW | CKF_SIGN),
    ec(CKM_ECDSA_SHA1, CKF_HW | CKF_SIGN),
    ec(CKM_ECDSA_SHA224, CKF_HW | CKF_SIGN),
    ec(CKM_ECDSA_SHA256, CKF_HW | CKF_SIGN),
    ec(CKM_ECDSA_SHA384, CKF_HW | CKF_SIGN),
    ec(CKM_ECDSA_SHA512, CKF_HW | CKF_SIGN),
    ec(CKM_ECDH1_DERIVE, CKF_HW | CKF_DERIVE),
];

/// The offered mechanism of type `kind`, if Firma offers it.
pub fn find(kind: CK_MECHANISM_TYPE) -> Option<&'static Offered> {
    MECHANISMS.iter().find(|m| m.kind == kind)
}

/// The types of every offered mechanism.
pub fn kinds() -> Vec<CK_MECHANISM_TYPE> {
    MECHANISMS.iter().map(|m| m.kind).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signing_mechanism_parses() {
        use crate::mechanism::parsing::{decrypt_mech, sign_mech};
        let pss = CK_RSA_PKCS_PSS_PARAMS {
            hashAlg: CKM_SHA256,
            mgf: CKG_MGF1_SHA256,
            sLen: 32,
        };
        for m in MECHANISMS {
            let sign = sign_mech(m.kind, || {
                let mut p = pss;
                p.hashAlg = match m.kind {
                    CKM_SHA1_RSA_PKCS_PSS => CKM_SHA_1,
                    CKM_SHA224_RSA_PKCS_PSS => CKM_SHA224,
                    CKM_SHA384_RSA_PKCS_PSS => CKM_SHA384,
                    CKM_SHA512_RSA_PKCS_PSS => CKM_SHA512,
                    _ => CKM_SHA256,
                };
                Ok(p)
            });
            let decrypt = decrypt_mech(m.kind, || Err(crate::error::Error::GENERAL));
            assert_eq!(sign.is_ok(), m.flags & CKF_SIGN != 0, "{:#x}", m.kind);
            if m.kind != CKM_RSA_PKCS_OAEP {
                assert_eq!(decrypt.is_ok(), m.flags & CKF_DECRYPT != 0, "{:#x}", m.kind);
            }
        }
    }
}
