//! Engine errors for the operator: the common ones in the operator's
//! language, the others with the engine's own (English) explanation. The
//! one place that knows `StationError`'s variants in the window.

use firma_station_engine::error::StationError;

use super::{t, Key, Lang};

/// An engine error for the operator: the common ones in the operator's
/// language; the others with the engine's own (English) explanation.
pub fn error(lang: Lang, e: &StationError) -> String {
    match e {
        StationError::CardRemoved { step } => {
            format!(
                "{} «{step}». {}",
                t(lang, Key::ErrRemoved),
                t(lang, Key::ErrRemovedDo)
            )
        }
        StationError::NoCard(_) => t(lang, Key::ErrNoCard).into(),
        StationError::WrongCard {
            expected, found, ..
        } => format!(
            "{} {found} {} {expected}.",
            t(lang, Key::ErrWrongCard),
            t(lang, Key::ErrWrongCardDo)
        ),
        StationError::PinRule(why) => {
            let key = [
                ("characters", Key::PinErrLength),
                ("only hold digits", Key::PinErrDigits),
                ("repeats one digit", Key::PinErrRepeat),
                ("consecutive", Key::PinErrRun),
                ("repeats a group", Key::PinErrGroup),
                ("different", Key::PinDiffer),
            ]
            .into_iter()
            .find(|(needle, _)| why.contains(needle));
            match key {
                Some((_, key)) => t(lang, key).into(),
                None => e.to_string(),
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pin_rule_is_said_in_the_operators_language() {
        for pin in ["12345", "12a456", "000000", "123456", "123123"] {
            let e = firma_station_engine::pin::check_new_pin(pin).unwrap_err();
            let es = error(Lang::Es, &e);
            assert!(es.starts_with("El PIN"), "{pin}: {es}");
            assert_ne!(es, error(Lang::En, &e));
        }
    }
}
