//! The citizen card's profile, the design's table in one place: which slot
//! holds which key and with what PIN policy, what each certificate may do
//! (key usage, extended key usage, QC statements), the holder's subject and
//! subjectAltName, and when renewal opens. The CA, the request builder and
//! the activation read it from here.

use std::fmt;

use const_oid::db::rfc4519::{COMMON_NAME, COUNTRY_NAME, GIVEN_NAME, SERIAL_NUMBER, SURNAME};
use const_oid::db::rfc5280::{ID_KP_CLIENT_AUTH, ID_KP_EMAIL_PROTECTION};
use der::asn1::{Any, Ia5String, ObjectIdentifier, PrintableStringRef, SetOfVec, Utf8StringRef};
use der::flagset::FlagSet;
use der::{Encode, Sequence};
use firma_apdu::piv::{PinPolicy, Slot};
use time::{Date, Duration};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{KeyUsages, SubjectAltName};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

/// Renewal opens this many days before the certificates expire (the seed's
/// "70 days before expiry").
pub const RENEWAL_WINDOW_DAYS: i64 = 70;

/// The day renewal opens for certificates that expire on `expiry`.
pub fn renewal_opens(expiry: time::OffsetDateTime) -> time::OffsetDateTime {
    expiry - Duration::days(RENEWAL_WINDOW_DAYS)
}

/// [`renewal_opens`] for a date.
pub fn renewal_opens_on(expiry: Date) -> Date {
    expiry
        .checked_sub(Duration::days(RENEWAL_WINDOW_DAYS))
        .unwrap_or(expiry)
}

/// id-etsi-qcs-QcCompliance (ETSI EN 319 412-5).
const QCS_COMPLIANCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.1");
/// id-etsi-qcs-QcSSCD: the private key is in a qualified signature creation device.
const QCS_SSCD: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.4");
/// id-etsi-qcs-QcType.
const QCS_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.6");
/// id-etsi-qct-esign: a certificate for electronic signatures.
const QCT_ESIGN: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.1862.1.6.1");

/// Whom a certificate is for.
#[derive(Clone, Debug)]
pub struct Holder {
    pub given_name: String,
    pub surnames: String,
    /// NIF or NIE.
    pub nif: String,
    pub email: String,
}

/// The three certificates of a citizen card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// PIV 9A: TLS client authentication.
    Authentication,
    /// PIV 9C: qualified electronic signature.
    Signature,
    /// PIV 9D: decryption and key agreement.
    KeyManagement,
}

impl Profile {
    pub fn slot(self) -> Slot {
        match self {
            Profile::Authentication => Slot::Authentication,
            Profile::Signature => Slot::Signature,
            Profile::KeyManagement => Slot::KeyManagement,
        }
    }

    pub fn for_slot(slot: Slot) -> Option<Self> {
        Self::all().into_iter().find(|p| p.slot() == slot)
    }

    /// The PIN policy of the key: the qualified signature key asks for the
    /// PIN before every signature; the others once per session.
    pub fn pin_policy(self) -> PinPolicy {
        match self {
            Profile::Signature => PinPolicy::Always,
            _ => PinPolicy::Once,
        }
    }

    /// The card's three, in the order an activation makes them.
    pub fn all() -> [Profile; 3] {
        [
            Profile::Authentication,
            Profile::Signature,
            Profile::KeyManagement,
        ]
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Authentication => "authentication (9A)",
            Profile::Signature => "signature (9C)",
            Profile::KeyManagement => "key management (9D)",
        })
    }
}

/// What a certificate is issued as: one of the card's three, or the
/// software certificate of the generation portal (a PKCS#12 file the
/// citizen keeps: signature and authentication in one key, and never
/// qualified, since no secure device holds the key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertProfile {
    Card(Profile),
    Software,
}

impl From<Profile> for CertProfile {
    fn from(p: Profile) -> Self {
        CertProfile::Card(p)
    }
}

