//! The PIV applet in process: security status, error status words, chaining,
//! and answers checked with RustCrypto outside the card.

use firma_apdu::tlv::{self, Tlv};
use firma_apdu::transport::Transport;
use firma_apdu::{Command, StatusWord};
use firma_vcard::mgmt::{MgmAlgorithm, MgmKey};
use firma_vcard::VirtualCard;
use proptest::prelude::*;

fn send(card: &mut VirtualCard, cmd: Command) -> (Vec<u8>, StatusWord) {
    let (data, sw) = card.transmit(&cmd).expect("in-process transport");
    (data.to_vec(), sw)
}

fn sw(card: &mut VirtualCard, cmd: Command) -> StatusWord {
    send(card, cmd).1
}

fn pin_field(pin: &[u8]) -> Vec<u8> {
    let mut f = pin.to_vec();
    f.resize(8, 0xFF);
    f
}

fn verify(card: &mut VirtualCard, pin: &[u8]) -> StatusWord {
    sw(
        card,
        Command::new(0, 0x20, 0, 0x80).with_data(pin_field(pin)),
    )
}

/// Mutual authentication with the management key, as a host does it.
fn authenticate(card: &mut VirtualCard, key: &MgmKey) -> StatusWord {
    let block = key.algorithm().block_len();
    let alg = key.algorithm().id();
    let step1 = Command::new(0, 0x87, alg, 0x9B).with_data(vec![0x7C, 0x02, 0x80, 0x00]);
    let (resp, status) = send(card, step1);
    if !status.is_success() {
        return status;
    }
    let inner = Tlv::find(&resp, 0x7C).unwrap();
    let sealed = Tlv::find(inner, 0x80).unwrap();
    let witness = key.crypt(sealed, false).unwrap();
    let challenge = vec![0x5A; block];
    let mut t = tlv::encode(0x80, &witness);
    tlv::push(&mut t, 0x81, &challenge);
    tlv::push(&mut t, 0x82, &[]);
    let (resp, status) = send(
        card,
        Command::new(0, 0x87, alg, 0x9B).with_data(tlv::encode(0x7C, &t)),
    );
    if status.is_success() {
        let answer = Tlv::find(Tlv::find(&resp, 0x7C).unwrap(), 0x82).unwrap();
        assert_eq!(
            &key.crypt(&challenge, true).unwrap()[..],
            answer,
            "the card proves it holds the key"
        );
    }
    status
}

fn default_key() -> MgmKey {
    MgmKey::default_key()
}

fn generate(card: &mut VirtualCard, slot: u8, alg: u8) -> (Vec<u8>, StatusWord) {
    let data = tlv::encode(0xAC, &tlv::encode(0x80, &[alg]));
    send(card, Command::new(0, 0x47, 0, slot).with_data(data))
}

fn get_data(card: &mut VirtualCard, tag: &[u8]) -> (Vec<u8>, StatusWord) {
    send(
        card,
        Command::new(0, 0xCB, 0x3F, 0xFF)
            .with_data(tlv::encode(0x5C, tag))
            .with_le(256),
    )
}

fn sign_request(alg: u8, slot: u8, input: &[u8]) -> Command {
    let mut t = tlv::encode(0x82, &[]);
    tlv::push(&mut t, 0x81, input);
    Command::new(0, 0x87, alg, slot).with_data(tlv::encode(0x7C, &t))
}

