//! `firma-station readers` and `firma-station card` on cards that
//! yubico-piv-tool prepared, through pcscd and vpcd.

use firma_tests::{bin, ok, personalize, CardOptions, Pcscd};

#[test]
fn readers_and_card_show_what_is_there() {
    let rig = Pcscd::start().expect("rig");
    let _card = rig
        .insert(
            0,
            &CardOptions {
                serial: Some(31337),
                ..Default::default()
            },
        )
        .unwrap();
    let _keys = personalize(
        &rig,
        0,
        &[("9c", "ECCP256")],
        "GARCIA LOPEZ ANA - 12345678Z",
    );
    ok(&mut rig.yubico(0, &["-a", "change-pin", "-P", "123456", "-N", "192837"]));

    let out = ok(rig.command(bin("firma-station")).arg("readers"));
    assert!(
        out.contains("Yubico Firma Virtual 00 00: card present"),
        "{out}"
    );
    assert!(
        out.contains("PIV card, version 5.4.3, serial 31337, PIN tries left 3"),
        "{out}"
    );
    assert!(out.contains("Yubico Firma Virtual 00 01: empty"), "{out}");

    let out = ok(rig
        .command(bin("firma-station"))
        .args(["card", "--reader", "00 00"]));
    assert!(out.contains("serial: 31337"), "{out}");
    assert!(
        out.contains("PIN: 3 tries left\n"),
        "changed PIN is not the default: {out}"
    );
    assert!(
        out.contains("PUK: 3 tries left (still the factory default)"),
        "{out}"
    );
    assert!(
        out.contains("management key: 3DES (still the factory default)"),
        "{out}"
    );
    assert!(
        out.contains(
            "slot 9C Digital Signature:\n    key ECC P-256, generated on the card, PIN Always"
        ),
        "{out}"
    );
    assert!(
        out.contains("subject: CN=GARCIA LOPEZ ANA - 12345678Z,C=ES"),
        "{out}"
    );
    assert!(
        out.contains("issuer: CN=Firma Test CA (not for production),O=Firma Test,C=ES"),
        "{out}"
    );
    assert!(
        !out.contains("slot 9A"),
        "empty slots are not listed: {out}"
    );

    let out = firma_tests::fails(
        rig.command(bin("firma-station"))
            .args(["card", "--reader", "nope"]),
    );
    assert!(out.contains("no reader matches \"nope\""), "{out}");
}

#[test]
fn a_plain_piv_card_shows_less_but_works() {
    let rig = Pcscd::start().expect("rig");
    let _card = rig
        .insert(
            1,
            &CardOptions {
                plain_piv: true,
                ..Default::default()
            },
        )
        .unwrap();
    let out = ok(rig.command(bin("firma-station")).args(["card"]));
    assert!(
        out.contains("version: not reported (no Yubico extensions)"),
        "{out}"
    );
    assert!(out.contains("PIN: 3 tries left"), "{out}");
    assert!(!out.contains("serial"), "{out}");
}

/// A Nitrokey 3 keeps no metadata: `card` shows what it reports and says
/// which details it does not report, rather than leaving them out.
#[test]
fn card_says_what_a_nitrokey_does_not_report() {
    let rig = Pcscd::start().expect("rig");
    let _card = rig
        .insert(
            0,
            &CardOptions {
                kind: firma_tests::CardKind::Nitrokey,
                ..Default::default()
            },
        )
        .unwrap();
    // `readers` selects with the full AID: the card's apdu-dispatch refuses
    // the 5-byte one yubico-piv-tool sends.
    let out = ok(rig.command(bin("firma-station")).arg("readers"));
    assert!(
        out.contains("PIV card, version 6.6.6, serial 5437251, PIN tries left 3"),
        "{out}"
    );
    let out = ok(rig
        .command(bin("firma-station"))
        .args(["card", "--reader", "00 00"]));
    for line in [
        "application: Nitrokey PIV (APDUs: Short)",
        "serial: 5437251",
        "PIN: 3 tries left",
        "PUK: tries left not reported by this card",
        "management key: algorithm not reported by this card",
    ] {
        assert!(out.contains(line), "{line}:\n{out}");
    }
}
