//! Every operator-facing text of the window, in Spanish (the default),
//! English and Valencian. Widgets ask [`t`] by [`Key`]; nothing is written
//! in the widgets themselves. The keys are an enum and each has its three
//! texts in one `match`, so a text missing in a language does not build.
//! How engine errors are worded is in [`errors`].

mod audit;
pub mod code;
mod errors;
mod texts;
mod values;

pub use audit::{action, chain_error, subject};
pub use errors::{error, pin_rule, tries, workflow};
pub use texts::Key;
use values::profile;
pub use values::{card_note, cert_state, reason, slot, state_name, step, unknown_card};

use firma_station_engine::error::StationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Es,
    En,
    Va,
}

impl Lang {
    pub fn name(self) -> &'static str {
        match self {
            Lang::Es => "Español",
            Lang::En => "English",
            Lang::Va => "Valencià",
        }
    }
}

/// The text of `key` in `lang` with `{0}`, `{1}`… filled in from `args`:
/// each language puts them where its word order wants them.
pub fn tf(lang: Lang, key: Key, args: &[&dyn std::fmt::Display]) -> String {
    let mut text = t(lang, key).to_string();
    for (i, a) in args.iter().enumerate() {
        text = text.replace(&format!("{{{i}}}"), &a.to_string());
    }
    text
}

/// `text` with `{0}`, `{1}`… filled in from `args` (for texts kept
/// outside [`Key`], such as [`code`]'s).
pub fn tf_text(text: &str, args: &[&dyn std::fmt::Display]) -> String {
    let mut text = text.to_string();
    for (i, a) in args.iter().enumerate() {
        text = text.replace(&format!("{{{i}}}"), &a.to_string());
    }
    text
}

/// A text said in every language at once, so that what the window shows
/// (a refusal, a fault, a notice) follows the operator's change of language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said([String; 3]);

impl Said {
    pub fn new(say: impl Fn(Lang) -> String) -> Self {
        Said([say(Lang::Es), say(Lang::En), say(Lang::Va)])
    }

    pub fn key(key: Key) -> Self {
        Self::new(|lang| t(lang, key).into())
    }

    /// An engine error in words; its technical detail goes to the log.
    pub fn error(e: &StationError) -> Self {
        errors::log(e);
        Self::new(|lang| error(lang, e))
    }

    pub fn get(&self, lang: Lang) -> &str {
        let [es, en, va] = &self.0;
        match lang {
            Lang::Es => es,
            Lang::En => en,
            Lang::Va => va,
        }
    }
}

/// A date as Spanish documents print it (17/05/2031).
pub fn date(d: time::Date) -> String {
    format!("{:02}/{:02}/{}", d.day(), u8::from(d.month()), d.year())
}

/// The text of `key` in `lang`.
pub fn t(lang: Lang, key: Key) -> &'static str {
    let [es, en, va] = key.texts();
    match lang {
        Lang::Es => es,
        Lang::En => en,
        Lang::Va => va,
    }
}
