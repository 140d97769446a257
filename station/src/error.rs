//! The station's one error type. Every variant is a case a caller can act
//! on (the window says each in the operator's language); every message names
//! what happened and what the operator does next; [`StationError::exit_code`]
//! gives scripts a number to act on.

use std::fmt;

use firma_apdu::transport::TransportError;
use firma_apdu::Error as CardError;
use time::Date;

use crate::ca::CaError;
use crate::datadir::DataDirError;
use crate::identity::IdentityError;
use crate::pin::{PinRule, PukRule};
use crate::profile::Profile;
use crate::registry::{AppState, RegistryError, WorkflowKind};
use crate::step::Step;
use crate::vault::VaultError;

/// What the station was doing with the card when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardTask {
    Connect,
    Select,
    ReadSerial,
    ReadCard,
    ReadCertificates,
    Session,
    VerifyPin,
    ManagementKeyAuth,
    UnblockPin,
    ChangePin,
    Reset,
    Step(Step),
}

impl fmt::Display for CardTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CardTask::Connect => "connecting to the card",
            CardTask::Select => "selecting the PIV application",
            CardTask::ReadSerial => "reading the card's serial",
            CardTask::ReadCard => "reading the card",
            CardTask::ReadCertificates => "reading the certificates",
            CardTask::Session => "the card session",
            CardTask::VerifyPin => "PIN verification",
            CardTask::ManagementKeyAuth => "management key authentication",
            CardTask::UnblockPin => "PIN unblock",
            CardTask::ChangePin => "PIN change",
            CardTask::Reset => "resetting the card",
            CardTask::Step(step) => return step.fmt(f),
        })
    }
}

