//! The operator's window (egui/eframe). It holds no card logic: card work
//! runs on the engine's workers (one per reader), the readers panel comes
//! from a monitor thread, and this code only shows state and sends
//! commands. All operator-facing text comes from [`i18n`].

pub mod i18n;

use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use eframe::egui::{self, Color32, RichText};
use firma_apdu::piv::{Pin, Puk};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use firma_station_engine::activation::{Citizen, Progress, Step};
use firma_station_engine::audit::{self, AuditEntry};
use firma_station_engine::ca::RevocationReason;
use firma_station_engine::engine::Station;
use firma_station_engine::error::StationError;
use firma_station_engine::identity::IdentityDocument;
use firma_station_engine::letter::{self, LetterInfo};
use firma_station_engine::pin::check_new_pin;
use firma_station_engine::readers::{self, ReaderSource, ReaderView, Readers};
use firma_station_engine::registry::{AppKey, AppState, Application, WorkflowKind};
use firma_station_engine::services::{self, CardView};
use firma_station_engine::worker::{Job, Report, Worker};
use i18n::{t, Key, Lang};

/// What the citizen's side of a workflow asks of the window.
pub enum CitizenEvent {
    /// The citizen types a PIN (`new`: a new one, twice; else the current one).
    NeedPin {
        reader: String,
        new: bool,
        reply: Sender<Option<Pin>>,
    },
    Letter {
        reader: String,
        text: Zeroizing<String>,
        pdf: Zeroizing<Vec<u8>>,
    },
}

/// The window's side of [`Citizen`]: asks the UI and waits for its answer
/// on the worker's thread.
struct UiCitizen {
    reader: String,
    events: Sender<CitizenEvent>,
    repaint: egui::Context,
}

impl UiCitizen {
    fn ask(&mut self, new: bool) -> Result<Pin, StationError> {
        let (reply, answer) = channel();
        self.events
            .send(CitizenEvent::NeedPin {
                reader: self.reader.clone(),
                new,
                reply,
            })
            .map_err(|_| StationError::Input("the window was closed".into()))?;
        self.repaint.request_repaint();
        match answer.recv() {
            Ok(Some(pin)) => Ok(pin),
            _ => Err(StationError::Input(
                "the PIN entry was cancelled: resume when the citizen is ready".into(),
            )),
        }
    }
}

