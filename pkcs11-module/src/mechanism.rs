//! Host-side halves of the PKCS#11 signature and decryption mechanisms.
//!
//! A PIV card only performs the raw RSA private-key operation (`m^d mod n`)
//! and a raw ECDSA signature over whatever bytes it is given. Everything a
//! PKCS#11 mechanism adds on top — hashing, PKCS#1 v1.5 and PSS encoding
//! before signing, PKCS#1 v1.5 and OAEP decoding after decrypting, reshaping
//! the card's DER ECDSA signature — therefore happens here, on the host.
//!
//! The encodings follow RFC 8017 (PKCS #1 v2.2) section by section; the
//! section numbers are cited where each step is implemented.
//!
//! Nothing in this module touches randomness: the PSS salt is passed in by
//! the caller (who fills it from the OS RNG), so every function is
//! deterministic and can be tested against an independent implementation.

use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use std::fmt;
use zeroize::Zeroizing;

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

/// Hash functions of the PKCS#11 mechanisms Firma offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    /// SHA-1 (FIPS 180-4). Only for verifying old data and for MGF1-SHA1,
    /// which many applications still pass as the OAEP mask function.
    Sha1,
    /// SHA-224 (FIPS 180-4).
    Sha224,
    /// SHA-256 (FIPS 180-4).
    Sha256,
    /// SHA-384 (FIPS 180-4).
    Sha384,
    /// SHA-512 (FIPS 180-4).
    Sha512,
}

impl Hash {
    /// Hashes `data` in one go.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => Sha1::digest(data).to_vec(),
            Hash::Sha224 => Sha224::digest(data).to_vec(),
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// Length of the hash value in bytes (`hLen` in RFC 8017).
    pub fn output_len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha224 => 28,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    /// DER DigestInfo prefix (RFC 8017 §9.2 note 1) to put before the hash for
    /// PKCS#1 v1.5 signatures.
    ///
    /// Each is the encoding of `SEQUENCE { SEQUENCE { OID, NULL }, OCTET
    /// STRING (hLen bytes) }` up to, but excluding, the hash value itself; the
    /// bytes are fixed, so they are constants rather than built with a DER
    /// encoder.
    pub fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Hash::Sha1 => &[
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
                0x14,
            ],
            Hash::Sha224 => &[
                0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x04, 0x05, 0x00, 0x04, 0x1c,
            ],
            Hash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Hash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Hash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }

    /// From a PKCS#11 `CKM_SHA*` mechanism number (`CKM_SHA_1` = 0x220,
    /// `CKM_SHA224` = 0x255, `CKM_SHA256` = 0x250, `CKM_SHA384` = 0x260,
    /// `CKM_SHA512` = 0x270), as found in the `hashAlg` field of
    /// `CK_RSA_PKCS_PSS_PARAMS` and `CK_RSA_PKCS_OAEP_PARAMS`.
    ///
    /// `None` for any other number, which the caller reports as
    /// `CKR_MECHANISM_PARAM_INVALID`.
    pub fn from_ckm(ckm: u64) -> Option<Hash> {
        match ckm {
            0x220 => Some(Hash::Sha1),
            0x255 => Some(Hash::Sha224),
            0x250 => Some(Hash::Sha256),
            0x260 => Some(Hash::Sha384),
            0x270 => Some(Hash::Sha512),
            _ => None,
        }
    }

    /// From a PKCS#11 `CKG_MGF1_*` number (`CKG_MGF1_SHA1` = 1,
    /// `CKG_MGF1_SHA256` = 2, `CKG_MGF1_SHA384` = 3, `CKG_MGF1_SHA512` = 4,
    /// `CKG_MGF1_SHA224` = 5), the `mgf` field of the PSS and OAEP parameters.
    ///
    /// `None` for any other number (including the SHA-3 MGFs, which Firma
    /// does not offer).
    pub fn from_ckg(ckg: u64) -> Option<Hash> {
        match ckg {
            1 => Some(Hash::Sha1),
            2 => Some(Hash::Sha256),
            3 => Some(Hash::Sha384),
            4 => Some(Hash::Sha512),
            5 => Some(Hash::Sha224),
            _ => None,
        }
    }

    /// A streaming hasher for multi-part `C_SignUpdate` / `C_DigestUpdate`,
    /// so the whole message never has to be buffered.
    pub fn hasher(self) -> Hasher {
        let inner = match self {
            Hash::Sha1 => HasherInner::Sha1(Sha1::new()),
            Hash::Sha224 => HasherInner::Sha224(Sha224::new()),
            Hash::Sha256 => HasherInner::Sha256(Sha256::new()),
            Hash::Sha384 => HasherInner::Sha384(Sha384::new()),
            Hash::Sha512 => HasherInner::Sha512(Sha512::new()),
        };
        Hasher { inner }
    }
}

