//! The CMP protection certificate: the key `firma-ca` signs its responses
//! with, certified by the CA for that purpose only (digitalSignature,
//! id-kp-cmcCA; RFC 9483 §3.1). The CA's own key stays for certificates
//! and CRLs, whose certificate allows only keyCertSign and cRLSign (an RA
//! such as OpenSSL's refuses a response signed under that key usage).
//!
//! Made on first `serve` (or `init`) as `cmp.key` (0600) and `cmp.pem`.

use std::path::Path;

use der::asn1::{BitString, OctetString};
use der::oid::ObjectIdentifier;
use der::{Decode, Encode};
use firma_station_engine::ca::cmp::RaCredential;
use firma_station_engine::ca::CaError;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand::RngCore;
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, EncodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};
use zeroize::Zeroizing;

const KEY: &str = "cmp.key";
const CERT: &str = "cmp.pem";
/// id-kp-cmcCA (RFC 6402): a CA's key for CMC/CMP messages.
const KP_CMC_CA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.27");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

fn failed(path: &Path, why: impl ToString) -> CaError {
    CaError::Unreadable {
        path: path.to_path_buf(),
        reason: why.to_string(),
    }
}

fn ext<T: Encode + der::oid::AssociatedOid>(v: &T, critical: bool) -> Result<Extension, CaError> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(v.to_der()?)?,
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CaError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let io = |source| CaError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = options.open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

/// The responder credential of the CA in `dir`, made if it is not there.
pub fn ensure(dir: &Path) -> Result<RaCredential, CaError> {
    let key_path = dir.join(KEY);
    let cert_path = dir.join(CERT);
    if !key_path.exists() || !cert_path.exists() {
        make(dir)?;
    }
    RaCredential::from_files(&key_path, &cert_path).map_err(|e| failed(&key_path, e))
}

fn make(dir: &Path) -> Result<(), CaError> {
    let ca_key_path = dir.join("ca.key");
    let ca_pem = std::fs::read(dir.join("ca.pem")).map_err(|e| failed(&dir.join("ca.pem"), e))?;
    let (_, ca_der) = der::pem::decode_vec(&ca_pem).map_err(|e| failed(&dir.join("ca.pem"), e))?;
    let ca = Certificate::from_der(&ca_der)?;
    let ca_key_pem =
        Zeroizing::new(std::fs::read_to_string(&ca_key_path).map_err(|e| failed(&ca_key_path, e))?);
    let ca_key = p256::ecdsa::SigningKey::from(
        p256::SecretKey::from_pkcs8_pem(&ca_key_pem).map_err(|e| failed(&ca_key_path, e))?,
    );

    let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let spki_der = key
        .verifying_key()
        .to_public_key_der()
        .map_err(|e| failed(&dir.join(KEY), e))?;
    let spki = SubjectPublicKeyInfoOwned::from_der(spki_der.as_bytes())?;
    let key_id = Sha256::digest(spki.subject_public_key.raw_bytes())[..20].to_vec();
    let ca_key_id = ca
        .tbs_certificate
        .get::<SubjectKeyIdentifier>()
        .ok()
        .flatten()
        .map(|(_, s)| s.0.as_bytes().to_vec());

    let cn = ca
        .tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|r| r.0.iter())
        .find(|a| a.oid == ObjectIdentifier::new_unwrap("2.5.4.3"))
        .and_then(|a| std::str::from_utf8(a.value.value()).ok())
        .unwrap_or("Firma CA")
        .replace([',', '+', '=', '"', '\\', '<', '>', ';'], " ");
    let subject: Name = format!("CN={cn} CMP responder,O=Firma,C=ES")
        .parse()
        .map_err(|e: der::Error| failed(&dir.join(CERT), e))?;
    let mut serial = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut serial);
    serial[0] = (serial[0] & 0x7F) | 0x01;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let not_before = Time::UtcTime(der::asn1::UtcTime::from_unix_duration(
        std::time::Duration::from_secs(now.saturating_sub(300)),
    )?);
    let mut extensions = vec![
        ext(
            &BasicConstraints {
                ca: false,
                path_len_constraint: None,
            },
            true,
        )?,
        ext(&KeyUsage(KeyUsages::DigitalSignature.into()), true)?,
        ext(&ExtendedKeyUsage(vec![KP_CMC_CA]), false)?,
        ext(&SubjectKeyIdentifier(OctetString::new(key_id)?), false)?,
    ];
    if let Some(id) = ca_key_id {
        extensions.push(ext(
            &AuthorityKeyIdentifier {
                key_identifier: Some(OctetString::new(id)?),
                ..Default::default()
            },
            false,
        )?);
    }
    let alg = AlgorithmIdentifierOwned {
        oid: ECDSA_WITH_SHA256,
        parameters: None,
    };
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&serial)?,
        signature: alg.clone(),
        issuer: ca.tbs_certificate.subject.clone(),
        // As long as the CA itself.
        validity: Validity {
            not_before,
            not_after: ca.tbs_certificate.validity.not_after,
        },
        subject,
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let sig: p256::ecdsa::DerSignature = ca_key.sign(&tbs.to_der()?);
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(sig.as_bytes())?,
    };
    let pkcs8 = key
        .to_pkcs8_pem(der::pem::LineEnding::LF)
        .map_err(|e| failed(&dir.join(KEY), e))?;
    write_private(&dir.join(KEY), pkcs8.as_bytes())?;
    let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &cert.to_der()?)
        .map_err(|e| CaError::Encoding(e.into()))?;
    std::fs::write(dir.join(CERT), pem).map_err(|source| CaError::Io {
        path: dir.join(CERT),
        source,
    })
}
