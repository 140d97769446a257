//! Engine errors for the operator: the common ones in the operator's
//! language, the others with the engine's own (English) explanation. The
//! one place that knows `StationError`'s variants in the window.

use firma_station_engine::error::StationError;
use firma_station_engine::pin::PinRule;

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
        StationError::PinRule(rule) => pin_rule(lang, *rule).into(),
        StationError::WrongPuk { tries_left } => format!(
            "{} ({tries_left} {})",
            t(lang, Key::ErrWrongPuk),
            t(lang, Key::TriesLeft)
        ),
        StationError::WrongPin { tries_left } => format!(
            "{} ({tries_left} {})",
            t(lang, Key::ErrWrongPin),
            t(lang, Key::TriesLeft)
        ),
        StationError::NotTheChosenPin { tries_left } => format!(
            "{} ({tries_left} {})",
            t(lang, Key::ErrNotTheChosenPin),
            t(lang, Key::TriesLeft)
        ),
        StationError::PukBlocked => t(lang, Key::ErrPukBlocked).into(),
        StationError::PinBlocked => t(lang, Key::ErrPinBlocked).into(),
        StationError::PinEntryCancelled => t(lang, Key::ErrPinEntryCancelled).into(),
        StationError::IdentityNotChecked { .. } => t(lang, Key::ErrIdentityNotChecked).into(),
        StationError::RenewalNotOpen { opens, .. } => {
            format!("{} {opens}.", t(lang, Key::ErrRenewalNotOpen))
        }
        other => other.to_string(),
    }
}

/// Why a new PIN is refused, in the operator's language.
pub fn pin_rule(lang: Lang, rule: PinRule) -> &'static str {
    t(
        lang,
        match rule {
            PinRule::Length(_) => Key::PinErrLength,
            PinRule::NotDigits => Key::PinErrDigits,
            PinRule::OneDigit => Key::PinErrRepeat,
            PinRule::Run => Key::PinErrRun,
            PinRule::RepeatedGroup => Key::PinErrGroup,
            PinRule::TypedTwiceDifferently => Key::PinDiffer,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pin_rule_is_said_in_the_operators_language() {
        for pin in ["12345", "12a456", "000000", "123456", "123123"] {
            let e = StationError::from(firma_station_engine::pin::check_new_pin(pin).unwrap_err());
            let es = error(Lang::Es, &e);
            assert!(es.starts_with("El PIN"), "{pin}: {es}");
            assert_ne!(es, error(Lang::En, &e));
        }
    }

    #[test]
    fn a_wrong_puk_is_said_in_the_operators_language_with_the_tries_left() {
        let e = StationError::WrongPuk { tries_left: 2 };
        let es = error(Lang::Es, &e);
        assert!(
            es.starts_with("El PUK no es correcto") && es.contains('2'),
            "{es}"
        );
        let va = error(Lang::Va, &e);
        assert!(va.contains("intents restants"), "{va}");
    }
}
