//! The audit tab: the log, newest first, filtered, and the check of its
//! hash chain.

use eframe::egui::{self, RichText};

use super::{normalize, ok_color, Action, Cx};
use crate::ui::i18n::{self, t, Key};

#[derive(Default)]
pub struct Audit {
    pub filter: String,
    /// The last chain check: (intact, what it said).
    pub check: Option<(bool, String)>,
}

pub fn show(ui: &mut egui::Ui, cx: &Cx, tab: &mut Audit) -> Option<Action> {
    let lang = cx.lang;
    let mut action = None;
    ui.horizontal(|ui| {
        let label = ui.label(t(lang, Key::Filter));
        ui.add(egui::TextEdit::singleline(&mut tab.filter).desired_width(260.0))
            .labelled_by(label.id);
        if ui
            .button(RichText::new(t(lang, Key::VerifyChain)).strong())
            .clicked()
        {
            action = Some(Action::VerifyChain);
        }
    });
    if let Some((ok, text)) = &tab.check {
        ui.colored_label(ok_color(*ok), text);
    }
    let Some(entries) = cx.snapshot.audit.as_deref() else {
        // The log is being read.
        ui.add(egui::Spinner::new());
        return action;
    };
    let filter = normalize(&tab.filter);
    egui::Grid::new("audit")
        .striped(true)
        .num_columns(5)
        .show(ui, |ui| {
            for h in [Key::Seq, Key::Time, Key::Who, Key::Action, Key::Detail] {
                ui.label(RichText::new(t(lang, h)).strong());
            }
            ui.end_row();
            for e in entries.iter().rev().filter(|e| {
                filter.is_empty()
                    || normalize(&format!(
                        "{} {} {} {} {}",
                        e.operator, e.station, e.action, e.subject, e.detail
                    ))
                    .contains(&filter)
            }) {
                ui.label(e.seq.to_string());
                ui.label(&e.at);
                ui.label(format!("{}@{}", e.operator, e.station));
                ui.label(i18n::action(lang, &e.action));
                ui.label(format!(
                    "{}: {}",
                    i18n::subject(lang, &e.subject, |_| None),
                    e.detail
                ));
                ui.end_row();
            }
        });
    action
}
