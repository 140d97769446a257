//! What goes into an audit entry: who acted, what they did, and on what.
//! [`Action`] and [`Subject`] are typed; the log stores their text (which is
//! what the hash chain covers), and both read back from it, so that a window
//! can word an entry in the operator's language.

use std::fmt;
use std::str::FromStr;

use crate::step::{Step, WorkflowKind};
use crate::text::UnknownText;

/// Who did something, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    pub operator: String,
    pub station: String,
}

/// What goes to the audit log with a commit. Never a secret.
#[derive(Debug, Clone)]
pub struct Event {
    pub action: Action,
    pub subject: Subject,
    /// Public facts of the action (a card serial, certificate serials, a
    /// reason), never a secret.
    pub detail: String,
}

impl Event {
    pub fn new(action: Action, subject: Subject, detail: impl Into<String>) -> Self {
        Self {
            action,
            subject,
            detail: detail.into(),
        }
    }
}

/// What an audit entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// An application, by its number: everything done for a citizen.
    Application(i64),
    /// A card that no application owns (yet).
    Card(u32),
    /// The generation portal, for an attempt that names no live code.
    Portal,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Application(id) => write!(f, "application {id}"),
            Subject::Card(serial) => write!(f, "card {serial}"),
            Subject::Portal => f.write_str("portal"),
        }
    }
}

impl FromStr for Subject {
    type Err = UnknownText;
    fn from_str(s: &str) -> Result<Self, UnknownText> {
        let unknown = || UnknownText {
            kind: "Subject",
            text: s.to_string(),
        };
        if s == "portal" {
            return Ok(Subject::Portal);
        }
        match s.split_once(' ') {
            Some(("application", id)) => {
                id.parse().map(Subject::Application).map_err(|_| unknown())
            }
            Some(("card", serial)) => serial.parse().map(Subject::Card).map_err(|_| unknown()),
            _ => Err(unknown()),
        }
    }
}

/// What the operator or the workflow did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ApplicationImported,
    IdentityChecked,
    /// A workflow's first run.
    WorkflowStarted(WorkflowKind),
    /// A workflow's next run after one that stopped.
    WorkflowResumed(WorkflowKind),
    /// A step about to change the card's secrets (journaled first).
    StepStarted(WorkflowKind, Step),
    StepDone(WorkflowKind, Step),
    StepFailed(WorkflowKind, Step),
    /// The printer took the PUK letter.
    LetterPrinted,
    /// The operator says the citizen has the PUK letter.
    LetterHandedOver,
    CardActivated,
    CertificatesRenewed,
    ManagementKeySealed,
    PukSealed,
    PukChanged,
    PinUnblocked,
    PinChanged,
    Revoked,
    CardReset,
    Expired,
    /// A Generation Code for a software certificate was issued (never the
    /// code itself: its number, how it went, until when).
    GenerationCodeIssued,
    /// A code became void: replaced, wrong three times, undelivered.
    GenerationCodeVoided,
    /// A wrong code was typed for a code's NIF.
    GenerationCodeRefused,
    /// A code was used: the software certificate issued for it.
    GenerationCodeRedeemed,
    /// The citizen renewed a software certificate in the citizen's area.
    SoftwareCertificateRenewed,
    /// The citizen revoked a software certificate in the citizen's area.
    SoftwareCertificateRevoked,
}

impl Action {
    /// The actions that take no workflow or step (the others read back
    /// through their workflow and step).
    const FIXED: [Action; 20] = [
        Action::ApplicationImported,
        Action::IdentityChecked,
        Action::LetterPrinted,
        Action::LetterHandedOver,
        Action::CardActivated,
        Action::CertificatesRenewed,
        Action::ManagementKeySealed,
        Action::PukSealed,
        Action::PukChanged,
        Action::PinUnblocked,
        Action::PinChanged,
        Action::Revoked,
        Action::CardReset,
        Action::Expired,
        Action::GenerationCodeIssued,
        Action::GenerationCodeVoided,
        Action::GenerationCodeRefused,
        Action::GenerationCodeRedeemed,
        Action::SoftwareCertificateRenewed,
        Action::SoftwareCertificateRevoked,
    ];