impl CertProfile {
    /// The certificate's key usage and extended key usages; the key
    /// management certificate encrypts with RSA and agrees keys with ECC.
    pub fn key_usage(self, rsa: bool) -> (FlagSet<KeyUsages>, Vec<ObjectIdentifier>) {
        match self {
            CertProfile::Card(Profile::Authentication) => (
                KeyUsages::DigitalSignature.into(),
                vec![ID_KP_CLIENT_AUTH, ID_KP_EMAIL_PROTECTION],
            ),
            CertProfile::Card(Profile::Signature) => (KeyUsages::NonRepudiation.into(), vec![]),
            CertProfile::Card(Profile::KeyManagement) if rsa => (
                KeyUsages::KeyEncipherment.into(),
                vec![ID_KP_EMAIL_PROTECTION],
            ),
            CertProfile::Card(Profile::KeyManagement) => {
                (KeyUsages::KeyAgreement.into(), vec![ID_KP_EMAIL_PROTECTION])
            }
            CertProfile::Software => (
                KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
                vec![ID_KP_CLIENT_AUTH, ID_KP_EMAIL_PROTECTION],
            ),
        }
    }

    /// Whether the certificate is qualified and carries [`qc_statements`]:
    /// only the card's signature key, made and kept in the card.
    pub fn is_qualified(self) -> bool {
        self == CertProfile::Card(Profile::Signature)
    }
}

impl fmt::Display for CertProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertProfile::Card(p) => p.fmt(f),
            CertProfile::Software => f.write_str("software certificate"),
        }
    }
}

/// The e-mail address of a holder that cannot go in a certificate.
#[derive(Debug, thiserror::Error)]
#[error("the e-mail address {address:?} cannot go in a certificate: {why}")]
pub struct InvalidEmail {
    pub address: String,
    pub why: &'static str,
}

/// QCStatement (RFC 3739): `SEQUENCE { statementId, statementInfo ANY OPTIONAL }`.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct QcStatement {
    statement_id: ObjectIdentifier,
    #[asn1(optional = "true")]
    statement_info: Option<Any>,
}

/// id-pe-qcStatements (RFC 3739).
pub const PE_QC_STATEMENTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.3");

/// The DER of the ETSI EN 319 412-5 statements of a qualified signature
/// certificate on a card (the value of [`PE_QC_STATEMENTS`]): EU qualified
/// (QcCompliance), key in a qualified signature creation device (QcSSCD),
/// for electronic signatures (QcType esign).
pub fn qc_statements() -> der::Result<Vec<u8>> {
    // QcType ::= SEQUENCE OF OBJECT IDENTIFIER
    let qc_type: Vec<ObjectIdentifier> = vec![QCT_ESIGN];
    vec![
        QcStatement {
            statement_id: QCS_COMPLIANCE,
            statement_info: None,
        },
        QcStatement {
            statement_id: QCS_SSCD,
            statement_info: None,
        },
        QcStatement {
            statement_id: QCS_TYPE,
            statement_info: Some(Any::encode_from(&qc_type)?),
        },
    ]
    .to_der()
}