#[test]
fn pin_counts_down_blocks_and_unblocks_with_puk() {
    let mut card = VirtualCard::blank(1);
    assert_eq!(
        sw(&mut card, Command::new(0, 0x20, 0, 0x80)),
        StatusWord(0x63C3)
    );
    assert_eq!(verify(&mut card, b"111111"), StatusWord(0x63C2));
    assert_eq!(verify(&mut card, b"123456"), StatusWord::SUCCESS);
    assert_eq!(
        sw(&mut card, Command::new(0, 0x20, 0, 0x80)),
        StatusWord::SUCCESS,
        "verified state reported"
    );
    assert_eq!(
        sw(&mut card, Command::new(0, 0x20, 0xFF, 0x80)),
        StatusWord::SUCCESS
    );
    assert_eq!(
        sw(&mut card, Command::new(0, 0x20, 0, 0x80)),
        StatusWord(0x63C3),
        "reset by P1=FF"
    );
    assert_eq!(verify(&mut card, b"111111"), StatusWord(0x63C2));
    assert_eq!(verify(&mut card, b"111111"), StatusWord(0x63C1));
    assert_eq!(
        verify(&mut card, b"111111"),
        StatusWord::AUTH_METHOD_BLOCKED
    );
    assert_eq!(
        verify(&mut card, b"123456"),
        StatusWord::AUTH_METHOD_BLOCKED
    );
    // Malformed PINs are refused without costing a try.
    let mut puk_new = pin_field(b"12345678");
    puk_new.extend(pin_field(b"12"));
    assert_eq!(
        sw(&mut card, Command::new(0, 0x2C, 0, 0x80).with_data(puk_new)),
        StatusWord::INCORRECT_DATA
    );
    let mut wrong = pin_field(b"87654321");
    wrong.extend(pin_field(b"654321"));
    assert_eq!(
        sw(&mut card, Command::new(0, 0x2C, 0, 0x80).with_data(wrong)),
        StatusWord(0x63C2)
    );
    let mut good = pin_field(b"12345678");
    good.extend(pin_field(b"654321"));
    assert_eq!(
        sw(&mut card, Command::new(0, 0x2C, 0, 0x80).with_data(good)),
        StatusWord::SUCCESS
    );
    assert_eq!(verify(&mut card, b"654321"), StatusWord::SUCCESS);
    // The PUK counter went back to full after the right PUK.
    let meta = send(&mut card, Command::new(0, 0xF7, 0, 0x81)).0;
    assert_eq!(Tlv::find(&meta, 0x06), Some(&[3u8, 3][..]));
    let nine = Command::new(0, 0x20, 0, 0x80).with_data(vec![0x31; 9]);
    assert_eq!(sw(&mut card, nine), StatusWord::INCORRECT_DATA);
    assert_eq!(
        sw(&mut card, Command::new(0, 0x20, 0, 0x80)),
        StatusWord::SUCCESS,
        "no try was spent"
    );
}