    /// The text of an action of [`Self::FIXED`].
    fn fixed_text(self) -> Option<&'static str> {
        Some(match self {
            Action::ApplicationImported => "application imported",
            Action::IdentityChecked => "identity checked",
            Action::LetterPrinted => "PUK letter printed",
            Action::LetterHandedOver => "PUK letter handed over",
            Action::CardActivated => "card activated",
            Action::CertificatesRenewed => "certificates renewed",
            Action::ManagementKeySealed => "management key sealed",
            Action::PukSealed => "PUK sealed",
            Action::PukChanged => "PUK changed",
            Action::PinUnblocked => "PIN unblock",
            Action::PinChanged => "PIN change",
            Action::Revoked => "revoked",
            Action::CardReset => "card reset",
            Action::Expired => "expired",
            Action::GenerationCodeIssued => "generation code issued",
            Action::GenerationCodeVoided => "generation code voided",
            Action::GenerationCodeRefused => "generation code refused",
            Action::GenerationCodeRedeemed => "generation code redeemed",
            Action::SoftwareCertificateRenewed => "software certificate renewed",
            Action::SoftwareCertificateRevoked => "software certificate revoked",
            Action::WorkflowStarted(_)
            | Action::WorkflowResumed(_)
            | Action::StepStarted(..)
            | Action::StepDone(..)
            | Action::StepFailed(..) => return None,
        })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(text) = self.fixed_text() {
            return f.write_str(text);
        }
        match self {
            Action::WorkflowStarted(kind) => write!(f, "{kind} started"),
            Action::WorkflowResumed(kind) => write!(f, "{kind} resumed"),
            Action::StepStarted(kind, step) => write!(f, "{kind} {} started", step.name()),
            Action::StepDone(kind, step) => write!(f, "{kind} {}", step.name()),
            Action::StepFailed(kind, step) => write!(f, "{kind} {} failed", step.name()),
            _ => Ok(()),
        }
    }
}

impl FromStr for Action {
    type Err = UnknownText;
    fn from_str(s: &str) -> Result<Self, UnknownText> {
        let unknown = || UnknownText {
            kind: "Action",
            text: s.to_string(),
        };
        if let Some(a) = Action::FIXED
            .into_iter()
            .find(|a| a.fixed_text() == Some(s))
        {
            return Ok(a);
        }
        let (kind, rest) = s.split_once(' ').ok_or_else(unknown)?;
        let kind: WorkflowKind = kind.parse().map_err(|_| unknown())?;
        match rest {
            "started" => return Ok(Action::WorkflowStarted(kind)),
            "resumed" => return Ok(Action::WorkflowResumed(kind)),
            _ => {}
        }
        let (step, phase) = match rest.split_once(' ') {
            Some((step, phase)) => (step, Some(phase)),
            None => (rest, None),
        };
        let step: Step = step.parse().map_err(|_| unknown())?;
        match phase {
            None => Ok(Action::StepDone(kind, step)),
            Some("started") => Ok(Action::StepStarted(kind, step)),
            Some("failed") => Ok(Action::StepFailed(kind, step)),
            Some(_) => Err(unknown()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_subjects_read_back_from_their_text() {
        let mut actions = Action::FIXED.to_vec();
        for kind in [WorkflowKind::Activate, WorkflowKind::Renew] {
            actions.extend([Action::WorkflowStarted(kind), Action::WorkflowResumed(kind)]);
            for step in Step::plan(kind) {
                actions.extend([
                    Action::StepStarted(kind, step),
                    Action::StepDone(kind, step),
                    Action::StepFailed(kind, step),
                ]);
            }
        }
        for a in actions {
            assert_eq!(a.to_string().parse::<Action>(), Ok(a), "{a}");
        }
        assert_eq!(
            "activate generate-9a".parse(),
            Ok(Action::StepDone(
                WorkflowKind::Activate,
                Step::Generate(crate::profile::Profile::Authentication)
            ))
        );
        assert!("activate generate-9a done".parse::<Action>().is_err());
        assert!("shredded".parse::<Action>().is_err());
        for s in [
            Subject::Application(7),
            Subject::Card(1970),
            Subject::Portal,
        ] {
            assert_eq!(s.to_string().parse::<Subject>(), Ok(s));
        }
        assert!("card x".parse::<Subject>().is_err());
    }
}
