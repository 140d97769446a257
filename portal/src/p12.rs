//! The PKCS#12 file the citizen downloads (RFC 7292), assembled here from
//! RustCrypto's ASN.1 types (`pkcs12`, `cms`, `pkcs5`) so that the key's
//! plaintext is only ever in this module's zeroizing buffers: the key bag
//! is encrypted in place. What the file holds, as the portal's page script
//! writes it too (`web/browser.js`):
//!
//! - a plain safe with the key as a PKCS#8 shrouded key bag, PBES2 with
//!   PBKDF2-HMAC-SHA-256 and AES-256-CBC;
//! - a safe encrypted the same way with the certificates, leaf first;
//! - the leaf's and the key's bags carry the friendly name and a local key
//!   id (the first 20 bytes of the leaf's SHA-256), which pair them;
//! - an HMAC-SHA-256 MAC keyed by the PKCS#12 KDF (RFC 7292 B.2).

use cms::content_info::ContentInfo;
use cms::encrypted_data::EncryptedData;
use cms::enveloped_data::EncryptedContentInfo;
use const_oid::db::rfc5911::{ID_DATA, ID_ENCRYPTED_DATA};
use const_oid::db::rfc5912::ID_SHA_256;
use der::asn1::{Any, BmpString, OctetString, SetOfVec};
use der::Encode;
use hmac::{Hmac, Mac};
use pkcs5::pbes2;
use rand::RngCore;
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use zeroize::Zeroizing;

/// PKCS#9 friendlyName and localKeyId (RFC 2985).
const FRIENDLY_NAME: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
const LOCAL_KEY_ID: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");