impl From<Step> for CardTask {
    fn from(step: Step) -> Self {
        CardTask::Step(step)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StationError {
    // --- what the operator typed or gave (exit 2) ---
    #[error(
        "confirm that you saw the document and that it shows the person in front of you (--seen)"
    )]
    IdentityNotSeen,
    #[error("the file of applications cannot be read: {0}")]
    ImportFile(String),
    #[error("application {application} cannot be issued: {why}. Correct the application and import it again")]
    NotIssuable { application: i64, why: String },
    #[error("the PIN is not acceptable: {0}")]
    PinRule(#[from] PinRule),
    #[error("the PUK is not valid: {0}")]
    PukFormat(CardError),
    #[error("the PUK is not valid: {0}")]
    PukRule(#[from] PukRule),
    #[error("the current PIN is not valid: {0}")]
    PinFormat(CardError),
    #[error("no PIN was given")]
    NoPinGiven,
    #[error("the PIN entry was cancelled: resume when the citizen is ready")]
    PinEntryCancelled,
    #[error("standard input has no line {line} ({what})")]
    NoStdinLine { line: usize, what: String },
    #[error("no reader matches {0:?}: `firma-station readers` lists them")]
    NoReaderMatches(String),
    #[error("several readers match {part:?}: {readers}; give more of the name")]
    ManyReadersMatch { part: String, readers: String },
    #[error("revocation cannot be undone: add --yes to confirm")]
    RevocationNotConfirmed,
    #[error(
        "resetting destroys the card's keys and revokes its certificates: add --yes to confirm"
    )]
    ResetNotConfirmed,
    #[error(transparent)]
    Identity(#[from] IdentityError),

    // --- the card is absent (exit 3) ---
    #[error(
        "the card was removed during {step}. Insert it again and run the same command to resume"
    )]
    CardRemoved { step: CardTask },
    #[error("no card in {0}: insert the citizen's card and try again")]
    NoCard(String),

    // --- the card, the citizen or the application is not in the state asked (exit 4) ---
    #[error("PC/SC is not available: {0}")]
    Pcsc(TransportError),
    #[error("wrong card: this is card {found}, but application {application} was mailed card {expected}. Insert card {expected}")]
    WrongCard {
        application: i64,
        expected: u32,
        found: u32,
    },
    #[error("card {serial} is already personalized (application {application}). To issue it again, reset it first: firma-station reset-card")]
    AlreadyPersonalized { serial: u32, application: i64 },
    #[error("card {serial} is not a blank card: {why}. Use a blank card, or reset this one (firma-station reset-card) if it is ours")]
    NotBlank { serial: u32, why: String },
    #[error("card {serial} is in the middle of activating application {application}: finish that activation first, or reset the card")]
    CardBusy { serial: u32, application: i64 },
    #[error("application {application} was started on card {serial}: insert that card to resume, or reset it (firma-station reset-card) to start again on another card")]
    StartedOnOtherCard { application: i64, serial: u32 },
    #[error("card {0} is not in the registry: this station did not personalize it")]
    UnknownCard(u32),
    #[error("card {serial} is not application {application}'s card: insert the card the station activated for {nif}")]
    NotApplicationsCard {
        serial: u32,
        application: i64,
        nif: String,
    },
    #[error("application {application} has an unfinished {kind} on this card: finish it first")]
    UnfinishedWorkflow {
        application: i64,
        kind: WorkflowKind,
    },
    #[error("application {application} ({nif}) is already activated: use renew, unblock or change-pin for its card")]
    AlreadyActivated { application: i64, nif: String },
    #[error("application {application} ({nif}) is {state}: the citizen must apply again")]
    ApplicationClosed {
        application: i64,
        nif: String,
        state: AppState,
    },
    #[error("application {application} ({nif}) expired on {on}: it was not activated in time; the citizen must apply again")]
    ApplicationExpired {
        application: i64,
        nif: String,
        on: Date,
    },
    #[error("the citizen's identity has not been checked for application {application} today: check their document first (firma-station identity {application} --kind ... --number ... --expires ...)")]
    IdentityNotChecked { application: i64 },
    #[error("application {application} is already revoked")]
    AlreadyRevoked { application: i64 },
    #[error("application {application} is {state}: only an activated card can be renewed")]
    NotRenewable { application: i64, state: AppState },
    #[error("application {application} has no certificate on its card")]
    NoCertificateOnCard { application: i64 },
    #[error("renewal of application {application} opens on {opens} ({days} days before its certificates expire on {expires})")]
    RenewalNotOpen {
        application: i64,
        opens: Date,
        expires: Date,
        days: i64,
    },
    #[error("the PUK is not right: {tries_left} tries left. Check the PUK letter")]
    WrongPuk { tries_left: u8 },
    #[error(
        "the PUK is blocked: the card must be reset (firma-station reset-card) and issued again"
    )]
    PukBlocked,
    #[error("the current PIN is not right: {tries_left} tries left")]
    WrongPin { tries_left: u8 },
    #[error("the PIN is blocked: unblock it with the PUK (firma-station unblock)")]
    PinBlocked,
    #[error("the card holds the PIN the citizen chose when this activation began, and the PIN typed now is different ({tries_left} tries left): type that PIN, or reset the card and start again")]
    NotTheChosenPin { tries_left: u8 },
    #[error("card {serial} refuses the factory PUK and every PUK this station set on it ({refused}): reset the card and start again")]
    PukUnknown { serial: u32, refused: String },
    #[error("card {serial} refuses every management key algorithm ({refused}): it cannot be administered safely; use another card")]
    NoManagementKeyAlgorithm { serial: u32, refused: String },
    #[error("the {profile} certificate (serial {serial}) does not hold the card's key: it was not loaded. Reset the card and start again")]
    CertificateNotCardKey { profile: Profile, serial: String },
    #[error("the {0} certificate or key is missing: the journal is inconsistent; reset the card and start again")]
    MissingCertificateOrKey(Profile),
    #[error("no {0} key was generated: reset the card and start again")]
    NoKeyGenerated(Profile),
    #[error("the card accepted a {0} it must not")]
    AcceptedWrongSecret(&'static str),
    #[error("the {profile} key failed its test signature ({why}): the card is faulty; reset it and use another card")]
    TestSignatureFailed { profile: Profile, why: String },
    #[error(
        "the card's signature of the certificate request does not verify ({0}): the card is faulty"
    )]
    RequestSignatureInvalid(String),
    #[error("the card returned a public key the station cannot use ({0}): the card is faulty; reset it and use another card")]
    UnusableCardKey(String),
    #[error("the window could not open: {0}")]
    WindowFailed(String),
    #[error("the card worker stopped unexpectedly")]
    WorkerStopped,

    // --- the CA (exit 5) ---
    #[error("the certificate authority failed: {0}. Nothing was lost: run the same command again to retry")]
    Ca(#[from] CaError),

    // --- the registry, the vault and files (exit 6) ---
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("the PUK letter could not be delivered: {0}. The card is not marked activated: run `activate` again to make a new PUK and letter")]
    Letter(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },

    // --- Generation Codes (exit status by kind) ---
    #[error(transparent)]
    GenerationCode(#[from] crate::generation_code::CodeError),

    // --- other card errors (exit 1) ---
    #[error("the card failed during {step}: {source}")]
    Card {
        step: CardTask,
        #[source]
        source: CardError,
    },
}

