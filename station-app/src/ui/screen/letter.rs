//! The PUK letter: shown once, printed, handed to the citizen, then wiped.

use eframe::egui::{self, RichText};
use zeroize::Zeroizing;

use super::Action;
use crate::ui::i18n::{t, Key, Lang};

pub struct LetterView {
    pub text: Zeroizing<String>,
    pub pdf: Zeroizing<Vec<u8>>,
    /// What the printer said.
    pub message: Option<String>,
    pub printing: bool,
}

impl LetterView {
    pub fn new(text: Zeroizing<String>, pdf: Zeroizing<Vec<u8>>) -> Self {
        Self {
            text,
            pdf,
            message: None,
            printing: false,
        }
    }
}

pub fn show(ui: &mut egui::Ui, lang: Lang, l: &LetterView) -> Option<Action> {
    ui.heading(t(lang, Key::LetterTitle));
    ui.label(t(lang, Key::LetterHint));
    // The buttons first: the operator need not scroll past the letter.
    let mut action = None;
    ui.horizontal(|ui| {
        if ui
            .add_enabled(
                !l.printing,
                egui::Button::new(RichText::new(t(lang, Key::Print)).strong()),
            )
            .clicked()
        {
            action = Some(Action::PrintLetter);
        }
        if l.printing {
            ui.add(egui::Spinner::new());
        }
        if ui.button(t(lang, Key::LetterDone)).clicked() {
            action = Some(Action::LetterDone);
        }
    });
    if let Some(m) = &l.message {
        ui.label(m);
    }
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.label(RichText::new(l.text.as_str()).monospace());
    });
    action
}
