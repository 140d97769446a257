//! The services on an issued card: unblock the PIN, change it, reset the
//! card for re-issue, and revoke an application's certificates (no card).

use eframe::egui::{self, Color32, RichText};
use firma_apdu::piv::Pin;
use firma_station_engine::ca::RevocationReason;
use firma_station_engine::error::StationError;
use firma_station_engine::pin::parse_puk;
use firma_station_engine::services;
use firma_station_engine::worker::Job;
use zeroize::Zeroizing;

use super::pin::{self, new_pin};
use super::{Action, Cx};
use crate::ui::i18n::{self, t, Key, Said};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceKind {
    Unblock,
    ChangePin,
    Revoke,
    Reset,
}

pub struct ServiceDialog {
    pub kind: ServiceKind,
    pub reader: String,
    pub application: i64,
    secret: Zeroizing<String>,
    new_pin: Zeroizing<String>,
    again: Zeroizing<String>,
    reason: RevocationReason,
    confirmed: bool,
    pub error: Option<Said>,
    /// The first field has been given the keyboard focus.
    focused: bool,
}

/// What "Do it" runs: a job on the reader's worker, or a revocation,
/// which needs no card.
pub enum ServiceJob {
    Card(Job),
    Revoke {
        application: i64,
        reason: RevocationReason,
    },
}

impl ServiceDialog {
    pub fn new(kind: ServiceKind, reader: Option<String>, application: i64) -> Self {
        Self {
            kind,
            reader: reader.unwrap_or_default(),
            application,
            secret: Zeroizing::new(String::new()),
            new_pin: Zeroizing::new(String::new()),
            again: Zeroizing::new(String::new()),
            reason: RevocationReason::Unspecified,
            confirmed: false,
            error: None,
            focused: false,
        }
    }

