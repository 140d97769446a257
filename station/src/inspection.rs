//! What a card holds, read through firma-apdu's PIV client without changing
//! anything (no PIN is tried: the PIN status comes from an empty VERIFY).
//! One typed report; the CLI and the window only format it, and the readers
//! panel's one-line [`CardView`] is drawn from it.

use der::Decode;
use firma_apdu::piv::{
    Algorithm, ApduMode, Metadata, MgmAlgorithm, Origin, PinPolicy, PinStatus, Piv, Slot,
};
use firma_apdu::transport::Transport;
use firma_apdu::Error as CardError;
use time::{Date, OffsetDateTime};

use crate::engine::Station;
use crate::error::{CardTask, StationError};
use crate::registry::{AppKey, Application, CardRecord, CardState, CertState};

/// Something the card may or may not tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported<T> {
    Known(T),
    /// The card has no way to say (no GET METADATA, no GET VERSION: Nitrokey 3).
    NotReported,
}

impl<T> Reported<T> {
    pub fn known(&self) -> Option<&T> {
        match self {
            Reported::Known(t) => Some(t),
            Reported::NotReported => None,
        }
    }
}

/// A PIN or PUK: tries left and whether it is still the factory value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretReport {
    pub status: PinStatus,
    pub factory_default: Option<bool>,
}

/// The management key, as GET METADATA tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementKeyReport {
    pub algorithm: Option<MgmAlgorithm>,
    pub factory_default: Option<bool>,
}

/// A key slot's key, as GET METADATA tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyReport {
    pub algorithm: Option<Algorithm>,
    pub origin: Option<Origin>,
    pub pin_policy: PinPolicy,
}

/// The certificate in a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateReport {
    Readable {
        subject: String,
        issuer: String,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    },
    Unreadable(String),
}

/// One key slot: its key, where the card reports it, and its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotReport {
    pub slot: Slot,
    /// `None`: the card says the slot holds no key.
    pub key: Option<Reported<KeyReport>>,
    pub certificate: Option<CertificateReport>,
}

/// Everything a card tells about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardReport {
    /// The PIV application's label, when SELECT gives one.
    pub label: Option<String>,
    pub mode: ApduMode,
    pub version: Reported<String>,
    /// `None`: the card has no serial number (GET SERIAL, a Yubico extension).
    pub serial: Option<u32>,
    pub pin: SecretReport,
    /// `None`: the card reported no metadata for the PUK though it has some.
    pub puk: Option<Reported<SecretReport>>,
    pub management_key: Option<Reported<ManagementKeyReport>>,
    /// Of the slots asked for, those that hold a key or a certificate.
    pub slots: Vec<SlotReport>,
}

impl CardReport {
    /// Whether a citizen slot (9A, 9C, 9D) holds a certificate.
    pub fn has_citizen_certificates(&self) -> bool {
        self.slots
            .iter()
            .any(|s| s.certificate.is_some() && CITIZEN_SLOTS.contains(&s.slot))
    }
}

/// A card's report and what this station's registry knows of it.
#[derive(Debug, Clone)]
pub struct Inspection {
    pub card: CardReport,
    pub record: Option<CardRecord>,
    pub application: Option<Application>,
}

/// The slots that carry a citizen's certificates (9A, 9C, 9D).
pub const CITIZEN_SLOTS: [Slot; 3] = [Slot::Authentication, Slot::Signature, Slot::KeyManagement];

