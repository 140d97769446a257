//! What the station does for a citizen besides activation: the identity
//! check, PIN unblock and change, revocation, and resetting a card for
//! re-issue. (Renewal is a workflow: see [`crate::activation::run`].)

use firma_apdu::piv::{Pin, Piv, Puk};
use firma_apdu::transport::Transport;
use firma_apdu::Error as CardError;
use time::OffsetDateTime;

use crate::ca::RevocationReason;
use crate::engine::Station;
use crate::error::StationError;
use crate::identity::{IdentityDocument, Nif};
use crate::registry::{
    ActivationState, AppKey, AppState, Application, CardRecord, CardState, CertState, Change,
    Event, IdentityCheck,
};

/// Records the operator's check of the citizen's identity document.
pub fn record_identity_check(
    station: &Station,
    key: &AppKey,
    document: &IdentityDocument,
    seen_person_and_document: bool,
) -> Result<Application, StationError> {
    let app = station.application(key)?;
    if !seen_person_and_document {
        return Err(StationError::Input(
            "confirm that you saw the document and that it shows the person in front of you (--seen)"
                .into(),
        ));
    }
    let nif = Nif::parse(&app.nif)?;
    document.belongs_to(&nif)?;
    let check = IdentityCheck {
        application_id: app.id,
        document_kind: document.kind.to_string(),
        document_number: document.number.to_string(),
        support_number: document.support_number.clone(),
        document_expires: document.expires,
        checked_at: OffsetDateTime::now_utc(),
        operator: station.actor.operator.clone(),
    };
    station.registry().commit(
        &station.actor,
        None,
        &[Change::IdentityCheck(check)],
        &Event::new(
            "identity checked",
            format!("application {}", app.id),
            format!(
                "{} {}, valid until {}, seen in person",
                document.kind, document.number, document.expires
            ),
        ),
    )?;
    Ok(app)
}

/// The card's serial and what the registry knows of it.
pub fn identify<T: Transport>(
    station: &Station,
    piv: &mut Piv<T>,
) -> Result<(u32, Option<CardRecord>), StationError> {
    piv.select()
        .map_err(|e| StationError::card("selecting the PIV application", e))?;
    let serial = piv
        .serial()
        .map_err(|e| StationError::card("reading the card's serial", e))?;
    let record = station.registry().card(serial)?;
    Ok((serial, record))
}

fn card_subject(serial: u32, record: &Option<CardRecord>) -> String {
    match record.as_ref().and_then(|r| r.application_id) {
        Some(app) => format!("application {app}"),
        None => format!("card {serial}"),
    }
}

/// Runs one PIN operation on the card and records it in the audit log,
/// whatever its outcome (tries left, never the PIN or PUK).
fn pin_operation<T: Transport>(
    station: &Station,
    transport: T,
    action: &str,
    done: &str,
    op: impl FnOnce(&mut Piv<T>) -> Result<(), CardError>,
) -> Result<u32, StationError> {
    let mut piv = Piv::new(transport);
    let (serial, record) = identify(station, &mut piv)?;
    let result = op(&mut piv);
    let outcome = match &result {
        Ok(()) => done.to_string(),
        Err(CardError::WrongPuk { tries_left }) => format!("wrong PUK, {tries_left} tries left"),
        Err(CardError::WrongPin { tries_left }) => format!("wrong PIN, {tries_left} tries left"),
        Err(e) => format!("failed: {e}"),
    };
    station.registry().commit(
        &station.actor,
        None,
        &[],
        &Event::new(
            action,
            card_subject(serial, &record),
            format!("card {serial}: {outcome}"),
        ),
    )?;
    result.map_err(|e| match e {
        CardError::WrongPuk { tries_left } => StationError::State(format!(
            "the PUK is not right: {tries_left} tries left. Check the PUK letter"
        )),
        CardError::PukBlocked => StationError::State(
            "the PUK is blocked: the card must be reset (firma-station reset-card) and issued again".into(),
        ),
        CardError::WrongPin { tries_left } => StationError::State(format!(
            "the current PIN is not right: {tries_left} tries left"
        )),
        CardError::PinBlocked => StationError::State(
            "the PIN is blocked: unblock it with the PUK (firma-station unblock)".into(),
        ),
        e => StationError::card(action, e),
    })?;
    Ok(serial)
}

