//! The operator's window: a small [`App`] that keeps the window's state,
//! draws the screens and applies what the operator asked for after
//! drawing, in the manner of egui's demo app. Card work runs on the
//! engine's workers (one per reader), the readers panel comes from the
//! engine's monitor thread; this code only shows state and sends commands.

use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use eframe::egui::{self, RichText};
use firma_station_engine::audit::Actor;
use firma_station_engine::engine::Station;
use firma_station_engine::inspection;
use firma_station_engine::letter;
use firma_station_engine::readers::{self, ReaderSource, Readers};
use firma_station_engine::worker::{Job, Report, Worker};

use super::citizen::CitizenEvent;
use super::i18n::{self, t, Key, Lang, Said};
use super::model::{Model, Want};
use super::print::Printer;
use super::screen::applications::{self, Applications};
use super::screen::audit::Audit;
use super::screen::identity::IdentityForm;
use super::screen::inspection::InspectionView;
use super::screen::letter::LetterView;
use super::screen::pin;
use super::screen::services::ServiceDialog;
use super::screen::wizard::{self, Wizard};
use super::screen::{self, ok_color, Action, Cx};

mod jobs;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Applications,
    Audit,
}

/// What covers the tabs while it lasts.
enum Modal {
    /// An activation or a renewal, with the citizen's prompts.
    Wizard(Box<Wizard>),
    Service(ServiceDialog),
    /// What a card holds, as the reader's worker read it.
    Inspection(InspectionView),
    /// A Generation Code being issued, then its letter or SMS.
    Code(Box<screen::generation_code::CodeView>),
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
    /// Card inspections, from the readers' workers.
    inspections_tx: Sender<(String, Box<inspection::Inspection>)>,
    inspections: Receiver<(String, Box<inspection::Inspection>)>,
    model: Model,
    printer: Printer,
    pub lang: Lang,
    tab: Tab,
    /// The reader the operator works with.
    reader: Option<String>,
    applications: Applications,
    audit: Audit,
    modal: Option<Modal>,
    /// The last thing done or refused: (done, what).
    notice: Option<(bool, Said)>,
    /// Frames drawn, for the test that the window keeps drawing while a
    /// card works.
    pub frames: u64,
    ctx: Option<egui::Context>,
}

