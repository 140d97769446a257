//! The applications tab: find an application, see it, and act on it with
//! the card in the chosen reader.

use eframe::egui::{self, Color32, RichText};
use firma_station_engine::inspection::CardView;
use firma_station_engine::registry::{AppState, Application, WorkflowKind};
use time::OffsetDateTime;

use super::audit::{short_detail, Row};
use super::identity::IdentityForm;
use super::services::ServiceKind;
use super::{identity, normalize, Action, Cx};
use crate::ui::i18n::{self, state_name, t, Key};
use crate::ui::model::Detail;

/// The tab's own state: the search and the open application.
#[derive(Default)]
pub struct Applications {
    pub search: String,
    /// The search the list was last filtered by.
    searched: String,
    pub selected: Option<i64>,
    pub identity: IdentityForm,
}

/// The list (the day's queue, or the search's results) on the left, always
/// there, and the open application on the right. The detail never shows a
/// citizen the list does not: a search that leaves the open application
/// out closes it, and a search that finds one application opens it.
pub fn show(ui: &mut egui::Ui, cx: &Cx, tab: &mut Applications) -> Option<Action> {
    let mut action = None;
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width(LIST_WIDTH);
            action = list(ui, cx, tab);
        });
        ui.separator();
        ui.vertical(|ui| {
            let asked = detail(ui, cx, tab);
            action = action.take().or(asked);
        });
    });
    action
}

const LIST_WIDTH: f32 = 340.0;

fn list(ui: &mut egui::Ui, cx: &Cx, tab: &mut Applications) -> Option<Action> {
    let lang = cx.lang;
    let mut action = None;
    let label = ui.label(RichText::new(t(lang, Key::Search)).strong());
    ui.add(
        egui::TextEdit::singleline(&mut tab.search)
            .hint_text(RichText::new(t(lang, Key::SearchHint)).italics())
            .desired_width(LIST_WIDTH),
    )
    .labelled_by(label.id);
    let apps = &cx.snapshot.applications;
    let query = normalize(&tab.search);
    let found: Vec<&Application> = apps
        .iter()
        .filter(|a| {
            if query.is_empty() {
                // Without a search, the applications waiting for their card.
                return a.state == AppState::Requested;
            }
            normalize(&a.nif).contains(&query)
                || normalize(&format!("{} {}", a.given_name, a.surnames)).contains(&query)
        })
        .take(20)
        .collect();
    if query != tab.searched {
        tab.searched = query.clone();
        if !query.is_empty() {
            match found.as_slice() {
                [only] if tab.selected != Some(only.id) => {
                    action = Some(Action::SelectApplication(only.id))
                }
                _ if !found.iter().any(|a| Some(a.id) == tab.selected) => {
                    tab.selected = None;
                    tab.identity = IdentityForm::default();
                }
                _ => {}
            }
        }
    }
    ui.add_space(4.0);
    if query.is_empty() {
        ui.label(RichText::new(t(lang, Key::WaitingApplications)).strong());
    }
    if found.is_empty() {
        ui.label(t(lang, Key::NoMatch));
    }
    for a in found {
        let text = format!(
            "{} · {} {} · {}",
            a.nif,
            a.given_name,
            a.surnames,
            state_name(lang, a.state)
        );
        let selected = tab.selected == Some(a.id);
        let item = ui
            .add_sized(
                [LIST_WIDTH, 0.0],
                egui::Button::selectable(selected, text).frame_when_inactive(true),
            )
            .on_hover_cursor(egui::CursorIcon::PointingHand);
        if item.clicked() {
            action = Some(Action::SelectApplication(a.id));
        }
    }
    action
}

fn detail(ui: &mut egui::Ui, cx: &Cx, tab: &mut Applications) -> Option<Action> {
    let apps = &cx.snapshot.applications;
    let Some(app) = tab.selected.and_then(|id| apps.iter().find(|a| a.id == id)) else {
        ui.label(t(cx.lang, Key::PickApplication));
        return None;
    };
    let detail = cx
        .snapshot
        .detail
        .as_ref()
        .filter(|d| d.application == app.id);
    match detail {
        Some(detail) => application(ui, cx, app, detail, &mut tab.identity),
        None => {
            // Its detail is being read.
            ui.add(egui::Spinner::new());
            None
        }
    }
}

