//! Certificate-building pieces: X.509 times, serials, key identifiers,
//! extensions, names, signatures, and which keys are certified.

use const_oid::db::rfc4519::{COMMON_NAME, COUNTRY_NAME, ORGANIZATION_NAME};
use const_oid::db::rfc5912::ECDSA_WITH_SHA_256;
use der::asn1::{Any, BitString, GeneralizedTime, OctetString, SetOfVec};
use der::asn1::{PrintableStringRef, UtcTime, Utf8StringRef};
use der::oid::AssociatedOid;
use der::Encode;
use firma_apdu::piv::PublicKey;
use p256::ecdsa::signature::Signer;
use rand::RngCore;
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use time::OffsetDateTime;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;
use x509_cert::{Certificate, TbsCertificate};

use super::CaError;

pub(super) fn x509_time(t: OffsetDateTime) -> Result<Time, CaError> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| CaError::Encoding(der::ErrorKind::DateTime.into()))?;
    let d = std::time::Duration::from_secs(secs);
    Ok(if t.year() < 2050 {
        Time::UtcTime(UtcTime::from_unix_duration(d)?)
    } else {
        Time::GeneralTime(GeneralizedTime::from_unix_duration(d)?)
    })
}

pub(super) fn offset_time(t: &Time) -> OffsetDateTime {
    let secs = i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(super) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| OffsetDateTime::now_utc())
}

/// `t` plus `years` calendar years (29 February becomes 28 February).
pub(super) fn add_years(t: OffsetDateTime, years: i32) -> OffsetDateTime {
    let year = t.year() + years;
    t.replace_year(year)
        .or_else(|_| t.replace_day(28).and_then(|t| t.replace_year(year)))
        .unwrap_or(t + time::Duration::days(365 * i64::from(years)))
}

/// A random positive serial of 16 bytes and its hexadecimal form.
pub(super) fn random_serial() -> Result<(SerialNumber, String), CaError> {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    // Positive, and 16 bytes long once encoded.
    bytes[0] = (bytes[0] & 0x7F) | 0x01;
    let serial = SerialNumber::new(&bytes)?;
    let hex = hex::encode_upper(serial.as_bytes());
    Ok((serial, hex))
}

/// Key identifier: the first 160 bits of the SHA-256 of the subject public key
/// (RFC 7093 §2 method 1).
pub(super) fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha256::digest(spki.subject_public_key.raw_bytes())[..20].to_vec()
}

pub(super) fn extension<T: Encode + AssociatedOid>(
    value: &T,
    critical: bool,
) -> Result<Extension, CaError> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

pub(super) fn pem(label: &str, der: &[u8]) -> Result<String, CaError> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .map_err(|e| CaError::Encoding(e.into()))
}

pub(super) fn ecdsa_with_sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ECDSA_WITH_SHA_256,
        parameters: None,
    }
}

pub(super) fn ca_name(common_name: &str) -> Result<Name, CaError> {
    let attributes = [
        (
            COUNTRY_NAME,
            Any::encode_from(&PrintableStringRef::new("ES")?)?,
        ),
        (
            ORGANIZATION_NAME,
            Any::encode_from(&Utf8StringRef::new("Firma")?)?,
        ),
        (
            COMMON_NAME,
            Any::encode_from(&Utf8StringRef::new(common_name)?)?,
        ),
    ];
    let mut rdns = Vec::new();
    for (oid, value) in attributes {
        let mut set = SetOfVec::new();
        set.insert(AttributeTypeAndValue { oid, value })?;
        rdns.push(RelativeDistinguishedName(set));
    }
    Ok(RdnSequence(rdns))
}

/// Normalizes a serial typed by an operator: hex digits, uppercase, no
/// colons or spaces.
pub(super) fn normalize_serial(serial: &str) -> Result<String, CaError> {
    let s: String = serial
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect::<String>()
        .to_uppercase();
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(CaError::UnknownSerial(serial.to_string()));
    }
    Ok(s)
}

pub(super) fn sign_certificate(
    key: &p256::ecdsa::SigningKey,
    tbs: TbsCertificate,
) -> Result<Vec<u8>, CaError> {
    let sig: p256::ecdsa::DerSignature = key.sign(&tbs.to_der()?);
    Ok(Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_with_sha256(),
        signature: BitString::from_bytes(sig.as_bytes())?,
    }
    .to_der()?)
}

/// Checks that a key is one the CA certifies: RSA-2048 or larger, P-256, P-384.
pub(super) fn check_key(key: &PublicKey) -> Result<(), CaError> {
    match key {
        PublicKey::Rsa { modulus, .. } => {
            let m = &modulus[modulus.iter().take_while(|&&b| b == 0).count()..];
            let bits = m.len() * 8 - m.first().map_or(8, |b| b.leading_zeros() as usize);
            if bits < 2048 {
                return Err(CaError::UnsupportedKey(format!(
                    "RSA-{bits} is too short (RSA-2048 or larger, ECC P-256 or P-384)"
                )));
            }
            Ok(())
        }
        PublicKey::Ec { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_years() {
        let leap = time::macros::datetime!(2028-02-29 10:00 UTC);
        assert_eq!(
            add_years(leap, 3),
            time::macros::datetime!(2031-02-28 10:00 UTC)
        );
        let t = time::macros::datetime!(2026-11-25 06:00 UTC);
        assert_eq!(
            add_years(t, 3),
            time::macros::datetime!(2029-11-25 06:00 UTC)
        );
        assert!(matches!(x509_time(t).unwrap(), Time::UtcTime(_)));
        assert!(matches!(
            x509_time(time::macros::datetime!(2050-01-01 0:00 UTC)).unwrap(),
            Time::GeneralTime(_)
        ));
    }
}
