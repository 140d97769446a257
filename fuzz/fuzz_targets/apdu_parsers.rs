//! Every parser of firma-apdu on arbitrary bytes: command APDUs, BER-TLV
//! (walked recursively into constructed objects), status words.
#![no_main]

use firma_apdu::{Command, StatusWord, Tlv};
use libfuzzer_sys::fuzz_target;

fn walk(data: &[u8], depth: usize) {
    for t in Tlv::iter(data).flatten() {
        if t.is_constructed() && depth < 8 {
            walk(t.value, depth + 1);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(cmd) = Command::parse(data) {
        let again = Command::parse(&cmd.to_bytes().expect("a parsed command re-encodes")).expect("and parses");
        assert_eq!(again.data, cmd.data);
    }
    walk(data, 0);
    if let [.., a, b] = data {
        let sw = StatusWord::from_bytes(*a, *b);
        let _ = (sw.tries_left(), sw.bytes_remaining(), sw.correct_le(), sw.describe());
    }
});
