//! The hash functions of Firma's mechanisms, their PKCS#11 numbers
//! (`CKM_SHA*`, `CKG_MGF1_*`) and MGF1 (RFC 8017 §B.2.1), which PSS and OAEP
//! both build on.

use cryptoki_sys as ck;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use std::fmt;
use zeroize::Zeroizing;

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
            // firma-apdu's, which the station's certificate requests use too.
            Hash::Sha256 => &firma_apdu::piv::padding::SHA256_PREFIX,
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

    /// From a PKCS#11 `CKM_SHA*` hash mechanism, as found in the `hashAlg`
    /// field of `CK_RSA_PKCS_PSS_PARAMS` and `CK_RSA_PKCS_OAEP_PARAMS`.
    ///
    /// `None` for any other mechanism, which the caller reports as
    /// `CKR_MECHANISM_PARAM_INVALID`.
    pub fn from_ckm(ckm: ck::CK_MECHANISM_TYPE) -> Option<Hash> {
        match ckm {
            ck::CKM_SHA_1 => Some(Hash::Sha1),
            ck::CKM_SHA224 => Some(Hash::Sha224),
            ck::CKM_SHA256 => Some(Hash::Sha256),
            ck::CKM_SHA384 => Some(Hash::Sha384),
            ck::CKM_SHA512 => Some(Hash::Sha512),
            _ => None,
        }
    }

    /// From a PKCS#11 `CKG_MGF1_*` mask generation function, the `mgf` field
    /// of the PSS and OAEP parameters.
    ///
    /// `None` for any other number (including the SHA-3 MGFs, which Firma
    /// does not offer).
    pub fn from_ckg(ckg: ck::CK_RSA_PKCS_MGF_TYPE) -> Option<Hash> {
        match ckg {
            ck::CKG_MGF1_SHA1 => Some(Hash::Sha1),
            ck::CKG_MGF1_SHA224 => Some(Hash::Sha224),
            ck::CKG_MGF1_SHA256 => Some(Hash::Sha256),
            ck::CKG_MGF1_SHA384 => Some(Hash::Sha384),
            ck::CKG_MGF1_SHA512 => Some(Hash::Sha512),
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

/// XORs MGF1(`seed`, `out.len()`) (RFC 8017 §B.2.1) into `out` in place,
/// which both callers want and which spares a separate mask buffer.
///
/// The blocks of mask are wiped after use because, in OAEP, the mask is as
/// secret as the plaintext it hides.
pub(super) fn mgf1_xor(hash: Hash, seed: &[u8], out: &mut [u8]) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mechanism::test_support::*;
    use rsa::Pkcs1v15Sign;

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
}
