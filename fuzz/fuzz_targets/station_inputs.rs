//! What the station reads from outside: certificate requests (from cards
//! and, with a remote CA, the network), application files (CSV and JSON),
//! identity document numbers and dates, application names typed by an
//! operator, and Generation Codes typed by citizens. Any input is read or
//! refused, never a panic.
#![no_main]

use firma_station_engine::identity::{self, IdentityDocument, Nif};
use firma_station_engine::generation_code::{GenerationCode, ALPHABET, LENGTH};
use firma_station_engine::registry::AppKey;
use firma_station_engine::{applications, csr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = csr::check(data);
    let text = String::from_utf8_lossy(data);
    let _ = applications::parse(&text, true);
    let _ = applications::parse(&text, false);
    let _ = applications::parse(
        &format!("given_name,surnames,nif,email,phone,card_serial\n{text}"),
        false,
    );
    if let Ok(nif) = Nif::parse(&text) {
        // An accepted number parses again to itself.
        assert_eq!(Nif::parse(nif.as_str()).unwrap(), nif);
    }
    let mut parts = text.splitn(4, '|');
    let (kind, number, support, expires) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next(),
        parts.next().unwrap_or(""),
    );
    let today = time::OffsetDateTime::now_utc().date();
    let _ = IdentityDocument::check(kind, number, support, expires, today);
    if let Ok(kind) = kind.parse() {
        let _ = identity::support_number(kind, number);
    }
    let _: Result<AppKey, _> = text.parse();
    if let Ok(code) = GenerationCode::parse(&text) {
        // Only codes of the alphabet, and their printed form reads back.
        assert_eq!(code.expose().len(), LENGTH);
        assert!(code.expose().bytes().all(|b| ALPHABET.contains(&b)));
        assert_eq!(GenerationCode::parse(&code.grouped()).unwrap(), code);
    }
});
