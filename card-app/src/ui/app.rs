//! The card manager's window: a small [`App`] that keeps what the card's
//! thread reported, draws it, and sends the citizen's requests back. It
//! never touches the card itself.

use std::sync::{Arc, OnceLock};

use eframe::egui::{self, Color32, RichText};
use firma_apdu::piv::PinStatus;

use super::browsers::{self, Browsers};
use super::card_view;
use super::forms::{self, Form, Kind};
use super::i18n::{self, t, Key, Lang};
use crate::card::CardView;
use crate::worker::{CardThread, Event, Problem, RegisterTarget};

/// What the last PIN operation came to, worded when drawn so that it
/// follows a change of language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    PinChanged,
    Unblocked,
    Refused(Problem),
}

/// The citizen's window.
pub struct App {
    thread: CardThread,
    ctx: Arc<OnceLock<egui::Context>>,
    pub lang: Lang,
    readers: Vec<String>,
    chosen: Option<String>,
    /// `None` until the card's thread has read the reader once.
    card: Option<Result<CardView, Problem>>,
    /// A PIN change or unblock is with the card.
    working: bool,
    change: Form,
    unblock: Form,
    pub notice: Option<Notice>,
    /// The PIN form on show.
    form: Kind,
    browsers: Browsers,
    target: RegisterTarget,
}

impl App {
    /// The window on the machine's PC/SC readers; `target` says where
    /// "Use my card in Firefox and Chrome" registers the module.
    pub fn new(target: RegisterTarget) -> Self {
        let ctx: Arc<OnceLock<egui::Context>> = Arc::default();
        let repaint = {
            let ctx = ctx.clone();
            move || {
                if let Some(c) = ctx.get() {
                    c.request_repaint();
                }
            }
        };
        Self {
            thread: CardThread::spawn(repaint),
            ctx,
            lang: Lang::Es,
            readers: Vec::new(),
            chosen: None,
            card: None,
            working: false,
            change: Form::default(),
            unblock: Form::default(),
            notice: None,
            form: Kind::Change,
            browsers: Browsers::default(),
            target,
        }
    }

    /// Whether the window waits for the card's thread.
    pub fn is_working(&self) -> bool {
        self.working || self.browsers.working
    }

    /// Whether no PIN or PUK typed is kept in the forms or in egui.
    pub fn secrets_wiped(&self) -> bool {
        self.change.is_empty() && self.unblock.is_empty()
    }

    /// The card as last read.
    pub fn card(&self) -> Option<&Result<CardView, Problem>> {
        self.card.as_ref()
    }

