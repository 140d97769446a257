//! The two PIN forms: change the PIN (the current one, the new one twice)
//! and unblock it (the PUK from the letter, the new PIN twice). The new PIN
//! is checked with the station's rules before the card sees it, and what
//! was typed is wiped as soon as the form hands it over or refuses it.

use eframe::egui::{self, RichText};
use firma_apdu::piv::Pin;
use firma_station_engine::pin::{check_new_pin, parse_puk, PinRule, PukRule};
use zeroize::Zeroizing;

use super::i18n::{t, Key, Lang};
use super::secret::{self, field, submitted, PIN_CHARS, PUK_CHARS};
use crate::worker::Command;

/// Why a form did not go to the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Pin(PinRule),
    Puk(PukRule),
    /// The current PIN cannot be one (no try is spent on it).
    CurrentPin,
}

/// A form's fields.
#[derive(Default)]
pub struct Form {
    /// The current PIN, or the PUK.
    pub first: Zeroizing<String>,
    pub new: Zeroizing<String>,
    pub again: Zeroizing<String>,
    pub refusal: Option<Refusal>,
}

impl Form {
    fn clear(&mut self, ctx: &egui::Context, id: &str) {
        self.first.clear();
        self.new.clear();
        self.again.clear();
        secret::wipe(ctx, id);
    }

    /// Whether nothing typed is kept (tests check the wipe).
    pub fn is_empty(&self) -> bool {
        self.first.is_empty() && self.new.is_empty() && self.again.is_empty()
    }
}

/// The new PIN typed twice, checked with the station's rules.
fn new_pin(new: &str, again: &str) -> Result<Pin, Refusal> {
    if new != again {
        return Err(Refusal::Pin(PinRule::TypedTwiceDifferently));
    }
    check_new_pin(new).map_err(Refusal::Pin)
}

/// Which of the two forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Change,
    Unblock,
}

impl Kind {
    fn id(self) -> &'static str {
        match self {
            Kind::Change => "change",
            Kind::Unblock => "unblock",
        }
    }
}

/// Draws `form`; returns the command for the card when it was submitted
/// and passes the checks. `enabled` is false while the card works.
pub fn show(
    ui: &mut egui::Ui,
    lang: Lang,
    kind: Kind,
    form: &mut Form,
    enabled: bool,
) -> Option<Command> {
    let id = kind.id();
    let (first_label, button) = match kind {
        Kind::Change => (Key::CurrentPin, Key::ConfirmChange),
        Kind::Unblock => (Key::Puk, Key::ConfirmUnblock),
    };
    if kind == Kind::Unblock {
        ui.label(t(lang, Key::UnblockHint));
    }
    ui.label(t(lang, Key::PinRules));
    let mut enter = false;
    ui.add_enabled_ui(enabled, |ui| {
        egui::Grid::new(("firma-card-form", id))
            .num_columns(2)
            .spacing([12.0, 8.0])
            .show(ui, |ui| {
                let chars = match kind {
                    Kind::Change => PIN_CHARS,
                    Kind::Unblock => PUK_CHARS,
                };
                for (label, value, chars) in [
                    (first_label, &mut form.first, chars),
                    (Key::NewPin, &mut form.new, PIN_CHARS),
                    (Key::NewPinAgain, &mut form.again, PIN_CHARS),
                ] {
                    let r = field(ui, id, t(lang, label), value, chars);
                    enter |= submitted(ui, &r);
                }
            });
    });
    if let Some(r) = form.refusal {
        let text = match r {
            Refusal::Pin(rule) => super::i18n::pin_rule(lang, rule),
            Refusal::Puk(rule) => super::i18n::puk_rule(lang, rule),
            Refusal::CurrentPin => t(lang, Key::CurrentPinFormat),
        };
        ui.colored_label(egui::Color32::DARK_RED, text);
    }
    let clicked = ui
        .add_enabled(
            enabled,
            egui::Button::new(RichText::new(t(lang, button)).strong()),
        )
        .clicked();
    if !(enabled && (clicked || enter)) {
        return None;
    }
    let command = new_pin(&form.new, &form.again).and_then(|new| match kind {
        Kind::Change => Pin::new(form.first.as_bytes())
            .map(|old| Command::ChangePin { old, new })
            .map_err(|_| Refusal::CurrentPin),
        Kind::Unblock => parse_puk(&form.first)
            .map(|puk| Command::Unblock { puk, new })
            .map_err(Refusal::Puk),
    });
    form.clear(ui.ctx(), id);
    match command {
        Ok(c) => {
            form.refusal = None;
            Some(c)
        }
        Err(r) => {
            form.refusal = Some(r);
            None
        }
    }
}