/// Reads a card's report, looking into `slots` only (each costs a GET
/// METADATA and a certificate read: the readers panel asks for the citizen
/// slots, `firma-station card` for [`Slot::all`], a one-line summary for
/// none). Fails only when the card cannot be selected or stops answering;
/// what the card does not support is `NotReported`.
pub fn read_card<T: Transport>(
    piv: &mut Piv<T>,
    slots: impl IntoIterator<Item = Slot>,
) -> Result<CardReport, CardError> {
    let info = piv.select()?;
    let version = match piv.version() {
        Ok(v) => Reported::Known(v.to_string()),
        Err(CardError::NotSupportedByCard(_)) => Reported::NotReported,
        Err(e) => return Err(e),
    };
    let serial = match piv.serial() {
        Ok(s) => Some(s),
        Err(e) if e.is_card_gone() => return Err(e),
        Err(_) => None,
    };
    let pin_meta = reported(piv.metadata(0x80))?;
    let status = piv.pin_status()?;
    // GET METADATA tells the tries left even after a VERIFY in this session.
    let status = match (&pin_meta, status) {
        (Some(Reported::Known(m)), PinStatus::Verified) => match m.retries {
            Some((_, 0)) => PinStatus::Blocked,
            Some((_, n)) => PinStatus::TriesLeft(n),
            None => PinStatus::Verified,
        },
        (_, s) => s,
    };
    let pin = SecretReport {
        status,
        factory_default: pin_meta.as_ref().and_then(|m| m.known()?.is_default),
    };
    let puk = reported(piv.metadata(0x81))?.map(|r| match r {
        Reported::Known(m) => Reported::Known(SecretReport {
            status: match m.retries {
                Some((_, 0)) => PinStatus::Blocked,
                Some((_, n)) => PinStatus::TriesLeft(n),
                None => PinStatus::Verified,
            },
            factory_default: m.is_default,
        }),
        Reported::NotReported => Reported::NotReported,
    });
    let management_key = reported(piv.metadata(0x9B))?.map(|r| match r {
        Reported::Known(m) => Reported::Known(ManagementKeyReport {
            algorithm: m.algorithm.and_then(MgmAlgorithm::from_id),
            factory_default: m.is_default,
        }),
        Reported::NotReported => Reported::NotReported,
    });
    let mut report = Vec::new();
    for slot in slots {
        let key = reported(piv.metadata(slot.key_reference()))?.map(|r| match r {
            Reported::Known(m) => Reported::Known(KeyReport {
                algorithm: m.algorithm.and_then(|a| Algorithm::try_from(a).ok()),
                origin: m.origin,
                pin_policy: m.pin_policy.unwrap_or(PinPolicy::Default),
            }),
            Reported::NotReported => Reported::NotReported,
        });
        let certificate = piv.read_certificate(slot)?.map(|der| certificate(&der));
        let key = match key {
            // A card without metadata says nothing of an empty slot.
            Some(Reported::NotReported) if certificate.is_none() => None,
            k => k,
        };
        if key.is_some() || certificate.is_some() {
            report.push(SlotReport {
                slot,
                key,
                certificate,
            });
        }
    }
    Ok(CardReport {
        label: info.label,
        mode: piv.mode(),
        version,
        serial,
        pin,
        puk,
        management_key,
        slots: report,
    })
}

/// GET METADATA's answer: `None` when the object is empty or absent,
/// `NotReported` when the card has no GET METADATA.
fn reported(
    answer: Result<Option<Metadata>, CardError>,
) -> Result<Option<Reported<Metadata>>, CardError> {
    match answer {
        Ok(m) => Ok(m.map(Reported::Known)),
        Err(CardError::NotSupportedByCard(_)) => Ok(Some(Reported::NotReported)),
        Err(e) if e.is_card_gone() => Err(e),
        Err(_) => Ok(None),
    }
}

fn certificate(der: &[u8]) -> CertificateReport {
    match x509_cert::Certificate::from_der(der) {
        Ok(c) => {
            let tbs = &c.tbs_certificate;
            let time = |t: &x509_cert::time::Time| {
                OffsetDateTime::from_unix_timestamp(t.to_unix_duration().as_secs() as i64)
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH)
            };
            CertificateReport::Readable {
                subject: tbs.subject.to_string(),
                issuer: tbs.issuer.to_string(),
                not_before: time(&tbs.validity.not_before),
                not_after: time(&tbs.validity.not_after),
            }
        }
        Err(e) => CertificateReport::Unreadable(e.to_string()),
    }
}

