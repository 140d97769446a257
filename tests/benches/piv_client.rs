//! firma-apdu's PIV client through the full PC/SC path (pcscd + vpcd +
//! firma-vcard): time and APDU count of the operations everything else is
//! built from, with short and with extended APDUs.
//!
//! Run with `scripts/bench.sh`.

use std::time::Instant;

use firma_apdu::piv::padding::pkcs1_sign_block;
use firma_apdu::piv::{Algorithm, ApduMode, ManagementKey, Pin, Piv, Slot};
use firma_apdu::transport::{PcscTransport, Traced};
use firma_tests::{ok, CardOptions, Pcscd};

type Client = Piv<Traced<PcscTransport>>;

fn measure(piv: &mut Client, what: &str, mode: ApduMode, n: u32, mut op: impl FnMut(&mut Client)) {
    piv.transport().reset_count();
    let start = Instant::now();
    for _ in 0..n {
        op(piv);
    }
    let elapsed = start.elapsed();
    let apdus = piv.transport().count() as f64 / f64::from(n);
    println!(
        "| {what:<28} | {:<8} | {n:>5} | {:>8.3} ms | {apdus:>5.1} |",
        format!("{mode:?}"),
        elapsed.as_secs_f64() * 1e3 / f64::from(n)
    );
}

fn main() {
    let rig = Pcscd::start().expect("rig");
    // libpcsclite reads the socket path once per process, before any thread.
    std::env::set_var("PCSCLITE_CSOCK_NAME", rig.socket());
    let _card = rig.insert(0, &CardOptions::default()).unwrap();
    ok(&mut rig.yubico(0, &["-a", "generate", "-s", "9a", "-A", "RSA2048"]));
    ok(&mut rig.yubico(0, &["-a", "generate", "-s", "9d", "-A", "ECCP256"]));
    let ctx = firma_apdu::transport::pcsc_context().unwrap();
    let mut piv = Piv::new(Traced::new(
        PcscTransport::connect(&ctx, &rig.reader(0)).unwrap(),
    ));
    piv.select().unwrap();
    piv.authenticate(&ManagementKey::default_key()).unwrap();
    let cert: Vec<u8> = (0..1500u32).map(|i| (i * 31 % 256) as u8).collect();
    piv.write_certificate(Slot::Authentication, &cert, false)
        .unwrap();
    let pin = Pin::new("123456").unwrap();
    let block = pkcs1_sign_block(&[0x42; 51], 256).unwrap();
    let hash = [0x17u8; 32];

    println!("| operation                    | mode     |     n |   per op    | APDUs |");
    println!("|------------------------------|----------|-------|-------------|-------|");
    for mode in [ApduMode::Short, ApduMode::Extended] {
        piv.set_mode(mode);
        measure(&mut piv, "SELECT", mode, 300, |p| {
            p.select().unwrap();
        });
        measure(&mut piv, "VERIFY PIN", mode, 300, |p| {
            p.verify_pin(&pin).unwrap()
        });
        measure(&mut piv, "read 1.5 KB certificate", mode, 300, |p| {
            assert_eq!(
                p.read_certificate(Slot::Authentication)
                    .unwrap()
                    .map(|c| c.len()),
                Some(1500)
            );
        });
        measure(&mut piv, "RSA-2048 signature", mode, 40, |p| {
            p.private_operation(Slot::Authentication, Algorithm::Rsa2048, &block)
                .unwrap();
        });
        measure(&mut piv, "P-256 signature", mode, 300, |p| {
            p.private_operation(Slot::KeyManagement, Algorithm::EccP256, &hash)
                .unwrap();
        });
    }
}
