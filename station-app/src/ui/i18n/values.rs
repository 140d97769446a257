//! The engine's typed values in the operator's words: profiles, slots,
//! steps, states, revocation reasons, why a card is unknown.

use firma_station_engine::activation::{CardNote, Step};
use firma_station_engine::ca::RevocationReason;
use firma_station_engine::inspection::UnknownCard;
use firma_station_engine::profile::Profile;
use firma_station_engine::registry::{AppState, CertState};

use super::{t, tf, Key, Lang};

pub(super) fn profile(lang: Lang, p: Profile) -> &'static str {
    t(
        lang,
        match p {
            Profile::Authentication => Key::ProfileAuth,
            Profile::Signature => Key::ProfileSign,
            Profile::KeyManagement => Key::ProfileKeymgmt,
        },
    )
}

/// A citizen key slot, by what it is for.
pub fn slot(lang: Lang, slot: firma_apdu::piv::Slot) -> String {
    match Profile::for_slot(slot) {
        Some(p) => profile(lang, p).to_string(),
        None => format!("{:02X}", slot.key_reference()),
    }
}

/// What a card lacks, as the operator reads it.
pub fn card_note(lang: Lang, note: CardNote) -> &'static str {
    match note {
        CardNote::NoRetrySetting => t(lang, Key::NoteNoRetrySetting),
    }
}

/// A workflow step, for the wizard's list.
pub fn step(lang: Lang, s: Step) -> String {
    match s {
        Step::CheckCard => t(lang, Key::StepCheck).into(),
        Step::Authenticate => t(lang, Key::StepAuth).into(),
        Step::ChuidCcc => t(lang, Key::StepChuid).into(),
        Step::Generate(p) => format!("{} {}", t(lang, Key::StepGenerate), profile(lang, p)),
        Step::PinPuk => t(lang, Key::StepPinpuk).into(),
        Step::Issue(p) => format!("{} {}", t(lang, Key::StepIssue), profile(lang, p)),
        Step::CheckCertificates => t(lang, Key::StepCheckcerts).into(),
        Step::LoadCertificates => t(lang, Key::StepLoad).into(),
        Step::ManagementKey => t(lang, Key::StepMgm).into(),
        Step::SelfTest => t(lang, Key::StepSelftest).into(),
        Step::PukLetter => t(lang, Key::StepLetter).into(),
        Step::Finish => t(lang, Key::StepFinish).into(),
    }
}

/// Where an application stands.
pub fn state_name(lang: Lang, s: AppState) -> &'static str {
    t(
        lang,
        match s {
            AppState::Requested => Key::StateRequested,
            AppState::Activated => Key::StateActivated,
            AppState::Renewed => Key::StateRenewed,
            AppState::Revoked => Key::StateRevoked,
            AppState::Expired => Key::StateExpired,
        },
    )
}

/// A certificate's state.
pub fn cert_state(lang: Lang, s: CertState) -> &'static str {
    t(
        lang,
        match s {
            CertState::Issued => Key::CertIssued,
            CertState::Loaded => Key::CertLoaded,
            CertState::Revoked => Key::CertRevoked,
        },
    )
}

/// Why certificates were revoked.
pub fn reason(lang: Lang, r: RevocationReason) -> &'static str {
    t(
        lang,
        match r {
            RevocationReason::Unspecified => Key::ReasonUnspecified,
            RevocationReason::KeyCompromise => Key::ReasonKeyCompromise,
            RevocationReason::AffiliationChanged => Key::ReasonAffiliationChanged,
            RevocationReason::Superseded => Key::ReasonSuperseded,
            RevocationReason::CessationOfOperation => Key::ReasonCessationOfOperation,
        },
    )
}

/// Why the station cannot use a card as it is.
pub fn unknown_card(lang: Lang, why: UnknownCard) -> String {
    match why {
        UnknownCard::NotPiv => t(lang, Key::UnknownNotPiv).into(),
        UnknownCard::NoSerial => t(lang, Key::UnknownNoSerial).into(),
        UnknownCard::PersonalizedElsewhere(serial) => tf(lang, Key::UnknownElsewhere, &[&serial]),
    }
}