fn application(
    ui: &mut egui::Ui,
    cx: &Cx,
    app: &Application,
    detail: &Detail,
    form: &mut IdentityForm,
) -> Option<Action> {
    let lang = cx.lang;
    let tr = |key| t(lang, key);
    let mut action = None;
    ui.heading(format!("{} {} — {}", app.given_name, app.surnames, app.nif));
    egui::Grid::new("app")
        .num_columns(2)
        .striped(true)
        .show(ui, |ui| {
            for (k, v) in [
                (Key::Application, app.id.to_string()),
                (Key::State, state_name(lang, app.state).to_string()),
                (Key::Email, app.email.clone()),
                (Key::Phone, app.phone.clone()),
                (
                    Key::MailedCard,
                    app.card_serial
                        .map_or(tr(Key::Unknown).to_string(), |s| s.to_string()),
                ),
                (Key::Requested, i18n::date(app.requested_at.date())),
            ] {
                ui.label(tr(k));
                ui.label(v);
                ui.end_row();
            }
        });
    let checked_today = cx.station.identity_checked(&detail.checks);
    ui.separator();
    ui.heading(tr(Key::Identity));
    for c in &detail.checks {
        ui.label(format!(
            "OK {} {} · {} {} · {} {}",
            c.document_kind,
            c.document_number,
            tr(Key::ValidUntil),
            i18n::date(c.document_expires),
            tr(Key::CheckedBy),
            c.operator
        ));
    }
    let check_used = detail.latest_check_used;
    if app.state == AppState::Requested
        && (!checked_today || check_used)
        && identity::show(ui, lang, form)
    {
        action = Some(Action::RecordIdentity(app.id));
    }
    ui.separator();
    ui.heading(tr(Key::Actions));
    let card = cx.reader.and_then(|r| cx.snapshot.card_in(r));
    let reader = cx.reader.map(str::to_string);
    match app.state {
        AppState::Requested => {
            let ready = checked_today
                && matches!(
                    card,
                    Some(CardView::Blank { .. })
                        | Some(CardView::Firma {
                            unfinished: true,
                            ..
                        })
                );
            if !checked_today {
                ui.label(tr(Key::NeedIdentity));
            } else if !ready {
                ui.label(tr(Key::NeedBlankCard));
            }
            if ui
                .add_enabled(
                    ready,
                    egui::Button::new(RichText::new(tr(Key::Activate)).strong()),
                )
                .clicked()
            {
                if let Some(reader) = reader {
                    action = Some(Action::StartWorkflow {
                        reader,
                        application: app.id,
                        kind: WorkflowKind::Activate,
                    });
                }
            }
        }
        AppState::Activated | AppState::Renewed => {
            let on_card =
                matches!(card, Some(CardView::Firma { application, .. }) if *application == app.id);
            if !on_card {
                ui.label(tr(Key::NeedCitizenCard));
            }
            let pin_blocked = matches!(
                card,
                Some(CardView::Firma {
                    pin_blocked: true,
                    ..
                })
            );
            ui.horizontal_wrapped(|ui| {
                for (kind, key) in [
                    (ServiceKind::Unblock, Key::Unblock),
                    (ServiceKind::ChangePin, Key::ChangePin),
                ] {
                    // A blocked PIN cannot be changed: only unblocked.
                    let enabled = on_card && !(kind == ServiceKind::ChangePin && pin_blocked);
                    let b = ui.add_enabled(enabled, egui::Button::new(tr(key)));
                    let b = if on_card && pin_blocked {
                        b.on_disabled_hover_text(tr(Key::PinBlockedUnblockFirst))
                    } else {
                        b
                    };
                    if b.clicked() {
                        action = Some(Action::OpenService {
                            kind,
                            reader: reader.clone(),
                            application: app.id,
                        });
                    }
                }
                let opens = detail.renewal_opens;
                let renew_open = opens.is_some_and(|o| OffsetDateTime::now_utc() >= o);
                let renew =
                    ui.add_enabled(on_card && renew_open, egui::Button::new(tr(Key::Renew)));
                if let (false, Some(o)) = (renew_open, opens) {
                    renew.clone().on_disabled_hover_text(format!(
                        "{} {}",
                        tr(Key::RenewOpens),
                        i18n::date(o.date())
                    ));
                }
                if renew.clicked() {
                    if let Some(reader) = reader.clone() {
                        action = Some(Action::StartWorkflow {
                            reader,
                            application: app.id,
                            kind: WorkflowKind::Renew,
                        });
                    }
                }
                if ui
                    .add_enabled(on_card, egui::Button::new(tr(Key::Inspect)))
                    .clicked()
                {
                    if let Some(reader) = reader.clone() {
                        action = Some(Action::Inspect(reader));
                    }
                }
            });
            // What cannot be undone apart, in red.
            ui.add_space(6.0);
            ui.horizontal_wrapped(|ui| {
                let red = |key| RichText::new(tr(key)).color(Color32::DARK_RED).strong();
                let danger =
                    |b: egui::Button<'static>| b.stroke(egui::Stroke::new(1.5, Color32::DARK_RED));
                if ui
                    .add(danger(egui::Button::new(red(Key::Revoke))))
                    .clicked()
                {
                    // No card needed; the card in the reader is named
                    // when it is the citizen's.
                    action = Some(Action::OpenService {
                        kind: ServiceKind::Revoke,
                        reader: reader.clone().filter(|_| on_card),
                        application: app.id,
                    });
                }
                if ui
                    .add_enabled(on_card, danger(egui::Button::new(red(Key::ResetCard))))
                    .clicked()
                {
                    action = Some(Action::OpenService {
                        kind: ServiceKind::Reset,
                        reader: reader.clone(),
                        application: app.id,
                    });
                }
            });
        }
        AppState::Revoked | AppState::Expired => {
            ui.label(tr(Key::ApplyAgain));
        }
    }
    if matches!(
        app.state,
        AppState::Requested | AppState::Activated | AppState::Renewed
    ) {
        let asked = generation_code(ui, lang, app.id, checked_today && !check_used);
        action = action.or(asked);
    }
    ui.separator();
    ui.heading(tr(Key::Certificates));
    for c in &detail.certificates {
        let mut state = i18n::cert_state(lang, c.state).to_string();
        if let Some(r) = c.revocation_reason {
            state.push_str(&format!(" ({})", i18n::reason(lang, r)));
        }
        ui.label(format!(
            "{:02X} · {state} · {} {} - {}",
            c.slot.key_reference(),
            c.serial.chars().take(12).collect::<String>(),
            i18n::date(c.not_before.date()),
            i18n::date(c.not_after.date())
        ));
    }
    ui.separator();
    ui.heading(tr(Key::History));
    // A summary a line each; the detail, shortened, on hover.
    egui::Grid::new("history")
        .num_columns(3)
        .striped(true)
        .spacing([16.0, 4.0])
        .show(ui, |ui| {
            for e in &detail.history {
                let row = Row::new(lang, cx.snapshot, e);
                ui.label(&row.time);
                ui.label(&e.operator);
                let action = ui.label(&row.action);
                if !e.detail.is_empty() {
                    action.on_hover_text(short_detail(&e.detail));
                }
                ui.end_row();
            }
        });
    action
}

/// The software certificate's Generation Code, beside the card's
/// activation: on paper, or by SMS where the station has a gateway.
fn generation_code(
    ui: &mut egui::Ui,
    lang: i18n::Lang,
    application: i64,
    ready: bool,
) -> Option<Action> {
    use crate::ui::i18n::code::{tc, CodeText};
    let mut action = None;
    ui.add_space(6.0);
    ui.label(RichText::new(tc(lang, CodeText::Heading)).strong());
    ui.label(tc(lang, CodeText::IssueHint));
    if !ready {
        ui.label(tc(lang, CodeText::NeedIdentity));
    }
    let sms = super::generation_code::sms_gateway().is_some();
    ui.horizontal_wrapped(|ui| {
        if ui
            .add_enabled(ready, egui::Button::new(tc(lang, CodeText::IssuePaper)))
            .clicked()
        {
            action = Some(Action::IssueCode {
                application,
                sms: false,
            });
        }
        if sms
            && ui
                .add_enabled(ready, egui::Button::new(tc(lang, CodeText::IssueSms)))
                .clicked()
        {
            action = Some(Action::IssueCode {
                application,
                sms: true,
            });
        }
    });
    action
}
