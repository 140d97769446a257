//! The Generation Code of a software certificate: issued on a thread (an
//! SMS gateway may be slow), then its letter shown, printed and closed, or
//! the SMS confirmed. The code lives only in this view's zeroizing letter.

use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;

use eframe::egui::{self, RichText};
use firma_station_engine::engine::Station;
use firma_station_engine::error::StationError;
use firma_station_engine::generation_code::{self, letter, sms, Delivery, SmsGateway};
use firma_station_engine::registry::AppKey;
use zeroize::Zeroizing;

use super::{context, ok_color, Action, Cx};
use crate::ui::i18n::code::{tc, CodeText};
use crate::ui::i18n::{self, t, tf_text, Key, Said};
use crate::ui::print::{PrintError, Printed, Printer};

/// What came back from issuing.
enum Outcome {
    Letter {
        text: Zeroizing<String>,
        pdf: Zeroizing<Vec<u8>>,
    },
    Sms {
        to: String,
        until: time::Date,
    },
}

pub struct CodeView {
    pub application: i64,
    pending: Option<Receiver<Result<Outcome, StationError>>>,
    outcome: Option<Outcome>,
    error: Option<Said>,
    printer: Printer,
    printing: bool,
    printed: Option<Printed>,
}

/// Where the window's SMS go: `FIRMA_SMS_GATEWAY` (http://...) or
/// `FIRMA_SMS_OUTBOX` (a directory, for a demonstration), as for the CLI.
pub fn sms_gateway() -> Option<SmsGateway> {
    let set = |v: &str| std::env::var(v).ok().filter(|s| !s.trim().is_empty());
    set("FIRMA_SMS_GATEWAY")
        .map(|url| SmsGateway::Http { url })
        .or_else(|| set("FIRMA_SMS_OUTBOX").map(|dir| SmsGateway::Outbox { dir: dir.into() }))
}

/// The portal the letter names (`FIRMA_PORTAL_URL`).
fn portal() -> String {
    std::env::var("FIRMA_PORTAL_URL").unwrap_or_else(|_| "https://firma-portal.example/".into())
}

impl CodeView {
    /// Issues a code for `application` on a thread; repaints when done.
    pub fn issue(
        station: Arc<Station>,
        application: i64,
        delivery: Delivery,
        printer: Printer,
        repaint: egui::Context,
    ) -> Self {
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name("generation-code".into())
            .spawn(move || {
                let result = generation_code::issue(&station, &AppKey::Id(application), &delivery)
                    .map(|issued| match delivery {
                        Delivery::Sms(_) => Outcome::Sms {
                            to: sms::masked(&issued.application.phone),
                            until: issued.record.expires_at.date(),
                        },
                        Delivery::Paper => {
                            let info = issued.letter_info(&station.actor.station, &portal());
                            Outcome::Letter {
                                text: letter::text(&info, &issued.code),
                                pdf: letter::pdf(&info, &issued.code),
                            }
                        }
                    });
                let _ = tx.send(result);
                repaint.request_repaint();
            })
            .expect("the system can start a thread");
        Self {
            application,
            pending: Some(rx),
            outcome: None,
            error: None,
            printer,
            printing: false,
            printed: None,
        }
    }

    /// Takes what the issuing thread and the printer said.
    pub fn poll(&mut self) {
        if let Some(rx) = &self.pending {
            if let Ok(result) = rx.try_recv() {
                self.pending = None;
                match result {
                    Ok(o) => self.outcome = Some(o),
                    Err(e) => self.error = Some(Said::error(&e)),
                }
            }
        }
        if let Some(p) = self.printer.poll() {
            self.printing = false;
            self.printed = Some(p);
        }
    }

    /// Whether the registry changed (a code was issued or refused).
    pub fn is_done(&self) -> bool {
        self.pending.is_none()
    }

    pub fn print(&mut self, ctx: &egui::Context) {
        if let Some(Outcome::Letter { pdf, .. }) = &self.outcome {
            if !self.printing {
                self.printing = true;
                self.printed = None;
                self.printer.print(pdf.clone(), ctx);
            }
        }
    }
}

pub fn show(ui: &mut egui::Ui, cx: &Cx, v: &CodeView) -> Option<Action> {
    let lang = cx.lang;
    let mut action = None;
    ui.heading(tc(lang, CodeText::Heading));
    context(ui, cx, v.application, None);
    if v.pending.is_some() {
        ui.horizontal(|ui| {
            ui.add(egui::Spinner::new());
            ui.label(tc(lang, CodeText::Issuing));
        });
        return None;
    }
    if let Some(e) = &v.error {
        ui.label(RichText::new(e.get(lang)).color(ok_color(false)).strong());
    }
    match &v.outcome {
        Some(Outcome::Letter { text, .. }) => {
            ui.heading(tc(lang, CodeText::LetterTitle));
            ui.label(tc(lang, CodeText::LetterHint));
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(
                        !v.printing,
                        egui::Button::new(RichText::new(t(lang, Key::Print)).strong()),
                    )
                    .clicked()
                {
                    action = Some(Action::PrintCode);
                }
                if v.printing {
                    ui.add(egui::Spinner::new());
                    ui.label(t(lang, Key::Printing));
                }
                if ui
                    .add_enabled(!v.printing, egui::Button::new(t(lang, Key::LetterDone)))
                    .clicked()
                {
                    action = Some(Action::CloseCode);
                }
            });
            if let Some(printed) = &v.printed {
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
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.label(RichText::new(text.as_str()).monospace());
            });
        }
        Some(Outcome::Sms { to, until }) => {
            ui.label(
                RichText::new(tf_text(
                    tc(lang, CodeText::SmsSent),
                    &[to, &i18n::date(*until)],
                ))
                .color(ok_color(true))
                .strong(),
            );
            if ui.button(tc(lang, CodeText::Close)).clicked() {
                action = Some(Action::CloseCode);
            }
        }
        None => {
            if ui.button(tc(lang, CodeText::Close)).clicked() {
                action = Some(Action::CloseCode);
            }
        }
    }
    action
}
