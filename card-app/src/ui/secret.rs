//! Masked entries for the PIN and the PUK, as in the station: labelled for
//! screen readers, limited in length, and wiped after use. A secret must
//! not outlive its form: [`wipe`] drops egui's own copies (the text edit's
//! state with its undo history); the form's strings are `Zeroizing`.

use eframe::egui::{self, RichText};
use zeroize::Zeroizing;

use super::i18n::{t, Key, Lang};

/// The labels of every secret entry.
const FIELDS: [Key; 4] = [Key::CurrentPin, Key::NewPin, Key::NewPinAgain, Key::Puk];

/// The most a PIN field takes.
pub const PIN_CHARS: usize = 8;
/// 8 digits and the letter's grouping space ("1970 7260"), and some slack.
pub const PUK_CHARS: usize = 12;

fn field_id(form: &str, label: &str) -> egui::Id {
    egui::Id::unique(("firma-card-secret", form, label))
}

/// One row of a two-column grid: the label and its masked entry.
pub fn field(
    ui: &mut egui::Ui,
    form: &str,
    label: &str,
    value: &mut Zeroizing<String>,
    chars: usize,
) -> egui::Response {
    let l = ui.label(RichText::new(label).strong());
    let r = ui
        .add(
            egui::TextEdit::singleline(&mut **value)
                .id(field_id(form, label))
                .password(true)
                .char_limit(chars)
                .desired_width(180.0),
        )
        .labelled_by(l.id);
    ui.end_row();
    r
}

/// Enter pressed in `field`.
pub fn submitted(ui: &egui::Ui, field: &egui::Response) -> bool {
    field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter))
}

/// Drops egui's copies of every secret entry of `form`.
pub fn wipe(ctx: &egui::Context, form: &str) {
    ctx.data_mut(|d| {
        for key in FIELDS {
            for lang in Lang::ALL {
                d.remove::<egui::text_edit::TextEditState>(field_id(form, t(lang, key)));
            }
        }
    });
}
