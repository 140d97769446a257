//! The first step: is this the card the application is for, is it blank
//! (or the one an unfinished run left), and is nobody else working on it.

use firma_apdu::piv::pin::DEFAULT_PIN;
use firma_apdu::piv::{Pin, PinStatus, Slot};
use firma_apdu::Error as CardError;

use crate::error::StationError;
use crate::registry::{CardState, WorkflowKind};

use super::{Card, Run, Step};

impl Run<'_> {
    pub(super) fn check_card(&mut self, card: &mut Card<'_>) -> Result<(), StationError> {
        let step = Step::CheckCard;
        card.select().map_err(|e| match e {
            e if e.is_card_gone() => StationError::card(step, e),
            _ => StationError::NotBlank {
                serial: 0,
                why: "it has no PIV application".into(),
            },
        })?;
        let serial = card.serial().map_err(|e| match e {
            CardError::NotSupportedByCard(_) => StationError::NotBlank {
                serial: 0,
                why: "it does not tell its serial number (GET SERIAL, a Yubico extension this station needs)".into(),
            },
            e => StationError::card(step, e),
        })?;
        self.serial = serial;
        let app = &self.app;
        if let Some(expected) = app.card_serial {
            if expected != serial {
                return Err(StationError::WrongCard {
                    application: app.id,
                    expected,
                    found: serial,
                });
            }
        }
        let reg = self.station.registry();
        let record = reg.card(serial)?;
        let on_card = reg.open_activation_on_card(serial)?;
        let for_app = reg.open_activation(app.id)?;
        drop(reg);
        if let Some(a) = &on_card {
            if a.application_id != app.id {
                return Err(StationError::CardBusy {
                    serial,
                    application: a.application_id,
                });
            }
        }
        if let Some(a) = &for_app {
            if a.card_serial != serial {
                return Err(StationError::StartedOnOtherCard {
                    application: app.id,
                    serial: a.card_serial,
                });
            }
            if a.kind != self.kind {
                return Err(StationError::UnfinishedWorkflow {
                    application: app.id,
                    kind: a.kind,
                });
            }
        }
        match self.kind {
            WorkflowKind::Activate => {
                if let Some(r) = &record {
                    if r.state == CardState::Personalized {
                        return Err(StationError::AlreadyPersonalized {
                            serial,
                            application: r.application_id.unwrap_or(0),
                        });
                    }
                }
                if for_app.is_none() {
                    check_blank(card, serial)?;
                }
            }
            WorkflowKind::Renew => match &record {
                Some(r)
                    if r.state == CardState::Personalized && r.application_id == Some(app.id) => {}
                _ => {
                    return Err(StationError::NotApplicationsCard {
                        serial,
                        application: app.id,
                        nif: app.nif.clone(),
                    })
                }
            },
        }
        let activation = self.station.registry().start_run(
            app.id,
            serial,
            self.kind,
            self.station.config.algorithm,
            &self.reader,
            &self.station.actor,
        )?;
        self.activation = Some(activation);
        self.record(
            Step::CheckCard,
            format!("card {serial} in {}", self.reader),
            &[],
        )?;
        Ok(())
    }
}

/// A card is blank when it has no certificates, its PIN is not blocked, and
/// (where the card can tell) PIN and PUK are the factory ones. The transport
/// management key is checked by the next step.
pub(super) fn check_blank(card: &mut Card<'_>, serial: u32) -> Result<(), StationError> {
    let step = Step::CheckCard;
    let not_blank = |why: &str| StationError::NotBlank {
        serial,
        why: why.into(),
    };
    for slot in [
        Slot::Authentication,
        Slot::Signature,
        Slot::KeyManagement,
        Slot::CardAuthentication,
    ] {
        match card.read_certificate(slot) {
            Ok(None) => {}
            Ok(Some(_)) => {
                return Err(not_blank(&format!(
                    "it already holds a certificate in slot {slot:?}"
                )))
            }
            Err(e) if e.is_card_gone() => return Err(StationError::card(step, e)),
            Err(_) => return Err(not_blank("its certificate slots cannot be read")),
        }
    }
    match card.pin_status() {
        Ok(PinStatus::Blocked) => return Err(not_blank("its PIN is blocked")),
        Err(e) if e.is_card_gone() => return Err(StationError::card(step, e)),
        _ => {}
    }
    for (reference, what) in [(0x80u8, "PIN"), (0x81, "PUK")] {
        match card.metadata(reference) {
            Ok(Some(m)) if m.is_default == Some(false) => {
                return Err(not_blank(&format!("its {what} is not the factory {what}")));
            }
            // No metadata (Nitrokey 3): the factory PIN is tried instead,
            // before any key is made, so a used card is turned away here.
            Err(CardError::NotSupportedByCard(_)) if reference == 0x80 => {
                match card.verify_pin(&Pin::new(DEFAULT_PIN).expect("valid")) {
                    Ok(()) => {}
                    Err(CardError::WrongPin { tries_left }) => {
                        return Err(not_blank(&format!(
                        "its PIN is not the factory PIN (the check cost a try: {tries_left} left)"
                    )))
                    }
                    Err(e) if e.is_card_gone() => return Err(StationError::card(step, e)),
                    Err(_) => return Err(not_blank("it refuses the factory PIN")),
                }
            }
            _ => {}
        }
    }
    Ok(())
}