#[test]
fn management_key_guards_writes() {
    let mut card = VirtualCard::blank(1);
    let chuid = tlv::encode(0x53, &[0x30, 0x19, 0xD4, 0xE7]);
    let mut put = tlv::encode(0x5C, &[0x5F, 0xC1, 0x02]);
    put.extend_from_slice(&chuid);
    let put = Command::new(0, 0xDB, 0x3F, 0xFF).with_data(put);
    assert_eq!(
        sw(&mut card, put.clone()),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    assert_eq!(
        generate(&mut card, 0x9A, 0x11).1,
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    let wrong = MgmKey::new(MgmAlgorithm::TripleDes, &[9; 24]).unwrap();
    assert_eq!(
        authenticate(&mut card, &wrong),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    let aes = MgmKey::new(MgmAlgorithm::Aes128, &[7; 16]).unwrap();
    assert_eq!(
        authenticate(&mut card, &aes),
        StatusWord::INCORRECT_P1P2,
        "algorithm must match the key"
    );
    assert_eq!(authenticate(&mut card, &default_key()), StatusWord::SUCCESS);
    assert_eq!(sw(&mut card, put), StatusWord::SUCCESS);
    assert_eq!(
        get_data(&mut card, &[0x5F, 0xC1, 0x02]),
        (chuid, StatusWord::SUCCESS)
    );
    // Switch to an AES-192 key; the old one stops working.
    let mut set = vec![0x0A, 0x9B, 24];
    set.extend_from_slice(&[0x42; 24]);
    assert_eq!(
        sw(&mut card, Command::new(0, 0xFF, 0xFF, 0xFF).with_data(set)),
        StatusWord::SUCCESS
    );
    assert_eq!(
        authenticate(&mut card, &default_key()),
        StatusWord::INCORRECT_P1P2
    );
    let aes192 = MgmKey::new(MgmAlgorithm::Aes192, &[0x42; 24]).unwrap();
    assert_eq!(authenticate(&mut card, &aes192), StatusWord::SUCCESS);
    let meta = send(&mut card, Command::new(0, 0xF7, 0, 0x9B)).0;
    assert_eq!(Tlv::find(&meta, 0x01), Some(&[0x0A][..]));
    assert_eq!(
        Tlv::find(&meta, 0x05),
        Some(&[0x00][..]),
        "no longer the default key"
    );
}

#[test]
fn missing_objects_and_protected_objects() {
    let mut card = VirtualCard::blank(1);
    assert_eq!(
        get_data(&mut card, &[0x5F, 0xC1, 0x05]).1,
        StatusWord::FILE_NOT_FOUND
    );
    assert_eq!(
        get_data(&mut card, &[0x5F, 0xC1, 0x09]).1,
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    assert_eq!(
        get_data(&mut card, &[0x12, 0x34, 0x56]).1,
        StatusWord::FILE_NOT_FOUND
    );
    let (disc, status) = get_data(&mut card, &[0x7E]);
    assert!(status.is_success());
    assert_eq!(
        Tlv::find(Tlv::find(&disc, 0x7E).unwrap(), 0x4F).unwrap(),
        firma_vcard::card::PIV_AID
    );
}

#[test]
fn rsa_signature_needs_pin_and_verifies_outside_the_card() {
    use rsa::traits::PublicKeyParts;
    let mut card = VirtualCard::blank(1);
    authenticate(&mut card, &default_key());
    let (public, status) = generate(&mut card, 0x9A, 0x07);
    assert!(status.is_success());
    let template = Tlv::find(&public, 0x7F49).unwrap();
    let n = rsa::BigUint::from_bytes_be(Tlv::find(template, 0x81).unwrap());
    let e = rsa::BigUint::from_bytes_be(Tlv::find(template, 0x82).unwrap());
    let pk = rsa::RsaPublicKey::new(n, e).unwrap();
    assert_eq!(pk.size(), 256);
    // PKCS#1 v1.5 block for SHA-256, built by hand as a host would.
    use sha2::Digest;
    let digest = sha2::Sha256::digest(b"hola");
    let prefix = hex::decode("3031300d060960864801650304020105000420").unwrap();
    let mut block = vec![0x00, 0x01];
    block.resize(256 - prefix.len() - 32 - 1, 0xFF);
    block.push(0x00);
    block.extend_from_slice(&prefix);
    block.extend_from_slice(&digest);
    let req = sign_request(0x07, 0x9A, &block);
    assert_eq!(
        sw(&mut card, req.clone()),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    verify(&mut card, b"123456");
    // A short-APDU host chains the 262-byte command, and the 264-byte answer
    // comes as 256 bytes + 61 08, then GET RESPONSE.
    let data = req.data.clone();
    let (first, last) = data.split_at(255);
    let head = Command::new(0x10, 0x87, 0x07, 0x9A).with_data(first.to_vec());
    assert_eq!(card.process(&head.to_bytes().unwrap()), vec![0x90, 0x00]);
    let tail = Command::new(0x00, 0x87, 0x07, 0x9A)
        .with_data(last.to_vec())
        .with_le(256);
    let raw = card.process(&tail.to_bytes().unwrap());
    assert_eq!((raw.len(), &raw[raw.len() - 2..]), (258, &[0x61, 0x08][..]));
    let rest = card.process(&[0x00, 0xC0, 0x00, 0x00, 0x08]);
    assert_eq!((rest.len(), &rest[8..]), (10, &[0x90, 0x00][..]));
    verify(&mut card, b"123456");
    let (resp, status) = send(&mut card, req);
    assert!(status.is_success());
    let sig = Tlv::find(Tlv::find(&resp, 0x7C).unwrap(), 0x82).unwrap();
    pk.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, sig)
        .expect("signature verifies");
    // Extended length gets it in one answer.
    let mut ext = sign_request(0x07, 0x9A, &block);
    ext.extended = true;
    ext.le = Some(65536);
    let raw = card.process(&ext.to_bytes().unwrap());
    assert_eq!(raw.len(), 264 + 2);
    assert_eq!(&raw[raw.len() - 2..], &[0x90, 0x00]);
    // Wrong algorithm and wrong input length are refused.
    assert_eq!(
        sw(&mut card, sign_request(0x11, 0x9A, &block)),
        StatusWord::INCORRECT_P1P2
    );
    assert_eq!(
        sw(&mut card, sign_request(0x07, 0x9A, &block[..100])),
        StatusWord::INCORRECT_DATA
    );
}

#[test]
fn signature_key_needs_the_pin_right_before_each_use() {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let mut card = VirtualCard::blank(1);
    authenticate(&mut card, &default_key());
    let (public, _) = generate(&mut card, 0x9C, 0x11);
    let point = Tlv::find(Tlv::find(&public, 0x7F49).unwrap(), 0x86).unwrap();
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).unwrap();
    let hash = [0x11u8; 32];
    verify(&mut card, b"123456");
    let (resp, status) = send(&mut card, sign_request(0x11, 0x9C, &hash));
    assert!(status.is_success());
    let der = Tlv::find(Tlv::find(&resp, 0x7C).unwrap(), 0x82).unwrap();
    let sig = p256::ecdsa::Signature::from_der(der).unwrap();
    vk.verify_prehash(&hash, &sig)
        .expect("ECDSA signature verifies");
    // Once used, the PIN must be given again.
    assert_eq!(
        sw(&mut card, sign_request(0x11, 0x9C, &hash)),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
    // An empty VERIFY between VERIFY and the signature ends the grant, as on a real card.
    verify(&mut card, b"123456");
    assert_eq!(
        sw(&mut card, Command::new(0, 0x20, 0, 0x80)),
        StatusWord::SUCCESS
    );
    assert_eq!(
        sw(&mut card, sign_request(0x11, 0x9C, &hash)),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED
    );
}

#[test]
fn ecdh_matches_software() {
    let mut card = VirtualCard::blank(1);
    authenticate(&mut card, &default_key());
    let (public, _) = generate(&mut card, 0x9D, 0x14);
    let point = Tlv::find(Tlv::find(&public, 0x7F49).unwrap(), 0x86).unwrap();
    let card_pk = p384::PublicKey::from_sec1_bytes(point).unwrap();
    let mine = p384::SecretKey::random(&mut rand::rngs::OsRng);
    use p384::elliptic_curve::sec1::ToEncodedPoint;
    let my_point = mine.public_key().to_encoded_point(false);
    verify(&mut card, b"123456");
    let mut t = tlv::encode(0x82, &[]);
    tlv::push(&mut t, 0x85, my_point.as_bytes());
    let (resp, status) = send(
        &mut card,
        Command::new(0, 0x87, 0x14, 0x9D).with_data(tlv::encode(0x7C, &t)),
    );
    assert!(status.is_success());
    let shared = Tlv::find(Tlv::find(&resp, 0x7C).unwrap(), 0x82).unwrap();
    let expected = p384::ecdh::diffie_hellman(mine.to_nonzero_scalar(), card_pk.as_affine());
    assert_eq!(shared, &expected.raw_secret_bytes()[..]);
}

#[test]
fn command_chaining_carries_a_large_object() {
    let mut card = VirtualCard::blank(1);
    authenticate(&mut card, &default_key());
    let cert = vec![0xC3; 1500];
    let mut obj = tlv::encode(0x70, &cert);
    tlv::push(&mut obj, 0x71, &[0]);
    let mut data = tlv::encode(0x5C, &[0x5F, 0xC1, 0x05]);
    data.extend(tlv::encode(0x53, &obj));
    let chunks: Vec<&[u8]> = data.chunks(255).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        let cla = if i + 1 < chunks.len() { 0x10 } else { 0x00 };
        assert!(sw(
            &mut card,
            Command::new(cla, 0xDB, 0x3F, 0xFF).with_data(chunk.to_vec())
        )
        .is_success());
    }
    let (back, status) = get_data(&mut card, &[0x5F, 0xC1, 0x05]);
    assert!(status.is_success());
    assert_eq!(
        Tlv::find(Tlv::find(&back, 0x53).unwrap(), 0x70).unwrap(),
        &cert[..]
    );
    // A chain interrupted by another command is refused, not half-applied.
    assert!(sw(
        &mut card,
        Command::new(0x10, 0xDB, 0x3F, 0xFF).with_data(vec![0x5C])
    )
    .is_success());
    assert_eq!(
        sw(&mut card, Command::new(0, 0xFD, 0, 0)),
        StatusWord::LAST_COMMAND_OF_CHAIN_EXPECTED
    );
}

#[test]
fn unknown_commands_and_applications() {
    let mut card = VirtualCard::blank(1);
    assert_eq!(
        sw(&mut card, Command::new(0, 0x99, 0, 0)),
        StatusWord::INS_NOT_SUPPORTED
    );
    assert_eq!(
        sw(&mut card, Command::new(0x80, 0xFD, 0, 0)),
        StatusWord::CLA_NOT_SUPPORTED
    );
    assert_eq!(card.process(&[0x00, 0xA4]), vec![0x67, 0x00]);
    let other = Command::new(0, 0xA4, 4, 0).with_data(vec![0xD2, 0x76, 0, 1, 0x24, 1]);
    assert_eq!(sw(&mut card, other), StatusWord::FILE_NOT_FOUND);
    assert!(verify(&mut card, b"123456").is_success());
    // Selecting another application drops the PIN, as on a YubiKey.
    let mgmt = Command::new(0, 0xA4, 4, 0).with_data(firma_vcard::card::YUBICO_MGMT_AID.to_vec());
    assert!(sw(&mut card, mgmt).is_success());
    assert_eq!(
        sw(&mut card, Command::new(0, 0xFD, 0, 0)),
        StatusWord::INS_NOT_SUPPORTED
    );
    let piv = Command::new(0, 0xA4, 4, 0).with_data(vec![0xA0, 0, 0, 3, 8]);
    assert!(sw(&mut card, piv).is_success());
    assert_eq!(
        sw(&mut card, Command::new(0, 0x20, 0, 0x80)),
        StatusWord(0x63C3)
    );
    // RESET needs PIN and PUK blocked.
    assert_eq!(
        sw(&mut card, Command::new(0, 0xFB, 0, 0)),
        StatusWord::CONDITIONS_NOT_SATISFIED
    );
}

#[test]
fn state_file_round_trips_and_is_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.json");
    let mut card = VirtualCard::open(path.clone(), 99).unwrap();
    authenticate(&mut card, &default_key());
    let (public, _) = generate(&mut card, 0x9E, 0x11);
    let mut change = pin_field(b"123456");
    change.extend(pin_field(b"24681357"));
    assert!(sw(&mut card, Command::new(0, 0x24, 0, 0x80).with_data(change)).is_success());
    drop(card);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("card.json")],
        "no temporary file left behind"
    );
    let mut again = VirtualCard::open(path.clone(), 1).unwrap();
    assert_eq!(again.serial(), 99);
    assert!(verify(&mut again, b"24681357").is_success());
    let meta = send(&mut again, Command::new(0, 0xF7, 0, 0x9E)).0;
    assert_eq!(
        Tlv::find(&meta, 0x04).unwrap(),
        Tlv::find(&public, 0x7F49).unwrap()
    );
    std::fs::write(&path, b"{ not json").unwrap();
    let err = VirtualCard::open(path, 1).unwrap_err();
    assert!(err.contains("not a card state file"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    /// Any bytes, in any order, get a response with a status word and no panic.
    #[test]
    fn any_apdu_gets_a_status_word(apdus in proptest::collection::vec(
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            (prop_oneof![Just(0x87u8), Just(0x47), Just(0xDB), Just(0xCB), Just(0x20), Just(0x24), Just(0x2C), Just(0xFE), Just(0xF7), Just(0xF9), Just(0xFF), Just(0xFA), Just(0xC0)],
             any::<u8>(), any::<u8>(), proptest::collection::vec(any::<u8>(), 1..200))
                .prop_map(|(ins, p1, p2, data)| Command::new(0, ins, p1, p2).with_data(data).to_bytes().unwrap().to_vec()),
        ], 1..8)) {
        let mut card = VirtualCard::blank(1);
        // Half the runs are authenticated, so the key paths see random input too.
        if apdus.len() % 2 == 0 {
            authenticate(&mut card, &default_key());
        }
        for apdu in apdus {
            let resp = card.process(&apdu);
            prop_assert!(resp.len() >= 2);
        }
    }
}
