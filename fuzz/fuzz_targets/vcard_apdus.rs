//! The virtual card on arbitrary APDU sequences (split on 0xFF):
//! every answer ends in a status word and nothing panics.
#![no_main]

use firma_vcard::VirtualCard;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut card = VirtualCard::blank(1);
    for apdu in data.split(|&b| b == 0xFF).take(16) {
        let resp = card.process(apdu);
        assert!(resp.len() >= 2);
    }
});