/// Unblocks the PIN with the PUK and sets the citizen's new PIN.
pub fn unblock<T: Transport>(
    station: &Station,
    transport: T,
    puk: &Puk,
    new_pin: &Pin,
) -> Result<u32, StationError> {
    pin_operation(
        station,
        transport,
        "PIN unblock",
        "PIN unblocked, new PIN set",
        |piv| piv.unblock_pin(puk, new_pin),
    )
}

/// Changes the PIN (the citizen types the current one and a new one).
pub fn change_pin<T: Transport>(
    station: &Station,
    transport: T,
    old: &Pin,
    new: &Pin,
) -> Result<u32, StationError> {
    pin_operation(station, transport, "PIN change", "PIN changed", |piv| {
        piv.change_pin(old, new)
    })
}

/// Revokes every certificate of an application (CRL and registry).
pub fn revoke(
    station: &Station,
    key: &AppKey,
    reason: RevocationReason,
) -> Result<Vec<String>, StationError> {
    let app = station.application(key)?;
    let certs = station.registry().certificates(app.id)?;
    let live: Vec<_> = certs
        .into_iter()
        .filter(|c| c.state != CertState::Revoked)
        .collect();
    if live.is_empty() && app.state == AppState::Revoked {
        return Err(StationError::State(format!(
            "application {} is already revoked",
            app.id
        )));
    }
    let mut changes = Vec::new();
    for c in &live {
        station.revoke_at_ca(&c.serial, reason)?;
        changes.push(Change::CertificateState {
            serial: c.serial.clone(),
            state: CertState::Revoked,
            reason: Some(reason.to_string()),
        });
    }
    changes.push(Change::ApplicationState(app.id, AppState::Revoked));
    let serials: Vec<String> = live.iter().map(|c| c.serial.clone()).collect();
    station.registry().commit(
        &station.actor,
        None,
        &changes,
        &Event::new(
            "revoked",
            format!("application {}", app.id),
            format!("reason {reason}; certificates {}", serials.join(", ")),
        ),
    )?;
    Ok(serials)
}

/// What `reset_card` did.
#[derive(Debug)]
pub struct ResetReport {
    pub serial: u32,
    pub application: Option<i64>,
    pub revoked: Vec<String>,
}

