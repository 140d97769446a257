//! PKIBody (RFC 4210 §5.1.2): the bodies the Lightweight CMP Profile uses,
//! encoded and read by tag number.
//!
//! cmpv2's `PkiBody` cannot be used whole: its `pollReq` carries a
//! `PollRepContent`, its `PollRepContent` is one SEQUENCE instead of a
//! SEQUENCE OF, and every body with a status inherits its broken failure
//! bits (see `status.rs`); `ErrorMsgContent`'s fields are private. So the
//! body is read here, with cmpv2's and crmf's types for the parts they get
//! right (certified key pair, revocation details, CRMF requests, InfoTypeAndValue).

use cmpv2::certified_key_pair::CertifiedKeyPair;
use cmpv2::gen::InfoTypeAndValue;
use cmpv2::rev::RevDetails;
use crmf::controls::CertId;
use crmf::request::CertReqMessages;
use der::asn1::{AnyRef, Null, OctetString};
use der::{Class, Decode, Encode, Header, Length, Sequence, Tag, TagNumber, Tagged};
use spki::AlgorithmIdentifierOwned;
use x509_cert::crl::CertificateList;
use x509_cert::request::CertReq;
use x509_cert::Certificate;

use super::status::StatusInfo;

/// CertRepMessage (ip, cp, kup).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CertRepMessage {
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub ca_pubs: Option<Vec<Certificate>>,
    pub response: Vec<CertResponse>,
}

/// CertResponse.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CertResponse {
    pub cert_req_id: i64,
    pub status: StatusInfo,
    #[asn1(optional = "true")]
    pub certified_key_pair: Option<CertifiedKeyPair>,
    #[asn1(optional = "true")]
    pub rsp_info: Option<OctetString>,
}

/// CertStatus, one entry of certConf.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CertStatus {
    pub cert_hash: OctetString,
    pub cert_req_id: i64,
    #[asn1(optional = "true")]
    pub status_info: Option<StatusInfo>,
    /// Only in cmp2021 (pvno 3) messages.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub hash_alg: Option<AlgorithmIdentifierOwned>,
}

/// RevRepContent.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct RevRepContent {
    pub status: Vec<StatusInfo>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub rev_certs: Option<Vec<CertId>>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub crls: Option<Vec<CertificateList>>,
}

/// ErrorMsgContent.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct ErrorMsgContent {
    pub status: StatusInfo,
    #[asn1(optional = "true")]
    pub error_code: Option<i64>,
    #[asn1(optional = "true")]
    pub error_details: Option<Vec<String>>,
}

/// One entry of pollReq.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct PollReqEntry {
    pub cert_req_id: i64,
}

/// One entry of pollRep.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct PollRepEntry {
    pub cert_req_id: i64,
    /// Seconds.
    pub check_after: i64,
    #[asn1(optional = "true")]
    pub reason: Option<Vec<String>>,
}

/// The bodies Firma sends or reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Ir(CertReqMessages),
    Ip(CertRepMessage),
    Cr(CertReqMessages),
    Cp(CertRepMessage),
    P10cr(CertReq),
    Kur(CertReqMessages),
    Kup(CertRepMessage),
    Rr(Vec<RevDetails>),
    Rp(RevRepContent),
    PkiConf,
    GenM(Vec<InfoTypeAndValue>),
    GenP(Vec<InfoTypeAndValue>),
    Error(ErrorMsgContent),
    CertConf(Vec<CertStatus>),
    PollReq(Vec<PollReqEntry>),
    PollRep(Vec<PollRepEntry>),
    /// A body type this profile does not use, by its tag number.
    Other(u8),
}

impl Body {
    /// The tag number of the body's `[n]`.
    pub fn tag_number(&self) -> u8 {
        match self {
            Body::Ir(_) => 0,
            Body::Ip(_) => 1,
            Body::Cr(_) => 2,
            Body::Cp(_) => 3,
            Body::P10cr(_) => 4,
            Body::Kur(_) => 7,
            Body::Kup(_) => 8,
            Body::Rr(_) => 11,
            Body::Rp(_) => 12,
            Body::PkiConf => 19,
            Body::GenM(_) => 21,
            Body::GenP(_) => 22,
            Body::Error(_) => 23,
            Body::CertConf(_) => 24,
            Body::PollReq(_) => 25,
            Body::PollRep(_) => 26,
            Body::Other(n) => *n,
        }
    }

