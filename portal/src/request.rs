//! The certificate request a citizen's browser sends (the way where the key
//! never leaves their device): base64 of a DER PKCS#10, checked before the
//! Generation Code is looked at, so that a broken request costs the citizen
//! nothing.
//!
//! Taken: ECC P-256 or P-384, or RSA of 2048 to 4096 bits, signed by its own
//! key (proof of possession). The request's subject and extensions are
//! ignored: the CA names the holder from the registry.

use base64::Engine;
use firma_apdu::piv::PublicKey;
use firma_station_engine::csr;

/// The largest RSA modulus taken, in bits.
pub const MAX_RSA_BITS: usize = 4096;

/// Why a browser's request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadRequest {
    #[error("the request is not base64")]
    NotBase64,
    #[error("the request is not a valid signed PKCS#10: {0}")]
    Invalid(String),
    #[error("the key is not one the portal takes: {0}")]
    Key(String),
}

/// The DER of the request in `field`, if it is one the CA will sign.
pub fn parse(field: &str) -> Result<Vec<u8>, BadRequest> {
    let text: String = field.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| BadRequest::NotBase64)?;
    let info = csr::check(&der).map_err(|e| BadRequest::Invalid(e.to_string()))?;
    match csr::public_key(&info.public_key).map_err(|e| BadRequest::Key(e.to_string()))? {
        PublicKey::Rsa { modulus, .. } => {
            let bits = modulus.iter().skip_while(|&&b| b == 0).count() * 8;
            if !(2048..=MAX_RSA_BITS).contains(&bits) {
                return Err(BadRequest::Key(format!(
                    "RSA of {bits} bits (2048 to {MAX_RSA_BITS} are taken)"
                )));
            }
        }
        PublicKey::Ec { .. } => {}
    }
    Ok(der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::{KeyKind, SoftwareKey};
    use firma_station_engine::profile::Holder;
    use proptest::prelude::*;

    fn holder() -> Holder {
        Holder {
            given_name: "Ana".into(),
            surnames: "García López".into(),
            nif: "12345678Z".into(),
            email: "ana@example.es".into(),
        }
    }

    fn encoded(der: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(der)
    }

    #[test]
    fn a_signed_p256_request_is_taken_as_sent() {
        let der = SoftwareKey::generate(KeyKind::P256)
            .unwrap()
            .request(&holder())
            .unwrap();
        // Line breaks, as a PEM body has them, are ignored.
        let mut text = encoded(&der);
        text.insert(20, '\n');
        assert_eq!(parse(&text), Ok(der));
    }

    #[test]
    fn a_request_whose_signature_is_not_its_keys_is_refused() {
        let mut der = SoftwareKey::generate(KeyKind::P256)
            .unwrap()
            .request(&holder())
            .unwrap();
        // The last byte is the signature's.
        let last = der.len() - 1;
        der[last] ^= 1;
        assert!(matches!(parse(&encoded(&der)), Err(BadRequest::Invalid(_))));
    }

    #[test]
    fn what_is_not_base64_or_a_request_is_refused() {
        assert_eq!(parse("not base64!"), Err(BadRequest::NotBase64));
        assert!(matches!(
            parse(&encoded(b"hello")),
            Err(BadRequest::Invalid(_))
        ));
        assert!(matches!(parse(""), Err(BadRequest::Invalid(_))));
    }

    proptest! {
        #[test]
        fn any_field_is_parsed_without_panicking(field in ".{0,600}") {
            let _ = parse(&field);
        }

        #[test]
        fn any_der_is_parsed_without_panicking(der in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert!(parse(&encoded(&der)).is_err());
        }

        #[test]
        fn a_request_with_any_bit_flipped_is_refused(
            at in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let mut der = SoftwareKey::generate(KeyKind::P256).unwrap().request(&holder()).unwrap();
            let i = at.index(der.len());
            der[i] ^= 1 << bit;
            prop_assert!(parse(&encoded(&der)).is_err(), "byte {i} bit {bit}");
        }
    }
}
