//! The PUK letter: printed (again, if need be, while it is open), handed
//! to the citizen, then wiped. The PUK is never on the screen: only the
//! printer gets the letter. A letter that was not printed is never wiped
//! without the operator's confirmation: the PUK exists nowhere else.

use eframe::egui::{self, Color32, RichText};
use zeroize::Zeroizing;

use super::{ok_color, Action};
use crate::ui::i18n::{t, Key, Lang};
use crate::ui::print::PrintError;

pub struct LetterView {
    pub pdf: Zeroizing<Vec<u8>>,
    /// The card the letter is for.
    pub card_serial: u32,
    /// What the printer last said.
    pub printed: Option<Result<(), PrintError>>,
    pub printing: bool,
    /// The operator asked to close an unprinted letter: confirm first.
    pub confirm_close: bool,
}

impl LetterView {
    pub fn new(pdf: Zeroizing<Vec<u8>>, card_serial: u32) -> Self {
        Self {
            pdf,
            card_serial,
            printed: None,
            printing: false,
            confirm_close: false,
        }
    }

    pub fn was_printed(&self) -> bool {
        self.printed == Some(Ok(()))
    }
}

pub fn show(ui: &mut egui::Ui, lang: Lang, l: &LetterView) -> Option<Action> {
    ui.heading(t(lang, Key::LetterTitle));
    ui.label(t(lang, Key::LetterHint));
    let mut action = None;
    if l.confirm_close {
        egui::Frame::group(ui.style())
            .stroke(egui::Stroke::new(2.0, Color32::DARK_RED))
            .show(ui, |ui| {
                ui.label(
                    RichText::new(t(lang, Key::LetterNotPrintedTitle))
                        .color(Color32::DARK_RED)
                        .strong(),
                );
                ui.label(t(lang, Key::LetterNotPrintedWarn));
                ui.horizontal(|ui| {
                    if ui
                        .button(RichText::new(t(lang, Key::LetterBack)).strong())
                        .clicked()
                    {
                        action = Some(Action::LetterBack);
                    }
                    let close = egui::Button::new(
                        RichText::new(t(lang, Key::LetterCloseUnprinted)).color(Color32::WHITE),
                    )
                    .fill(Color32::DARK_RED);
                    if ui.add(close).clicked() {
                        action = Some(Action::LetterHandedOver);
                    }
                });
            });
    } else {
        // The buttons first: the operator need not scroll past the letter.
        ui.horizontal(|ui| {
            if ui
                .add_enabled(
                    !l.printing,
                    egui::Button::new(
                        RichText::new(t(
                            lang,
                            if l.was_printed() {
                                Key::PrintAgain
                            } else {
                                Key::Print
                            },
                        ))
                        .strong(),
                    ),
                )
                .clicked()
            {
                action = Some(Action::PrintLetter);
            }
            if l.printing {
                ui.add(egui::Spinner::new());
                ui.label(t(lang, Key::Printing));
            }
            if ui
                .add_enabled(!l.printing, egui::Button::new(t(lang, Key::LetterDone)))
                .clicked()
            {
                action = Some(Action::LetterDone);
            }
        });
    }
    if let Some(printed) = &l.printed {
        let key = match printed {
            Ok(()) => Key::Printed,
            Err(PrintError::NoPrinter) => Key::PrintNoPrinter,
            Err(PrintError::Refused) => Key::PrintRefused,
        };
        ui.label(
            RichText::new(t(lang, key))
                .color(ok_color(printed.is_ok()))
                .strong(),
        );
    }
    ui.label(t(lang, Key::LetterNotOnScreen));
    action
}
