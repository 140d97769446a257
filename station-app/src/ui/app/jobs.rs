//! The work the window hands to the engine's workers, and what comes back:
//! jobs submitted per reader, their progress and results turned into what
//! the screens show, the identity check, and the after-issuance services.

use eframe::egui;
use firma_station_engine::activation::Progress;
use firma_station_engine::error::StationError;
use firma_station_engine::identity::IdentityDocument;
use firma_station_engine::registry::{AppKey, WorkflowKind};
use firma_station_engine::services;
use firma_station_engine::worker::{Job, Report};
use time::OffsetDateTime;

use crate::ui::citizen::{CitizenEvent, UiCitizen};
use crate::ui::i18n::{self, t, Key, Said};
use crate::ui::screen::identity::IdentityForm;
use crate::ui::screen::inspection::InspectionView;
use crate::ui::screen::letter::LetterView;
use crate::ui::screen::pin::{self, PinDialog};
use crate::ui::screen::services::ServiceJob;
use crate::ui::screen::wizard::Wizard;

use super::{App, Modal, INSPECT, REVOKE};

impl App {
    /// Takes what the workers and the citizen's side reported.
    pub(super) fn drain(&mut self) {
        let mut reported = false;
        while let Ok(report) = self.reports.try_recv() {
            self.report(report);
            reported = true;
        }
        if reported {
            // A worker committed: read what the screens show again.
            self.model.refresh(self.want());
        }
        while let Ok((reader, found)) = self.inspections.try_recv() {
            if self.modal.is_none() {
                self.modal = Some(Modal::Inspection(InspectionView { reader, found }));
            }
        }
        while let Ok(event) = self.citizen.try_recv() {
            let Some(Modal::Wizard(w)) = &mut self.modal else {
                // Only a workflow asks, and its wizard stays until it ends;
                // a PIN not answered cancels the step.
                tracing::warn!("the citizen's side asked with no workflow on show");
                continue;
            };
            match event {
                CitizenEvent::NeedPin { new, reply, .. } => {
                    w.pin = Some(PinDialog::new(new, reply));
                }
                CitizenEvent::Letter {
                    pdf, card_serial, ..
                } => {
                    w.letter = Some(LetterView::new(pdf, card_serial));
                }
            }
        }
    }

    pub(super) fn report(&mut self, report: Report) {
        let wizard = match &mut self.modal {
            Some(Modal::Wizard(w)) => Some(w),
            _ => None,
        };
        match report {
            Report::Progress(reader, p) => {
                if let Progress::Done {
                    note: Some(note), ..
                } = &p
                {
                    let note = *note;
                    self.notice = Some((true, Said::new(|l| i18n::card_note(l, note).into())));
                }
                if let Some(w) = wizard.filter(|w| w.reader == reader) {
                    w.progress(&p);
                }
            }
            Report::Finished(reader, result) => {
                self.readers.set_busy(&reader, false);
                if let Some(w) = wizard {
                    if w.reader == reader {
                        match *result {
                            Ok(outcome) => {
                                w.finished = Some(Said::new(|l| {
                                    format!(
                                        "{} {} — {} {}",
                                        t(l, Key::CardReady),
                                        outcome.card_serial,
                                        outcome.application.given_name,
                                        outcome.application.surnames
                                    )
                                }));
                            }
                            Err(e) => w.fault = Some(Said::error(&e)),
                        }
                    }
                    // A PIN dialog left open belongs to the job that ended.
                    w.pin = None;
                }
            }
            Report::ServiceDone(reader, name, result) => {
                self.readers.set_busy(&reader, false);
                if name == REVOKE {
                    // No card was touched, but what the readers panel says
                    // of the citizen's card changed: look at every card again.
                    let names: Vec<String> = self
                        .readers
                        .snapshot()
                        .into_iter()
                        .map(|(n, _)| n)
                        .collect();
                    self.readers
                        .dirty
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend(names);
                }
                let dialog = match &mut self.modal {
                    Some(Modal::Service(d)) => Some(d),
                    _ => None,
                };
                match result {
                    // The inspection shows in its own panel.
                    Ok(_) if name == INSPECT => {}
                    Ok(what) => {
                        let done = match &dialog {
                            Some(d) => d.done(&what),
                            None => Said::new(|_| what.clone()),
                        };
                        self.notice = Some((true, done));
                        if dialog.is_some() {
                            self.modal = None;
                        }
                    }
                    Err(e) => {
                        let msg = Said::error(&e);
                        match dialog {
                            Some(d) => d.error = Some(msg),
                            None => self.notice = Some((false, msg)),
                        }
                    }
                }
            }
        }
    }

    pub(super) fn record_identity(&mut self, id: i64) {
        let f = &mut self.applications.identity;
        let today = OffsetDateTime::now_utc().date();
        let support = Some(f.support.as_str()).filter(|s| !s.trim().is_empty());
        let result = IdentityDocument::check(&f.kind, &f.number, support, &f.expires, today)
            .map_err(StationError::from)
            .and_then(|doc| {
                services::record_identity_check(&self.station, &AppKey::Id(id), &doc, f.seen)
            });
        match result {
            Ok(_) => {
                // Blank again for another check (a second Generation Code
                // needs one), with the document kind just accepted.
                let kind = std::mem::take(&mut f.kind);
                self.applications.identity = IdentityForm {
                    kind,
                    ..IdentityForm::default()
                };
                self.notice = Some((true, Said::key(Key::IdentityRecorded)));
                self.model.refresh(self.want());
            }
            Err(e) => f.error = Some(Said::error(&e)),
        }
    }

    pub(super) fn start_workflow(&mut self, reader: &str, application: i64, kind: WorkflowKind) {
        self.modal = Some(Modal::Wizard(Box::new(Wizard::new(
            reader,
            application,
            kind,
        ))));
        self.run_workflow(reader, application, kind);
    }

    /// Runs the workflow on the reader's worker, for the wizard on show.
    pub(super) fn run_workflow(&mut self, reader: &str, application: i64, kind: WorkflowKind) {
        let citizen = Box::new(UiCitizen {
            reader: reader.to_string(),
            events: self.citizen_tx.clone(),
            repaint: self.ctx.clone().unwrap_or_default(),
        });
        let application = AppKey::Id(application);
        let job = match kind {
            WorkflowKind::Activate => Job::Activate {
                application,
                citizen,
            },
            WorkflowKind::Renew => Job::Renew {
                application,
                citizen,
            },
        };
        self.submit(reader, job);
    }

    pub(super) fn run_service(&mut self, ctx: &egui::Context) {
        let Some(Modal::Service(d)) = &mut self.modal else {
            return;
        };
        let reader = d.reader.clone();
        let job = d.job();
        pin::wipe(ctx);
        match job {
            Ok(ServiceJob::Card(job)) => self.submit(&reader, job),
            Ok(ServiceJob::Revoke {
                application,
                reason,
            }) => {
                // No card: the registry and the CA, off the UI thread.
                let station = self.station.clone();
                let tx = self.reports_tx.clone();
                let repaint = ctx.clone();
                std::thread::spawn(move || {
                    let r = services::revoke(&station, &AppKey::Id(application), reason)
                        .map(|s| s.len().to_string());
                    let _ = tx.send(Report::ServiceDone(String::new(), REVOKE.into(), r));
                    repaint.request_repaint();
                });
            }
            Err(e) => d.error = Some(e),
        }
    }
}
