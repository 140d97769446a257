//! The audit tab: the log, newest first, as a table an operator reads at a
//! glance (local time, who, what was done, for whom), each entry's detail
//! on demand, a filter over what the table shows, and the check of the
//! log's hash chain.

use std::collections::HashSet;

use eframe::egui::{self, RichText};
use firma_station_engine::audit::AuditEntry;

use super::{normalize, ok_color, Action, Cx};
use crate::ui::i18n::{self, t, Key, Lang, Said};
use crate::ui::localtime;
use crate::ui::model::Snapshot;

#[derive(Default)]
pub struct Audit {
    pub filter: String,
    /// The last chain check: (intact, what it said).
    pub check: Option<(bool, Said)>,
    /// The entries whose detail is open.
    open: HashSet<i64>,
}

/// An entry as the table words it.
pub struct Row<'a> {
    pub entry: &'a AuditEntry,
    pub time: String,
    pub action: String,
    pub about: String,
}

impl<'a> Row<'a> {
    pub fn new(lang: Lang, snapshot: &Snapshot, entry: &'a AuditEntry) -> Self {
        Row {
            entry,
            time: localtime::audit_time(&entry.at),
            action: i18n::action(lang, &entry.action),
            about: i18n::subject(lang, &entry.subject, |id| {
                snapshot
                    .applications
                    .iter()
                    .find(|a| a.id == id)
                    .map(|a| format!("{} {} ({})", a.given_name, a.surnames, a.nif))
            }),
        }
    }

    /// Whether the row holds what the operator filters by (the NIF, a
    /// name, an operator, words of the action, the detail).
    fn matches(&self, filter: &str) -> bool {
        let e = self.entry;
        filter.is_empty()
            || normalize(&format!(
                "{} {} {} {} {} {} {}",
                e.operator, e.station, self.action, self.about, e.action, e.subject, e.detail
            ))
            .contains(filter)
    }
}

/// An entry's detail, shortened: long hex runs (public keys, hashes) keep
/// their first characters only.
pub fn short_detail(detail: &str) -> String {
    let mut out = String::with_capacity(detail.len().min(200));
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() > 16 {
            out.push_str(&run[..12]);
            out.push('…');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in detail.chars() {
        if c.is_ascii_hexdigit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

pub fn show(ui: &mut egui::Ui, cx: &Cx, tab: &mut Audit) -> Option<Action> {
    let lang = cx.lang;
    let mut action = None;
    ui.horizontal(|ui| {
        let label = ui.label(t(lang, Key::Filter));
        ui.add(
            egui::TextEdit::singleline(&mut tab.filter)
                .hint_text(RichText::new(t(lang, Key::FilterHint)).italics())
                .desired_width(320.0),
        )
        .labelled_by(label.id);
        if ui
            .button(RichText::new(t(lang, Key::VerifyChain)).strong())
            .clicked()
        {
            action = Some(Action::VerifyChain);
        }
    });
    if let Some((ok, text)) = &tab.check {
        ui.colored_label(ok_color(*ok), text.get(lang));
    }
    let Some(entries) = cx.snapshot.audit.as_deref() else {
        // The log is being read.
        ui.add(egui::Spinner::new());
        return action;
    };
    let filter = normalize(&tab.filter);
    let rows: Vec<Row> = entries
        .iter()
        .rev()
        .map(|e| Row::new(lang, cx.snapshot, e))
        .filter(|r| r.matches(&filter))
        .collect();
    ui.label(format!("{} {}", rows.len(), t(lang, Key::Entries)));
    egui::ScrollArea::horizontal()
        .id_salt("audit-table")
        .show(ui, |ui| {
            egui::Grid::new("audit")
                .striped(true)
                .num_columns(5)
                .spacing([16.0, 6.0])
                .show(ui, |ui| {
                    for h in [Key::Seq, Key::Time, Key::Who, Key::Action] {
                        let mut text = t(lang, h).to_string();
                        if h == Key::Time {
                            text = format!("{text} ({})", t(lang, Key::LocalTime));
                        }
                        ui.label(RichText::new(text).strong());
                    }
                    ui.label("");
                    ui.end_row();
                    for r in &rows {
                        let e = r.entry;
                        ui.label(e.seq.to_string());
                        ui.label(&r.time).on_hover_text(&e.at);
                        ui.label(&e.operator).on_hover_text(&e.station);
                        // What was done, and below it for whom.
                        ui.vertical(|ui| {
                            ui.add(egui::Label::new(RichText::new(&r.action).strong()).extend());
                            ui.add(egui::Label::new(RichText::new(&r.about).weak()).extend());
                        });
                        let open = tab.open.contains(&e.seq);
                        if !e.detail.is_empty() {
                            let key = if open {
                                Key::HideDetail
                            } else {
                                Key::ShowDetail
                            };
                            if ui
                                .small_button(t(lang, key))
                                .on_hover_cursor(egui::CursorIcon::PointingHand)
                                .clicked()
                            {
                                if open {
                                    tab.open.remove(&e.seq);
                                } else {
                                    tab.open.insert(e.seq);
                                }
                            }
                        } else {
                            ui.label("");
                        }
                        ui.end_row();
                        if open {
                            ui.label("");
                            ui.label("");
                            ui.label("");
                            ui.vertical(|ui| {
                                ui.set_max_width(420.0);
                                ui.label(RichText::new(t(lang, Key::TechnicalDetail)).italics());
                                ui.add(
                                    egui::Label::new(RichText::new(&e.detail).monospace())
                                        .wrap_mode(egui::TextWrapMode::Wrap),
                                );
                            });
                            ui.end_row();
                        }
                    }
                });
        });
    action
}