/// Why no file was written.
#[derive(Debug, thiserror::Error)]
pub enum P12Error {
    #[error("encoding: {0}")]
    Der(#[from] der::Error),
    #[error("encryption: {0}")]
    Pbes2(String),
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// `plaintext` encrypted under `password` with fresh PBES2 parameters, in
/// a zeroizing buffer; the algorithm identifier and the ciphertext.
fn encrypt(
    plaintext: &[u8],
    password: &str,
    iterations: u32,
) -> Result<(AlgorithmIdentifierOwned, Vec<u8>), P12Error> {
    let salt: [u8; 32] = random();
    let iv: [u8; 16] = random();
    let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(iterations, &salt, &iv)
        .map_err(|e| P12Error::Pbes2(e.to_string()))?;
    let mut buffer = Zeroizing::new(Vec::with_capacity(plaintext.len() + 16));
    buffer.extend_from_slice(plaintext);
    buffer.extend_from_slice(&[0u8; 16]);
    let ciphertext = params
        .encrypt_in_place(password, &mut buffer, plaintext.len())
        .map_err(|e| P12Error::Pbes2(e.to_string()))?
        .to_vec();
    let algorithm = AlgorithmIdentifierOwned {
        oid: pbes2::PBES2_OID,
        parameters: Some(Any::encode_from(&params)?),
    };
    Ok((algorithm, ciphertext))
}

/// The bag attributes that pair the key and its certificate.
fn attributes(name: &str, key_id: &[u8]) -> Result<SetOfVec<Attribute>, P12Error> {
    let one = |oid, value: Any| -> Result<Attribute, P12Error> {
        Ok(Attribute {
            oid,
            values: SetOfVec::try_from(vec![value])?,
        })
    };
    Ok(SetOfVec::try_from(vec![
        one(
            FRIENDLY_NAME,
            Any::encode_from(&BmpString::from_utf8(name)?)?,
        )?,
        one(LOCAL_KEY_ID, Any::encode_from(&OctetString::new(key_id)?)?)?,
    ])?)
}

fn data(content: &[u8]) -> Result<ContentInfo, P12Error> {
    Ok(ContentInfo {
        content_type: ID_DATA,
        content: Any::encode_from(&OctetString::new(content)?)?,
    })
}

/// The file: the key (`pkcs8`, DER), the certificates (`chain`, leaf
/// first), under `password` with `iterations` of PBKDF2 for the key, the
/// certificates and the MAC.
pub fn write(
    pkcs8: &[u8],
    chain: &[&[u8]],
    password: &str,
    friendly_name: &str,
    iterations: u32,
) -> Result<Vec<u8>, P12Error> {
    let leaf = chain.first().copied().unwrap_or_default();
    let key_id = &Sha256::digest(leaf)[..20];

    let (algorithm, encrypted) = encrypt(pkcs8, password, iterations)?;
    let shrouded = ::pkcs12::pbe_params::EncryptedPrivateKeyInfo {
        encryption_algorithm: algorithm,
        encrypted_data: OctetString::new(encrypted)?,
    };
    let key_bag = ::pkcs12::safe_bag::SafeBag {
        bag_id: ::pkcs12::PKCS_12_PKCS8_KEY_BAG_OID,
        bag_value: shrouded.to_der()?,
        bag_attributes: Some(attributes(friendly_name, key_id)?),
    };
    let key_safe = data(&vec![key_bag].to_der()?)?;

    let cert_bags = chain
        .iter()
        .enumerate()
        .map(|(i, der)| {
            let bag = ::pkcs12::cert_type::CertBag {
                cert_id: ::pkcs12::PKCS_12_X509_CERT_OID,
                cert_value: OctetString::new(*der)?,
            };
            Ok(::pkcs12::safe_bag::SafeBag {
                bag_id: ::pkcs12::PKCS_12_CERT_BAG_OID,
                bag_value: bag.to_der()?,
                bag_attributes: (i == 0)
                    .then(|| attributes(friendly_name, key_id))
                    .transpose()?,
            })
        })
        .collect::<Result<Vec<_>, P12Error>>()?;
    let (algorithm, encrypted) = encrypt(&cert_bags.to_der()?, password, iterations)?;
    let cert_safe = ContentInfo {
        content_type: ID_ENCRYPTED_DATA,
        content: Any::encode_from(&EncryptedData {
            version: cms::content_info::CmsVersion::V0,
            enc_content_info: EncryptedContentInfo {
                content_type: ID_DATA,
                content_enc_alg: algorithm,
                encrypted_content: Some(OctetString::new(encrypted)?),
            },
            unprotected_attrs: None,
        })?,
    };

    let safes = vec![key_safe, cert_safe].to_der()?;
    let salt: [u8; 32] = random();
    let mac_key = Zeroizing::new(::pkcs12::kdf::derive_key_utf8::<Sha256>(
        password,
        &salt,
        ::pkcs12::kdf::Pkcs12KeyType::Mac,
        i32::try_from(iterations).map_err(|_| der::Error::from(der::ErrorKind::Overflow))?,
        32,
    )?);
    let mut mac = Hmac::<Sha256>::new_from_slice(&mac_key).expect("any key length");
    mac.update(&safes);
    let pfx = ::pkcs12::pfx::Pfx {
        version: ::pkcs12::pfx::Version::V3,
        auth_safe: data(&safes)?,
        mac_data: Some(::pkcs12::mac_data::MacData {
            mac: ::pkcs12::digest_info::DigestInfo {
                algorithm: AlgorithmIdentifierOwned {
                    oid: ID_SHA_256,
                    parameters: None,
                },
                digest: OctetString::new(mac.finalize().into_bytes().to_vec())?,
            },
            mac_salt: OctetString::new(salt)?,
            iterations: i32::try_from(iterations)
                .map_err(|_| der::Error::from(der::ErrorKind::Overflow))?,
        }),
    };
    Ok(pfx.to_der()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::{KeyKind, SoftwareKey};
    use firma_station_engine::ca::{CertificateAuthority, LocalCa};
    use firma_station_engine::profile::{CertProfile, Holder};
    use std::process::Command;

    /// OpenSSL, an implementation of its own, opens the file: its
    /// algorithms, the pairing of key and certificate, and no way in
    /// without the password.
    #[test]
    fn openssl_opens_the_file_with_its_password_only() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::init(&dir.path().join("ca"), "Test CA").unwrap();
        let holder = Holder {
            given_name: "Ana".into(),
            surnames: "García López".into(),
            nif: "12345678Z".into(),
            email: "ana@example.es".into(),
        };
        let key = SoftwareKey::generate(KeyKind::P256).unwrap();
        let issued = ca
            .issue(
                &key.request(&holder).unwrap(),
                &holder,
                CertProfile::Software,
            )
            .unwrap();
        let file = write(
            &key.pkcs8_for_tests(),
            &[&issued.der, ca.certificate()],
            "contraseña-larga",
            "Ana García López - 12345678Z",
            2048,
        )
        .unwrap();
        let path = dir.path().join("a.p12");
        std::fs::write(&path, file).unwrap();
        let openssl = |args: &[&str]| {
            Command::new("openssl")
                .args(args)
                .arg("-in")
                .arg(&path)
                .output()
                .unwrap()
        };
        let info = openssl(&[
            "pkcs12",
            "-info",
            "-nokeys",
            "-passin",
            "pass:contraseña-larga",
        ]);
        let text = String::from_utf8_lossy(&info.stderr).to_string()
            + &String::from_utf8_lossy(&info.stdout);
        assert!(info.status.success(), "{text}");
        for expected in [
            "MAC: sha256, Iteration 2048",
            "PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256",
            "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256",
            // OpenSSL prints the BMPString's accents as it can.
            "friendlyName: Ana Garc",
            "localKeyID: ",
        ] {
            assert!(text.contains(expected), "{expected}: {text}");
        }
        assert_eq!(text.matches("BEGIN CERTIFICATE").count(), 2, "{text}");
        let wrong = openssl(&["pkcs12", "-noout", "-passin", "pass:otra"]);
        assert!(!wrong.status.success());
    }
}
