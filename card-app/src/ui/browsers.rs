//! "Use my card in Firefox and Chrome": the registration of
//! `firma-pkcs11-register`, with what to close first and where it went.

use eframe::egui::{self, Color32, RichText};
use firma_pkcs11_register::{Browser, Outcome, Registration};

use super::i18n::{t, tf, Key, Lang};

/// Where the registration stands.
#[derive(Default)]
pub struct Browsers {
    pub working: bool,
    /// A browser was open when the citizen pressed: nothing was changed.
    pub running: bool,
    pub result: Option<Result<Registration, String>>,
}

/// Draws the section; true when the citizen pressed the button.
pub fn show(ui: &mut egui::Ui, lang: Lang, b: &Browsers) -> bool {
    ui.heading(t(lang, Key::Browsers));
    ui.label(t(lang, Key::BrowsersHint));
    let pressed = ui
        .add_enabled(
            !b.working,
            egui::Button::new(RichText::new(t(lang, Key::Browsers)).strong()),
        )
        .clicked();
    if b.working {
        ui.spinner();
    }
    if b.running {
        ui.colored_label(Color32::DARK_RED, t(lang, Key::BrowsersRunning));
    }
    match &b.result {
        Some(Ok(r)) => {
            ui.colored_label(Color32::from_rgb(0, 110, 40), t(lang, Key::BrowsersDone));
            let said = |o: Outcome| match o {
                Outcome::AlreadyThere => format!(" ({})", t(lang, Key::AlreadyThere)),
                _ => String::new(),
            };
            for (db, o) in &r.nss {
                let name = match db.browser {
                    Browser::Chrome => t(lang, Key::Chrome).to_string(),
                    Browser::Firefox => {
                        let profile = db
                            .path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        tf(lang, Key::FirefoxProfile, &[&profile])
                    }
                };
                ui.label(format!("- {name}{}", said(*o)));
            }
            ui.label(format!(
                "- {}{}",
                t(lang, Key::OtherApps),
                said(r.p11kit_outcome)
            ));
        }
        Some(Err(e)) => {
            ui.colored_label(Color32::DARK_RED, tf(lang, Key::RegisterFailed, &[e]));
        }
        None => {}
    }
    pressed
}
