//! Audit entries in the operator's language, worded from their typed
//! action and subject (the log stores the engine's English text, which
//! reads back as the typed value). A text that does not read back (a log
//! older than the typed actions) is shown as it is.

use firma_station_engine::audit::{Action, ChainError, Subject};
use firma_station_engine::registry::WorkflowKind;

use super::code::{tc, CodeText};
use super::{step, t, tf, Key, Lang};

/// What an entry says was done.
pub fn action(lang: Lang, text: &str) -> String {
    let Ok(a) = text.parse::<Action>() else {
        return text.to_string();
    };
    let key = match a {
        Action::ApplicationImported => Key::ActApplicationImported,
        Action::IdentityChecked => Key::ActIdentityChecked,
        Action::WorkflowStarted(WorkflowKind::Activate) => Key::ActActivationStarted,
        Action::WorkflowStarted(WorkflowKind::Renew) => Key::ActRenewalStarted,
        Action::WorkflowResumed(WorkflowKind::Activate) => Key::ActActivationResumed,
        Action::WorkflowResumed(WorkflowKind::Renew) => Key::ActRenewalResumed,
        Action::StepStarted(_, s) => return tf(lang, Key::ActStepStarted, &[&step(lang, s)]),
        Action::StepDone(_, s) => return tf(lang, Key::ActStepDone, &[&step(lang, s)]),
        Action::StepFailed(_, s) => return tf(lang, Key::ActStepFailed, &[&step(lang, s)]),
        Action::LetterPrinted => Key::ActLetterPrinted,
        Action::LetterHandedOver => Key::ActLetterHandedOver,
        Action::CardActivated => Key::ActCardActivated,
        Action::CertificatesRenewed => Key::ActCertificatesRenewed,
        Action::ManagementKeySealed => Key::ActManagementKeySealed,
        Action::PukSealed => Key::ActPukSealed,
        Action::PukChanged => Key::ActPukChanged,
        Action::PinUnblocked => Key::ActPinUnblocked,
        Action::PinChanged => Key::ActPinChanged,
        Action::Revoked => Key::ActRevoked,
        Action::CardReset => Key::ActCardReset,
        Action::Expired => Key::ActExpired,
        Action::GenerationCodeIssued => return tc(lang, CodeText::ActIssued).into(),
        Action::GenerationCodeVoided => return tc(lang, CodeText::ActVoided).into(),
        Action::GenerationCodeRefused => return tc(lang, CodeText::ActRefused).into(),
        Action::GenerationCodeRedeemed => return tc(lang, CodeText::ActRedeemed).into(),
        Action::SoftwareCertificateRenewed => return tc(lang, CodeText::ActRenewed).into(),
        Action::SoftwareCertificateRevoked => return tc(lang, CodeText::ActRevoked).into(),
    };
    t(lang, key).into()
}

/// What an entry is about; `who` names an application's citizen.
pub fn subject(lang: Lang, text: &str, who: impl Fn(i64) -> Option<String>) -> String {
    match text.parse::<Subject>() {
        Ok(Subject::Application(id)) => {
            let s = tf(lang, Key::SubjectApplication, &[&id]);
            match who(id) {
                Some(name) => format!("{s} · {name}"),
                None => s,
            }
        }
        Ok(Subject::Card(serial)) => tf(lang, Key::SubjectCard, &[&serial]),
        Ok(Subject::Portal) => tc(lang, CodeText::SubjectPortal).into(),
        Err(_) => text.to_string(),
    }
}

/// Where the audit chain broke.
pub fn chain_error(lang: Lang, e: &ChainError) -> String {
    match e {
        ChainError::Altered { seq } => tf(lang, Key::ChainAltered, &[seq]),
        ChainError::Broken { seq, before } => tf(lang, Key::ChainGap, &[seq, before]),
        ChainError::Sequence { seq, expected } => tf(lang, Key::ChainSequence, &[seq, expected]),
    }
}