impl Citizen for UiCitizen {
    fn choose_pin(&mut self) -> Result<Pin, StationError> {
        self.ask(true)
    }
    fn current_pin(&mut self) -> Result<Pin, StationError> {
        self.ask(false)
    }
    fn deliver_letter(&mut self, info: &LetterInfo, puk: &Puk) -> Result<(), StationError> {
        let event = CitizenEvent::Letter {
            reader: self.reader.clone(),
            text: letter::text(info, puk),
            pdf: Zeroizing::new(letter::pdf(info, puk)),
        };
        self.events
            .send(event)
            .map_err(|_| StationError::Letter("the window was closed".into()))?;
        self.repaint.request_repaint();
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepState {
    Pending,
    Running,
    Done,
    Skipped,
    Failed,
}

/// The PIN dialog: the citizen's entry, wiped when the step takes it.
struct PinDialog {
    new: bool,
    reply: Sender<Option<Pin>>,
    first: Zeroizing<String>,
    second: Zeroizing<String>,
    error: Option<String>,
}

struct Wizard {
    reader: String,
    application: i64,
    kind: WorkflowKind,
    steps: Vec<(Step, StepState)>,
    fault: Option<String>,
    finished: Option<String>,
}

struct LetterView {
    text: Zeroizing<String>,
    pdf: Zeroizing<Vec<u8>>,
    message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServiceKind {
    Unblock,
    ChangePin,
    Revoke,
    Reset,
}

struct ServiceDialog {
    kind: ServiceKind,
    reader: String,
    application: Option<i64>,
    secret: Zeroizing<String>,
    new_pin: Zeroizing<String>,
    again: Zeroizing<String>,
    reason: RevocationReason,
    confirmed: bool,
    error: Option<String>,
}

#[derive(Default)]
struct IdentityForm {
    kind: String,
    number: String,
    support: String,
    expires: String,
    seen: bool,
    error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Applications,
    Audit,
}

/// The operator's window.
pub struct App {
    station: Arc<Station>,
    source: Arc<dyn ReaderSource>,
    readers: Arc<Readers>,
    monitor_started: bool,
    workers: HashMap<String, Worker>,
    reports_tx: Sender<Report>,
    reports: Receiver<Report>,
    citizen_tx: Sender<CitizenEvent>,
    citizen: Receiver<CitizenEvent>,
    pub lang: Lang,
    tab: Tab,
    search: String,
    selected: Option<i64>,
    reader: Option<String>,
    identity: IdentityForm,
    wizard: Option<Wizard>,
    pin: Option<PinDialog>,
    letter: Option<LetterView>,
    service: Option<ServiceDialog>,
    notice: Option<(bool, String)>,
    audit_filter: String,
    audit_check: Option<(bool, String)>,
    /// Frames drawn, for the test that the window keeps drawing while a
    /// card works.
    pub frames: u64,
    ctx: Option<egui::Context>,
}

impl App {
    pub fn new(station: Arc<Station>, source: Arc<dyn ReaderSource>) -> Self {
        let (reports_tx, reports) = channel();
        let (citizen_tx, citizen) = channel();
        Self {
            station,
            source,
            readers: Arc::new(Readers::default()),
            monitor_started: false,
            workers: HashMap::new(),
            reports_tx,
            reports,
            citizen_tx,
            citizen,
            lang: Lang::Es,
            tab: Tab::Applications,
            search: String::new(),
            selected: None,
            reader: None,
            identity: IdentityForm::default(),
            wizard: None,
            pin: None,
            letter: None,
            service: None,
            notice: None,
            audit_filter: String::new(),
            audit_check: None,
            frames: 0,
            ctx: None,
        }
    }

    fn tr(&self, key: Key) -> &'static str {
        t(self.lang, key)
    }

    /// Whether a job runs on any reader (the wizard or a service).
    pub fn is_working(&self) -> bool {
        !self
            .readers
            .busy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_empty()
    }

    fn worker(&mut self, reader: &str) -> &Worker {
        let station = self.station.clone();
        let connector = self.source.connector(reader);
        let tx = self.reports_tx.clone();
        self.workers
            .entry(reader.to_string())
            .or_insert_with(|| Worker::spawn(station, connector, tx))
    }

    fn submit(&mut self, reader: &str, job: Job) {
        self.readers.set_busy(reader, true);
        self.worker(reader).submit(job);
    }

    /// Draws the whole window; the eframe app and the UI tests call this.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.frames += 1;
        let ctx = ui.ctx().clone();
        self.ctx = Some(ctx.clone());
        if !self.monitor_started {
            self.monitor_started = true;
            setup_style(&ctx);
            let repaint = ctx.clone();
            readers::spawn_monitor(
                self.station.clone(),
                self.source.clone(),
                self.readers.clone(),
                move || repaint.request_repaint(),
            );
        }
        self.drain(&ctx);
        if self.is_working() {
            // Keep the progress moving while a card works.
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        egui::Panel::top("top").show(ui, |ui| self.top_bar(ui));
        egui::Panel::left("readers")
            .resizable(false)
            .min_size(300.0)
            .show(ui, |ui| self.readers_panel(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                if let Some((ok, text)) = self.notice.clone() {
                    let color = if ok {
                        Color32::DARK_GREEN
                    } else {
                        Color32::DARK_RED
                    };
                    ui.label(RichText::new(text).color(color).strong());
                    if ui.button(self.tr(Key::Dismiss)).clicked() {
                        self.notice = None;
                    }
                    ui.separator();
                }
                if self.letter.is_some() {
                    self.letter_view(ui);
                } else if self.pin.is_some() {
                    self.pin_view(ui);
                } else if self.wizard.is_some() {
                    self.wizard_view(ui);
                } else if self.service.is_some() {
                    self.service_view(ui);
                } else {
                    match self.tab {
                        Tab::Applications => self.applications_view(ui),
                        Tab::Audit => self.audit_view(ui),
                    }
                }
            });
        });
    }

    /// Takes what the workers and the citizen's side reported.
    fn drain(&mut self, ctx: &egui::Context) {
        while let Ok(report) = self.reports.try_recv() {
            match report {
                Report::Progress(reader, p) => {
                    if let Progress::Done {
                        note: Some(note), ..
                    } = &p
                    {
                        self.notice = Some((true, i18n::card_note(self.lang, *note).into()));
                    }
                    if let Some(w) = self.wizard.as_mut().filter(|w| w.reader == reader) {
                        let (step, state) = match p {
                            Progress::Started { step, .. } => (step, StepState::Running),
                            Progress::Done { step, skipped, .. } => (
                                step,
                                if skipped {
                                    StepState::Skipped
                                } else {
                                    StepState::Done
                                },
                            ),
                            Progress::Failed { step, .. } => (step, StepState::Failed),
                        };
                        if let Some(s) = w.steps.iter_mut().find(|(s, _)| *s == step) {
                            s.1 = state;
                        }
                    }
                }
                Report::Finished(reader, result) => {
                    self.readers.set_busy(&reader, false);
                    let lang = self.lang;
                    if let Some(w) = self.wizard.as_mut().filter(|w| w.reader == reader) {
                        match *result {
                            Ok(outcome) => {
                                w.finished = Some(format!(
                                    "{} {} — {} {}",
                                    t(lang, Key::CardReady),
                                    outcome.card_serial,
                                    outcome.application.given_name,
                                    outcome.application.surnames
                                ));
                            }
                            Err(e) => w.fault = Some(i18n::error(lang, &e)),
                        }
                    }
                    // A PIN dialog left open belongs to the job that ended.
                    self.pin = None;
                }
                Report::ServiceDone(reader, _name, result) => {
                    self.readers.set_busy(&reader, false);
                    match result {
                        Ok(what) => {
                            self.notice = Some((true, what));
                            self.service = None;
                        }
                        Err(e) => {
                            let msg = i18n::error(self.lang, &e);
                            match self.service.as_mut() {
                                Some(s) => s.error = Some(msg),
                                None => self.notice = Some((false, msg)),
                            }
                        }
                    }
                }
            }
        }
        while let Ok(event) = self.citizen.try_recv() {
            match event {
                CitizenEvent::NeedPin { new, reply, .. } => {
                    self.pin = Some(PinDialog {
                        new,
                        reply,
                        first: Zeroizing::new(String::new()),
                        second: Zeroizing::new(String::new()),
                        error: None,
                    });
                }
                CitizenEvent::Letter { text, pdf, .. } => {
                    self.letter = Some(LetterView {
                        text,
                        pdf,
                        message: None,
                    });
                }
            }
        }
        let _ = ctx;
    }

