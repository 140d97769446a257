//! The screens of the window, one file each. A screen draws from what it
//! is given (the language, the model's snapshot, its own form) and returns
//! what the operator asked for as an [`Action`]; the [`App`](super::App)
//! applies it after drawing. No screen talks to the engine's workers.

pub mod applications;
pub mod audit;
pub mod identity;
pub mod letter;
pub mod pin;
pub mod readers;
pub mod services;
pub mod wizard;

use eframe::egui::Color32;
use firma_apdu::piv::Pin;
use firma_station_engine::engine::Station;
use firma_station_engine::registry::WorkflowKind;

use super::i18n::Lang;
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
}

/// What every screen may read while it draws.
pub struct Cx<'a> {
    pub lang: Lang,
    pub station: &'a Station,
    pub snapshot: &'a Snapshot,
    /// The reader the operator works with.
    pub reader: Option<&'a str>,
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
