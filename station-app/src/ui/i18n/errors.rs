//! Engine errors for the operator, every variant in the operator's
//! language: the one place that knows `StationError`'s variants in the
//! window. The engine's own (English) text, with its technical detail, goes
//! to the log, never to the window.

use firma_station_engine::error::{CardTask, StationError};
use firma_station_engine::identity::IdentityError;
use firma_station_engine::pin::{PinRule, PukRule};
use firma_station_engine::registry::{RegistryError, WorkflowKind};

use super::{date, profile, state_name, step, t, tf, Key, Lang};

/// Logs the engine's own text of an error whose technical detail the
/// window does not show.
pub fn log(e: &StationError) {
    use StationError as E;
    let technical = matches!(
        e,
        E::Ca(_)
            | E::Registry(_)
            | E::Vault(_)
            | E::DataDir(_)
            | E::Io { .. }
            | E::Card { .. }
            | E::Pcsc(_)
            | E::NotBlank { .. }
            | E::NotIssuable { .. }
            | E::ImportFile(_)
            | E::Letter(_)
            | E::GenerationCode(_)
    );
    if technical {
        // The detail is for whoever looks after the station.
        tracing::warn!("shown to the operator in words: {e}");
    }
}

/// An engine error as the operator reads it: what happened and what to do.
pub fn error(lang: Lang, e: &StationError) -> String {
    use StationError as E;
    let k = |key| t(lang, key).to_string();
    let f = |key, args: &[&dyn std::fmt::Display]| tf(lang, key, args);
    match e {
        E::IdentityNotSeen => k(Key::ErrIdentityNotSeen),
        E::ImportFile(_) => k(Key::ErrImportFile),
        E::NotIssuable { application, .. } => f(Key::ErrNotIssuable, &[application]),
        E::PinRule(rule) => pin_rule(lang, *rule).into(),
        E::PukFormat(_) => f(Key::ErrPukLength, &[&"?"]),
        E::PukRule(PukRule::Length(n)) => f(Key::ErrPukLength, &[n]),
        E::PukRule(PukRule::NotDigits) => k(Key::ErrPukDigits),
        E::PinFormat(_) => k(Key::ErrPinFormat),
        E::NoPinGiven => k(Key::ErrNoPinGiven),
        E::PinEntryCancelled => k(Key::ErrPinEntryCancelled),
        E::NoStdinLine { .. } => k(Key::ErrNoStdinLine),
        E::NoReaderMatches(part) => f(Key::ErrNoReaderMatches, &[part]),
        E::ManyReadersMatch { part, readers } => f(Key::ErrManyReadersMatch, &[part, readers]),
        E::RevocationNotConfirmed => k(Key::ErrRevocationNotConfirmed),
        E::ResetNotConfirmed => k(Key::ErrResetNotConfirmed),
        E::Identity(e) => identity(lang, e),
        E::CardRemoved { step } => f(Key::ErrCardRemovedDuring, &[&task(lang, *step)]),
        E::NoCard(_) => k(Key::ErrNoCard),
        E::Pcsc(_) => k(Key::ErrPcsc),
        E::WrongCard {
            expected, found, ..
        } => f(Key::ErrWrongCardFull, &[found, expected]),
        E::AlreadyPersonalized {
            serial,
            application,
        } => f(Key::ErrAlreadyPersonalized, &[serial, application]),
        E::NotBlank { serial, .. } => f(Key::ErrNotBlank, &[serial]),
        E::CardBusy {
            serial,
            application,
        } => f(Key::ErrCardBusy, &[serial, application]),
        E::StartedOnOtherCard {
            application,
            serial,
        } => f(Key::ErrStartedOnOtherCard, &[application, serial]),
        E::UnknownCard(serial) => f(Key::ErrUnknownCard, &[serial]),
        E::NotApplicationsCard {
            serial,
            application,
            nif,
        } => f(Key::ErrNotApplicationsCard, &[serial, application, nif]),
        E::UnfinishedWorkflow { application, kind } => f(
            Key::ErrUnfinishedWorkflow,
            &[application, &workflow(lang, *kind)],
        ),
        E::AlreadyActivated { application, nif } => {
            f(Key::ErrAlreadyActivated, &[application, nif])
        }
        E::ApplicationClosed {
            application,
            nif,
            state,
        } => f(
            Key::ErrApplicationClosed,
            &[application, nif, &state_name(lang, *state)],
        ),
        E::ApplicationExpired {
            application,
            nif,
            on,
        } => f(Key::ErrApplicationExpired, &[application, nif, &date(*on)]),
        E::IdentityNotChecked { .. } => k(Key::ErrIdentityNotChecked),
        E::AlreadyRevoked { application } => f(Key::ErrAlreadyRevoked, &[application]),
        E::NotRenewable { application, state } => f(
            Key::ErrNotRenewable,
            &[application, &state_name(lang, *state)],
        ),
        E::NoCertificateOnCard { application } => f(Key::ErrNoCertificateOnCard, &[application]),
        E::RenewalNotOpen {
            opens,
            expires,
            days,
            ..
        } => f(
            Key::ErrRenewalNotOpenFull,
            &[&date(*opens), days, &date(*expires)],
        ),
        E::WrongPuk { tries_left } => {
            format!("{} {}", k(Key::ErrWrongPuk), tries(lang, *tries_left))
        }
        E::PukBlocked => k(Key::ErrPukBlocked),
        E::WrongPin { tries_left } => {
            format!("{} {}", k(Key::ErrWrongPin), tries(lang, *tries_left))
        }
        E::PinBlocked => k(Key::ErrPinBlocked),
        E::NotTheChosenPin { tries_left } => format!(
            "{} {}",
            k(Key::ErrNotTheChosenPin),
            tries(lang, *tries_left)
        ),
        E::PukUnknown { serial, .. } => f(Key::ErrPukUnknown, &[serial]),
        E::NoManagementKeyAlgorithm { serial, .. } => {
            f(Key::ErrNoManagementKeyAlgorithm, &[serial])
        }
        E::CertificateNotCardKey { profile: p, .. } => {
            f(Key::ErrCertificateNotCardKey, &[&profile(lang, *p)])
        }
        E::MissingCertificateOrKey(p) => f(Key::ErrMissingCertificateOrKey, &[&profile(lang, *p)]),
        E::NoKeyGenerated(p) => f(Key::ErrNoKeyGenerated, &[&profile(lang, *p)]),
        E::AcceptedWrongSecret(_) => k(Key::ErrAcceptedWrongSecret),
        E::TestSignatureFailed { profile: p, .. } => {
            f(Key::ErrTestSignatureFailed, &[&profile(lang, *p)])
        }
        E::RequestSignatureInvalid(_) => k(Key::ErrRequestSignatureInvalid),
        E::UnusableCardKey(_) => k(Key::ErrUnusableCardKey),
        E::WindowFailed(_) => k(Key::ErrWindowFailed),
        E::WorkerStopped => k(Key::ErrWorkerStopped),
        E::Ca(_) => k(Key::ErrCa),
        E::Registry(RegistryError::Unreachable { .. } | RegistryError::Contended(_)) => {
            k(Key::ErrRegistryUnreachable)
        }
        E::Registry(RegistryError::Conflict(_)) => k(Key::ErrRegistryConflict),
        E::Registry(_) => k(Key::ErrRegistry),
        E::Vault(_) => k(Key::ErrVault),
        E::Letter(_) => k(Key::ErrLetter),
        E::Io { .. } | E::DataDir(_) => k(Key::ErrIo),
        E::Card { step, .. } => f(Key::ErrCard, &[&task(lang, *step)]),
        E::GenerationCode(e) => super::code::error(lang, e),
    }
}

