//! What a tool independent of Firma says about the card in a reader, for
//! either card kind: yubico-piv-tool for firma-vcard, OpenSC for the
//! Nitrokey card (yubico-piv-tool selects PIV with a 5-byte AID, which
//! Nitrokey's PIV application refuses).

use std::path::{Path, PathBuf};
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

/// The certificate OpenSC reads for PKCS#11 id `id` (01 = 9A, 02 = 9C,
/// 03 = 9D), written as PEM into `dir`.
pub fn opensc_certificate(rig: &Pcscd, reader: u8, id: &str, dir: &Path) -> PathBuf {
    let der = dir.join(format!("cert-{reader}-{id}.der"));
    let pem = dir.join(format!("cert-{reader}-{id}.pem"));
    crate::ok(&mut rig.opensc(
        reader,
        &[
            "--read-object",
            "--type",
            "cert",
            "--id",
            id,
            "-o",
            der.to_str().unwrap(),
        ],
    ));
    crate::ok(
        Command::new("openssl")
            .args(["x509", "-inform", "DER", "-in"])
            .arg(&der)
            .arg("-out")
            .arg(&pem),
    );
    pem
}

/// A certificate's serial number as the registry writes it (hex, upper case).
pub fn certificate_serial(pem: &Path) -> String {
    let out = crate::ok(
        Command::new("openssl")
            .args(["x509", "-noout", "-serial", "-in"])
            .arg(pem),
    );
    out.trim()
        .trim_start_matches("serial=")
        .to_ascii_uppercase()
}
