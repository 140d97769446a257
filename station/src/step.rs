//! The steps of the activation and renewal workflows, as the journal
//! records them and the operator hears of them.

use std::fmt;

use crate::profile::Profile;
use crate::registry::WorkflowKind;

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
