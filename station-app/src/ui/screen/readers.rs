//! The readers panel: every reader, what its card is, and which one the
//! operator works with.

use eframe::egui::{self, Color32, RichText};
use firma_station_engine::inspection::CardView;
use firma_station_engine::readers::ReaderView;

use super::{Action, Cx, AMBER, BLUE};
use crate::ui::i18n::{self, t, Key, Lang};

/// `modal`: a dialog is open, and the reader it works with stays chosen.
pub fn show(ui: &mut egui::Ui, cx: &Cx, modal: bool) -> Option<Action> {
    let lang = cx.lang;
    let mut action = None;
    ui.heading(t(lang, Key::Readers));
    let views = &cx.snapshot.readers;
    if views.is_empty() {
        ui.label(t(lang, Key::NoReaders));
    }
    for (name, view) in views {
        let (text, color) = describe(lang, view);
        let selected = cx.reader == Some(name.as_str());
        let frame = egui::Frame::group(ui.style()).fill(if selected {
            ui.visuals().selection.bg_fill.gamma_multiply(0.3)
        } else {
            ui.visuals().panel_fill
        });
        frame.show(ui, |ui| {
            ui.set_width(ui.available_width());
            let pick = ui
                .add_enabled(
                    !modal,
                    egui::Button::selectable(selected, RichText::new(name).strong())
                        .frame_when_inactive(true),
                )
                .on_hover_text(t(lang, Key::SelectReader))
                .on_disabled_hover_text(t(lang, Key::ModalOpen));
            if pick.clicked() {
                action = Some(Action::SelectReader(name.clone()));
            }
            ui.label(RichText::new(text).color(color));
        });
    }
    action
}

fn describe(lang: Lang, view: &ReaderView) -> (String, Color32) {
    let tr = |key| t(lang, key);
    match view {
        ReaderView::Looking => (tr(Key::ReaderLooking).into(), Color32::GRAY),
        ReaderView::Working => (tr(Key::ReaderWorking).into(), BLUE),
        ReaderView::Card(CardView::Empty) => (tr(Key::ReaderEmpty).into(), Color32::GRAY),
        ReaderView::Card(CardView::Blank { serial }) => (
            format!("{} ({} {serial})", tr(Key::ReaderBlank), tr(Key::Serial)),
            Color32::DARK_GREEN,
        ),
        ReaderView::Card(CardView::Firma {
            serial,
            holder,
            expires,
            pin_blocked,
            unfinished,
            revoked,
            ..
        }) => {
            let mut s = format!("{} {serial}: {holder}", tr(Key::ReaderFirma));
            if let Some(d) = expires {
                s.push_str(&format!("\n{} {}", tr(Key::Expires), i18n::date(*d)));
            }
            if *unfinished {
                s.push_str(&format!("\n{}", tr(Key::ReaderUnfinished)));
            }
            if *revoked {
                s.push_str(&format!("\n{}", tr(Key::ReaderRevoked)));
                return (s, Color32::DARK_RED);
            }
            if *pin_blocked {
                s.push_str(&format!("\n{}", tr(Key::ReaderPinBlocked)));
                return (s, Color32::DARK_RED);
            }
            (s, BLUE)
        }
        ReaderView::Card(CardView::Unknown { why }) => (
            format!(
                "{}: {}",
                tr(Key::ReaderUnknown),
                i18n::unknown_card(lang, *why)
            ),
            AMBER,
        ),
    }
}