/// An incremental hash computation, created by [`Hash::hasher`].
#[derive(Clone)]
pub struct Hasher {
    inner: HasherInner,
}

/// One variant per hash so that `Hasher` needs neither boxing nor generics
/// in the session state that holds it between `C_SignUpdate` calls.
#[derive(Clone)]
enum HasherInner {
    Sha1(Sha1),
    Sha224(Sha224),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    /// Which hash function this hasher computes.
    pub fn hash(&self) -> Hash {
        match self.inner {
            HasherInner::Sha1(_) => Hash::Sha1,
            HasherInner::Sha224(_) => Hash::Sha224,
            HasherInner::Sha256(_) => Hash::Sha256,
            HasherInner::Sha384(_) => Hash::Sha384,
            HasherInner::Sha512(_) => Hash::Sha512,
        }
    }

    /// Feeds the next part of the message.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.inner {
            HasherInner::Sha1(h) => h.update(data),
            HasherInner::Sha224(h) => h.update(data),
            HasherInner::Sha256(h) => h.update(data),
            HasherInner::Sha384(h) => h.update(data),
            HasherInner::Sha512(h) => h.update(data),
        }
    }

    /// Completes the computation and returns the hash value.
    pub fn finish(self) -> Vec<u8> {
        match self.inner {
            HasherInner::Sha1(h) => h.finalize().to_vec(),
            HasherInner::Sha224(h) => h.finalize().to_vec(),
            HasherInner::Sha256(h) => h.finalize().to_vec(),
            HasherInner::Sha384(h) => h.finalize().to_vec(),
            HasherInner::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

// Written by hand because the inner state is message-dependent and has no
// business in logs; the hash name is all a log reader needs.
impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("hash", &self.hash())
            .finish_non_exhaustive()
    }
}

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
    // Step 3: at least 8 bytes of FF padding plus the 00 01 and 00 framing.
    if k < 11 || t.len() > k - 11 {
        return Err(PaddingError::DataTooLong);
    }
    let ps_len = k - t.len() - 3;
    let mut em = Vec::with_capacity(k);
    em.extend_from_slice(&[0x00, 0x01]);
    em.resize(2 + ps_len, 0xFF);
    em.push(0x00);
    em.extend_from_slice(t);
    Ok(em)
}

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
    // The length is public (it is the modulus length), so this early return
    // leaks nothing.
    if em.len() < 11 {
        return Err(PaddingError::BadEncoding);
    }
    let mut good = ct_is_zero(em[0]) & ct_is_zero(em[1] ^ 0x02);
    // Find the first zero byte after `00 02` without leaving the loop early.
    let mut looking = 0xFFu8;
    let mut separator = 0usize;
    for (i, &byte) in em.iter().enumerate().skip(2) {
        let is_zero = ct_is_zero(byte);
        separator = ct_select_usize(looking & is_zero, i, separator);
        looking &= !is_zero;
    }
    // There must be a separator, and PS = em[2..separator] at least 8 bytes.
    good &= !looking;
    good &= ct_ge_usize(separator, 10);
    if good != 0xFF {
        return Err(PaddingError::BadEncoding);
    }
    em.get(separator + 1..)
        .map(|m| Zeroizing::new(m.to_vec()))
        .ok_or(PaddingError::BadEncoding)
}

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
    let mut good = ct_is_zero(y);
    for (a, b) in l_hash_prime.iter().zip(&l_hash) {
        good &= ct_is_zero(a ^ b);
    }
    // The first non-zero byte after lHash' must be 0x01; note where it is.
    let mut looking = 0xFFu8;
    let mut separator = 0usize;
    for (i, &byte) in ps_and_m.iter().enumerate() {
        let is_zero = ct_is_zero(byte);
        let is_one = ct_is_zero(byte ^ 0x01);
        separator = ct_select_usize(looking & is_one, i, separator);
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
/// P-384 are), shorter inputs unchanged.
///
/// The truncation is done here because a PIV card expects an input no
/// longer than the key, while applications legitimately sign e.g. a SHA-384
/// hash with a P-256 key.
pub fn ecdsa_input(hash: &[u8], field_len: usize) -> Vec<u8> {
    hash[..hash.len().min(field_len)].to_vec()
}

/// XORs MGF1(`seed`, `out.len()`) (RFC 8017 §B.2.1) into `out` in place,
/// which both callers want and which spares a separate mask buffer.
///
/// The blocks of mask are wiped after use because, in OAEP, the mask is as
/// secret as the plaintext it hides.
fn mgf1_xor(hash: Hash, seed: &[u8], out: &mut [u8]) {
    for (counter, chunk) in (0u32..).zip(out.chunks_mut(hash.output_len())) {
        // `out` is at most MAX_MODULUS_BYTES long, so the counter never
        // comes near 2^32 and §B.2.1 step 1 ("mask too long") cannot apply.
        let mut hasher = hash.hasher();
        hasher.update(seed);
        hasher.update(&counter.to_be_bytes());
        let mask = Zeroizing::new(hasher.finish());
        for (o, m) in chunk.iter_mut().zip(mask.iter()) {
            *o ^= m;
        }
    }
}

/// 0xFF if `x` is zero, 0x00 otherwise, computed without a branch so that
/// the padding checks take the same time whichever byte is wrong.
fn ct_is_zero(x: u8) -> u8 {
    let x = u32::from(x);
    // For x ≠ 0, x | −x has its top bit set; for x = 0 it is 0.
    let nonzero = ((x | x.wrapping_neg()) >> 31) as u8;
    nonzero.wrapping_sub(1)
}

/// `a` if `mask` is 0xFF, `b` if it is 0x00, without a branch.
fn ct_select_usize(mask: u8, a: usize, b: usize) -> usize {
    let m = usize::from(mask & 1).wrapping_neg();
    (a & m) | (b & !m)
}

/// 0xFF if `a >= b`, 0x00 otherwise, without a branch.
fn ct_ge_usize(a: usize, b: usize) -> u8 {
    let (_, borrow) = a.overflowing_sub(b);
    ct_is_zero(u8::from(borrow))
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
    use rand::Rng;
    use rsa::hazmat::rsa_decrypt_and_check;
    use rsa::traits::PublicKeyParts;
    use rsa::{BigUint, Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign, Pss, RsaPrivateKey};
    use std::sync::OnceLock;

    /// One RSA-2048 key for the whole test binary: generating keys is the
    /// slow part, and nothing here depends on which key is used.
    fn key2048() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen"))
    }

    /// What the card does: the raw RSA private operation, output left-padded
    /// to the modulus length.
    fn raw_private(key: &RsaPrivateKey, block: &[u8]) -> Vec<u8> {
        let c = BigUint::from_bytes_be(block);
        let m = rsa_decrypt_and_check(key, Some(&mut rand::thread_rng()), &c).expect("raw RSA");
        left_pad(&m.to_bytes_be(), key.size())
    }

    fn left_pad(bytes: &[u8], len: usize) -> Vec<u8> {
        assert!(bytes.len() <= len);
        let mut out = vec![0u8; len - bytes.len()];
        out.extend_from_slice(bytes);
        out
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    const ALL: [Hash; 5] = [
        Hash::Sha1,
        Hash::Sha224,
        Hash::Sha256,
        Hash::Sha384,
        Hash::Sha512,
    ];

    // ---- Hash ------------------------------------------------------------

    #[test]
    fn digests_match_fips_180_examples() {
        // "abc" from the FIPS 180 example set: proves each variant is wired to
        // the right function.
        let expected = [
            (Hash::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                Hash::Sha224,
                "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
            ),
            (
                Hash::Sha256,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                Hash::Sha384,
                "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
                 8086072ba1e7cc2358baeca134c825a7",
            ),
            (
                Hash::Sha512,
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                 2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
        ];
        for (hash, want) in expected {
            let got = hash.digest(b"abc");
            assert_eq!(got, hex(want), "{hash:?}");
            assert_eq!(got.len(), hash.output_len(), "{hash:?}");
        }
    }

    #[test]
    fn streaming_hasher_equals_one_shot() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        for hash in ALL {
            let mut hasher = hash.hasher();
            assert_eq!(hasher.hash(), hash);
            for part in data.chunks(33) {
                hasher.update(part);
            }
            assert_eq!(hasher.finish(), hash.digest(&data), "{hash:?}");
        }
        assert!(format!("{:?}", Hash::Sha256.hasher()).contains("Sha256"));
    }

    #[test]
    fn pkcs11_numbers() {
        assert_eq!(Hash::from_ckm(0x220), Some(Hash::Sha1));
        assert_eq!(Hash::from_ckm(0x255), Some(Hash::Sha224));
        assert_eq!(Hash::from_ckm(0x250), Some(Hash::Sha256));
        assert_eq!(Hash::from_ckm(0x260), Some(Hash::Sha384));
        assert_eq!(Hash::from_ckm(0x270), Some(Hash::Sha512));
        // CKM_MD5, CKM_SHA256_RSA_PKCS, CKM_SHA3_256: not hash mechanisms we offer.
        for other in [0, 0x210, 0x40, 0x2b0, u64::MAX] {
            assert_eq!(Hash::from_ckm(other), None, "{other:#x}");
        }
        assert_eq!(Hash::from_ckg(1), Some(Hash::Sha1));
        assert_eq!(Hash::from_ckg(2), Some(Hash::Sha256));
        assert_eq!(Hash::from_ckg(3), Some(Hash::Sha384));
        assert_eq!(Hash::from_ckg(4), Some(Hash::Sha512));
        assert_eq!(Hash::from_ckg(5), Some(Hash::Sha224));
        for other in [0, 6, 7, u64::MAX] {
            assert_eq!(Hash::from_ckg(other), None, "{other}");
        }
    }

    #[test]
    fn digest_info_prefixes_match_der_encoder() {
        // Built independently with the `der` crate from the OIDs in dotted
        // form (FIPS 180 / RFC 8017 Appendix B.1).
        use rsa::pkcs8::der::asn1::AnyRef;
        use rsa::pkcs8::der::Encode;
        use rsa::pkcs8::spki::AlgorithmIdentifierRef;
        use rsa::pkcs8::ObjectIdentifier;
        let oids = [
            (Hash::Sha1, "1.3.14.3.2.26"),
            (Hash::Sha224, "2.16.840.1.101.3.4.2.4"),
            (Hash::Sha256, "2.16.840.1.101.3.4.2.1"),
            (Hash::Sha384, "2.16.840.1.101.3.4.2.2"),
            (Hash::Sha512, "2.16.840.1.101.3.4.2.3"),
        ];
        for (hash, oid) in oids {
            let alg = AlgorithmIdentifierRef {
                oid: ObjectIdentifier::new_unwrap(oid),
                parameters: Some(AnyRef::NULL),
            }
            .to_der()
            .expect("encode");
            let h_len = hash.output_len();
            let body_len = alg.len() + 2 + h_len;
            let mut want = vec![0x30, body_len as u8];
            want.extend_from_slice(&alg);
            want.extend_from_slice(&[0x04, h_len as u8]);
            assert_eq!(hash.digest_info_prefix(), &want[..], "{hash:?}");
        }
        // And the SHA-2 ones against the rsa crate's own table.
        let rsa_prefixes = [
            (Hash::Sha224, Pkcs1v15Sign::new::<sha2::Sha224>().prefix),
            (Hash::Sha256, Pkcs1v15Sign::new::<sha2::Sha256>().prefix),
            (Hash::Sha384, Pkcs1v15Sign::new::<sha2::Sha384>().prefix),
            (Hash::Sha512, Pkcs1v15Sign::new::<sha2::Sha512>().prefix),
        ];
        for (hash, prefix) in rsa_prefixes {
            assert_eq!(hash.digest_info_prefix(), &prefix[..], "{hash:?}");
        }
    }

    // ---- PKCS#1 v1.5 signatures ------------------------------------------

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

    // ---- PSS ---------------------------------------------------------------

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

    // ---- OAEP --------------------------------------------------------------

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

    // ---- PKCS#1 v1.5 decryption ----------------------------------------------

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

    // ---- ECDSA ---------------------------------------------------------------

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
        // Shorter and equal inputs are passed through.
        assert_eq!(ecdsa_input(&h384[..20], 32), h384[..20].to_vec());
        assert_eq!(ecdsa_input(&h384, 48), h384);

        // p256 truncates a long prehash itself (bits2field): a signature made
        // over our truncated input must verify against the full SHA-384 hash.
        let sk = SigningKey::random(&mut rand::thread_rng());
        let sig: Signature = sk.sign_prehash(&input).expect("sign");
        sk.verifying_key()
            .verify_prehash(&h384, &sig)
            .expect("verify with full hash");
    }

    // ---- Robustness --------------------------------------------------------

    fn any_hash() -> impl Strategy<Value = Hash> {
        prop::sample::select(ALL.to_vec())
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
        fn oaep_decode_never_panics(
            em in prop::collection::vec(any::<u8>(), 0..600),
            hash in any_hash(),
            mgf in any_hash(),
            label in prop::collection::vec(any::<u8>(), 0..16),
        ) {
            let _ = oaep_decode(&em, hash, mgf, &label);
        }

        #[test]
        fn pkcs1_v15_unpad_never_panics(em in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = pkcs1_v15_decrypt_unpad(&em);
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
            prop_assert!(hash.starts_with(&out));
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