impl App {
    pub fn new(station: Arc<Station>, source: Arc<dyn ReaderSource>) -> Self {
        let (reports_tx, reports) = channel();
        let (citizen_tx, citizen) = channel();
        let (inspections_tx, inspections) = channel();
        let readers = Arc::new(Readers::default());
        Self {
            model: Model::spawn(station.clone(), readers.clone()),
            printer: Printer::new(),
            station,
            source,
            readers,
            monitor_started: false,
            workers: HashMap::new(),
            reports_tx,
            reports,
            citizen_tx,
            citizen,
            inspections_tx,
            inspections,
            lang: Lang::Es,
            tab: Tab::Applications,
            reader: None,
            applications: Applications::default(),
            audit: Audit::default(),
            modal: None,
            notice: None,
            frames: 0,
            ctx: None,
        }
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

    /// What the screens on show need read.
    fn want(&self) -> Want {
        Want {
            application: self.applications.selected,
            audit: self.tab == Tab::Audit,
        }
    }

    fn submit(&mut self, reader: &str, job: Job) {
        self.readers.set_busy(reader, true);
        let station = self.station.clone();
        let connector = self.source.connector(reader);
        let tx = self.reports_tx.clone();
        self.workers
            .entry(reader.to_string())
            .or_insert_with(|| Worker::spawn(station, connector, tx))
            .submit(job);
    }

    /// Draws the whole window; the eframe app and the UI tests call this.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.frames += 1;
        let ctx = ui.ctx().clone();
        self.ctx = Some(ctx.clone());
        if !self.monitor_started {
            self.monitor_started = true;
            setup_style(&ctx);
            self.model.attach(&ctx);
            self.model.refresh(self.want());
            let repaint = ctx.clone();
            let changed = self.model.readers_changed();
            readers::spawn_monitor(
                self.station.clone(),
                self.source.clone(),
                self.readers.clone(),
                move || {
                    changed();
                    repaint.request_repaint();
                },
            );
        }
        self.drain();
        if let Some(Modal::Code(v)) = &mut self.modal {
            let was_done = v.is_done();
            v.poll();
            if v.is_done() && !was_done {
                self.model.refresh(self.want());
            }
        }
        if let Some(printed) = self.printer.poll() {
            // The letter may have been handed over meanwhile.
            if let Some((application, l)) = self.letter() {
                l.printing = false;
                l.printed = Some(printed);
                if printed.is_ok() {
                    let serial = l.card_serial;
                    self.record_letter(application, serial, letter::Fate::Printed);
                }
            }
        }
        if let Some(chain) = self.model.poll() {
            self.audit.check = Some(match chain {
                Ok(n) => (true, Said::new(|l| format!("{} ({n})", t(l, Key::ChainOk)))),
                Err(e) => (
                    false,
                    Said::new(|l| {
                        format!("{}: {}", t(l, Key::ChainBroken), i18n::chain_error(l, &e))
                    }),
                ),
            });
        }
        let working = self.is_working();
        if working {
            // Keep the progress moving while a card works.
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        // A dialog is modal: the tabs and the readers wait until it ends.
        let modal = self.modal.is_some();
        egui::Panel::top("top").show(ui, |ui| {
            top_bar(
                ui,
                &self.station.actor,
                modal,
                &mut self.tab,
                &mut self.lang,
            )
        });
        let mut actions = Vec::new();
        let cx = Cx {
            lang: self.lang,
            station: &self.station,
            snapshot: &self.model.snapshot,
            reader: self.reader.as_deref(),
        };
        egui::Panel::left("readers")
            .resizable(false)
            .min_size(300.0)
            .show(ui, |ui| {
                actions.extend(screen::readers::show(ui, &cx, modal))
            });
        // The last notice in a strip of its own at the bottom: it never
        // pushes the fields of a form (once a click meant for a button
        // typed into a PIN field that had moved).
        if let Some((ok, text)) = &self.notice {
            egui::Panel::bottom("notice").show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.label(
                        RichText::new(text.get(cx.lang))
                            .color(ok_color(*ok))
                            .strong(),
                    );
                    if ui.button(t(cx.lang, Key::Dismiss)).clicked() {
                        actions.push(Action::DismissNotice);
                    }
                });
            });
        }
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                let asked = match &mut self.modal {
                    Some(Modal::Wizard(w)) => wizard::show(ui, &cx, w),
                    Some(Modal::Service(d)) => screen::services::show(ui, &cx, working, d),
                    Some(Modal::Inspection(v)) => screen::inspection::show(ui, &cx, v),
                    Some(Modal::Code(v)) => screen::generation_code::show(ui, &cx, v),
                    None => match self.tab {
                        Tab::Applications => applications::show(ui, &cx, &mut self.applications),
                        Tab::Audit => screen::audit::show(ui, &cx, &mut self.audit),
                    },
                };
                actions.extend(asked);
            });
        });
        for action in actions {
            self.apply(&ctx, action);
        }
        // A tab or an application opened: read what it shows.
        self.model.show(self.want());
    }

    /// Whether the screens show what the registry held when last asked
    /// (no snapshot is on its way).
    pub fn is_current(&self) -> bool {
        self.model.is_current()
    }

    /// Does what the operator asked for on a screen.
    fn apply(&mut self, ctx: &egui::Context, action: Action) {
        // A new piece of work: the notice of the last one goes.
        if matches!(
            action,
            Action::SelectApplication(_)
                | Action::StartWorkflow { .. }
                | Action::OpenService { .. }
                | Action::Inspect(_)
                | Action::Resume
        ) {
            self.notice = None;
        }
        match action {
            Action::DismissNotice => self.notice = None,
            Action::SelectReader(reader) => self.reader = Some(reader),
            Action::SelectApplication(id) => {
                self.applications.selected = Some(id);
                let nif = self
                    .model
                    .snapshot
                    .applications
                    .iter()
                    .find(|a| a.id == id)
                    .map(|a| a.nif.as_str())
                    .unwrap_or_default();
                self.applications.identity = IdentityForm::for_nif(nif);
            }
            Action::RecordIdentity(id) => self.record_identity(id),
            Action::StartWorkflow {
                reader,
                application,
                kind,
            } => self.start_workflow(&reader, application, kind),
            Action::OpenService {
                kind,
                reader,
                application,
            } => {
                self.modal = Some(Modal::Service(ServiceDialog::new(
                    kind,
                    reader,
                    application,
                )))
            }
            Action::Inspect(reader) => {
                let found = self.inspections_tx.clone();
                let to = reader.clone();
                self.submit(
                    &reader,
                    Job::Service {
                        name: INSPECT.into(),
                        run: Box::new(move |station, card| {
                            let report =
                                inspection::inspect(station, card, inspection::CITIZEN_SLOTS)?;
                            let _ = found.send((to, Box::new(report)));
                            Ok(String::new())
                        }),
                    },
                )
            }
            Action::RunService => self.run_service(ctx),
            Action::Resume => {
                if let Some(Modal::Wizard(w)) = &mut self.modal {
                    // The same wizard goes on: the steps done stay done,
                    // whether or not the card is back yet.
                    w.resume();
                    let (reader, application, kind) = (w.reader.clone(), w.application, w.kind);
                    self.run_workflow(&reader, application, kind);
                }
            }
            Action::Close => {
                self.modal = None;
                pin::wipe(ctx);
            }
            Action::AnswerPin(answer) => {
                if let Some(Modal::Wizard(w)) = &mut self.modal {
                    if let Some(d) = w.pin.take() {
                        let _ = d.reply.send(answer);
                    }
                }
                pin::wipe(ctx);
            }
            Action::PrintLetter => {
                let printer = &self.printer;
                if let Some(l) = letter_of(&mut self.modal).filter(|l| !l.printing) {
                    l.printing = true;
                    l.printed = None;
                    printer.print(l.pdf.clone(), ctx);
                }
            }
            Action::LetterDone => {
                if let Some((application, l)) = self.letter() {
                    if l.was_printed() {
                        let serial = l.card_serial;
                        self.hand_over(application, serial);
                    } else {
                        // The PUK exists nowhere else: ask first.
                        l.confirm_close = true;
                    }
                }
            }
            Action::LetterBack => {
                if let Some((_, l)) = self.letter() {
                    l.confirm_close = false;
                }
            }
            Action::LetterHandedOver => {
                if let Some((application, l)) = self.letter() {
                    let serial = l.card_serial;
                    self.hand_over(application, serial);
                }
            }
            // Read and checked on the model's thread: the log may be long.
            Action::VerifyChain => self.model.verify_chain(),
            Action::IssueCode { application, sms } => {
                let delivery = match screen::generation_code::sms_gateway() {
                    Some(gateway) if sms => {
                        firma_station_engine::generation_code::Delivery::Sms(gateway)
                    }
                    _ => firma_station_engine::generation_code::Delivery::Paper,
                };
                self.modal = Some(Modal::Code(Box::new(
                    screen::generation_code::CodeView::issue(
                        self.station.clone(),
                        application,
                        delivery,
                        self.printer.sibling(),
                        ctx.clone(),
                    ),
                )));
            }
            Action::PrintCode => {
                if let Some(Modal::Code(v)) = &mut self.modal {
                    v.print(ctx);
                }
            }
            // Dropping the view zeroizes the letter.
            Action::CloseCode => self.modal = None,
        }
    }

    /// The PUK letter on show, with its application.
    fn letter(&mut self) -> Option<(i64, &mut LetterView)> {
        match &mut self.modal {
            Some(Modal::Wizard(w)) => {
                let application = w.application;
                w.letter.as_mut().map(|l| (application, l))
            }
            _ => None,
        }
    }

    /// The citizen has the letter: recorded, and the letter wiped.
    fn hand_over(&mut self, application: i64, card_serial: u32) {
        self.record_letter(application, card_serial, letter::Fate::HandedOver);
        if let Some(Modal::Wizard(w)) = &mut self.modal {
            // Dropping the view zeroizes the letter's text and PDF.
            w.letter = None;
        }
    }

    /// What became of the letter, in the audit log (on the model's thread).
    fn record_letter(&mut self, application: i64, card_serial: u32, fate: letter::Fate) {
        self.model.write(move |station| {
            if let Err(e) = letter::record(station, application, card_serial, fate) {
                tracing::warn!("the PUK letter's {fate:?} was not recorded: {e}");
            }
        });
    }

    /// Prints PUK letters with `command` instead of `lp` (for tests).
    pub fn set_print_command(&mut self, command: &str) {
        self.printer = Printer::with_command(command);
    }
}