/// Resets a card to blank for re-issue: blocks PIN and PUK, RESET, revokes
/// the certificates it carried, closes an unfinished activation and puts its
/// application back to `requested` so the citizen can be issued again.
pub fn reset_card<T: Transport>(
    station: &Station,
    transport: T,
    reason: RevocationReason,
) -> Result<ResetReport, StationError> {
    let mut piv = Piv::new(transport);
    let (serial, record) = identify(station, &mut piv)?;
    let step = "resetting the card";
    // Digits, as every card takes (Nitrokey 3 refuses other characters with
    // 6A80), and never a citizen's PIN or a station's PUK: the PIN rules
    // refuse a repeated digit, and random_puk never makes one.
    let wrong = Pin::new("000000").expect("valid");
    let wrong_puk = Puk::new("00000000").expect("valid");
    for _ in 0..16 {
        match piv.verify_pin(&wrong) {
            Err(CardError::PinBlocked) => break,
            Err(CardError::WrongPin { .. }) => continue,
            Ok(()) => {
                return Err(StationError::State(
                    "the card accepted a PIN it must not".into(),
                ))
            }
            Err(e) => return Err(StationError::card(step, e)),
        }
    }
    for _ in 0..16 {
        match piv.unblock_pin(&wrong_puk, &wrong) {
            Err(CardError::PukBlocked) => break,
            Err(CardError::WrongPuk { .. }) => continue,
            Ok(()) => {
                return Err(StationError::State(
                    "the card accepted a PUK it must not".into(),
                ))
            }
            Err(e) => return Err(StationError::card(step, e)),
        }
    }
    piv.reset().map_err(|e| StationError::card(step, e))?;

    let app_id = record.as_ref().and_then(|r| r.application_id);
    let mut changes = Vec::new();
    let mut revoked = Vec::new();
    if let Some(app_id) = app_id {
        let app = station.application(&AppKey::Id(app_id))?;
        for c in station.registry().certificates(app_id)? {
            if c.card_serial == serial && c.state != CertState::Revoked {
                station.revoke_at_ca(&c.serial, reason)?;
                changes.push(Change::CertificateState {
                    serial: c.serial.clone(),
                    state: CertState::Revoked,
                    reason: Some(reason.to_string()),
                });
                revoked.push(c.serial);
            }
        }
        if matches!(app.state, AppState::Activated | AppState::Renewed) {
            changes.push(Change::ApplicationState(app_id, AppState::Requested));
        }
    }
    if let Some(open) = station.registry().open_activation_on_card(serial)? {
        changes.push(Change::ActivationState {
            id: open.id,
            state: ActivationState::Abandoned,
            error: Some("the card was reset".into()),
        });
    }
    if record.is_some() {
        changes.push(Change::Card {
            serial,
            application_id: None,
            state: CardState::Reset,
        });
        changes.push(Change::ForgetKeys(serial));
    }
    station.registry().commit(
        &station.actor,
        None,
        &changes,
        &Event::new(
            "card reset",
            card_subject(serial, &record),
            format!(
                "card {serial} back to blank; reason {reason}; certificates revoked: {}",
                if revoked.is_empty() {
                    "none".into()
                } else {
                    revoked.join(", ")
                }
            ),
        ),
    )?;
    Ok(ResetReport {
        serial,
        application: app_id,
        revoked,
    })
}

/// Marks as expired the applications that lapsed (not activated in time)
/// and those whose certificates have all expired. Returns (id, why).
pub fn expire_due(station: &Station) -> Result<Vec<(i64, String)>, StationError> {
    let now = OffsetDateTime::now_utc();
    let apps = station.registry().applications()?;
    let mut expired = Vec::new();
    for app in apps {
        let why = match app.state {
            AppState::Requested if app.expires_at < now => {
                format!("not activated by {}", app.expires_at.date())
            }
            AppState::Activated | AppState::Renewed => {
                let certs = station.registry().certificates(app.id)?;
                let loaded: Vec<_> = certs
                    .iter()
                    .filter(|c| c.state == CertState::Loaded)
                    .collect();
                match loaded.iter().map(|c| c.not_after).max() {
                    Some(last) if last < now => {
                        format!("its certificates expired on {}", last.date())
                    }
                    _ => continue,
                }
            }
            _ => continue,
        };
        station.registry().commit(
            &station.actor,
            None,
            &[Change::ApplicationState(app.id, AppState::Expired)],
            &Event::new("expired", format!("application {}", app.id), why.clone()),
        )?;
        expired.push((app.id, why));
    }
    Ok(expired)
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
        expires: Option<time::Date>,
        pin_blocked: bool,
        /// An activation on it stopped half-way.
        unfinished: bool,
    },
    /// Not a PIV card, a card without Yubico's extensions, or a card
    /// personalized elsewhere.
    Unknown {
        why: String,
    },
}

