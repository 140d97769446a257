//! Every parser of untrusted card answers in firma-apdu's PIV client on
//! arbitrary bytes: certificate objects (with gzip), discovery object, CHUID,
//! public keys (GENERATE answers and 7F49 contents) for every algorithm,
//! GET METADATA, the SELECT application template and the ATR.
#![no_main]

use firma_apdu::piv::container::{self, MAX_CERTIFICATE};
use firma_apdu::piv::{self, Algorithm, Metadata, PublicKey};
use libfuzzer_sys::fuzz_target;

const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::Rsa1024,
    Algorithm::Rsa2048,
    Algorithm::EccP256,
    Algorithm::EccP384,
];

/// What an accepted public key must look like.
fn check_key(alg: Algorithm, key: &PublicKey) {
    assert_eq!(key.algorithm(), alg);
    match key {
        PublicKey::Rsa { modulus, exponent } => {
            assert_eq!(modulus.len(), alg.size());
            assert!(exponent.len() <= 8);
        }
        PublicKey::Ec { point, .. } => {
            assert_eq!(point.len(), 1 + 2 * alg.size());
            assert_eq!(point[0], 0x04);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(der) = container::parse_certificate_object(data) {
        // Plain bodies are returned as they are, so only a gzip body is bounded.
        assert!(der.len() <= data.len().max(MAX_CERTIFICATE));
    }
    let _ = container::parse_discovery(data);
    let _ = container::chuid_guid(data);

    for alg in ALGORITHMS {
        if let Ok(key) = PublicKey::parse_generated(alg, data) {
            check_key(alg, &key);
        }
        if let Ok(key) = PublicKey::parse(alg, data) {
            check_key(alg, &key);
        }
    }

    if let Ok(meta) = Metadata::parse(data) {
        // A later 01 item may change `algorithm` after the key was read, so
        // the key is only checked against itself.
        if let Some(key) = &meta.public_key {
            check_key(key.algorithm(), key);
        }
    }

    let _ = piv::parse_application_template(data);
    let _ = piv::atr_announces_extended_length(data);
});
