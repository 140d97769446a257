//! The identity check: the operator records the citizen's document before
//! a card is activated for them.

use eframe::egui::{self, Color32, RichText};

use crate::ui::i18n::{t, Key, Lang, Said};

#[derive(Default)]
pub struct IdentityForm {
    pub kind: String,
    pub number: String,
    pub support: String,
    pub expires: String,
    pub seen: bool,
    pub error: Option<Said>,
}

impl IdentityForm {
    /// A fresh form for the application of `nif`: a NIE starts with X, Y or Z.
    pub fn for_nif(nif: &str) -> Self {
        Self {
            kind: if nif.starts_with(['X', 'Y', 'Z']) {
                "NIE"
            } else {
                "DNI"
            }
            .into(),
            ..Self::default()
        }
    }
}

/// Draws the form; true when the operator asks to record the check.
pub fn show(ui: &mut egui::Ui, lang: Lang, f: &mut IdentityForm) -> bool {
    egui::Grid::new("identity").num_columns(2).show(ui, |ui| {
        ui.label(t(lang, Key::DocumentKind));
        egui::ComboBox::from_id_salt("kind")
            .selected_text(f.kind.clone())
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut f.kind, "DNI".to_string(), "DNI");
                ui.selectable_value(&mut f.kind, "NIE".to_string(), "NIE");
            });
        ui.end_row();
        for (key, value, hint) in [
            (Key::DocumentNumber, &mut f.number, Key::HintNumber),
            (Key::SupportNumber, &mut f.support, Key::HintSupport),
            (Key::DocumentExpires, &mut f.expires, Key::HintExpires),
        ] {
            let label = ui.label(t(lang, key));
            // A placeholder in grey italics: it must not look filled in.
            let hint = RichText::new(t(lang, hint)).italics().color(Color32::GRAY);
            ui.add(
                egui::TextEdit::singleline(value)
                    .hint_text(hint)
                    .desired_width(280.0),
            )
            .labelled_by(label.id);
            ui.end_row();
        }
    });
    ui.checkbox(&mut f.seen, t(lang, Key::SeenDocument));
    if let Some(e) = &f.error {
        ui.colored_label(Color32::DARK_RED, e.get(lang));
    }
    ui.button(RichText::new(t(lang, Key::RecordIdentity)).strong())
        .clicked()
}
