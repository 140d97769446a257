//! "Inspect the card": what the card holds and what the registry knows of
//! it, as a panel of labelled rows in the operator's language, from the
//! engine's typed report.

use eframe::egui::{self, Color32, RichText};
use firma_apdu::piv::PinStatus;
use firma_station_engine::inspection::{CertificateReport, Inspection, Reported, CITIZEN_SLOTS};
use firma_station_engine::registry::CardState;

use super::{Action, Cx};
use crate::ui::i18n::{self, slot, t, Key, Lang};

pub struct InspectionView {
    pub reader: String,
    pub found: Box<Inspection>,
}

pub fn show(ui: &mut egui::Ui, cx: &Cx, v: &InspectionView) -> Option<Action> {
    let lang = cx.lang;
    let found = &v.found;
    let card = &found.card;
    if let Some(app) = &found.application {
        super::context(ui, cx, app.id, Some(&v.reader));
    }
    ui.heading(t(lang, Key::InspTitle));
    let row = |ui: &mut egui::Ui, key: Key, value: String, color: Option<Color32>| {
        ui.label(t(lang, key));
        let text = RichText::new(value).strong();
        ui.label(match color {
            Some(c) => text.color(c),
            None => text,
        });
        ui.end_row();
    };
    egui::Grid::new("inspection-card")
        .num_columns(2)
        .striped(true)
        .spacing([24.0, 6.0])
        .show(ui, |ui| {
            let serial = card.serial.map_or("?".into(), |s| s.to_string());
            row(ui, Key::InspSerial, serial, None);
            let version = match &card.version {
                Reported::Known(v) => v.clone(),
                Reported::NotReported => t(lang, Key::InspNotReported).into(),
            };
            row(ui, Key::InspVersion, version, None);
            let (pin, color) = secret(lang, Some(card.pin.status));
            row(ui, Key::InspPin, pin, color);
            if let Some(puk) = &card.puk {
                let (puk, color) = secret(lang, puk.known().map(|p| p.status));
                row(ui, Key::InspPuk, puk, color);
            }
        });
    ui.add_space(8.0);
    egui::Grid::new("inspection-slots")
        .num_columns(3)
        .striped(true)
        .spacing([24.0, 6.0])
        .show(ui, |ui| {
            for key in [Key::InspKey, Key::InspHolder, Key::InspExpires] {
                ui.label(RichText::new(t(lang, key)).strong());
            }
            ui.end_row();
            for s in CITIZEN_SLOTS {
                ui.label(slot(lang, s));
                let cert = card
                    .slots
                    .iter()
                    .find(|r| r.slot == s)
                    .and_then(|r| r.certificate.as_ref());
                match cert {
                    Some(CertificateReport::Readable {
                        subject, not_after, ..
                    }) => {
                        ui.label(common_name(subject)).on_hover_text(subject);
                        ui.label(i18n::date(not_after.date()));
                    }
                    Some(CertificateReport::Unreadable(_)) => {
                        ui.colored_label(Color32::DARK_RED, t(lang, Key::InspUnreadable));
                        ui.label("");
                    }
                    None => {
                        ui.label(t(lang, Key::InspNoCertificate));
                        ui.label("");
                    }
                }
                ui.end_row();
            }
        });
    ui.add_space(8.0);
    ui.label(RichText::new(t(lang, Key::InspRegistry)).strong());
    match &found.record {
        None => {
            ui.label(t(lang, Key::InspNotOurs));
        }
        Some(record) => {
            egui::Grid::new("inspection-registry")
                .num_columns(2)
                .striped(true)
                .spacing([24.0, 6.0])
                .show(ui, |ui| {
                    let state = match record.state {
                        CardState::Personalizing => Key::CardPersonalizing,
                        CardState::Personalized => Key::CardPersonalized,
                        CardState::Reset => Key::CardWasReset,
                    };
                    row(ui, Key::InspCardState, t(lang, state).into(), None);
                    if let Some(app) = &found.application {
                        let text = format!(
                            "{} · {} {} · {}",
                            app.id,
                            app.given_name,
                            app.surnames,
                            i18n::state_name(lang, app.state)
                        );
                        row(ui, Key::InspApplication, text, None);
                    }
                });
        }
    }
    ui.add_space(8.0);
    let mut action = None;
    if ui.button(t(lang, Key::Close)).clicked() {
        action = Some(Action::Close);
    }
    action
}

/// A PIN's or PUK's state, red when blocked.
fn secret(lang: Lang, status: Option<PinStatus>) -> (String, Option<Color32>) {
    match status {
        None => (t(lang, Key::InspNotReported).into(), None),
        Some(PinStatus::Blocked) | Some(PinStatus::TriesLeft(0)) => {
            (t(lang, Key::InspBlocked).into(), Some(Color32::DARK_RED))
        }
        Some(PinStatus::TriesLeft(n)) => (i18n::tries(lang, n), None),
        Some(PinStatus::Verified) => (t(lang, Key::InspVerified).into(), None),
    }
}

/// The certificate's CN, the holder's name and NIF as the subject gives
/// them; the whole subject if it has none.
fn common_name(subject: &str) -> String {
    subject
        .split(',')
        .find_map(|rdn| rdn.trim().strip_prefix("CN="))
        .unwrap_or(subject)
        .to_string()
}
