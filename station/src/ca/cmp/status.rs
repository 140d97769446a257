//! PKIStatusInfo (RFC 4210 §5.2.3): what the CA says of a request, and the
//! failure bits in words an operator can act on.
//!
//! Our own type, not `cmpv2::status::PkiStatusInfo`: cmpv2 0.2 maps
//! `PKIFailureInfo` onto a 16-bit flag set whose values are bit numbers, not
//! masks (and gives badTime the number of badRequest), so `badPOP` reads back
//! as something else and any bit above 15 makes the whole message unreadable.

use std::fmt;

use der::asn1::BitString;
use der::Sequence;

/// PKIStatus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Accepted,
    GrantedWithMods,
    Rejection,
    Waiting,
    RevocationWarning,
    RevocationNotification,
    KeyUpdateWarning,
}

impl Status {
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Status::Accepted,
            1 => Status::GrantedWithMods,
            2 => Status::Rejection,
            3 => Status::Waiting,
            4 => Status::RevocationWarning,
            5 => Status::RevocationNotification,
            6 => Status::KeyUpdateWarning,
            _ => return None,
        })
    }

    pub fn code(self) -> u32 {
        self as u32
    }

    /// Whether the request was granted (with or without changes).
    pub fn granted(self) -> bool {
        matches!(self, Status::Accepted | Status::GrantedWithMods)
    }
}

/// The names of the PKIFailureInfo bits, by bit number (RFC 4210 §5.2.3,
/// RFC 9483 §3.6.4).
const FAILURE_NAMES: [&str; 27] = [
    "badAlg",
    "badMessageCheck",
    "badRequest",
    "badTime",
    "badCertId",
    "badDataFormat",
    "wrongAuthority",
    "incorrectData",
    "missingTimeStamp",
    "badPOP",
    "certRevoked",
    "certConfirmed",
    "wrongIntegrity",
    "badRecipientNonce",
    "timeNotAvailable",
    "unacceptedPolicy",
    "unacceptedExtension",
    "addInfoNotAvailable",
    "badSenderNonce",
    "badCertTemplate",
    "signerNotTrusted",
    "transactionIdInUse",
    "unsupportedVersion",
    "notAuthorized",
    "systemUnavail",
    "systemFailure",
    "duplicateCertReq",
];

/// One PKIFailureInfo bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    BadAlg = 0,
    BadMessageCheck = 1,
    BadRequest = 2,
    BadTime = 3,
    BadCertId = 4,
    BadDataFormat = 5,
    WrongAuthority = 6,
    IncorrectData = 7,
    BadPop = 9,
    CertRevoked = 10,
    CertConfirmed = 11,
    WrongIntegrity = 12,
    BadRecipientNonce = 13,
    UnacceptedPolicy = 15,
    BadSenderNonce = 18,
    BadCertTemplate = 19,
    SignerNotTrusted = 20,
    TransactionIdInUse = 21,
    UnsupportedVersion = 22,
    NotAuthorized = 23,
    SystemUnavail = 24,
    SystemFailure = 25,
    DuplicateCertReq = 26,
}

/// A set of PKIFailureInfo bits (bit n of the BIT STRING is `1 << n`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Failures(pub u32);

impl Failures {
    pub fn contains(self, f: Failure) -> bool {
        self.0 & (1 << f as u32) != 0
    }

    pub fn with(self, f: Failure) -> Self {
        Failures(self.0 | (1 << f as u32))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Reads the BIT STRING; bits past the last one defined are ignored.
    pub fn from_bits(bits: &BitString) -> Self {
        let mut set = 0u32;
        for (i, bit) in bits.bits().enumerate().take(FAILURE_NAMES.len()) {
            if bit {
                set |= 1 << i;
            }
        }
        Failures(set)
    }

    /// The DER BIT STRING (named bits: trailing zero bits removed).
    pub fn to_bits(self) -> der::Result<BitString> {
        let len = 32 - self.0.leading_zeros() as usize;
        let mut bytes = vec![0u8; len.div_ceil(8)];
        for i in 0..len {
            if self.0 & (1 << i) != 0 {
                bytes[i / 8] |= 0x80 >> (i % 8);
            }
        }
        let unused = (bytes.len() * 8 - len) as u8;
        BitString::new(unused, bytes)
    }

    pub fn names(self) -> impl Iterator<Item = &'static str> {
        FAILURE_NAMES
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| *n)
    }

    /// What the bits mean for the operator.
    pub fn explanation(self) -> String {
        let mut words = Vec::new();
        let said = |f: Failure| self.contains(f);
        if said(Failure::BadPop) {
            words.push("the proof of possession was refused: the card's signature on the certificate request does not verify");
        }
        if said(Failure::BadMessageCheck) || said(Failure::WrongIntegrity) {
            words.push("the CA could not verify the station's signature on the request: check the station's RA certificate and key");
        }
        if said(Failure::SignerNotTrusted) || said(Failure::NotAuthorized) {
            words.push("the CA does not accept this station as a registration authority: ask the CA to register the station's RA certificate");
        }
        if said(Failure::BadCertId) {
            words.push("the CA does not know the certificate named");
        }
        if said(Failure::CertRevoked) {
            words.push("the certificate is already revoked");
        }
        if said(Failure::BadCertTemplate)
            || said(Failure::BadRequest)
            || said(Failure::BadDataFormat)
        {
            words.push("the CA refused the content of the request");
        }
        if said(Failure::UnacceptedPolicy) {
            words.push("the CA does not know the certificate profile asked for: check the profile names configured for each slot");
        }
        if said(Failure::BadTime) {
            words.push(
                "the station's clock differs too much from the CA's: set the station's clock",
            );
        }
        if said(Failure::BadRecipientNonce)
            || said(Failure::BadSenderNonce)
            || said(Failure::TransactionIdInUse)
        {
            words.push("the CA saw the request out of sequence: run the same command again");
        }
        if said(Failure::SystemUnavail) || said(Failure::SystemFailure) {
            words.push("the CA is not working now: try again later or call the CA's operators");
        }
        if said(Failure::DuplicateCertReq) {
            words.push("the CA already has this request");
        }
        if words.is_empty() {
            return self.names().collect::<Vec<_>>().join(", ");
        }
        words.join("; ")
    }
}

impl fmt::Display for Failures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().collect::<Vec<_>>().join(", "))
    }
}

/// PKIStatusInfo ::= SEQUENCE { status, statusString PKIFreeText OPTIONAL,
/// failInfo PKIFailureInfo OPTIONAL }.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct StatusInfo {
    pub status: u32,
    #[asn1(optional = "true")]
    pub status_string: Option<Vec<String>>,
    #[asn1(optional = "true")]
    pub fail_info: Option<BitString>,
}

impl StatusInfo {
    pub fn accepted() -> Self {
        StatusInfo {
            status: Status::Accepted.code(),
            status_string: None,
            fail_info: None,
        }
    }

    pub fn rejection(failures: Failures, text: &str) -> der::Result<Self> {
        Ok(StatusInfo {
            status: Status::Rejection.code(),
            status_string: (!text.is_empty()).then(|| vec![text.to_string()]),
            fail_info: Some(failures.to_bits()?),
        })
    }

    /// The status, `None` for a value RFC 4210 does not define.
    pub fn status(&self) -> Option<Status> {
        Status::from_code(self.status)
    }

    pub fn failures(&self) -> Failures {
        self.fail_info
            .as_ref()
            .map(Failures::from_bits)
            .unwrap_or_default()
    }

    /// The status strings joined, for a message.
    pub fn text(&self) -> String {
        self.status_string
            .iter()
            .flatten()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    }
}
