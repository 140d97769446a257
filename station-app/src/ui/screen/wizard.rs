//! The workflow wizard: the steps of an activation or a renewal as the
//! reader's worker reports them, the fault and Resume, and the citizen's
//! prompts (their PIN, the PUK letter), which belong to the running job.

use eframe::egui::{self, Color32, RichText};
use firma_station_engine::activation::{Progress, Step};
use firma_station_engine::registry::WorkflowKind;

use super::letter::{self, LetterView};
use super::pin::{self, PinDialog};
use super::{Action, Cx, BLUE};
use crate::ui::i18n::{self, t, Key, Said};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepState {
    Pending,
    Running,
    Done,
    Skipped,
    Failed,
}

pub struct Wizard {
    pub reader: String,
    pub application: i64,
    pub kind: WorkflowKind,
    steps: Vec<(Step, StepState)>,
    pub fault: Option<Said>,
    pub finished: Option<Said>,
    /// The citizen types a PIN for the waiting step.
    pub pin: Option<PinDialog>,
    /// The PUK letter, until the operator says it was handed over.
    pub letter: Option<LetterView>,
}

impl Wizard {
    pub fn new(reader: &str, application: i64, kind: WorkflowKind) -> Self {
        Self {
            reader: reader.to_string(),
            application,
            kind,
            steps: Step::plan(kind)
                .into_iter()
                .map(|s| (s, StepState::Pending))
                .collect(),
            fault: None,
            finished: None,
            pin: None,
            letter: None,
        }
    }

    /// Resume: the fault goes, a failed or running step is pending again,
    /// and what was done stays done.
    pub fn resume(&mut self) {
        self.fault = None;
        self.finished = None;
        for (_, state) in &mut self.steps {
            if matches!(state, StepState::Failed | StepState::Running) {
                *state = StepState::Pending;
            }
        }
    }

    /// A step started, ended or failed on the worker.
    pub fn progress(&mut self, p: &Progress) {
        let (step, state) = match *p {
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
        if let Some(s) = self.steps.iter_mut().find(|(s, _)| *s == step) {
            s.1 = state;
        }
    }
}

/// The citizen's prompts first (the letter before a PIN), else the steps.
pub fn show(ui: &mut egui::Ui, cx: &Cx, w: &mut Wizard) -> Option<Action> {
    super::context(ui, cx, w.application, Some(&w.reader));
    if let Some(l) = &w.letter {
        return letter::show(ui, cx.lang, l);
    }
    if let Some(d) = &mut w.pin {
        return pin::show(ui, cx.lang, d);
    }
    steps(ui, cx, w)
}

fn steps(ui: &mut egui::Ui, cx: &Cx, w: &Wizard) -> Option<Action> {
    let lang = cx.lang;
    ui.heading(match w.kind {
        WorkflowKind::Activate => t(lang, Key::WizardActivate),
        WorkflowKind::Renew => t(lang, Key::WizardRenew),
    });
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
            StepState::Running => ("»", BLUE),
            StepState::Done => ("OK", Color32::DARK_GREEN),
            StepState::Skipped => ("OK", Color32::DARK_GREEN),
            StepState::Failed => ("X", Color32::DARK_RED),
        };
        ui.horizontal(|ui| {
            ui.label(RichText::new(mark).color(color));
            let mut text = i18n::step(lang, *step);
            // The state in words too, for screen readers.
            let said = match state {
                StepState::Skipped => Some(Key::AlreadyDone),
                StepState::Running => Some(Key::InProgress),
                StepState::Failed => Some(Key::StepFailed),
                _ => None,
            };
            if let Some(key) = said {
                text.push_str(&format!(" ({})", t(lang, key)));
            }
            ui.label(RichText::new(text).color(color));
            if *state == StepState::Running && step.is_slow() {
                ui.add(egui::Spinner::new());
            }
        });
    }
    let mut action = None;
    if let Some(fault) = &w.fault {
        ui.separator();
        ui.label(
            RichText::new(t(lang, Key::Stopped))
                .color(Color32::DARK_RED)
                .strong(),
        );
        ui.label(RichText::new(fault.get(lang)).color(Color32::DARK_RED));
        ui.label(t(lang, Key::ResumeHint));
        ui.horizontal(|ui| {
            if ui
                .button(RichText::new(t(lang, Key::Resume)).strong())
                .clicked()
            {
                action = Some(Action::Resume);
            }
            if ui.button(t(lang, Key::Close)).clicked() {
                action = Some(Action::Close);
            }
        });
    } else if let Some(finished) = &w.finished {
        ui.separator();
        ui.label(
            RichText::new(finished.get(lang))
                .color(Color32::DARK_GREEN)
                .strong(),
        );
        if ui.button(t(lang, Key::Close)).clicked() {
            action = Some(Action::Close);
        }
    }
    action
}