/// "1 try left", "2 tries left".
pub fn tries(lang: Lang, n: u8) -> String {
    match n {
        1 => t(lang, Key::TriesLeftOne).into(),
        n => tf(lang, Key::TriesLeftMany, &[&n]),
    }
}

/// An activation or a renewal, as a noun.
pub fn workflow(lang: Lang, kind: WorkflowKind) -> &'static str {
    t(
        lang,
        match kind {
            WorkflowKind::Activate => Key::KindActivation,
            WorkflowKind::Renew => Key::KindRenewal,
        },
    )
}

/// What the station was doing with the card.
pub fn task(lang: Lang, task: CardTask) -> String {
    let key = match task {
        CardTask::Connect => Key::TaskConnect,
        CardTask::Select => Key::TaskSelect,
        CardTask::ReadSerial => Key::TaskReadSerial,
        CardTask::ReadCard => Key::TaskReadCard,
        CardTask::ReadCertificates => Key::TaskReadCertificates,
        CardTask::Session => Key::TaskSession,
        CardTask::VerifyPin => Key::TaskVerifyPin,
        CardTask::ManagementKeyAuth => Key::TaskManagementKeyAuth,
        CardTask::UnblockPin => Key::TaskUnblockPin,
        CardTask::ChangePin => Key::TaskChangePin,
        CardTask::Reset => Key::TaskReset,
        CardTask::Step(s) => return format!("«{}»", step(lang, s)),
    };
    t(lang, key).into()
}

