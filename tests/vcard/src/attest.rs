//! Attestation (Yubico extension, slot F9): the card's attestation key signs a
//! certificate for a key it generated, proving the key was made on the card.

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::asn1::{BitString, GeneralizedTime, ObjectIdentifier, OctetString, UtcTime};
use der::{Decode, Encode};
use p256::ecdsa::signature::Signer;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
// Yubico's attestation extensions (yubico-piv-tool's documentation).
const OID_FIRMWARE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.3");
const OID_SERIAL: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.7");
const OID_POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.8");
const OID_FORM_FACTOR: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.41482.3.9");

/// What the attestation certificate states about the attested key.
pub struct Attested<'a> {
    pub slot: u8,
    pub spki_der: &'a [u8],
    pub serial: u32,
    pub version: [u8; 3],
    pub pin_policy: u8,
    pub touch_policy: u8,
}

/// The self-signed certificate of the card's attestation key (object 5FFF01).
pub fn self_signed(key: &p256::SecretKey, serial: u32) -> Vec<u8> {
    let name = format!("CN=Firma Virtual PIV Attestation {serial}");
    let spki = key.public_key().to_public_key_der_vec();
    let ca = x509_cert::ext::pkix::BasicConstraints {
        ca: true,
        path_len_constraint: None,
    };
    let mut basic = ext(
        OID_BASIC_CONSTRAINTS,
        ca.to_der().expect("basic constraints"),
    );
    basic.critical = true;
    build(key, &name, &name, &spki, vec![basic])
}

/// A certificate for the key in `what.slot`, issued by the attestation key.
pub fn attest(key: &p256::SecretKey, issuer_cert: &[u8], what: &Attested) -> Option<Vec<u8>> {
    let issuer = Certificate::from_der(issuer_cert)
        .ok()?
        .tbs_certificate
        .subject
        .to_string();
    let subject = format!("CN=YubiKey PIV Attestation {:02x}", what.slot);
    let exts = vec![
        ext(OID_FIRMWARE, what.version.to_vec()),
        ext(OID_SERIAL, u64::from(what.serial).to_der().ok()?),
        ext(OID_POLICY, vec![what.pin_policy, what.touch_policy]),
        ext(OID_FORM_FACTOR, vec![0x01]),
    ];
    Some(build(key, &issuer, &subject, what.spki_der, exts))
}

fn ext(oid: ObjectIdentifier, value: Vec<u8>) -> Extension {
    Extension {
        extn_id: oid,
        critical: false,
        extn_value: OctetString::new(value).expect("small extension value"),
    }
}

trait SpkiVec {
    fn to_public_key_der_vec(&self) -> Vec<u8>;
}

impl SpkiVec for p256::PublicKey {
    fn to_public_key_der_vec(&self) -> Vec<u8> {
        use p256::pkcs8::EncodePublicKey;
        self.to_public_key_der().expect("SPKI encoding").into_vec()
    }
}

/// Builds and signs a certificate. All inputs are made by the card itself,
/// so encoding failures are programming errors.
fn build(
    key: &p256::SecretKey,
    issuer: &str,
    subject: &str,
    spki: &[u8],
    exts: Vec<Extension>,
) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let now = Duration::from_secs(now.as_secs());
    let not_after = GeneralizedTime::from_date_time(
        der::DateTime::new(9999, 12, 31, 23, 59, 59).expect("valid date"),
    );
    let mut serial = [0u8; 16];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut serial[..]);
    serial[0] &= 0x7F;
    serial[0] |= 0x01;
    let alg = AlgorithmIdentifierOwned {
        oid: ECDSA_WITH_SHA256,
        parameters: None,
    };
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&serial).expect("serial"),
        signature: alg.clone(),
        issuer: Name::from_str(issuer).expect("issuer name"),
        validity: Validity {
            not_before: Time::UtcTime(UtcTime::from_unix_duration(now).expect("time")),
            not_after: Time::GeneralTime(not_after),
        },
        subject: Name::from_str(subject).expect("subject name"),
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(spki).expect("SPKI"),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: (!exts.is_empty()).then_some(exts),
    };
    let tbs_der = tbs.to_der().expect("TBS encoding");
    let signer = p256::ecdsa::SigningKey::from(key);
    let sig: p256::ecdsa::Signature = signer.sign(&tbs_der);
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(sig.to_der().as_bytes()).expect("signature"),
    };
    cert.to_der().expect("certificate encoding")
}