/// Looks at the card behind `transport` without changing it (no PIN is
/// tried: the PIN status comes from an empty VERIFY).
pub fn describe_card<T: Transport>(station: &Station, transport: T) -> CardView {
    let mut piv = Piv::new(transport);
    if piv.select().is_err() {
        return CardView::Unknown {
            why: "not a PIV card".into(),
        };
    }
    let serial = match piv.serial() {
        Ok(s) => s,
        Err(_) => {
            return CardView::Unknown {
                why: "a PIV card without a serial number (no Yubico extensions)".into(),
            }
        }
    };
    let pin_blocked = matches!(piv.pin_status(), Ok(firma_apdu::piv::PinStatus::Blocked));
    let record = station.registry().card(serial).ok().flatten();
    if let Some(app_id) = record.as_ref().and_then(|r| r.application_id) {
        if let Ok(app) = station.application(&AppKey::Id(app_id)) {
            let certs = station.registry().certificates(app_id).unwrap_or_default();
            let expires = certs
                .iter()
                .filter(|c| c.card_serial == serial && c.state == CertState::Loaded)
                .map(|c| c.not_after.date())
                .min();
            let unfinished = record
                .as_ref()
                .is_some_and(|r| r.state == CardState::Personalizing);
            return CardView::Firma {
                serial,
                application: app_id,
                holder: format!("{} {}", app.given_name, app.surnames),
                expires,
                pin_blocked,
                unfinished,
            };
        }
    }
    let has_certificates = [
        firma_apdu::piv::Slot::Authentication,
        firma_apdu::piv::Slot::Signature,
        firma_apdu::piv::Slot::KeyManagement,
    ]
    .into_iter()
    .any(|s| matches!(piv.read_certificate(s), Ok(Some(_))));
    if has_certificates || pin_blocked {
        CardView::Unknown {
            why: format!("card {serial} was personalized elsewhere"),
        }
    } else {
        CardView::Blank { serial }
    }
}

/// A card's details for the operator (serial, version, PIN and PUK tries,
/// each slot's certificate), read without changing anything.
pub fn inspect<T: Transport>(station: &Station, transport: T) -> Result<String, StationError> {
    let mut piv = Piv::new(transport);
    let (serial, record) = identify(station, &mut piv)?;
    let mut lines = vec![format!("card {serial}")];
    if let Ok(v) = piv.version() {
        lines.push(format!("version {v}"));
    }
    // GET METADATA tells the tries left even after a VERIFY in this session.
    match (piv.metadata(0x80), piv.pin_status()) {
        (
            Ok(Some(firma_apdu::piv::Metadata {
                retries: Some((_, 0)),
                ..
            })),
            _,
        )
        | (_, Ok(firma_apdu::piv::PinStatus::Blocked)) => lines.push("PIN: blocked".into()),
        (
            Ok(Some(firma_apdu::piv::Metadata {
                retries: Some((_, n)),
                ..
            })),
            _,
        )
        | (_, Ok(firma_apdu::piv::PinStatus::TriesLeft(n))) => {
            lines.push(format!("PIN: {n} tries left"))
        }
        _ => lines.push("PIN: verified in this session".into()),
    }
    match piv.metadata(0x81) {
        Ok(Some(firma_apdu::piv::Metadata {
            retries: Some((_, left)),
            ..
        })) => lines.push(format!("PUK: {left} tries left")),
        Err(firma_apdu::Error::NotSupportedByCard(_)) => {
            lines.push("PUK: tries left not reported by this card".into())
        }
        _ => {}
    }
    for slot in [
        firma_apdu::piv::Slot::Authentication,
        firma_apdu::piv::Slot::Signature,
        firma_apdu::piv::Slot::KeyManagement,
    ] {
        let text = match piv.read_certificate(slot) {
            Ok(Some(der)) => {
                use der::Decode;
                match x509_cert::Certificate::from_der(&der) {
                    Ok(c) => format!(
                        "{}, until {}",
                        c.tbs_certificate.subject, c.tbs_certificate.validity.not_after
                    ),
                    Err(_) => "an unreadable certificate".into(),
                }
            }
            Ok(None) => "no certificate".into(),
            Err(e) => return Err(StationError::card("reading the certificates", e)),
        };
        lines.push(format!("{slot}: {text}"));
    }
    match record {
        Some(r) => lines.push(format!(
            "registry: {}{}",
            r.state,
            r.application_id
                .map_or(String::new(), |a| format!(", application {a}"))
        )),
        None => lines.push("registry: not a card of this station".into()),
    }
    Ok(lines.join("\n"))
}