    fn take_events(&mut self) {
        while let Some(e) = self.thread.try_recv() {
            match e {
                Event::Readers { names, chosen } => {
                    self.readers = names;
                    self.chosen = chosen;
                }
                Event::Card(c) => self.card = Some(c),
                Event::PinChanged(r) => {
                    self.working = false;
                    self.notice = Some(r.map_or_else(Notice::Refused, |()| Notice::PinChanged));
                }
                Event::Unblocked(r) => {
                    self.working = false;
                    self.notice = Some(r.map_or_else(Notice::Refused, |()| Notice::Unblocked));
                }
                Event::Registered(r) => {
                    self.browsers.working = false;
                    self.browsers.result = Some(r);
                }
            }
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.ctx.get_or_init(|| ui.ctx().clone());
        self.take_events();
        let lang = self.lang;
        ui.horizontal(|ui| {
            ui.heading(RichText::new(t(lang, Key::Title)).strong());
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                egui::ComboBox::from_id_salt("firma-card-language")
                    .selected_text(self.lang.name())
                    .show_ui(ui, |ui| {
                        for l in Lang::ALL {
                            ui.selectable_value(&mut self.lang, l, l.name());
                        }
                    });
                ui.label(t(lang, Key::Language));
            });
        });
        if self.readers.len() > 1 {
            ui.horizontal(|ui| {
                ui.label(t(lang, Key::Reader));
                let mut chosen = self.chosen.clone();
                egui::ComboBox::from_id_salt("firma-card-reader")
                    .selected_text(chosen.clone().unwrap_or_default())
                    .show_ui(ui, |ui| {
                        for r in &self.readers {
                            ui.selectable_value(&mut chosen, Some(r.clone()), r);
                        }
                    });
                if chosen != self.chosen {
                    if let Some(r) = chosen.clone() {
                        self.card = None;
                        self.thread.send(crate::worker::Command::Choose(r));
                    }
                    self.chosen = chosen;
                }
            });
        }
        ui.separator();
        egui::ScrollArea::vertical().show(ui, |ui| self.body(ui));
    }

    fn body(&mut self, ui: &mut egui::Ui) {
        let lang = self.lang;
        let today = today();
        let card = match &self.card {
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(t(lang, Key::Reading));
                });
                None
            }
            Some(Err(p)) => {
                let text = if *p == Problem::NoCard && self.readers.is_empty() {
                    t(lang, Key::NoReader).to_string()
                } else {
                    i18n::problem(lang, p)
                };
                ui.label(RichText::new(text).size(18.0));
                None
            }
            Some(Ok(card)) => {
                card_view::show(ui, lang, card, today);
                Some(card.clone())
            }
        };
        if let Some(card) = card.filter(CardView::is_personalized) {
            self.pin_forms(ui, &card);
        }
        ui.separator();
        if browsers::show(ui, lang, &self.browsers) {
            self.browsers.running = !firma_pkcs11_register::running_browsers().is_empty();
            self.browsers.result = None;
            if !self.browsers.running {
                self.browsers.working = true;
                self.thread.register(self.target.clone());
            }
        }
    }

    fn pin_forms(&mut self, ui: &mut egui::Ui, card: &CardView) {
        let lang = self.lang;
        if self.working {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(t(lang, Key::Working));
            });
        }
        if let Some(n) = &self.notice {
            let (ok, text) = match n {
                Notice::PinChanged => (true, t(lang, Key::PinChanged).to_string()),
                Notice::Unblocked => (true, t(lang, Key::Unblocked).to_string()),
                Notice::Refused(p) => (false, i18n::problem(lang, p)),
            };
            let colour = if ok {
                Color32::from_rgb(0, 110, 40)
            } else {
                Color32::DARK_RED
            };
            ui.colored_label(colour, RichText::new(text).strong().size(16.0));
        }
        let puk_blocked = card.puk == Some(PinStatus::Blocked)
            || self.notice == Some(Notice::Refused(Problem::PukBlocked));
        let enabled = !self.working;
        // A blocked PIN can only be unblocked; a blocked PUK only changed.
        let kinds: Vec<Kind> = [
            (card.pin != PinStatus::Blocked).then_some(Kind::Change),
            (!puk_blocked).then_some(Kind::Unblock),
        ]
        .into_iter()
        .flatten()
        .collect();
        let Some(&first) = kinds.first() else {
            return;
        };
        if !kinds.contains(&self.form) {
            self.form = first;
        }
        ui.separator();
        ui.horizontal(|ui| {
            for k in &kinds {
                let key = match k {
                    Kind::Change => Key::ChangePin,
                    Kind::Unblock => Key::Unblock,
                };
                let label = RichText::new(t(lang, key)).size(16.0);
                ui.selectable_value(&mut self.form, *k, label);
            }
        });
        let form = match self.form {
            Kind::Change => &mut self.change,
            Kind::Unblock => &mut self.unblock,
        };
        let command = forms::show(ui, lang, self.form, form, enabled);
        if let Some(c) = command {
            self.working = true;
            self.notice = None;
            self.thread.send(c);
        }
    }
}

/// Today, in UTC as the certificates' dates are (a day's difference at
/// midnight does not change what the citizen is told to do).
fn today() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

/// Opens the window.
pub fn run(target: RegisterTarget) -> Result<(), String> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Firma")
            .with_app_id("firma-card")
            .with_inner_size([820.0, 900.0]),
        ..Default::default()
    };
    eframe::run_native(
        "firma-card",
        options,
        Box::new(move |cc| {
            setup_style(&cc.egui_ctx);
            Ok(Box::new(Window(App::new(target))))
        }),
    )
    .map_err(|e| e.to_string())
}

struct Window(App);

impl eframe::App for Window {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.0.show(ui);
    }
}

/// Large, readable text on a light theme, as the station's window.
pub fn setup_style(ctx: &egui::Context) {
    ctx.set_zoom_factor(1.2);
    ctx.set_theme(egui::Theme::Light);
    ctx.style_mut_of(egui::Theme::Light, |style| {
        let v = &mut style.visuals;
        v.text_edit_bg_color = Some(Color32::WHITE);
        v.widgets.inactive.bg_stroke = egui::Stroke::new(1.0, Color32::from_gray(130));
        v.widgets.inactive.weak_bg_fill = Color32::from_gray(222);
        v.widgets.inactive.bg_fill = Color32::from_gray(222);
        v.widgets.inactive.fg_stroke.color = Color32::from_gray(30);
    });
}
