//! The steps of the activation and renewal workflows, as the journal
//! records them and the operator hears of them.

use std::fmt;
use std::str::FromStr;

use crate::profile::Profile;
use crate::text::{text_enum, UnknownText};

text_enum!(
    /// What a workflow does to a card: personalize a blank one, or put new
    /// keys and certificates on one already activated.
    WorkflowKind {
        Activate => "activate",
        Renew => "renew",
    }
);

text_enum!(
    /// How a step ended, as the journal records it. `Started` is journaled
    /// before a step that changes the card's secrets, so that a run stopped
    /// half-way tells the next one that the PIN may be either.
    StepOutcome {
        Started => "started",
        Done => "done",
        Failed => "failed",
    }
);

/// One step of the workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    CheckCard,
    Authenticate,
    ChuidCcc,
    Generate(Profile),
    PinPuk,
    Issue(Profile),
    CheckCertificates,
    LoadCertificates,
    ManagementKey,
    SelfTest,
    PukLetter,
    Finish,
}

impl Step {
    /// The steps of a workflow, in order.
    pub fn plan(kind: WorkflowKind) -> Vec<Step> {
        let mut steps = vec![Step::CheckCard, Step::Authenticate];
        if kind == WorkflowKind::Activate {
            steps.push(Step::ChuidCcc);
        }
        steps.extend(Profile::all().map(Step::Generate));
        if kind == WorkflowKind::Activate {
            steps.push(Step::PinPuk);
        }
        steps.extend(Profile::all().map(Step::Issue));
        steps.extend([Step::CheckCertificates, Step::LoadCertificates]);
        if kind == WorkflowKind::Activate {
            steps.push(Step::ManagementKey);
        }
        steps.push(Step::SelfTest);
        if kind == WorkflowKind::Activate {
            steps.push(Step::PukLetter);
        }
        steps.push(Step::Finish);
        steps
    }

    /// The name the journal and audit log use.
    pub fn name(self) -> String {
        let slot = |p: Profile| format!("{:02x}", p.slot().key_reference());
        match self {
            Step::CheckCard => "check-card".into(),
            Step::Authenticate => "authenticate".into(),
            Step::ChuidCcc => "chuid-ccc".into(),
            Step::Generate(p) => format!("generate-{}", slot(p)),
            Step::PinPuk => "pin-puk".into(),
            Step::Issue(p) => format!("issue-{}", slot(p)),
            Step::CheckCertificates => "check-certificates".into(),
            Step::LoadCertificates => "load-certificates".into(),
            Step::ManagementKey => "management-key".into(),
            Step::SelfTest => "self-test".into(),
            Step::PukLetter => "puk-letter".into(),
            Step::Finish => "finish".into(),
        }
    }

    /// Whether the step usually takes seconds (a progress bar is due).
    pub fn is_slow(self) -> bool {
        matches!(self, Step::Generate(_) | Step::Issue(_) | Step::SelfTest)
    }
}

impl FromStr for Step {
    type Err = UnknownText;
    /// A step by the name the journal uses ([`Step::name`]).
    fn from_str(s: &str) -> Result<Self, UnknownText> {
        Step::plan(WorkflowKind::Activate)
            .into_iter()
            .chain(Step::plan(WorkflowKind::Renew))
            .find(|step| step.name() == s)
            .ok_or_else(|| UnknownText {
                kind: "Step",
                text: s.to_string(),
            })
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::CheckCard => f.write_str("checking the card"),
            Step::Authenticate => f.write_str("authenticating to the card"),
            Step::ChuidCcc => f.write_str("writing the card identifiers (CHUID, CCC)"),
            Step::Generate(p) => write!(f, "generating the {p} key on the card"),
            Step::PinPuk => f.write_str("setting the citizen's PIN and a new PUK"),
            Step::Issue(p) => write!(f, "requesting the {p} certificate"),
            Step::CheckCertificates => {
                f.write_str("checking the certificates against the card's keys")
            }
            Step::LoadCertificates => f.write_str("loading the certificates onto the card"),
            Step::ManagementKey => f.write_str("replacing the transport management key"),
            Step::SelfTest => f.write_str("testing each key with a signature"),
            Step::PukLetter => f.write_str("printing the PUK letter"),
            Step::Finish => f.write_str("recording the activation"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_reads_back_from_its_journal_name() {
        for kind in [WorkflowKind::Activate, WorkflowKind::Renew] {
            for step in Step::plan(kind) {
                assert_eq!(step.name().parse::<Step>(), Ok(step));
            }
        }
        for outcome in [StepOutcome::Started, StepOutcome::Done, StepOutcome::Failed] {
            assert_eq!(outcome.as_str().parse::<StepOutcome>(), Ok(outcome));
        }
        let unknown = "generate-9b".parse::<Step>().unwrap_err();
        assert_eq!(unknown.text, "generate-9b");
    }
}