/// Collapses runs of white space and uppercases (Unicode: "Muñoz" → "MUÑOZ").
fn upper(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// The NIF/NIE as it goes in certificates: uppercase, no white space.
fn nif(holder: &Holder) -> String {
    holder
        .nif
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

fn utf8(s: &str) -> Any {
    // Only a string over 256 MiB fails to encode.
    Any::encode_from(&Utf8StringRef::new(s).expect("a name of sane length"))
        .expect("a name of sane length")
}

/// A PrintableString when `s` fits one, a UTF8String otherwise.
fn printable_or_utf8(s: &str) -> Any {
    match PrintableStringRef::new(s) {
        Ok(p) => Any::encode_from(&p).expect("a name of sane length"),
        Err(_) => utf8(s),
    }
}

/// The subject of every certificate of `holder`: C=ES, givenName, surname,
/// serialNumber=IDCES-<NIF>, CN="<SURNAMES> <GIVEN NAME> - <NIF>".
pub fn subject(holder: &Holder) -> Name {
    let given = upper(&holder.given_name);
    let surnames = upper(&holder.surnames);
    let nif = nif(holder);
    let attributes = [
        (COUNTRY_NAME, printable_or_utf8("ES")),
        (GIVEN_NAME, utf8(&given)),
        (SURNAME, utf8(&surnames)),
        (SERIAL_NUMBER, printable_or_utf8(&format!("IDCES-{nif}"))),
        (COMMON_NAME, utf8(&format!("{surnames} {given} - {nif}"))),
    ];
    RdnSequence(
        attributes
            .into_iter()
            .map(|(oid, value)| {
                let mut set = SetOfVec::new();
                set.insert(AttributeTypeAndValue { oid, value })
                    .expect("a set of one");
                RelativeDistinguishedName(set)
            })
            .collect(),
    )
}

/// subjectAltName with the holder's e-mail (rfc822Name).
pub fn subject_alt_name(holder: &Holder) -> Result<SubjectAltName, InvalidEmail> {
    let address = holder.email.trim();
    let bad = |why| InvalidEmail {
        address: holder.email.clone(),
        why,
    };
    if !address.is_ascii() {
        return Err(bad("only ASCII addresses fit an rfc822Name"));
    }
    match address.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address
                    .chars()
                    .any(|c| c.is_ascii_whitespace() || c.is_ascii_control()) => {}
        _ => return Err(bad("it is not of the form name@domain")),
    }
    let name = Ia5String::new(address).map_err(|_| bad("not an IA5 string"))?;
    Ok(SubjectAltName(vec![GeneralName::Rfc822Name(name)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csr::testing::holder;
    use der::Tagged;

    fn attribute_values(name: &Name) -> Vec<(String, der::Tag, String)> {
        name.0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .map(|atv| {
                (
                    atv.oid.to_string(),
                    atv.value.tag(),
                    String::from_utf8(atv.value.value().to_vec()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn the_subject_is_uppercase_unicode_with_the_nif() {
        let values = attribute_values(&subject(&holder()));
        let expected = [
            ("2.5.4.6", der::Tag::PrintableString, "ES"),
            ("2.5.4.42", der::Tag::Utf8String, "MARÍA JOSÉ"),
            ("2.5.4.4", der::Tag::Utf8String, "MUÑOZ DE LA PEÑA"),
            ("2.5.4.5", der::Tag::PrintableString, "IDCES-12345678Z"),
            (
                "2.5.4.3",
                der::Tag::Utf8String,
                "MUÑOZ DE LA PEÑA MARÍA JOSÉ - 12345678Z",
            ),
        ];
        assert_eq!(values.len(), expected.len());
        for ((oid, tag, value), (eoid, etag, evalue)) in values.iter().zip(expected) {
            assert_eq!((oid.as_str(), *tag, value.as_str()), (eoid, etag, evalue));
        }
    }

    #[test]
    fn each_profile_has_its_slot_and_name() {
        for p in Profile::all() {
            assert_eq!(Profile::for_slot(p.slot()), Some(p));
        }
        assert_eq!(Profile::for_slot(Slot::CardAuthentication), None);
        assert_eq!(Profile::Signature.to_string(), "signature (9C)");
        assert_eq!(Profile::Authentication.to_string(), "authentication (9A)");
        assert_eq!(Profile::KeyManagement.to_string(), "key management (9D)");
    }

    #[test]
    fn renewal_opens_seventy_days_before_expiry() {
        let expiry = time::macros::date!(2029 - 03 - 10);
        assert_eq!(
            renewal_opens_on(expiry),
            time::macros::date!(2028 - 12 - 30)
        );
    }
}
