//! The card inspection report as the window's service dialog shows it.

use firma_apdu::piv::PinStatus;
use firma_station_engine::inspection::{
    x509_time, CertificateReport, Inspection, Reported, CITIZEN_SLOTS,
};

/// Serial, version, PIN and PUK tries, each citizen slot's certificate and
/// what the registry knows, one line each.
pub fn text(found: &Inspection) -> String {
    let card = &found.card;
    let serial = card.serial.map_or("?".to_string(), |s| s.to_string());
    let mut lines = vec![format!("card {serial}")];
    if let Reported::Known(v) = &card.version {
        lines.push(format!("version {v}"));
    }
    lines.push(match card.pin.status {
        PinStatus::Blocked => "PIN: blocked".into(),
        PinStatus::TriesLeft(n) => format!("PIN: {n} tries left"),
        PinStatus::Verified => "PIN: verified in this session".into(),
    });
    match &card.puk {
        Some(Reported::Known(p)) => lines.push(match p.status {
            PinStatus::TriesLeft(n) => format!("PUK: {n} tries left"),
            _ => "PUK: 0 tries left".into(),
        }),
        Some(Reported::NotReported) => {
            lines.push("PUK: tries left not reported by this card".into())
        }
        None => {}
    }
    for slot in CITIZEN_SLOTS {
        let cert = card
            .slots
            .iter()
            .find(|s| s.slot == slot)
            .and_then(|s| s.certificate.as_ref());
        let text = match cert {
            Some(CertificateReport::Readable {
                subject, not_after, ..
            }) => format!("{subject}, until {}", x509_time(*not_after)),
            Some(CertificateReport::Unreadable(_)) => "an unreadable certificate".into(),
            None => "no certificate".into(),
        };
        lines.push(format!("{slot}: {text}"));
    }
    lines.push(match &found.record {
        Some(r) => format!(
            "registry: {}{}",
            r.state,
            r.application_id
                .map_or(String::new(), |a| format!(", application {a}"))
        ),
        None => "registry: not a card of this station".into(),
    });
    lines.join("\n")
}
