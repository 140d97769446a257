//! The card as the citizen understands it: holder, what each certificate
//! is for and until when, when to renew, and the PIN's tries in words.

use eframe::egui::{self, Color32, RichText};
use firma_apdu::card::KeyRole;
use firma_apdu::piv::PinStatus;
use time::Date;

use super::i18n::{self, date, t, tf, Key, Lang};
use crate::card::{CardView, Renewal};

const GREEN: Color32 = Color32::from_rgb(0, 110, 40);
const AMBER: Color32 = Color32::from_rgb(150, 90, 0);

/// What a key is for, in plain words.
pub fn role(lang: Lang, role: KeyRole) -> &'static str {
    t(
        lang,
        match role {
            KeyRole::Authentication => Key::RoleAuthentication,
            KeyRole::Signature => Key::RoleSignature,
            KeyRole::Encryption => Key::RoleEncryption,
        },
    )
}

pub fn show(ui: &mut egui::Ui, lang: Lang, card: &CardView, today: Date) {
    if !card.is_personalized() {
        ui.label(RichText::new(t(lang, Key::BlankCard)).size(16.0));
        return;
    }
    egui::Grid::new("firma-card-holder")
        .num_columns(2)
        .spacing([16.0, 6.0])
        .show(ui, |ui| {
            if let Some(h) = &card.holder {
                ui.label(RichText::new(t(lang, Key::Holder)).strong());
                ui.label(RichText::new(&h.name).size(18.0));
                ui.end_row();
                if let Some(nif) = &h.nif {
                    ui.label(RichText::new(t(lang, Key::Nif)).strong());
                    ui.label(nif);
                    ui.end_row();
                }
            }
        });
    ui.add_space(8.0);
    ui.heading(t(lang, Key::Certificates));
    egui::Grid::new("firma-card-certificates")
        .num_columns(2)
        .spacing([16.0, 6.0])
        .show(ui, |ui| {
            for c in &card.certificates {
                ui.label(RichText::new(role(lang, c.role)).strong());
                ui.label(tf(lang, Key::ValidUntil, &[&date(c.valid_until)]));
                ui.end_row();
            }
            for r in &card.unreadable {
                ui.label(RichText::new(role(lang, *r)).strong());
                ui.colored_label(Color32::DARK_RED, t(lang, Key::Unreadable));
                ui.end_row();
            }
        });
    ui.add_space(4.0);
    match card.renewal(today) {
        Some(Renewal::From(d)) => {
            ui.label(tf(lang, Key::RenewFrom, &[&date(d)]));
        }
        Some(Renewal::Open { until }) => {
            ui.colored_label(AMBER, tf(lang, Key::RenewOpen, &[&date(until)]));
        }
        Some(Renewal::Expired) => {
            ui.colored_label(Color32::DARK_RED, t(lang, Key::RenewExpired));
        }
        None => {}
    }
    ui.add_space(8.0);
    let colour = match card.pin {
        PinStatus::Blocked | PinStatus::TriesLeft(0..=1) => Color32::DARK_RED,
        _ => GREEN,
    };
    ui.colored_label(
        colour,
        RichText::new(i18n::pin_status(lang, card.pin)).strong(),
    );
    if let Some(puk) = card.puk.and_then(|p| i18n::puk_status(lang, p)) {
        ui.colored_label(Color32::DARK_RED, RichText::new(puk).strong());
    }
}