    fn top_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading(RichText::new("Firma Station").strong());
            ui.separator();
            let lang = self.lang;
            ui.selectable_value(
                &mut self.tab,
                Tab::Applications,
                t(lang, Key::TabApplications),
            );
            ui.selectable_value(&mut self.tab, Tab::Audit, t(lang, Key::TabAudit));
            ui.separator();
            ui.label(format!(
                "{}: {} · {}: {}",
                self.tr(Key::Operator),
                self.station.actor.operator,
                self.tr(Key::Station),
                self.station.actor.station
            ));
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                for lang in [Lang::Va, Lang::En, Lang::Es] {
                    ui.selectable_value(&mut self.lang, lang, lang.name());
                }
                ui.label(self.tr(Key::Language));
            });
        });
    }

    fn readers_panel(&mut self, ui: &mut egui::Ui) {
        ui.heading(self.tr(Key::Readers));
        let views = self.readers.snapshot();
        if views.is_empty() {
            ui.label(self.tr(Key::NoReaders));
        }
        for (name, view) in views {
            let (text, color) = self.describe_reader(&view);
            let selected = self.reader.as_deref() == Some(name.as_str());
            let frame = egui::Frame::group(ui.style()).fill(if selected {
                ui.visuals().selection.bg_fill.gamma_multiply(0.3)
            } else {
                ui.visuals().panel_fill
            });
            frame.show(ui, |ui| {
                ui.set_width(ui.available_width());
                if ui
                    .selectable_label(selected, RichText::new(&name).strong())
                    .on_hover_text(self.tr(Key::SelectReader))
                    .clicked()
                {
                    self.reader = Some(name.clone());
                }
                ui.label(RichText::new(text).color(color));
            });
        }
    }

    fn describe_reader(&self, view: &ReaderView) -> (String, Color32) {
        match view {
            ReaderView::Looking => (self.tr(Key::ReaderLooking).into(), Color32::GRAY),
            ReaderView::Working => (
                self.tr(Key::ReaderWorking).into(),
                Color32::from_rgb(30, 90, 200),
            ),
            ReaderView::Card(CardView::Empty) => (self.tr(Key::ReaderEmpty).into(), Color32::GRAY),
            ReaderView::Card(CardView::Blank { serial }) => (
                format!(
                    "{} ({} {serial})",
                    self.tr(Key::ReaderBlank),
                    self.tr(Key::Serial)
                ),
                Color32::DARK_GREEN,
            ),
            ReaderView::Card(CardView::Firma {
                serial,
                holder,
                expires,
                pin_blocked,
                unfinished,
                ..
            }) => {
                let mut s = format!("{} {serial}: {holder}", self.tr(Key::ReaderFirma));
                if let Some(d) = expires {
                    s.push_str(&format!("\n{} {d}", self.tr(Key::Expires)));
                }
                if *unfinished {
                    s.push_str(&format!("\n{}", self.tr(Key::ReaderUnfinished)));
                }
                if *pin_blocked {
                    s.push_str(&format!("\n{}", self.tr(Key::ReaderPinBlocked)));
                    return (s, Color32::DARK_RED);
                }
                (s, Color32::from_rgb(30, 90, 200))
            }
            ReaderView::Card(CardView::Unknown { why }) => (
                format!("{}: {why}", self.tr(Key::ReaderUnknown)),
                Color32::from_rgb(160, 100, 0),
            ),
        }
    }

    fn selected_card(&self) -> Option<CardView> {
        let reader = self.reader.as_ref()?;
        self.readers
            .snapshot()
            .into_iter()
            .find(|(n, _)| n == reader)
            .and_then(|(_, v)| match v {
                ReaderView::Card(c) => Some(c),
                _ => None,
            })
    }

    fn applications_view(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let label = ui.label(RichText::new(self.tr(Key::Search)).strong());
            ui.add(
                egui::TextEdit::singleline(&mut self.search)
                    .hint_text(t(self.lang, Key::SearchHint))
                    .desired_width(320.0),
            )
            .labelled_by(label.id);
        });
        let apps = self.station.registry().applications().unwrap_or_default();
        let query = normalize(&self.search);
        // Without a search, the applications waiting for their card.
        if query.is_empty() && self.selected.is_none() {
            ui.label(self.tr(Key::WaitingApplications));
        }
        if !query.is_empty() || self.selected.is_none() {
            let found: Vec<&Application> = apps
                .iter()
                .filter(|a| {
                    if query.is_empty() {
                        return a.state == AppState::Requested;
                    }
                    normalize(&a.nif).contains(&query)
                        || normalize(&format!("{} {}", a.given_name, a.surnames)).contains(&query)
                })
                .take(20)
                .collect();
            if found.is_empty() {
                ui.label(self.tr(Key::NoMatch));
            }
            for a in found {
                let text = format!(
                    "{} · {} {} · {}",
                    a.nif,
                    a.given_name,
                    a.surnames,
                    self.state_name(a.state)
                );
                if ui
                    .selectable_label(self.selected == Some(a.id), text)
                    .clicked()
                {
                    self.selected = Some(a.id);
                    self.identity = IdentityForm {
                        kind: if a.nif.starts_with(['X', 'Y', 'Z']) {
                            "NIE"
                        } else {
                            "DNI"
                        }
                        .into(),
                        ..IdentityForm::default()
                    };
                }
            }
        }
        ui.separator();
        let Some(app) = self
            .selected
            .and_then(|id| apps.iter().find(|a| a.id == id).cloned())
        else {
            ui.label(self.tr(Key::PickApplication));
            return;
        };
        self.application_detail(ui, &app);
    }

    fn state_name(&self, s: AppState) -> &'static str {
        self.tr(match s {
            AppState::Requested => Key::StateRequested,
            AppState::Activated => Key::StateActivated,
            AppState::Renewed => Key::StateRenewed,
            AppState::Revoked => Key::StateRevoked,
            AppState::Expired => Key::StateExpired,
        })
    }

    fn application_detail(&mut self, ui: &mut egui::Ui, app: &Application) {
        ui.heading(format!("{} {} — {}", app.given_name, app.surnames, app.nif));
        egui::Grid::new("app")
            .num_columns(2)
            .striped(true)
            .show(ui, |ui| {
                for (k, v) in [
                    (Key::Application, app.id.to_string()),
                    (Key::State, self.state_name(app.state).to_string()),
                    (Key::Email, app.email.clone()),
                    (Key::Phone, app.phone.clone()),
                    (
                        Key::MailedCard,
                        app.card_serial
                            .map_or(self.tr(Key::Unknown).to_string(), |s| s.to_string()),
                    ),
                    (Key::Requested, app.requested_at.date().to_string()),
                ] {
                    ui.label(self.tr(k));
                    ui.label(v);
                    ui.end_row();
                }
            });
        let checks = self
            .station
            .registry()
            .identity_checks(app.id)
            .unwrap_or_default();
        let checked_today = self.station.identity_checked(&checks);
        ui.separator();
        ui.heading(self.tr(Key::Identity));
        for c in &checks {
            ui.label(format!(
                "OK {} {} · {} {} · {} {}",
                c.document_kind,
                c.document_number,
                self.tr(Key::ValidUntil),
                c.document_expires,
                self.tr(Key::CheckedBy),
                c.operator
            ));
        }
        if app.state == AppState::Requested && !checked_today {
            self.identity_form(ui, app);
        }
        ui.separator();
        ui.heading(self.tr(Key::Actions));
        let card = self.selected_card();
        let reader = self.reader.clone();
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
                    ui.label(self.tr(Key::NeedIdentity));
                } else if !ready {
                    ui.label(self.tr(Key::NeedBlankCard));
                }
                if ui
                    .add_enabled(
                        ready,
                        egui::Button::new(RichText::new(self.tr(Key::Activate)).strong()),
                    )
                    .clicked()
                {
                    if let Some(reader) = reader {
                        self.start_workflow(&reader, app.id, WorkflowKind::Activate);
                    }
                }
            }
            AppState::Activated | AppState::Renewed => {
                let on_card = matches!(&card, Some(CardView::Firma { application, .. }) if *application == app.id);
                if !on_card {
                    ui.label(self.tr(Key::NeedCitizenCard));
                }
                ui.horizontal_wrapped(|ui| {
                    for (kind, key) in [
                        (ServiceKind::Unblock, Key::Unblock),
                        (ServiceKind::ChangePin, Key::ChangePin),
                        (ServiceKind::Reset, Key::ResetCard),
                    ] {
                        if ui
                            .add_enabled(on_card, egui::Button::new(self.tr(key)))
                            .clicked()
                        {
                            self.open_service(kind, reader.clone(), Some(app.id));
                        }
                    }
                    let opens = self
                        .station
                        .renewal_window(app.id)
                        .ok()
                        .flatten()
                        .map(|(opens, _)| opens);
                    let renew_open = opens.is_some_and(|o| OffsetDateTime::now_utc() >= o);
                    let renew = ui.add_enabled(
                        on_card && renew_open,
                        egui::Button::new(self.tr(Key::Renew)),
                    );
                    if let (false, Some(o)) = (renew_open, opens) {
                        renew.clone().on_disabled_hover_text(format!(
                            "{} {}",
                            self.tr(Key::RenewOpens),
                            o.date()
                        ));
                    }
                    if renew.clicked() {
                        if let Some(reader) = reader.clone() {
                            self.start_workflow(&reader, app.id, WorkflowKind::Renew);
                        }
                    }
                    if ui.button(self.tr(Key::Revoke)).clicked() {
                        self.open_service(ServiceKind::Revoke, None, Some(app.id));
                    }
                    if ui
                        .add_enabled(on_card, egui::Button::new(self.tr(Key::Inspect)))
                        .clicked()
                    {
                        if let Some(reader) = reader.clone() {
                            self.submit(
                                &reader,
                                Job::Service {
                                    name: "inspect".into(),
                                    run: Box::new(services::inspect),
                                },
                            );
                        }
                    }
                });
            }
            AppState::Revoked | AppState::Expired => {
                ui.label(self.tr(Key::ApplyAgain));
            }
        }
        ui.separator();
        ui.heading(self.tr(Key::Certificates));
        for c in self
            .station
            .registry()
            .certificates(app.id)
            .unwrap_or_default()
        {
            ui.label(format!(
                "{} · {} · {} {} - {}",
                c.slot,
                c.state,
                c.serial.chars().take(12).collect::<String>(),
                c.not_before.date(),
                c.not_after.date()
            ));
        }
        ui.separator();
        ui.heading(self.tr(Key::History));
        let subject = format!("application {}", app.id);
        // The newest entries only, read by SQL: this runs on every frame.
        for e in self
            .station
            .registry()
            .audit_about(&subject, 30)
            .unwrap_or_default()
        {
            ui.label(format!(
                "{} · {} · {}: {}",
                e.at, e.operator, e.action, e.detail
            ));
        }
    }

    fn identity_form(&mut self, ui: &mut egui::Ui, app: &Application) {
        let lang = self.lang;
        let f = &mut self.identity;
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
                (Key::DocumentNumber, &mut f.number, "12345678Z"),
                (Key::SupportNumber, &mut f.support, "E01234567 / BAA000589"),
                (Key::DocumentExpires, &mut f.expires, "2031-05-17"),
            ] {
                let label = ui.label(t(lang, key));
                ui.add(egui::TextEdit::singleline(value).hint_text(hint))
                    .labelled_by(label.id);
                ui.end_row();
            }
        });
        ui.checkbox(&mut f.seen, t(lang, Key::SeenDocument));
        if let Some(e) = &f.error {
            ui.colored_label(Color32::DARK_RED, e);
        }
        if ui
            .button(RichText::new(t(lang, Key::RecordIdentity)).strong())
            .clicked()
        {
            let today = OffsetDateTime::now_utc().date();
            let support = Some(f.support.as_str()).filter(|s| !s.trim().is_empty());
            let result = IdentityDocument::check(&f.kind, &f.number, support, &f.expires, today)
                .map_err(StationError::from)
                .and_then(|doc| {
                    services::record_identity_check(
                        &self.station,
                        &AppKey::Id(app.id),
                        &doc,
                        f.seen,
                    )
                });
            match result {
                Ok(_) => {
                    self.identity = IdentityForm::default();
                    self.notice = Some((true, t(lang, Key::IdentityRecorded).into()));
                }
                Err(e) => f.error = Some(i18n::error(lang, &e)),
            }
        }
    }

    fn start_workflow(&mut self, reader: &str, application: i64, kind: WorkflowKind) {
        self.wizard = Some(Wizard {
            reader: reader.to_string(),
            application,
            kind,
            steps: Step::plan(kind)
                .into_iter()
                .map(|s| (s, StepState::Pending))
                .collect(),
            fault: None,
            finished: None,
        });
        let citizen = Box::new(UiCitizen {
            reader: reader.to_string(),
            events: self.citizen_tx.clone(),
            repaint: self.ctx.clone().unwrap_or_default(),
        });
        let job = match kind {
            WorkflowKind::Activate => Job::Activate {
                application: AppKey::Id(application),
                citizen,
            },
            WorkflowKind::Renew => Job::Renew {
                application: AppKey::Id(application),
                citizen,
            },
        };
        self.submit(reader, job);
    }

    fn wizard_view(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let Some(w) = self.wizard.as_ref() else {
            return;
        };
        ui.heading(match w.kind {
            WorkflowKind::Activate => t(lang, Key::WizardActivate),
            WorkflowKind::Renew => t(lang, Key::WizardRenew),
        });
        ui.label(format!("{}: {}", t(lang, Key::Reader), w.reader));
        let total = w.steps.len();
        let done = w
            .steps
            .iter()
            .filter(|(_, s)| matches!(s, StepState::Done | StepState::Skipped))
            .count();
        ui.add(
            egui::ProgressBar::new(done as f32 / total as f32)
                .text(format!("{done} / {total}"))
                .animate(w.fault.is_none() && w.finished.is_none()),
        );
        for (step, state) in &w.steps {
            let (mark, color) = match state {
                StepState::Pending => ("•", Color32::GRAY),
                StepState::Running => ("»", Color32::from_rgb(30, 90, 200)),
                StepState::Done => ("OK", Color32::DARK_GREEN),
                StepState::Skipped => ("OK", Color32::DARK_GREEN),
                StepState::Failed => ("X", Color32::DARK_RED),
            };
            ui.horizontal(|ui| {
                ui.label(RichText::new(mark).color(color));
                let mut text = i18n::step(lang, *step);
                // The state in words too, for screen readers.
                match state {
                    StepState::Skipped => {
                        text.push_str(&format!(" ({})", t(lang, Key::AlreadyDone)))
                    }
                    StepState::Running => {
                        text.push_str(&format!(" ({})", t(lang, Key::InProgress)))
                    }
                    StepState::Failed => text.push_str(&format!(" ({})", t(lang, Key::StepFailed))),
                    _ => {}
                }
                ui.label(RichText::new(text).color(color));
                if *state == StepState::Running && step.is_slow() {
                    ui.add(egui::Spinner::new());
                }
            });
        }
        let (reader, app, kind) = (w.reader.clone(), w.application, w.kind);
        if let Some(fault) = w.fault.clone() {
            ui.separator();
            ui.label(
                RichText::new(t(lang, Key::Stopped))
                    .color(Color32::DARK_RED)
                    .strong(),
            );
            ui.label(RichText::new(fault).color(Color32::DARK_RED));
            ui.label(t(lang, Key::ResumeHint));
            let (mut resume, mut close) = (false, false);
            ui.horizontal(|ui| {
                resume = ui
                    .button(RichText::new(t(lang, Key::Resume)).strong())
                    .clicked();
                close = ui.button(t(lang, Key::Close)).clicked();
            });
            if resume {
                self.start_workflow(&reader, app, kind);
            } else if close {
                self.wizard = None;
            }
        } else if let Some(finished) = w.finished.clone() {
            ui.separator();
            ui.label(RichText::new(finished).color(Color32::DARK_GREEN).strong());
            if ui.button(t(lang, Key::Close)).clicked() {
                self.wizard = None;
            }
        }
    }

    fn pin_view(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let Some(d) = self.pin.as_mut() else { return };
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
        let first = pin_field(ui, t(lang, Key::Pin), &mut d.first);
        if d.new {
            pin_field(ui, t(lang, Key::PinAgain), &mut d.second);
        }
        if let Some(e) = &d.error {
            ui.colored_label(Color32::DARK_RED, e);
        }
        let enter = first.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let mut submit = false;
        let mut cancel = false;
        ui.horizontal(|ui| {
            submit = ui
                .button(RichText::new(t(lang, Key::PinConfirm)).strong())
                .clicked()
                || (enter && !d.new);
            cancel = ui.button(t(lang, Key::Cancel)).clicked();
        });
        if cancel {
            let _ = d.reply.send(None);
            self.wipe_pin_fields(ui.ctx());
            self.pin = None;
            return;
        }
        if !submit {
            return;
        }
        let checked = if d.new {
            if d.first.as_str() != d.second.as_str() {
                Err(t(lang, Key::PinDiffer).to_string())
            } else {
                check_new_pin(&d.first).map_err(|e| i18n::error(lang, &e))
            }
        } else {
            Pin::new(d.first.as_bytes()).map_err(|e| e.to_string())
        };
        match checked {
            Ok(pin) => {
                let _ = d.reply.send(Some(pin));
                self.wipe_pin_fields(ui.ctx());
                self.pin = None;
            }
            Err(e) => {
                d.error = Some(e);
                d.first.clear();
                d.second.clear();
            }
        }
    }

    /// The PIN must not outlive its step: drop egui's own copies too (the
    /// text edit's state, with its undo history).
    fn wipe_pin_fields(&self, ctx: &egui::Context) {
        ctx.data_mut(|d| {
            for key in PIN_FIELDS {
                for lang in [Lang::Es, Lang::En, Lang::Va] {
                    d.remove::<egui::text_edit::TextEditState>(pin_field_id(t(lang, key)));
                }
            }
        });
    }

    fn letter_view(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let Some(l) = self.letter.as_mut() else {
            return;
        };
        ui.heading(t(lang, Key::LetterTitle));
        ui.label(t(lang, Key::LetterHint));
        // The buttons first: the operator need not scroll past the letter.
        let (mut print, mut done) = (false, false);
        ui.horizontal(|ui| {
            print = ui
                .button(RichText::new(t(lang, Key::Print)).strong())
                .clicked();
            done = ui.button(t(lang, Key::LetterDone)).clicked();
        });
        if let Some(m) = &l.message {
            ui.label(m);
        }
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.label(RichText::new(l.text.as_str()).monospace());
        });
        if print {
            l.message = Some(match print_pdf(&l.pdf) {
                Ok(()) => t(lang, Key::Printed).to_string(),
                Err(e) => format!("{}: {e}", t(lang, Key::PrintFailed)),
            });
        }
        if done {
            // Dropping the view zeroizes the letter's text and PDF.
            self.letter = None;
        }
    }

    fn open_service(
        &mut self,
        kind: ServiceKind,
        reader: Option<String>,
        application: Option<i64>,
    ) {
        self.service = Some(ServiceDialog {
            kind,
            reader: reader.unwrap_or_default(),
            application,
            secret: Zeroizing::new(String::new()),
            new_pin: Zeroizing::new(String::new()),
            again: Zeroizing::new(String::new()),
            reason: RevocationReason::Unspecified,
            confirmed: false,
            error: None,
        });
    }

    fn service_view(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let working = self.is_working();
        let Some(d) = self.service.as_mut() else {
            return;
        };
        let title = match d.kind {
            ServiceKind::Unblock => Key::Unblock,
            ServiceKind::ChangePin => Key::ChangePin,
            ServiceKind::Revoke => Key::Revoke,
            ServiceKind::Reset => Key::ResetCard,
        };
        ui.heading(t(lang, title));
        match d.kind {
            ServiceKind::Unblock | ServiceKind::ChangePin => {
                let first = if d.kind == ServiceKind::Unblock {
                    Key::Puk
                } else {
                    Key::PinCurrentField
                };
                pin_field(ui, t(lang, first), &mut d.secret);
                ui.label(t(lang, Key::PinRules));
                pin_field(ui, t(lang, Key::PinNew), &mut d.new_pin);
                pin_field(ui, t(lang, Key::PinAgain), &mut d.again);
            }
            ServiceKind::Revoke => {
                egui::ComboBox::from_label(t(lang, Key::Reason))
                    .selected_text(d.reason.to_string())
                    .show_ui(ui, |ui| {
                        for r in [
                            RevocationReason::Unspecified,
                            RevocationReason::KeyCompromise,
                            RevocationReason::AffiliationChanged,
                            RevocationReason::Superseded,
                            RevocationReason::CessationOfOperation,
                        ] {
                            ui.selectable_value(&mut d.reason, r, r.to_string());
                        }
                    });
                ui.checkbox(&mut d.confirmed, t(lang, Key::ConfirmRevoke));
            }
            ServiceKind::Reset => {
                ui.checkbox(&mut d.confirmed, t(lang, Key::ConfirmReset));
            }
        }
        if let Some(e) = &d.error {
            ui.colored_label(Color32::DARK_RED, e);
        }
        if working {
            ui.add(egui::Spinner::new());
        }
        let mut go = false;
        let mut cancel = false;
        ui.horizontal(|ui| {
            let needs_confirm = matches!(d.kind, ServiceKind::Revoke | ServiceKind::Reset);
            go = ui
                .add_enabled(
                    !working && (!needs_confirm || d.confirmed),
                    egui::Button::new(RichText::new(t(lang, Key::DoIt)).strong()),
                )
                .clicked();
            cancel = ui.button(t(lang, Key::Cancel)).clicked();
        });
        if cancel {
            self.service = None;
            self.wipe_pin_fields(ui.ctx());
            return;
        }
        if go {
            self.run_service(ui.ctx());
        }
    }

    fn run_service(&mut self, ctx: &egui::Context) {
        let lang = self.lang;
        let Some(d) = self.service.as_mut() else {
            return;
        };
        d.error = None;
        let reader = d.reader.clone();
        let job: Result<Job, String> = match d.kind {
            ServiceKind::Unblock | ServiceKind::ChangePin => {
                let new = if d.new_pin.as_str() != d.again.as_str() {
                    Err(t(lang, Key::PinDiffer).to_string())
                } else {
                    check_new_pin(&d.new_pin).map_err(|e| i18n::error(lang, &e))
                };
                let first = Pin::new(d.secret.as_bytes()).map_err(|e| e.to_string());
                match (new, first) {
                    (Ok(new), Ok(first)) => {
                        let unblock = d.kind == ServiceKind::Unblock;
                        let done = t(
                            lang,
                            if unblock {
                                Key::Unblocked
                            } else {
                                Key::PinChanged
                            },
                        );
                        Ok(Job::Service {
                            name: "pin".into(),
                            run: Box::new(move |station, card| {
                                if unblock {
                                    services::unblock(station, card, &first, &new)?;
                                } else {
                                    services::change_pin(station, card, &first, &new)?;
                                }
                                Ok(done.to_string())
                            }),
                        })
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
            ServiceKind::Reset => {
                let done = t(lang, Key::ResetDone);
                Ok(Job::Service {
                    name: "reset".into(),
                    run: Box::new(move |station, card| {
                        let r = services::reset_card(station, card, RevocationReason::Superseded)?;
                        Ok(format!("{done} ({})", r.serial))
                    }),
                })
            }
            ServiceKind::Revoke => {
                // No card: the registry and the CA, off the UI thread.
                let station = self.station.clone();
                let tx = self.reports_tx.clone();
                let app = d.application.unwrap_or_default();
                let reason = d.reason;
                let done = t(lang, Key::Revoked);
                let repaint = ctx.clone();
                std::thread::spawn(move || {
                    let r = services::revoke(&station, &AppKey::Id(app), reason)
                        .map(|s| format!("{done}: {}", s.len()));
                    let _ = tx.send(Report::ServiceDone(String::new(), "revoke".into(), r));
                    repaint.request_repaint();
                });
                return;
            }
        };
        d.secret.clear();
        d.new_pin.clear();
        d.again.clear();
        match job {
            Ok(job) => self.submit(&reader, job),
            Err(e) => {
                if let Some(d) = self.service.as_mut() {
                    d.error = Some(e);
                }
            }
        }
        self.wipe_pin_fields(ctx);
    }

    fn audit_view(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let entries: Vec<AuditEntry> = self.station.registry().audit_entries().unwrap_or_default();
        ui.horizontal(|ui| {
            let label = ui.label(t(lang, Key::Filter));
            ui.add(egui::TextEdit::singleline(&mut self.audit_filter).desired_width(260.0))
                .labelled_by(label.id);
            if ui
                .button(RichText::new(t(lang, Key::VerifyChain)).strong())
                .clicked()
            {
                self.audit_check = Some(match audit::verify(&entries) {
                    Ok(n) => (true, format!("{} ({n})", t(lang, Key::ChainOk))),
                    Err(e) => (false, format!("{}: {e}", t(lang, Key::ChainBroken))),
                });
            }
        });
        if let Some((ok, text)) = &self.audit_check {
            ui.colored_label(
                if *ok {
                    Color32::DARK_GREEN
                } else {
                    Color32::DARK_RED
                },
                text,
            );
        }
        let filter = normalize(&self.audit_filter);
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
                    ui.label(&e.action);
                    ui.label(format!("{}: {}", e.subject, e.detail));
                    ui.end_row();
                }
            });
    }
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.readers
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.readers
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        // A worker waiting for a PIN gets "cancelled" as its channel closes.
        self.pin = None;
    }
}