/// Why an identity document was refused.
pub fn identity(lang: Lang, e: &IdentityError) -> String {
    use IdentityError as I;
    let f = |key, args: &[&dyn std::fmt::Display]| tf(lang, key, args);
    match e {
        I::Empty { what } if what.contains("support") => t(lang, Key::IdEmptySupport).into(),
        I::Empty { .. } => t(lang, Key::IdEmptyNumber).into(),
        I::UnexpectedCharacter { ch, input, .. } => f(Key::IdUnexpectedCharacter, &[ch, input]),
        I::NotDniOrNie { number } => f(Key::IdNotDniOrNie, &[number]),
        I::Shape { number, .. } => f(Key::IdShape, &[number]),
        I::ControlLetter {
            kind,
            number,
            expected,
            found,
        } => f(Key::IdControlLetter, &[number, kind, expected, found]),
        I::UnknownKind(kind) => f(Key::IdUnknownKind, &[kind]),
        I::KindMismatch {
            number,
            actual,
            declared,
        } => f(Key::IdKindMismatch, &[number, actual, declared]),
        I::SupportNumber { .. } => t(lang, Key::IdSupportNumber).into(),
        I::DateFormat { input } => f(Key::IdDateFormat, &[input]),
        I::NoSuchDate { input } => f(Key::IdNoSuchDate, &[input]),
        I::Expired { expired_on } => f(Key::IdExpired, &[&date(*expired_on)]),
        I::NotTheApplicants {
            document,
            application,
        } => f(Key::IdNotTheApplicants, &[document, application]),
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
            PinRule::Personal => Key::PinErrPersonal,
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
            es.starts_with("El PUK no es correcto") && es.contains("Quedan 2 intentos"),
            "{es}"
        );
        let va = error(Lang::Va, &e);
        assert!(va.contains("Queden 2 intents"), "{va}");
        let one = error(Lang::Es, &StationError::WrongPin { tries_left: 1 });
        assert!(one.contains("Queda 1 intento."), "{one}");
    }

    #[test]
    fn identity_errors_and_card_tasks_are_said_in_spanish() {
        let today = time::macros::date!(2026 - 01 - 01);
        for (number, expires) in [
            ("12345678A", "17/05/2031"),
            ("1234", "17/05/2031"),
            ("X1234567L", "17/05/2031"),
            ("12345678Z", "mañana"),
            ("12345678Z", "01/01/2020"),
            ("12345678Z", "31/02/2031"),
        ] {
            let e = firma_station_engine::identity::IdentityDocument::check(
                "DNI", number, None, expires, today,
            )
            .unwrap_err();
            let es = identity(Lang::Es, &e);
            assert_ne!(es, e.to_string());
            for english in [" is ", " not ", "must", "expired", "YYYY"] {
                assert!(!es.contains(english), "{english:?} in {es:?}");
            }
        }
        let e = StationError::CardRemoved {
            step: CardTask::VerifyPin,
        };
        assert_eq!(
            error(Lang::Es, &e),
            "Se ha retirado la tarjeta durante la verificación del PIN. Vuelva a insertarla y pulse Reanudar."
        );
    }
}
