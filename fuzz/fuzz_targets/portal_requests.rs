//! What the generation portal reads from a citizen's browser before the
//! Generation Code is looked at: the certificate request field of the
//! browser way (`request::parse`), as sent (any text) and as base64 of any
//! bytes (so that the DER parser and the key checks are reached). A request
//! taken is one the CA signs: a valid PKCS#10 whose DER is returned as sent.
#![no_main]

use base64::Engine;
use firma_portal::request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = request::parse(text);
    }
    let field = base64::engine::general_purpose::STANDARD.encode(data);
    if let Ok(der) = request::parse(&field) {
        assert_eq!(der, data, "a request taken is returned as sent");
    }
});