/// The labels of every secret entry, whose state is wiped after use.
const PIN_FIELDS: [Key; 5] = [
    Key::Pin,
    Key::PinAgain,
    Key::Puk,
    Key::PinCurrentField,
    Key::PinNew,
];

fn pin_field_id(label: &str) -> egui::Id {
    egui::Id::unique(("firma-secret-field", label))
}

/// A masked entry, labelled for screen readers and tests.
fn pin_field(ui: &mut egui::Ui, label: &str, value: &mut Zeroizing<String>) -> egui::Response {
    ui.horizontal(|ui| {
        let l = ui.label(RichText::new(label).strong());
        ui.add(
            egui::TextEdit::singleline(&mut **value)
                .id(pin_field_id(label))
                .password(true)
                .char_limit(8)
                .desired_width(160.0),
        )
        .labelled_by(l.id)
    })
    .inner
}

/// Lower case without accents, for searching names.
fn normalize(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'á' | 'à' | 'Á' | 'À' => 'a',
            'é' | 'è' | 'É' | 'È' => 'e',
            'í' | 'ï' | 'Í' | 'Ï' => 'i',
            'ó' | 'ò' | 'Ó' | 'Ò' => 'o',
            'ú' | 'ü' | 'Ú' | 'Ü' => 'u',
            'ñ' | 'Ñ' => 'n',
            'ç' | 'Ç' => 'c',
            c => c.to_ascii_lowercase(),
        })
        .collect::<String>()
        .trim()
        .to_string()
}

/// Sends the letter to the default printer (`lp`), through a pipe: the PDF
/// is never written to disk.
fn print_pdf(pdf: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut child = std::process::Command::new("lp")
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("lp: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("lp")?
        .write_all(pdf)
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Opens the window; returns when the operator closes it.
pub fn run(station: Arc<Station>, source: Arc<dyn ReaderSource>) -> Result<(), String> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Firma Station")
            .with_inner_size([1280.0, 860.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Firma Station",
        options,
        Box::new(move |cc| {
            setup_style(&cc.egui_ctx);
            Ok(Box::new(App::new(station, source)))
        }),
    )
    .map_err(|e| e.to_string())
}

/// Large, readable text: the operator reads it at arm's length with a
/// citizen in front of them.
pub fn setup_style(ctx: &egui::Context) {
    ctx.set_zoom_factor(1.2);
    // A light theme: the state colours (green, red, amber) read well on it
    // in a bright office.
    ctx.set_theme(egui::Theme::Light);
}
