//! The CMP decoder: what a CA (or anyone on the network) sends the station,
//! and what an RA sends a CA. Any bytes are read or refused, never a panic;
//! a message that reads is written again and its protection checked (against
//! its own first extraCert, so that the signature check runs on any input).
#![no_main]

use firma_station_engine::ca::cmp::{protection, Body, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::from_der(data) {
        let _ = m.to_der();
        if let Some(signer) = m.extra_certs.first() {
            let _ = protection::verify(&m, signer);
        }
    }
    let _ = Body::from_der(data);
});
