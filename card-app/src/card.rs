//! The card as a citizen understands it: who it belongs to, what each
//! certificate is for, until when it is valid and from when it can be
//! renewed, and how many PIN tries are left. Read through firma-apdu's
//! [`CitizenCard`] (no PIN is tried), with no user interface: the window
//! words these values.

use der::asn1::{PrintableStringRef, Utf8StringRef};
use der::{Decode, Tag, Tagged};
use firma_apdu::card::{CitizenCard, KeyRole};
use firma_apdu::piv::PinStatus;
use firma_apdu::Error as CardError;
use firma_station_engine::profile::renewal_opens_on;
use time::Date;
use x509_cert::Certificate;

/// The holder, as the certificate's subject names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Given name and surnames ("María José Núñez Ibáñez"), else the
    /// subject's common name.
    pub name: String,
    /// The NIF/NIE of `serialNumber=IDCES-…`.
    pub nif: Option<String>,
}

/// One certificate on the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardCertificate {
    pub role: KeyRole,
    pub valid_until: Date,
}

/// Where a certificate stands on `today`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    /// Renewal opens on that day.
    From(Date),
    /// In the renewal window: renew now, before it expires.
    Open { until: Date },
    /// Expired: only a PRU can issue new ones.
    Expired,
}

impl CardCertificate {
    /// The day renewal opens: the station's 70-day window.
    pub fn renewal_opens(&self) -> Date {
        renewal_opens_on(self.valid_until)
    }

    pub fn renewal(&self, today: Date) -> Renewal {
        if today > self.valid_until {
            Renewal::Expired
        } else if today >= self.renewal_opens() {
            Renewal::Open {
                until: self.valid_until,
            }
        } else {
            Renewal::From(self.renewal_opens())
        }
    }
}

/// What the window shows of a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardView {
    pub serial: Option<u32>,
    pub holder: Option<Holder>,
    /// In the card profile's order (log in, sign, encrypt); roles without
    /// a certificate are left out.
    pub certificates: Vec<CardCertificate>,
    /// Certificates the card holds that cannot be read as X.509.
    pub unreadable: Vec<KeyRole>,
    pub pin: PinStatus,
    /// `None`: the card cannot tell without spending a try.
    pub puk: Option<PinStatus>,
}

impl CardView {
    /// The earliest expiry decides renewal: all three are renewed together.
    pub fn renewal(&self, today: Date) -> Option<Renewal> {
        self.certificates
            .iter()
            .min_by_key(|c| c.valid_until)
            .map(|c| c.renewal(today))
    }

    /// Whether this is a personalized citizen's card at all.
    pub fn is_personalized(&self) -> bool {
        !self.certificates.is_empty() || !self.unreadable.is_empty()
    }
}

/// Reads what the window shows, spending no PIN try.
pub fn read(card: &mut dyn CitizenCard) -> Result<CardView, CardError> {
    card.open()?;
    let serial = match card.serial() {
        Ok(s) => Some(s),
        Err(e) if e.is_card_gone() => return Err(e),
        Err(_) => None,
    };
    let mut holder = None;
    let mut certificates = Vec::new();
    let mut unreadable = Vec::new();
    for role in KeyRole::ALL {
        let Some(der) = card.certificate(role)? else {
            continue;
        };
        match Certificate::from_der(&der) {
            Ok(cert) => {
                let tbs = &cert.tbs_certificate;
                if holder.is_none() {
                    holder = Some(holder_of(&tbs.subject));
                }
                certificates.push(CardCertificate {
                    role,
                    valid_until: day(&tbs.validity.not_after),
                });
            }
            Err(_) => unreadable.push(role),
        }
    }
    let pin = card.pin_status()?;
    let puk = card.puk_status()?;
    Ok(CardView {
        serial,
        holder,
        certificates,
        unreadable,
        pin,
        puk,
    })
}

/// The day of an X.509 time, in UTC as the certificate states it.
fn day(t: &x509_cert::time::Time) -> Date {
    let secs = i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .map(|t| t.date())
        .unwrap_or(Date::MAX)
}

/// A DirectoryString as the station writes them (UTF8String or
/// PrintableString).
fn text(value: &der::Any) -> Option<String> {
    match value.tag() {
        Tag::Utf8String => Utf8StringRef::try_from(value).ok().map(|s| s.to_string()),
        Tag::PrintableString => PrintableStringRef::try_from(value)
            .ok()
            .map(|s| s.to_string()),
        _ => None,
    }
}

fn holder_of(subject: &x509_cert::name::Name) -> Holder {
    use const_oid::db::rfc4519::{COMMON_NAME, GIVEN_NAME, SERIAL_NUMBER, SURNAME};
    let find = |oid| {
        subject
            .0
            .iter()
            .flat_map(|rdn| rdn.0.iter())
            .find(|atv| atv.oid == oid)
            .and_then(|atv| text(&atv.value))
    };
    let name = match (find(GIVEN_NAME), find(SURNAME)) {
        (Some(g), Some(s)) => format!("{g} {s}"),
        _ => find(COMMON_NAME).unwrap_or_default(),
    };
    let nif = find(SERIAL_NUMBER).map(|s| s.strip_prefix("IDCES-").unwrap_or(&s).to_string());
    Holder { name, nif }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn renewal_opens_seventy_days_before_expiry_and_closes_with_it() {
        let c = CardCertificate {
            role: KeyRole::Signature,
            valid_until: date!(2029 - 06 - 30),
        };
        assert_eq!(c.renewal_opens(), date!(2029 - 04 - 21));
        assert_eq!(
            c.renewal(date!(2029 - 04 - 20)),
            Renewal::From(date!(2029 - 04 - 21))
        );
        assert_eq!(
            c.renewal(date!(2029 - 04 - 21)),
            Renewal::Open {
                until: date!(2029 - 06 - 30)
            }
        );
        assert!(matches!(
            c.renewal(date!(2029 - 06 - 30)),
            Renewal::Open { .. }
        ));
        assert_eq!(c.renewal(date!(2029 - 07 - 01)), Renewal::Expired);
    }
}
