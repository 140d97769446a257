//! PKIMessage (RFC 4210 §5.1): header, body, protection and extraCerts, and
//! the DER of the protected part (`ProtectedPart ::= SEQUENCE { header, body }`)
//! exactly as it was received, so that a signature is checked over the bytes
//! the CA signed and not over a re-encoding of them.

use cmpv2::header::PkiHeader;
use der::asn1::{AnyRef, BitString, ContextSpecific};
use der::{Decode, Encode, Reader, SliceReader, Tag, TagMode, TagNumber};
use x509_cert::Certificate;

use super::body::{tlv, Body};

/// The largest message read (a certificate response with a chain is a few KB).
pub const MAX_MESSAGE: usize = 256 * 1024;

/// Why bytes are not a PKIMessage.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{0} bytes is more than a CMP message may be ({MAX_MESSAGE} bytes)")]
    TooLarge(usize),
    #[error("not DER: {0}")]
    Der(#[from] der::Error),
}

/// A PKIMessage.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    pub header: PkiHeader<'a>,
    pub body: Body,
    pub protection: Option<BitString>,
    pub extra_certs: Vec<Certificate>,
    /// The DER of ProtectedPart, the bytes the protection signs.
    protected_part: Vec<u8>,
}

impl<'a> Message<'a> {
    /// An unprotected message (sign it with `protection::sign`).
    pub fn new(header: PkiHeader<'a>, body: Body) -> der::Result<Self> {
        let mut content = header.to_der()?;
        content.extend(body.to_der()?);
        Ok(Message {
            protected_part: tlv(Tag::Sequence, &content)?,
            header,
            body,
            protection: None,
            extra_certs: Vec::new(),
        })
    }

    /// The DER of ProtectedPart.
    pub fn protected_part(&self) -> &[u8] {
        &self.protected_part
    }

    /// Reads a PKIMessage from untrusted bytes: never panics, refuses
    /// trailing data and anything over [`MAX_MESSAGE`].
    pub fn from_der(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if bytes.len() > MAX_MESSAGE {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        let mut reader = SliceReader::new(bytes)?;
        let (header_raw, body_raw, protection, extra) = reader.sequence(|r| {
            let header = AnyRef::decode(r)?;
            let body = AnyRef::decode(r)?;
            let protection = ContextSpecific::<BitString>::decode_explicit(r, TagNumber::N0)?;
            let extra = ContextSpecific::<Vec<Certificate>>::decode_explicit(r, TagNumber::N1)?;
            Ok((header, body, protection, extra))
        })?;
        reader.finish(())?;

        let header_der = header_raw.to_der()?;
        let body_der = body_raw.to_der()?;
        let header = PkiHeader::from_der(header_raw_bytes(bytes, &header_der)?)?;
        let body = Body::from_der(&body_der)?;
        let mut content = header_der;
        content.extend(body_der);
        Ok(Message {
            protected_part: tlv(Tag::Sequence, &content)?,
            header,
            body,
            protection: protection.map(|p| p.value),
            extra_certs: extra.map(|e| e.value).unwrap_or_default(),
        })
    }

    pub fn to_der(&self) -> der::Result<Vec<u8>> {
        // The protected part is SEQUENCE { header, body }: its content is
        // the first two fields of the message.
        let mut reader = SliceReader::new(&self.protected_part)?;
        let inner = reader.sequence(|r| r.read_slice(r.remaining_len()))?;
        let mut content = inner.to_vec();
        if let Some(p) = &self.protection {
            content.extend(
                ContextSpecific {
                    tag_number: TagNumber::N0,
                    tag_mode: TagMode::Explicit,
                    value: p.clone(),
                }
                .to_der()?,
            );
        }
        if !self.extra_certs.is_empty() {
            content.extend(
                ContextSpecific {
                    tag_number: TagNumber::N1,
                    tag_mode: TagMode::Explicit,
                    value: self.extra_certs.clone(),
                }
                .to_der()?,
            );
        }
        tlv(Tag::Sequence, &content)
    }
}

/// The header's bytes inside the message, so that the decoded header can
/// borrow its strings from the caller's buffer.
fn header_raw_bytes<'a>(message: &'a [u8], header_der: &[u8]) -> der::Result<&'a [u8]> {
    // The header is the first field of the outer SEQUENCE: it starts right
    // after the outer tag and length.
    let mut reader = SliceReader::new(message)?;
    let outer = der::Header::decode(&mut reader)?;
    let start = usize::try_from(reader.position())?;
    let _ = outer;
    message
        .get(start..start + header_der.len())
        .filter(|b| *b == header_der)
        .ok_or_else(|| der::ErrorKind::Failed.into())
}
