//! One CMP transaction (RFC 4210 §5.1.1, RFC 9483 §3.1): a transactionID the
//! station picks, a fresh senderNonce in every request, and each response
//! checked before anything in it is used: its protection, then its version,
//! its transactionID and its recipNonce (our last senderNonce). The
//! response's senderNonce becomes the next request's recipNonce.

use cmpv2::gen::InfoTypeAndValue;
use cmpv2::header::{PkiHeader, Pvno};
use der::asn1::{Any, GeneralizedTime, ObjectIdentifier, OctetString};
use rand::RngCore;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::Certificate;

use super::message::Message;
use super::protection::{self, ProtectionError, RaCredential};
use crate::ca::x509::now;

/// id-it-certProfile (RFC 9483 §5.1.1, RFC 4210bis): the profile asked for.
pub const ID_IT_CERT_PROFILE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.4.21");

/// Why a response does not belong to the transaction or cannot be trusted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckError {
    #[error("its protection is not accepted: {0}")]
    Protection(#[from] ProtectionError),
    #[error("it is of CMP version {0:?}, not cmp2000")]
    Version(Pvno),
    #[error("its transactionID is not the request's")]
    TransactionId,
    #[error("its recipNonce is not the request's senderNonce")]
    RecipientNonce,
    #[error("it has no senderNonce")]
    NoSenderNonce,
}

/// The state of one transaction.
#[derive(Debug)]
pub struct Transaction {
    id: [u8; 16],
    sent_nonce: [u8; 16],
    peer_nonce: Option<OctetString>,
}

impl Default for Transaction {
    fn default() -> Self {
        Self::new()
    }
}

fn random16() -> [u8; 16] {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// The generalInfo entry that names the certificate profile.
pub fn cert_profile(name: &str) -> der::Result<InfoTypeAndValue> {
    let names = vec![der::asn1::Utf8StringRef::new(name)?];
    Ok(InfoTypeAndValue {
        oid: ID_IT_CERT_PROFILE,
        value: Some(Any::encode_from(&names)?),
    })
}

/// The profile named in a request's generalInfo, if any.
pub fn requested_profile(header: &PkiHeader<'_>) -> Option<String> {
    let entry = header
        .general_info
        .iter()
        .flatten()
        .find(|i| i.oid == ID_IT_CERT_PROFILE)?;
    let names: Vec<String> = entry.value.as_ref()?.decode_as().ok()?;
    names.into_iter().next()
}

impl Transaction {
    pub fn new() -> Self {
        Transaction {
            id: random16(),
            sent_nonce: random16(),
            peer_nonce: None,
        }
    }

    pub fn id(&self) -> &[u8] {
        &self.id
    }

    /// The header of the next request, with a fresh senderNonce, signed by
    /// `ra` for `recipient`, asking for `profile` if given.
    pub fn header(
        &mut self,
        ra: &RaCredential,
        recipient: &Name,
        profile: Option<&str>,
    ) -> der::Result<PkiHeader<'static>> {
        self.sent_nonce = random16();
        let secs = u64::try_from(now().unix_timestamp()).unwrap_or(0);
        let time = GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))?;
        Ok(PkiHeader {
            pvno: Pvno::Cmp2000,
            sender: ra.sender(),
            recipient: GeneralName::DirectoryName(recipient.clone()),
            message_time: Some(time),
            protection_alg: Some(ra.algorithm()),
            sender_kid: ra.key_id(),
            recip_kid: None,
            trans_id: Some(OctetString::new(self.id.to_vec())?),
            sender_nonce: Some(OctetString::new(self.sent_nonce.to_vec())?),
            recip_nonce: self.peer_nonce.clone(),
            free_text: None,
            general_info: profile.map(cert_profile).transpose()?.map(|p| vec![p]),
        })
    }

    /// Checks a response and, if it is the CA's answer to our last request,
    /// records its senderNonce. Returns the certificate that signed it.
    pub fn check(
        &mut self,
        response: &Message<'_>,
        ca: &Certificate,
    ) -> Result<Certificate, CheckError> {
        let signer = protection::verify(response, ca)?;
        let header = &response.header;
        if header.pvno != Pvno::Cmp2000 {
            return Err(CheckError::Version(header.pvno));
        }
        if header.trans_id.as_ref().map(|t| t.as_bytes()) != Some(&self.id[..]) {
            return Err(CheckError::TransactionId);
        }
        if header.recip_nonce.as_ref().map(|n| n.as_bytes()) != Some(&self.sent_nonce[..]) {
            return Err(CheckError::RecipientNonce);
        }
        let nonce = header
            .sender_nonce
            .clone()
            .ok_or(CheckError::NoSenderNonce)?;
        self.peer_nonce = Some(nonce);
        Ok(signer)
    }
}
