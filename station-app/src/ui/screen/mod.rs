//! The screens of the window, one file each. A screen draws from what it
//! is given (the language, the model's snapshot, its own form) and returns
//! what the operator asked for as an [`Action`]; the [`App`](super::App)
//! applies it after drawing. No screen talks to the engine's workers.

pub mod applications;
pub mod audit;
pub mod generation_code;
pub mod identity;
pub mod inspection;
pub mod letter;
pub mod pin;
pub mod readers;
pub mod services;
pub mod wizard;

use eframe::egui::{self, Color32, RichText};
use firma_apdu::piv::Pin;
use firma_station_engine::engine::Station;
use firma_station_engine::inspection::CardView;
use firma_station_engine::registry::WorkflowKind;

use super::i18n::{t, Key, Lang};
use super::model::Snapshot;
use services::ServiceKind;

/// What the operator asked for on a screen, applied after drawing.
pub enum Action {
    DismissNotice,
    SelectReader(String),
    /// Opens an application, with a fresh identity form for it.
    SelectApplication(i64),
    RecordIdentity(i64),
    StartWorkflow {
        reader: String,
        application: i64,
        kind: WorkflowKind,
    },
    OpenService {
        kind: ServiceKind,
        reader: Option<String>,
        application: i64,
    },
    Inspect(String),
    /// The open service dialog's "Do it".
    RunService,
    /// Resumes the stopped workflow: what was done is not done again.
    Resume,
    /// Closes the wizard or the service dialog.
    Close,
    /// The citizen's PIN for the waiting step (`None`: cancelled).
    AnswerPin(Option<Pin>),
    PrintLetter,
    /// "Handed over: close": closes a printed letter, asks first for an
    /// unprinted one.
    LetterDone,
    /// Back from that question to the letter.
    LetterBack,
    /// The citizen has the letter (or copied the PUK): it is recorded,
    /// then dropped, and so wiped.
    LetterHandedOver,
    VerifyChain,
    /// Issues a Generation Code for the application, by SMS or on paper.
    IssueCode {
        application: i64,
        sms: bool,
    },
    /// Prints the Generation Code letter on show.
    PrintCode,
    /// Closes the Generation Code dialog (its letter is wiped).
    CloseCode,
}

/// What every screen may read while it draws.
pub struct Cx<'a> {
    pub lang: Lang,
    pub station: &'a Station,
    pub snapshot: &'a Snapshot,
    /// The reader the operator works with.
    pub reader: Option<&'a str>,
}

/// Whom and what a dialog is for, at its top: the citizen, their NIF, the
/// card and the reader, so that the operator never types a PIN or hands a
/// letter over for the wrong person.
pub fn context(ui: &mut egui::Ui, cx: &Cx, application: i64, reader: Option<&str>) {
    let lang = cx.lang;
    let app = cx
        .snapshot
        .applications
        .iter()
        .find(|a| a.id == application);
    let card = reader
        .and_then(|r| cx.snapshot.card_in(r))
        .and_then(|c| match c {
            CardView::Blank { serial } | CardView::Firma { serial, .. } => Some(*serial),
            _ => None,
        })
        .or_else(|| {
            // The card the station issued for it, as the registry knows.
            let detail = cx.snapshot.detail.as_ref()?;
            (detail.application == application)
                .then(|| detail.certificates.last().map(|c| c.card_serial))
                .flatten()
        })
        .or(app.and_then(|a| a.card_serial));
    egui::Frame::group(ui.style())
        .fill(ui.visuals().selection.bg_fill.gamma_multiply(0.25))
        .show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.horizontal_wrapped(|ui| {
                let mut item = |key: Key, value: String| {
                    ui.label(format!("{}:", t(lang, key)));
                    ui.label(RichText::new(value).strong());
                    ui.add_space(12.0);
                };
                if let Some(a) = app {
                    item(Key::CtxFor, format!("{} {}", a.given_name, a.surnames));
                    item(Key::CtxNif, a.nif.clone());
                }
                if let Some(serial) = card {
                    item(Key::CtxCard, serial.to_string());
                }
                if let Some(reader) = reader {
                    item(Key::Reader, reader.to_string());
                }
            });
        });
}

/// The state colours, readable on the light theme.
pub const BLUE: Color32 = Color32::from_rgb(30, 90, 200);
pub const AMBER: Color32 = Color32::from_rgb(160, 100, 0);

pub fn ok_color(ok: bool) -> Color32 {
    if ok {
        Color32::DARK_GREEN
    } else {
        Color32::DARK_RED
    }
}

/// Lower case without accents, for searching names.
pub fn normalize(s: &str) -> String {
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
