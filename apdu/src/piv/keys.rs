//! Public keys as the card returns them (template 7F49) and key metadata
//! (Yubico's GET METADATA).

use crate::piv::{Algorithm, PinPolicy, TouchPolicy};
use crate::tlv::Tlv;
use crate::Error;

/// A public key from GENERATE ASYMMETRIC KEY PAIR or GET METADATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// An RSA key.
    Rsa {
        /// The modulus, big-endian without leading zeros.
        modulus: Vec<u8>,
        /// The public exponent, big-endian without leading zeros.
        exponent: Vec<u8>,
    },
    /// An uncompressed point `04 || x || y`.
    Ec {
        /// The curve.
        algorithm: Algorithm,
        /// The uncompressed point `04 || x || y`.
        point: Vec<u8>,
    },
}

impl PublicKey {
    /// Parses the contents of template 7F49 (tags 81/82 or 86) for `alg`.
    pub fn parse(alg: Algorithm, content: &[u8]) -> Result<Self, Error> {
        if alg.is_rsa() {
            let modulus =
                Tlv::find(content, 0x81).ok_or(Error::Malformed("public key (no modulus)"))?;
            let exponent =
                Tlv::find(content, 0x82).ok_or(Error::Malformed("public key (no exponent)"))?;
            let modulus = strip_zeros(modulus);
            if modulus.len() != alg.size() || exponent.is_empty() || exponent.len() > 8 {
                return Err(Error::Malformed("public key (RSA sizes)"));
            }
            Ok(PublicKey::Rsa {
                modulus: modulus.to_vec(),
                exponent: strip_zeros(exponent).to_vec(),
            })
        } else {
            let point =
                Tlv::find(content, 0x86).ok_or(Error::Malformed("public key (no EC point)"))?;
            if point.len() != 1 + 2 * alg.size() || point[0] != 0x04 {
                return Err(Error::Malformed("public key (EC point)"));
            }
            Ok(PublicKey::Ec {
                algorithm: alg,
                point: point.to_vec(),
            })
        }
    }

    /// Parses a GENERATE answer: `7F49 { ... }`.
    pub fn parse_generated(alg: Algorithm, answer: &[u8]) -> Result<Self, Error> {
        let content =
            Tlv::find(answer, 0x7F49).ok_or(Error::Malformed("key generation (no 7F49)"))?;
        Self::parse(alg, content)
    }

    /// The card algorithm for this key: the curve for EC, RSA-1024 up to
    /// 128 modulus bytes and RSA-2048 above (see [`PublicKey::bits`] for
    /// the actual size of a larger RSA key).
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Rsa { modulus, .. } if modulus.len() <= 128 => Algorithm::Rsa1024,
            PublicKey::Rsa { .. } => Algorithm::Rsa2048,
            PublicKey::Ec { algorithm, .. } => *algorithm,
        }
    }

    /// Whether this is an RSA key.
    pub fn is_rsa(&self) -> bool {
        matches!(self, PublicKey::Rsa { .. })
    }

    /// Modulus length (RSA), from the modulus itself, or field length (EC),
    /// in bytes: the length of a signature or a decryption block.
    pub fn size(&self) -> usize {
        match self {
            PublicKey::Rsa { modulus, .. } => strip_zeros(modulus).len(),
            PublicKey::Ec { algorithm, .. } => algorithm.size(),
        }
    }

    /// Exact bit length of the RSA modulus (so RSA-3072 and RSA-4096 keys
    /// are reported as such), or the field size of the curve.
    pub fn bits(&self) -> usize {
        match self {
            PublicKey::Rsa { modulus, .. } => {
                let m = strip_zeros(modulus);
                m.first()
                    .map_or(0, |&b| 8 * m.len() - b.leading_zeros() as usize)
            }
            PublicKey::Ec { algorithm, .. } => 8 * algorithm.size(),
        }
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&x| x == 0).count();
    &b[n..]
}

/// Where a key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Generated on the card.
    Generated,
    /// Imported into the card.
    Imported,
}

/// What GET METADATA tells about a slot, a PIN, the PUK or the management key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Metadata {
    /// The algorithm identifier (01).
    pub algorithm: Option<u8>,
    /// The PIN policy (02, first byte).
    pub pin_policy: Option<PinPolicy>,
    /// The touch policy (02, second byte).
    pub touch_policy: Option<TouchPolicy>,
    /// Where the key came from (03).
    pub origin: Option<Origin>,
    /// The public key (04), read with the stated algorithm.
    pub public_key: Option<PublicKey>,
    /// PIN, PUK, management key: whether it still has its factory value.
    pub is_default: Option<bool>,
    /// PIN, PUK: (total, remaining) tries.
    pub retries: Option<(u8, u8)>,
}

impl Metadata {
    /// Parses a GET METADATA answer.
    pub fn parse(answer: &[u8]) -> Result<Self, Error> {
        let mut m = Metadata::default();
        let mut key = None;
        for item in Tlv::iter(answer) {
            let item = item.map_err(|_| Error::Malformed("metadata"))?;
            match (item.tag, item.value) {
                (0x01, [alg]) => m.algorithm = Some(*alg),
                (0x02, [pin, touch]) => {
                    m.pin_policy = PinPolicy::from_id(*pin);
                    m.touch_policy = TouchPolicy::from_id(*touch);
                }
                (0x03, [1]) => m.origin = Some(Origin::Generated),
                (0x03, [2]) => m.origin = Some(Origin::Imported),
                (0x05, [d]) => m.is_default = Some(*d != 0),
                (0x06, [total, left]) => m.retries = Some((*total, *left)),
                (0x04, content) => key = Some(content),
                _ => {}
            }
        }
        // The key is read with the algorithm the answer states, wherever the
        // two items stand (a later 01 must not relabel an earlier key).
        if let Some(content) = key {
            let alg = m.algorithm.and_then(|a| Algorithm::try_from(a).ok());
            m.public_key = alg.map(|a| PublicKey::parse(a, content)).transpose()?;
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rsa_sizes_come_from_the_modulus() {
        for (len, top, bits) in [
            (128, 0x80, 1024),
            (256, 0xC0, 2048),
            (384, 0x80, 3072),
            (512, 0x01, 4089),
        ] {
            let mut modulus = vec![0x00, top];
            modulus.resize(len + 1, 0x5A);
            let key = PublicKey::Rsa {
                modulus,
                exponent: vec![1, 0, 1],
            };
            assert_eq!((key.size(), key.bits()), (len, bits));
        }
    }

    #[test]
    fn the_key_is_read_with_the_stated_algorithm() {
        // P-256 algorithm, a P-256 point, then a second algorithm item (RSA):
        // the point must not be taken as an RSA key or kept under the wrong label.
        let mut answer = vec![0x01, 0x01, 0x11, 0x04, 0x43, 0x86, 0x41, 0x04];
        answer.extend(0..64u8);
        answer.extend([0x01, 0x01, 0x07]);
        assert!(Metadata::parse(&answer).is_err());
        answer.truncate(answer.len() - 3);
        let m = Metadata::parse(&answer).unwrap();
        assert_eq!(
            m.public_key.map(|k| k.algorithm()),
            Some(Algorithm::EccP256)
        );
    }

    proptest! {
        #[test]
        fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            for alg in [Algorithm::Rsa2048, Algorithm::EccP256, Algorithm::EccP384] {
                let _ = PublicKey::parse_generated(alg, &data);
                let _ = PublicKey::parse(alg, &data);
            }
            let _ = Metadata::parse(&data);
        }
    }
}
