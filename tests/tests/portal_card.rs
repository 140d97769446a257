//! The citizen's area entered with the card: Firma Station activates a
//! blank virtual card through pcscd and vpcd, and NSS's tstclnt, with
//! Firma's PKCS#11 module in its database (as Firefox and Chrome load it),
//! logs in with the citizen's PIN and authenticates to the area with the
//! card's PIV Authentication key. The area lists the card's certificates
//! and offers nothing to renew or revoke there: that is the PRU's.

mod portal_rig;

use firma_tests::station::StationDir;
use firma_tests::{CardOptions, Pcscd};
use portal_rig::start_portal_with;

const PIN: &str = "281947";
const NIF: &str = "12345678Z";

#[test]
fn the_card_opens_the_citizens_area_through_firmas_module_in_nss() {
    let rig = Pcscd::start().expect("rig");
    let _card = rig
        .insert(
            0,
            &CardOptions {
                serial: Some(4343),
                ..Default::default()
            },
        )
        .unwrap();
    let st = StationDir::new();
    st.import_csv(
        &rig,
        "given_name,surnames,nif,email,phone,card_serial\n\
         Ana,García López,12345678Z,ana@example.es,+34600111222,4343\n",
    )
    .ok();
    st.identity(&rig, NIF);
    st.activate(&rig, NIF, PIN).ok();

    // The portal needs the station's Generation Code key, made when a
    // station first needs it.
    firma_station_engine::generation_code::CodeKey::open_or_create(st.path()).unwrap();
    let portal = start_portal_with(&st, true, &[], &[]);
    let port: u16 = portal
        .area
        .as_ref()
        .unwrap()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let db_dir = st.path().join("nssdb");
    std::fs::create_dir_all(&db_dir).unwrap();
    let dbarg = firma_tests::nss::db(&rig, &db_dir);
    let page = firma_tests::nss::tls_get(
        &rig,
        &dbarg,
        port,
        // The token's label is the holder's name cut to PKCS#11's 32 bytes.
        "GARCÍA LÓPEZ ANA - 12345678Z:Certificate for PIV Authentication",
        PIN,
        "tls1.2:tls1.3",
        "GET /?lang=en HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
        "</html>",
    );
    assert!(page.contains("HTTP/1.0 200"), "{page}");
    assert!(page.contains("Ana García López (12345678Z)"), "{page}");
    // The card's three certificates by purpose, and nothing to do with
    // them here.
    for purpose in ["identification", "signature", "encryption"] {
        assert!(
            page.contains(&format!("On your card: {purpose}")),
            "{purpose}: {page}"
        );
    }
    assert!(
        !page.contains("/revoke/") && !page.contains("/renew/"),
        "{page}"
    );
    assert!(
        page.contains("renewed and revoked at your Registration Point"),
        "{page}"
    );
}
