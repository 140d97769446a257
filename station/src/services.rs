//! What the station does for a citizen besides activation: the identity
//! check, PIN unblock and change, revocation, and resetting a card for
//! re-issue. (Renewal is a workflow: see [`crate::activation::run`].)

use firma_apdu::card::{self, CitizenCard};
use firma_apdu::piv::{Pin, Piv, Puk};
use firma_apdu::transport::Transport;
use firma_apdu::Error as CardError;
use time::OffsetDateTime;

use crate::audit::{Action, Event, Subject};
use crate::ca::RevocationReason;
use crate::engine::Station;
use crate::error::{CardTask, StationError};
use crate::identity::{IdentityDocument, Nif};
use crate::registry::{
    ActivationState, AppKey, AppState, Application, CardRecord, CardState, CertState, Change,
    IdentityCheck,
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
        return Err(StationError::IdentityNotSeen);
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
        used_by: None,
    };
    station.registry().commit(
        &station.actor,
        None,
        &[Change::IdentityCheck(check)],
        &Event::new(
            Action::IdentityChecked,
            Subject::Application(app.id),
            format!(
                "{} {}, valid until {}, seen in person",
                document.kind, document.number, document.expires
            ),
        ),
    )?;
    Ok(app)
}

/// The card's serial and what the registry knows of it.
pub fn identify(
    station: &Station,
    card: &mut dyn CitizenCard,
) -> Result<(u32, Option<CardRecord>), StationError> {
    let serial = card
        .serial()
        .map_err(|e| StationError::card(CardTask::ReadSerial, e))?;
    let record = station.registry().card(serial)?;
    Ok((serial, record))
}

fn card_subject(serial: u32, record: &Option<CardRecord>) -> Subject {
    match record.as_ref().and_then(|r| r.application_id) {
        Some(app) => Subject::Application(app),
        None => Subject::Card(serial),
    }
}

/// Runs one PIN operation on the card and records it in the audit log,
/// whatever its outcome (tries left, never the PIN or PUK).
fn pin_operation<T: Transport>(
    station: &Station,
    transport: T,
    task: CardTask,
    action: Action,
    done: &str,
    op: impl FnOnce(&mut dyn CitizenCard) -> Result<(), CardError>,
) -> Result<u32, StationError> {
    let mut card = card::open(transport).map_err(|e| StationError::card(CardTask::Select, e))?;
    let (serial, record) = identify(station, card.as_mut())?;
    let result = op(card.as_mut());
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
    result.map_err(|e| StationError::pin_operation(task, e))?;
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
        CardTask::UnblockPin,
        Action::PinUnblocked,
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
    pin_operation(
        station,
        transport,
        CardTask::ChangePin,
        Action::PinChanged,
        "PIN changed",
        |piv| piv.change_pin(old, new),
    )
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
        return Err(StationError::AlreadyRevoked {
            application: app.id,
        });
    }
    let mut changes = Vec::new();
    for c in &live {
        station.revoke_at_ca(&c.serial, reason)?;
        changes.push(Change::CertificateState {
            serial: c.serial.clone(),
            state: CertState::Revoked,
            reason: Some(reason),
        });
    }
    changes.push(Change::ApplicationState(app.id, AppState::Revoked));
    let serials: Vec<String> = live.iter().map(|c| c.serial.clone()).collect();
    station.registry().commit(
        &station.actor,
        None,
        &changes,
        &Event::new(
            Action::Revoked,
            Subject::Application(app.id),
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
    // Resetting a card is PIV administration (Yubico's RESET), as
    // personalizing one is.
    let mut piv = Piv::new(transport);
    piv.select()
        .map_err(|e| StationError::card(CardTask::Select, e))?;
    let (serial, record) = identify(station, &mut piv)?;
    let step = CardTask::Reset;
    // Digits, as every card takes (Nitrokey 3 refuses other characters with
    // 6A80), and never a citizen's PIN or a station's PUK: the PIN rules
    // refuse a repeated digit, and random_puk never makes one.
    let wrong = Pin::new("000000").expect("valid");
    let wrong_puk = Puk::new("00000000").expect("valid");
    for _ in 0..16 {
        match piv.verify_pin(&wrong) {
            Err(CardError::PinBlocked) => break,
            Err(CardError::WrongPin { .. }) => continue,
            Ok(()) => return Err(StationError::AcceptedWrongSecret("PIN")),
            Err(e) => return Err(StationError::card(step, e)),
        }
    }
    for _ in 0..16 {
        match piv.unblock_pin(&wrong_puk, &wrong) {
            Err(CardError::PukBlocked) => break,
            Err(CardError::WrongPuk { .. }) => continue,
            Ok(()) => return Err(StationError::AcceptedWrongSecret("PUK")),
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
                    reason: Some(reason),
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
            Action::CardReset,
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
            &Event::new(Action::Expired, Subject::Application(app.id), why.clone()),
        )?;
        expired.push((app.id, why));
    }
    Ok(expired)
}
