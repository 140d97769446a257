//! The Generation Code of a software certificate: issued at the PRU after
//! the identity check, redeemed by the citizen with their NIF/NIE in the
//! generation portal.
//!
//! The rules, before the code:
//! - A code is issued only on an identity check that counts now (recent,
//!   document valid), and each check gives at most one code: a new code
//!   needs a new check. Issuing voids the application's live code.
//! - 10 case-sensitive characters from the OS generator (`code.rs`: the
//!   alphabet and its 54.9 bits), valid 15 calendar days, single use.
//! - The code is never stored, logged or audited: the registry keeps a
//!   keyed digest (HMAC-SHA-256 under `generation-code.key`), the audit log
//!   the code's number. It exists in memory (zeroized) until the letter is
//!   printed or the SMS sent.
//! - Used and voided codes never change again (the databases refuse it);
//!   an expired one is refused by its expiry. Nothing revives a code.
//! - Redemption: the code works only with its NIF; every attempt is
//!   audited; the third wrong code voids it; a wrong NIF, a wrong, expired,
//!   used or void code all get the same answer after the same work (one
//!   query, one digest, one audited write). The code is marked used in the
//!   transaction that records the certificate issued for it.
//! - A delivery that fails voids the code at once: nothing half-delivered
//!   stays live.

use time::{Duration, OffsetDateTime};

use crate::audit::{Action, Event, Subject};
use crate::ca::Issued;
use crate::engine::Station;
use crate::error::StationError;
use crate::identity::Nif;
use crate::registry::{
    AppKey, AppState, Application, CodeDelivery, CodeIssue, CodeRecord, NewCode,
    SoftwareCertRecord, SoftwareCertState,
};

mod code;
pub mod letter;
pub mod sms;

pub use code::{CodeKey, CodeKeyError, GenerationCode, NotACode, ALPHABET, KEY_FILE, LENGTH};
pub use letter::CodeLetterInfo;
pub use sms::{SmsError, SmsGateway};

/// How long a code lives: 15 calendar days from its issue.
pub const VALIDITY: Duration = Duration::days(15);

/// Wrong codes after which a code is void.
pub const MAX_FAILURES: u32 = 3;

/// How the code reaches the citizen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A letter the operator prints and hands over.
    Paper,
    /// An SMS to the application's phone number.
    Sms(SmsGateway),
}

