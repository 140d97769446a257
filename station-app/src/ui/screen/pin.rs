//! The citizen's PIN entry, and the masked fields every secret is typed
//! into. A secret must not outlive its step: [`wipe`] drops egui's copies.

use std::sync::mpsc::Sender;

use eframe::egui::{self, Color32, RichText};
use firma_apdu::piv::Pin;
use firma_station_engine::pin::check_new_pin;
use zeroize::Zeroizing;

use super::Action;
use crate::ui::i18n::{self, t, Key, Lang};

/// The PIN dialog: the citizen's entry, wiped when the step takes it.
pub struct PinDialog {
    /// A new PIN (typed twice), else the current one.
    pub new: bool,
    pub reply: Sender<Option<Pin>>,
    pub first: Zeroizing<String>,
    pub second: Zeroizing<String>,
    pub error: Option<String>,
}

impl PinDialog {
    pub fn new(new: bool, reply: Sender<Option<Pin>>) -> Self {
        Self {
            new,
            reply,
            first: Zeroizing::new(String::new()),
            second: Zeroizing::new(String::new()),
            error: None,
        }
    }
}

pub fn show(ui: &mut egui::Ui, lang: Lang, d: &mut PinDialog) -> Option<Action> {
    ui.heading(t(
        lang,
        if d.new {
            Key::PinChoose
        } else {
            Key::PinCurrent
        },
    ));
    if d.new {
        ui.label(t(lang, Key::PinRules));
    }
    let first = field(ui, t(lang, Key::Pin), &mut d.first);
    if d.new {
        field(ui, t(lang, Key::PinAgain), &mut d.second);
    }
    if let Some(e) = &d.error {
        ui.colored_label(Color32::DARK_RED, e);
    }
    let enter = first.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
    let mut submit = false;
    let mut cancel = false;
    ui.horizontal(|ui| {
        submit = ui
            .button(RichText::new(t(lang, Key::PinConfirm)).strong())
            .clicked()
            || (enter && !d.new);
        cancel = ui.button(t(lang, Key::Cancel)).clicked();
    });
    if cancel {
        return Some(Action::AnswerPin(None));
    }
    if !submit {
        return None;
    }
    let checked = if d.new {
        new_pin(lang, &d.first, &d.second)
    } else {
        Pin::new(d.first.as_bytes()).map_err(|e| e.to_string())
    };
    match checked {
        Ok(pin) => Some(Action::AnswerPin(Some(pin))),
        Err(e) => {
            d.error = Some(e);
            d.first.clear();
            d.second.clear();
            None
        }
    }
}

/// A new PIN typed twice, checked against the rules; the refusal in the
/// operator's language.
pub fn new_pin(lang: Lang, first: &str, again: &str) -> Result<Pin, String> {
    if first != again {
        Err(t(lang, Key::PinDiffer).to_string())
    } else {
        check_new_pin(first).map_err(|e| i18n::pin_rule(lang, e).to_string())
    }
}

/// The labels of every secret entry, whose state is wiped after use.
const FIELDS: [Key; 5] = [
    Key::Pin,
    Key::PinAgain,
    Key::Puk,
    Key::PinCurrentField,
    Key::PinNew,
];

fn field_id(label: &str) -> egui::Id {
    egui::Id::unique(("firma-secret-field", label))
}

/// Drops egui's own copies of the secrets (the text edit's state, with
/// its undo history).
pub fn wipe(ctx: &egui::Context) {
    ctx.data_mut(|d| {
        for key in FIELDS {
            for lang in [Lang::Es, Lang::En, Lang::Va] {
                d.remove::<egui::text_edit::TextEditState>(field_id(t(lang, key)));
            }
        }
    });
}

/// A masked entry, labelled for screen readers and tests.
pub fn field(ui: &mut egui::Ui, label: &str, value: &mut Zeroizing<String>) -> egui::Response {
    ui.horizontal(|ui| {
        let l = ui.label(RichText::new(label).strong());
        ui.add(
            egui::TextEdit::singleline(&mut **value)
                .id(field_id(label))
                .password(true)
                .char_limit(8)
                .desired_width(160.0),
        )
        .labelled_by(l.id)
    })
    .inner
}
