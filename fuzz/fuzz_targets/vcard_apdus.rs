//! The virtual card on arbitrary APDU sequences: every answer ends in a
//! status word and nothing panics.
//!
//! Input: up to 16 APDUs, each preceded by its length in one byte (a last,
//! truncated APDU takes what is left). A length prefix rather than a separator
//! byte, so that every byte value can occur inside an APDU: `3F FF` (GET/PUT
//! DATA), `FF` PIN padding, INS `FF` (SET MANAGEMENT KEY), P1 `FF` (RESET).
#![no_main]

use firma_vcard::VirtualCard;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut card = VirtualCard::blank(1);
    let mut rest = data;
    for _ in 0..16 {
        let Some((&len, tail)) = rest.split_first() else {
            break;
        };
        let (apdu, next) = tail.split_at(usize::from(len).min(tail.len()));
        rest = next;
        let resp = card.process(apdu);
        assert!(resp.len() >= 2);
    }
});