#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("application {application}'s last identity check already gave a Generation Code: check the citizen's document again to issue a new one (it voids the previous code)")]
    IdentityCheckUsed { application: i64 },
    #[error("the SMS did not go ({0}); the code was voided so that nothing half-delivered stays valid. Check the citizen's document again and issue a new code (on paper if the gateway stays down)")]
    SmsFailed(#[source] SmsError),
    #[error(transparent)]
    Key(#[from] CodeKeyError),
    #[error("no SMS gateway is configured: give --sms-gateway URL (or FIRMA_SMS_GATEWAY), or --sms-outbox DIR on a demonstration station")]
    NoSmsGateway,
    #[error("the Generation Code letter could not be delivered ({0}); the code was voided: check the citizen's document again and issue a new code")]
    Letter(String),
    /// The one answer to a citizen whose NIF and code do not redeem.
    #[error("this NIF/NIE and Generation Code do not give a certificate: the code is wrong, used, voided or expired")]
    Refused,
}

impl CodeError {
    /// The exit status, as `StationError::exit_code` says.
    pub fn exit_code(&self) -> u8 {
        match self {
            CodeError::NoSmsGateway => 2,
            CodeError::IdentityCheckUsed { .. } | CodeError::Refused => 4,
            CodeError::SmsFailed(_) => 5,
            CodeError::Key(_) | CodeError::Letter(_) => 6,
        }
    }
}

/// A code just issued: the code itself (for the letter or the SMS, then
/// dropped) and what the registry keeps.
#[derive(Debug)]
pub struct IssuedCode {
    pub code: GenerationCode,
    pub record: CodeRecord,
    pub application: Application,
    /// The codes this one voided.
    pub voided: Vec<i64>,
}

impl IssuedCode {
    /// What the paper letter says besides the code.
    pub fn letter_info(&self, station: &str, portal: &str) -> CodeLetterInfo {
        let a = &self.application;
        CodeLetterInfo {
            holder_name: format!("{} {}", a.given_name, a.surnames).to_uppercase(),
            nif: a.nif.clone(),
            station: station.to_string(),
            issued_at: self.record.issued_at,
            expires_at: self.record.expires_at,
            portal: portal.to_string(),
        }
    }
}

/// Refuses an application that cannot get a code, saying why: it must be
/// live (a requested one not lapsed, or an activated card's citizen).
fn check_eligible(app: &Application, now: OffsetDateTime) -> Result<(), StationError> {
    match app.state {
        AppState::Requested if app.expires_at < now => Err(StationError::ApplicationExpired {
            application: app.id,
            nif: app.nif.clone(),
            on: app.expires_at.date(),
        }),
        AppState::Requested | AppState::Activated | AppState::Renewed => Ok(()),
        AppState::Revoked | AppState::Expired => Err(StationError::ApplicationClosed {
            application: app.id,
            nif: app.nif.clone(),
            state: app.state,
        }),
    }
}

/// Issues a Generation Code for the application `key` on its newest
/// identity check, and delivers it by SMS if asked (a paper letter is the
/// caller's to print, from [`IssuedCode::letter_info`] and `letter::pdf`).
pub fn issue(
    station: &Station,
    key: &AppKey,
    delivery: &Delivery,
) -> Result<IssuedCode, StationError> {
    let now = OffsetDateTime::now_utc();
    let app = station.application(key)?;
    check_eligible(&app, now)?;
    let check = station.registry().latest_identity_check(app.id)?;
    let Some(check) = check.filter(|c| station.identity_checked(std::slice::from_ref(&c.check)))
    else {
        return Err(StationError::IdentityNotChecked {
            application: app.id,
        });
    };
    let key = CodeKey::open_or_create(station.dir()).map_err(CodeError::from)?;
    let code = GenerationCode::generate();
    let (kind, sent_to) = match delivery {
        Delivery::Paper => (CodeDelivery::Paper, "on paper".to_string()),
        Delivery::Sms(_) => (
            CodeDelivery::Sms,
            format!("by SMS to {}", sms::masked(&app.phone)),
        ),
    };
    let new = NewCode {
        application_id: app.id,
        identity_check_id: check.id,
        digest: key.digest(&app.nif, &code),
        delivery: kind,
        issued_at: now,
        expires_at: now + VALIDITY,
        sent_to,
    };
    let (record, voided) = match station.registry().issue_code(&new, &station.actor)? {
        CodeIssue::Issued { code, voided } => (code, voided),
        CodeIssue::CheckAlreadyUsed => {
            return Err(CodeError::IdentityCheckUsed {
                application: app.id,
            }
            .into())
        }
    };
    if let Delivery::Sms(gateway) = delivery {
        let text = sms::message(&code, record.expires_at);
        if let Err(e) = gateway.send(&app.phone, &text) {
            station
                .registry()
                .void_code(record.id, "the SMS was not delivered", &station.actor)?;
            return Err(CodeError::SmsFailed(e).into());
        }
    }
    Ok(IssuedCode {
        code,
        record,
        application: app,
        voided,
    })
}

/// A code redeemed: the certificate recorded, and what the issuer made
/// besides it (the portal's private key).
#[derive(Debug)]
pub struct Redeemed<K> {
    pub application: Application,
    pub certificate: SoftwareCertRecord,
    pub made: K,
}

/// A digest of the right length that no code has, compared against when
/// the NIF has no live code, so that both refusals cost the same.
const NO_DIGEST: [u8; 32] = [0; 32];

/// Redeems `typed` with `nif` at `now`: if they are a live code's, `make`
/// issues the certificate for the application (the portal generates the key
/// and asks the CA), and the code is marked used as the certificate is
/// recorded. Every refusal is [`CodeError::Refused`], and every attempt is
/// audited.
pub fn redeem<K>(
    station: &Station,
    key: &CodeKey,
    nif: &str,
    typed: &str,
    now: OffsetDateTime,
    make: impl FnOnce(&Application) -> Result<(Issued, K), StationError>,
) -> Result<Redeemed<K>, StationError> {
    let nif = Nif::parse(nif).map(|n| n.to_string()).ok();
    let code = GenerationCode::parse(typed).ok();
    let found = match &nif {
        Some(nif) => station.registry().live_code(nif)?,
        None => None,
    };
    let digest = found
        .as_ref()
        .map_or(&NO_DIGEST[..], |(_, c)| &c.digest[..]);
    let probe = code
        .clone()
        .unwrap_or_else(|| GenerationCode::parse("2222222222").expect("a code"));
    let right = key.matches(digest, nif.as_deref().unwrap_or(""), &probe) && code.is_some();
    let Some((app, record)) = found else {
        let detail = match &nif {
            Some(nif) => format!("{nif}: no live code"),
            None => "a malformed NIF/NIE".to_string(),
        };
        station.registry().commit(
            &station.actor,
            None,
            &[],
            &Event::new(Action::GenerationCodeRefused, Subject::Portal, detail),
        )?;
        return Err(CodeError::Refused.into());
    };
    if !right || !record.usable_at(now) {
        let detail = if !right { "wrong code" } else { "expired" };
        station
            .registry()
            .code_refused(record.id, MAX_FAILURES, detail, &station.actor)?;
        return Err(CodeError::Refused.into());
    }
    let (issued, made) = make(&app)?;
    let certificate = SoftwareCertRecord {
        serial: issued.serial.clone(),
        application_id: app.id,
        code_id: Some(record.id),
        renews: None,
        der: issued.der,
        not_before: issued.not_before,
        not_after: issued.not_after,
        state: SoftwareCertState::Issued,
    };
    let recorded =
        station
            .registry()
            .code_redeemed(record.id, &certificate, now, &station.actor)?;
    if !recorded {
        // Another request used or voided the code meanwhile: this
        // certificate must not stay valid.
        station.revoke_at_ca(&issued.serial, crate::ca::RevocationReason::Superseded)?;
        return Err(CodeError::Refused.into());
    }
    Ok(Redeemed {
        application: app,
        certificate,
        made,
    })
}