    /// The job the dialog asks for; the secrets typed are cleared either
    /// way (the caller wipes egui's copies).
    /// The job the dialog asks for; the secrets typed are cleared either
    /// way (the caller wipes egui's copies).
    pub fn job(&mut self) -> Result<ServiceJob, Said> {
        self.error = None;
        let job = match self.kind {
            ServiceKind::Unblock | ServiceKind::ChangePin => {
                let new = new_pin(&self.new_pin, &self.again);
                // What cannot be a PUK or a PIN never reaches the card: it
                // would cost a try.
                let first = if self.kind == ServiceKind::Unblock {
                    parse_puk(&self.secret).map_err(|e| Said::error(&e.into()))
                } else {
                    Pin::new(self.secret.as_bytes())
                        .map_err(|e| Said::error(&StationError::PinFormat(e)))
                };
                match (new, first) {
                    (Ok(new), Ok(first)) => {
                        let unblock = self.kind == ServiceKind::Unblock;
                        Ok(ServiceJob::Card(Job::Service {
                            name: "pin".into(),
                            run: Box::new(move |station, card| {
                                let serial = if unblock {
                                    services::unblock(station, card, &first, &new)?
                                } else {
                                    services::change_pin(station, card, &first, &new)?
                                };
                                Ok(serial.to_string())
                            }),
                        }))
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
            ServiceKind::Reset => Ok(ServiceJob::Card(Job::Service {
                name: "reset".into(),
                run: Box::new(move |station, card| {
                    let r = services::reset_card(station, card, RevocationReason::Superseded)?;
                    Ok(r.serial.to_string())
                }),
            })),
            ServiceKind::Revoke => {
                return Ok(ServiceJob::Revoke {
                    application: self.application,
                    reason: self.reason,
                })
            }
        };
        self.secret.clear();
        self.new_pin.clear();
        self.again.clear();
        self.focused = false;
        job
    }

    /// What the service did, in words; `what` is the job's own answer (a
    /// card serial, the number of certificates revoked).
    pub fn done(&self, what: &str) -> Said {
        match self.kind {
            ServiceKind::Unblock => Said::key(Key::Unblocked),
            ServiceKind::ChangePin => Said::key(Key::PinChanged),
            ServiceKind::Reset => Said::new(|l| format!("{} ({what})", t(l, Key::ResetDone))),
            ServiceKind::Revoke => Said::new(|l| format!("{}: {what}", t(l, Key::Revoked))),
        }
    }
}

pub fn show(ui: &mut egui::Ui, cx: &Cx, working: bool, d: &mut ServiceDialog) -> Option<Action> {
    let lang = cx.lang;
    let reader = Some(d.reader.as_str()).filter(|r| !r.is_empty());
    super::context(ui, cx, d.application, reader);
    ui.heading(t(
        lang,
        match d.kind {
            ServiceKind::Unblock => Key::Unblock,
            ServiceKind::ChangePin => Key::ChangePin,
            ServiceKind::Revoke => Key::Revoke,
            ServiceKind::Reset => Key::ResetCard,
        },
    ));
    let mut enter = false;
    match d.kind {
        ServiceKind::Unblock | ServiceKind::ChangePin => {
            let first = if d.kind == ServiceKind::Unblock {
                Key::Puk
            } else {
                Key::PinCurrentField
            };
            let chars = if d.kind == ServiceKind::Unblock {
                pin::PUK_CHARS
            } else {
                pin::PIN_CHARS
            };
            ui.label(t(lang, Key::PinRules));
            egui::Grid::new("pin-service")
                .num_columns(2)
                .spacing([12.0, 8.0])
                .show(ui, |ui| {
                    let r = pin::field(ui, t(lang, first), &mut d.secret, chars);
                    if !d.focused {
                        r.request_focus();
                        d.focused = true;
                    }
                    enter |= pin::submitted(ui, &r);
                    let r = pin::field(ui, t(lang, Key::PinNew), &mut d.new_pin, pin::PIN_CHARS);
                    enter |= pin::submitted(ui, &r);
                    let r = pin::field(ui, t(lang, Key::PinAgain), &mut d.again, pin::PIN_CHARS);
                    enter |= pin::submitted(ui, &r);
                });
        }
        ServiceKind::Revoke => {
            egui::ComboBox::from_label(t(lang, Key::Reason))
                .selected_text(i18n::reason(lang, d.reason))
                .show_ui(ui, |ui| {
                    for r in [
                        RevocationReason::Unspecified,
                        RevocationReason::KeyCompromise,
                        RevocationReason::AffiliationChanged,
                        RevocationReason::Superseded,
                        RevocationReason::CessationOfOperation,
                    ] {
                        ui.selectable_value(&mut d.reason, r, i18n::reason(lang, r));
                    }
                });
            ui.checkbox(&mut d.confirmed, t(lang, Key::ConfirmRevoke));
        }
        ServiceKind::Reset => {
            ui.checkbox(&mut d.confirmed, t(lang, Key::ConfirmReset));
        }
    }
    if let Some(e) = &d.error {
        ui.colored_label(Color32::DARK_RED, e.get(lang));
    }
    if working {
        ui.add(egui::Spinner::new());
    }
    let mut action = None;
    ui.horizontal(|ui| {
        let needs_confirm = matches!(d.kind, ServiceKind::Revoke | ServiceKind::Reset);
        // The button says what it does; a destructive one is red.
        let (key, destructive) = match d.kind {
            ServiceKind::Unblock => (Key::DoUnblock, false),
            ServiceKind::ChangePin => (Key::DoChangePin, false),
            ServiceKind::Revoke => (Key::DoRevoke, true),
            ServiceKind::Reset => (Key::DoReset, true),
        };
        let button = if destructive {
            egui::Button::new(RichText::new(t(lang, key)).strong().color(Color32::WHITE))
                .fill(Color32::DARK_RED)
        } else {
            egui::Button::new(RichText::new(t(lang, key)).strong())
        };
        if ui
            .add_enabled(!working && (!needs_confirm || d.confirmed), button)
            .on_disabled_hover_text(t(lang, Key::CannotUndo))
            .clicked()
            || (enter && !working && !needs_confirm)
        {
            action = Some(Action::RunService);
        }
        if ui.button(t(lang, Key::Cancel)).clicked() {
            action = Some(Action::Close);
        }
    });
    action
}