/// A certificate time as X.509 writes it (`2029-03-10T12:00:00Z`).
pub fn x509_time(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&f).unwrap_or_else(|_| t.to_string())
}

/// A card's report (of `slots`) with what the registry knows of it.
pub fn inspect<T: Transport>(
    station: &Station,
    transport: T,
    slots: impl IntoIterator<Item = Slot>,
) -> Result<Inspection, StationError> {
    let mut piv = Piv::new(transport);
    let card = read_card(&mut piv, slots).map_err(|e| StationError::card(CardTask::ReadCard, e))?;
    let record = match card.serial {
        Some(serial) => station.registry().card(serial)?,
        None => None,
    };
    let application = match record.as_ref().and_then(|r| r.application_id) {
        Some(id) => Some(station.application(&AppKey::Id(id))?),
        None => None,
    };
    Ok(Inspection {
        card,
        record,
        application,
    })
}

/// What is in a reader, as the operator's readers panel shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardView {
    Empty,
    /// A blank card, ready for activation.
    Blank {
        serial: u32,
    },
    /// A card this station personalized.
    Firma {
        serial: u32,
        application: i64,
        holder: String,
        /// When its certificates expire.
        expires: Option<Date>,
        pin_blocked: bool,
        /// An activation on it stopped half-way.
        unfinished: bool,
        /// Its certificates were revoked (the card is no longer usable for
        /// signing; reset it for re-issue).
        revoked: bool,
    },
    /// A card this station cannot use as it is.
    Unknown {
        why: UnknownCard,
    },
}

/// Why a card in a reader is not one the station can use as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownCard {
    /// No PIV application answers.
    NotPiv,
    /// A PIV card without a serial number (no Yubico extensions).
    NoSerial,
    /// Personalized, but not by this station.
    PersonalizedElsewhere(u32),
}

impl std::fmt::Display for UnknownCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnknownCard::NotPiv => f.write_str("not a PIV card"),
            UnknownCard::NoSerial => {
                f.write_str("a PIV card without a serial number (no Yubico extensions)")
            }
            UnknownCard::PersonalizedElsewhere(serial) => {
                write!(f, "card {serial} was personalized elsewhere")
            }
        }
    }
}

/// The readers panel's view of the card behind `transport`.
pub fn describe_card<T: Transport>(station: &Station, transport: T) -> CardView {
    let mut piv = Piv::new(transport);
    let card = match read_card(&mut piv, CITIZEN_SLOTS) {
        Ok(card) => card,
        Err(_) => {
            return CardView::Unknown {
                why: UnknownCard::NotPiv,
            }
        }
    };
    let Some(serial) = card.serial else {
        return CardView::Unknown {
            why: UnknownCard::NoSerial,
        };
    };
    let pin_blocked = card.pin.status == PinStatus::Blocked;
    let record = station.registry().card(serial).ok().flatten();
    if let Some(app_id) = record.as_ref().and_then(|r| r.application_id) {
        if let Ok(app) = station.application(&AppKey::Id(app_id)) {
            let certs = station.registry().certificates(app_id).unwrap_or_default();
            let on_card = || certs.iter().filter(|c| c.card_serial == serial);
            let expires = on_card()
                .filter(|c| c.state == CertState::Loaded)
                .map(|c| c.not_after.date())
                .min();
            let revoked = on_card().any(|c| c.state == CertState::Revoked)
                && !on_card().any(|c| c.state == CertState::Loaded);
            return CardView::Firma {
                serial,
                application: app_id,
                holder: format!("{} {}", app.given_name, app.surnames),
                expires,
                pin_blocked,
                unfinished: record
                    .as_ref()
                    .is_some_and(|r| r.state == CardState::Personalizing),
                revoked,
            };
        }
    }
    if card.has_citizen_certificates() || pin_blocked {
        CardView::Unknown {
            why: UnknownCard::PersonalizedElsewhere(serial),
        }
    } else {
        CardView::Blank { serial }
    }
}