/// The name of the inspection job.
const INSPECT: &str = "inspect";
/// The name of a revocation's report.
const REVOKE: &str = "revoke";

/// The PUK letter on show, if any.
fn letter_of(modal: &mut Option<Modal>) -> Option<&mut LetterView> {
    match modal {
        Some(Modal::Wizard(w)) => w.letter.as_mut(),
        _ => None,
    }
}

fn top_bar(ui: &mut egui::Ui, actor: &Actor, modal: bool, tab: &mut Tab, lang: &mut Lang) {
    ui.horizontal(|ui| {
        ui.heading(RichText::new("Firma Station").strong());
        ui.separator();
        let l = *lang;
        ui.add_enabled_ui(!modal, |ui| {
            for (value, key) in [
                (Tab::Applications, Key::TabApplications),
                (Tab::Audit, Key::TabAudit),
            ] {
                ui.selectable_value(tab, value, t(l, key))
                    .on_disabled_hover_text(t(l, Key::ModalOpen));
            }
        });
        ui.separator();
        ui.label(format!(
            "{}: {} · {}: {}",
            t(l, Key::Operator),
            actor.operator,
            t(l, Key::Station),
            actor.station
        ));
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            for choice in [Lang::Va, Lang::En, Lang::Es] {
                ui.selectable_value(lang, choice, choice.name());
            }
            ui.label(t(l, Key::Language));
        });
    });
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
        // A worker waiting for a PIN gets "cancelled" as its channel
        // closes, before the workers are joined.
        self.modal = None;
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
    ctx.style_mut_of(egui::Theme::Light, |style| {
        let v = &mut style.visuals;
        // Text fields: white with a visible border, so that an empty field
        // reads as a field.
        v.text_edit_bg_color = Some(egui::Color32::WHITE);
        v.widgets.inactive.bg_stroke = egui::Stroke::new(1.0, egui::Color32::from_gray(130));
        // Buttons: a darker fill and a border, so that they look clickable.
        v.widgets.inactive.weak_bg_fill = egui::Color32::from_gray(222);
        v.widgets.inactive.bg_fill = egui::Color32::from_gray(222);
        v.widgets.hovered.bg_stroke = egui::Stroke::new(1.5, screen::BLUE);
        v.widgets.inactive.fg_stroke.color = egui::Color32::from_gray(30);
    });
}
