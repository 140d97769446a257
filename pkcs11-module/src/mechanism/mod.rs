//! The PKCS#11 mechanisms Firma offers, in one place: which ones
//! ([`table`]), how an application's `CK_MECHANISM` becomes a typed
//! mechanism ([`parsing`]), and the host-side halves of each (the rest).
//!
//! A PIV card only performs the raw RSA private-key operation (`m^d mod n`)
//! and a raw ECDSA signature over whatever bytes it is given. Everything a
//! PKCS#11 mechanism adds on top — hashing, PKCS#1 v1.5 and PSS encoding
//! before signing, PKCS#1 v1.5 and OAEP decoding after decrypting, reshaping
//! the card's DER ECDSA signature — therefore happens here, on the host
//! ([`dispatch`] picks the steps for a mechanism).
//!
//! The encodings follow RFC 8017 (PKCS #1 v2.2) section by section; the
//! section numbers are cited where each step is implemented.
//!
//! Nothing in the encodings touches randomness: the PSS salt is passed in by
//! the caller (who fills it from the OS RNG), so every function is
//! deterministic and can be tested against an independent implementation.

pub mod dispatch;
mod ecdsa;
mod hash;
mod implicit;
mod oaep;
pub mod parsing;
mod pkcs1;
mod pss;
pub mod table;
#[cfg(test)]
mod test_support;

pub use ecdsa::{ecdsa_der_to_raw, ecdsa_input};
pub use hash::{Hash, Hasher};
pub use implicit::pkcs1_v15_decrypt_implicit;
pub use oaep::oaep_decode;
pub use parsing::{DecryptMech, SignMech};
pub use pkcs1::{pkcs1_v15_decrypt_unpad, pkcs1_v15_sign_block};
pub use pss::{pss_block, pss_encode};

/// Largest RSA modulus, in bits, this module will encode or decode for.
///
/// PIV cards stop at 4096 bits; the bound is generous and exists only so that
/// a length coming from an application (e.g. a bogus `CKA_MODULUS_BITS`)
/// cannot make us allocate gigabytes or overflow length arithmetic.
pub const MAX_MODULUS_BITS: usize = 16384;

/// [`MAX_MODULUS_BITS`] in bytes.
pub const MAX_MODULUS_BYTES: usize = MAX_MODULUS_BITS / 8;

/// Largest elliptic-curve field size, in bytes, [`ecdsa_der_to_raw`] accepts
/// (66 bytes is P-521, the largest curve PKCS#11 applications use).
pub const MAX_EC_FIELD_LEN: usize = 66;

/// Why an encoding could not be built or a decrypted block was rejected.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum PaddingError {
    /// The data does not fit in a block of the modulus' size (PKCS#1 v1.5
    /// signatures need 11 bytes of overhead). Maps to `CKR_DATA_LEN_RANGE`.
    #[error("data too long for the RSA modulus")]
    DataTooLong,
    /// The modulus is too small for the hash (and salt) of the mechanism:
    /// PSS needs `hLen + sLen + 2` bytes, OAEP `2·hLen + 2`.
    #[error("RSA modulus too short for this mechanism's hash and salt")]
    KeyTooShort,
    /// The modulus size is zero, above [`MAX_MODULUS_BITS`], or the byte and
    /// bit sizes given to [`pss_block`] disagree.
    #[error("invalid RSA modulus size")]
    InvalidModulusSize,
    /// The message hash handed to PSS is not as long as the hash function's
    /// output (e.g. `CKM_RSA_PKCS_PSS` given 20 bytes with `CKM_SHA256`).
    #[error("message hash length does not match the hash function")]
    HashLengthMismatch,
    /// A decrypted block is not a valid PKCS#1 v1.5 or OAEP encoding.
    ///
    /// Deliberately one variant with one message for every failed check: an
    /// attacker who can tell *which* check failed (e.g. "first byte not
    /// zero" versus "label hash mismatch") gets a decryption oracle
    /// (Bleichenbacher 1998, Manger 2001).
    #[error("decryption error")]
    BadEncoding,
    /// The card's ECDSA signature is not a well-formed DER
    /// `SEQUENCE { INTEGER r, INTEGER s }` whose integers fit the field.
    #[error("malformed ECDSA signature from the card")]
    BadSignatureEncoding,
    /// The elliptic-curve field length is zero or above
    /// [`MAX_EC_FIELD_LEN`].
    #[error("invalid elliptic-curve field length")]
    InvalidFieldLength,
}