impl From<CardError> for StationError {
    /// A card error outside any step: the card session itself.
    fn from(e: CardError) -> Self {
        StationError::card(CardTask::Session, e)
    }
}

impl firma_apdu::piv::TransactionError for StationError {
    fn is_card_reset(&self) -> bool {
        matches!(
            self,
            StationError::Card {
                source: CardError::Transport(TransportError::CardReset),
                ..
            }
        )
    }
}

impl StationError {
    /// Maps a card error during `step`.
    pub fn card(step: impl Into<CardTask>, source: CardError) -> Self {
        let step = step.into();
        if source.is_card_gone() {
            StationError::CardRemoved { step }
        } else {
            StationError::Card { step, source }
        }
    }

    /// A PIN or PUK operation the card refused, as the operator hears of it.
    pub fn pin_operation(step: impl Into<CardTask>, source: CardError) -> Self {
        match source {
            CardError::WrongPuk { tries_left } => StationError::WrongPuk { tries_left },
            CardError::PukBlocked => StationError::PukBlocked,
            CardError::WrongPin { tries_left } => StationError::WrongPin { tries_left },
            CardError::PinBlocked => StationError::PinBlocked,
            e => StationError::card(step, e),
        }
    }

    /// The process exit status for scripts:
    /// 2 bad input, 3 card absent or removed (insert and retry),
    /// 4 wrong card or state, 5 CA, 6 registry, vault or files, 1 other card errors.
    pub fn exit_code(&self) -> u8 {
        use StationError::*;
        match self {
            IdentityNotSeen
            | ImportFile(_)
            | NotIssuable { .. }
            | PinRule(_)
            | PukFormat(_)
            | PukRule(_)
            | PinFormat(_)
            | NoPinGiven
            | PinEntryCancelled
            | NoStdinLine { .. }
            | NoReaderMatches(_)
            | ManyReadersMatch { .. }
            | RevocationNotConfirmed
            | ResetNotConfirmed
            | Identity(_) => 2,
            CardRemoved { .. } | NoCard(_) => 3,
            Pcsc(_)
            | WrongCard { .. }
            | AlreadyPersonalized { .. }
            | NotBlank { .. }
            | CardBusy { .. }
            | StartedOnOtherCard { .. }
            | UnknownCard(_)
            | NotApplicationsCard { .. }
            | UnfinishedWorkflow { .. }
            | AlreadyActivated { .. }
            | ApplicationClosed { .. }
            | ApplicationExpired { .. }
            | IdentityNotChecked { .. }
            | AlreadyRevoked { .. }
            | NotRenewable { .. }
            | NoCertificateOnCard { .. }
            | RenewalNotOpen { .. }
            | WrongPuk { .. }
            | PukBlocked
            | WrongPin { .. }
            | PinBlocked
            | NotTheChosenPin { .. }
            | PukUnknown { .. }
            | NoManagementKeyAlgorithm { .. }
            | CertificateNotCardKey { .. }
            | MissingCertificateOrKey(_)
            | NoKeyGenerated(_)
            | AcceptedWrongSecret(_)
            | TestSignatureFailed { .. }
            | RequestSignatureInvalid(_)
            | UnusableCardKey(_)
            | WindowFailed(_)
            | WorkerStopped => 4,
            // Another station got there first: the state refuses this one.
            Registry(RegistryError::Conflict(_)) => 4,
            // A server that is away or busy: the same command again later.
            Ca(_) | Registry(RegistryError::Unreachable { .. } | RegistryError::Contended(_)) => 5,
            Registry(_) | Vault(_) | DataDir(_) | Io { .. } | Letter(_) => 6,
            Card { .. } => 1,
            GenerationCode(e) => e.exit_code(),
        }
    }
}
