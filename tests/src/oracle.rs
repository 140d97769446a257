//! What a tool independent of Firma says about the card in a reader, for
//! either card kind: yubico-piv-tool for firma-vcard, OpenSC for the
//! Nitrokey card (yubico-piv-tool selects PIV with a 5-byte AID, which
//! Nitrokey's PIV application refuses).

use std::process::Command;

use crate::{CardKind, Pcscd};

/// A command that succeeds exactly when the card takes `pin`.
pub fn verify_pin(rig: &Pcscd, reader: u8, kind: CardKind, pin: &str) -> Command {
    match kind {
        CardKind::Firma => rig.yubico(reader, &["-a", "verify-pin", "-P", pin]),
        CardKind::Nitrokey => rig.opensc(
            reader,
            &[
                "--login",
                "--pin",
                pin,
                "--list-objects",
                "--type",
                "privkey",
            ],
        ),
    }
}

/// Spends every PIN try with a wrong PIN.
pub fn block_pin(rig: &Pcscd, reader: u8, kind: CardKind) {
    for _ in 0..3 {
        let _ = verify_pin(rig, reader, kind, "999999").output();
    }
}

/// How many certificates the card holds.
pub fn certificate_count(rig: &Pcscd, reader: u8, kind: CardKind) -> usize {
    match kind {
        CardKind::Firma => crate::ok(&mut rig.yubico(reader, &["-a", "status"]))
            .matches("Subject DN:")
            .count(),
        CardKind::Nitrokey => {
            crate::ok(&mut rig.opensc(reader, &["--list-objects", "--type", "cert"]))
                .matches("Certificate Object")
                .count()
        }
    }
}
