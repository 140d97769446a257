//! The citizen's PIN entry, and the masked fields every secret is typed
//! into. A secret must not outlive its step: [`wipe`] drops egui's copies.

use std::sync::mpsc::Sender;

use eframe::egui::{self, Color32, RichText};
use firma_apdu::piv::Pin;
use firma_station_engine::error::StationError;
use firma_station_engine::pin::check_new_pin;
use zeroize::Zeroizing;

use super::Action;
use crate::ui::i18n::{self, t, Key, Lang, Said};

/// The PIN dialog: the citizen's entry, wiped when the step takes it.
pub struct PinDialog {
    /// A new PIN (typed twice), else the current one.
    pub new: bool,
    pub reply: Sender<Option<Pin>>,
    pub first: Zeroizing<String>,
    pub second: Zeroizing<String>,
    pub error: Option<Said>,
    /// The first field has been given the keyboard focus.
    focused: bool,
}

impl PinDialog {
    pub fn new(new: bool, reply: Sender<Option<Pin>>) -> Self {
        Self {
            new,
            reply,
            first: Zeroizing::new(String::new()),
            second: Zeroizing::new(String::new()),
            error: None,
            focused: false,
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
    let mut enter = false;
    egui::Grid::new("pin-dialog")
        .num_columns(2)
        .spacing([12.0, 8.0])
        .show(ui, |ui| {
            let first = field(ui, t(lang, Key::Pin), &mut d.first, PIN_CHARS);
            if !d.focused {
                // The citizen types at once, without a click that could
                // land elsewhere.
                first.request_focus();
                d.focused = true;
            }
            enter |= submitted(ui, &first);
            if d.new {
                let second = field(ui, t(lang, Key::PinAgain), &mut d.second, PIN_CHARS);
                enter |= submitted(ui, &second);
            }
        });
    if let Some(e) = &d.error {
        ui.colored_label(Color32::DARK_RED, e.get(lang));
    }
    let mut submit = enter;
    let mut cancel = false;
    ui.horizontal(|ui| {
        submit |= ui
            .button(RichText::new(t(lang, Key::PinConfirm)).strong())
            .clicked();
        cancel = ui.button(t(lang, Key::Cancel)).clicked();
    });
    if cancel {
        return Some(Action::AnswerPin(None));
    }
    if !submit {
        return None;
    }
    let checked = if d.new {
        new_pin(&d.first, &d.second)
    } else {
        Pin::new(d.first.as_bytes()).map_err(|e| Said::error(&StationError::PinFormat(e)))
    };
    match checked {
        Ok(pin) => Some(Action::AnswerPin(Some(pin))),
        Err(e) => {
            d.error = Some(e);
            d.first.clear();
            d.second.clear();
            d.focused = false;
            None
        }
    }
}

/// Enter pressed in `field`.
pub fn submitted(ui: &egui::Ui, field: &egui::Response) -> bool {
    field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter))
}

/// A new PIN typed twice, checked against the rules; the refusal in the
/// operator's language.
pub fn new_pin(first: &str, again: &str) -> Result<Pin, Said> {
    if first != again {
        Err(Said::key(Key::PinDiffer))
    } else {
        check_new_pin(first).map_err(|e| Said::new(|lang| i18n::pin_rule(lang, e).into()))
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

/// The most a PIN field takes.
pub const PIN_CHARS: usize = 8;
/// The most a PUK field takes: 8 digits, and the spaces of the letter's
/// grouping ("1970 7260").
pub const PUK_CHARS: usize = 12;

/// A masked entry, labelled for screen readers and tests: one row of a
/// two-column grid, so that the entries of a form line up.
pub fn field(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut Zeroizing<String>,
    chars: usize,
) -> egui::Response {
    let l = ui.label(RichText::new(label).strong());
    let r = ui
        .add(
            egui::TextEdit::singleline(&mut **value)
                .id(field_id(label))
                .password(true)
                .char_limit(chars)
                .desired_width(200.0),
        )
        .labelled_by(l.id);
    ui.end_row();
    r
}