    /// The body's name as RFC 4210 spells it.
    pub fn name(&self) -> &'static str {
        match self.tag_number() {
            0 => "ir",
            1 => "ip",
            2 => "cr",
            3 => "cp",
            4 => "p10cr",
            5 => "popdecc",
            6 => "popdecr",
            7 => "kur",
            8 => "kup",
            9 => "krr",
            10 => "krp",
            11 => "rr",
            12 => "rp",
            13 => "ccr",
            14 => "ccp",
            15 => "ckuann",
            16 => "cann",
            17 => "rann",
            18 => "crlann",
            19 => "pkiconf",
            20 => "nested",
            21 => "genm",
            22 => "genp",
            23 => "error",
            24 => "certConf",
            25 => "pollReq",
            26 => "pollRep",
            _ => "unknown",
        }
    }

    fn content_der(&self) -> der::Result<Vec<u8>> {
        match self {
            Body::Ir(m) | Body::Cr(m) | Body::Kur(m) => m.to_der(),
            Body::Ip(m) | Body::Cp(m) | Body::Kup(m) => m.to_der(),
            Body::P10cr(m) => m.to_der(),
            Body::Rr(m) => m.to_der(),
            Body::Rp(m) => m.to_der(),
            Body::PkiConf => Null.to_der(),
            Body::GenM(m) | Body::GenP(m) => m.to_der(),
            Body::Error(m) => m.to_der(),
            Body::CertConf(m) => m.to_der(),
            Body::PollReq(m) => m.to_der(),
            Body::PollRep(m) => m.to_der(),
            Body::Other(_) => Err(der::ErrorKind::Failed.into()),
        }
    }

    /// `[n] EXPLICIT` around the content.
    pub fn to_der(&self) -> der::Result<Vec<u8>> {
        let content = self.content_der()?;
        let tag = Tag::ContextSpecific {
            constructed: true,
            number: TagNumber::new(self.tag_number()),
        };
        tlv(tag, &content)
    }

    /// Reads one body (its whole TLV, nothing after it).
    pub fn from_der(bytes: &[u8]) -> der::Result<Self> {
        let any = AnyRef::from_der(bytes)?;
        let tag = any.tag();
        if tag.class() != Class::ContextSpecific || !tag.is_constructed() {
            return Err(tag.unexpected_error(None));
        }
        let content = any.value();
        let number = tag.number().value();
        Ok(match number {
            0 => Body::Ir(CertReqMessages::from_der(content)?),
            1 => Body::Ip(CertRepMessage::from_der(content)?),
            2 => Body::Cr(CertReqMessages::from_der(content)?),
            3 => Body::Cp(CertRepMessage::from_der(content)?),
            4 => Body::P10cr(CertReq::from_der(content)?),
            7 => Body::Kur(CertReqMessages::from_der(content)?),
            8 => Body::Kup(CertRepMessage::from_der(content)?),
            11 => Body::Rr(Vec::<RevDetails>::from_der(content)?),
            12 => Body::Rp(RevRepContent::from_der(content)?),
            19 => {
                Null::from_der(content)?;
                Body::PkiConf
            }
            21 => Body::GenM(Vec::from_der(content)?),
            22 => Body::GenP(Vec::from_der(content)?),
            23 => Body::Error(ErrorMsgContent::from_der(content)?),
            24 => Body::CertConf(Vec::from_der(content)?),
            25 => Body::PollReq(Vec::from_der(content)?),
            26 => Body::PollRep(Vec::from_der(content)?),
            n => Body::Other(n),
        })
    }
}

/// One TLV: `tag`, the DER length of `content`, `content`.
pub(super) fn tlv(tag: Tag, content: &[u8]) -> der::Result<Vec<u8>> {
    let header = Header::new(tag, Length::try_from(content.len())?)?;
    let mut out = header.to_der()?;
    out.extend_from_slice(content);
    Ok(out)
}
