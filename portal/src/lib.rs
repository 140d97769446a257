//! Firma's generation portal (`firma-portal`): the citizen turns the
//! Generation Code their PRU gave them into a software certificate.
//!
//! The rules, before the code:
//! - HTTPS only (rustls); plain HTML forms that work without JavaScript,
//!   in Spanish, English and Valencian.
//! - A form is taken only with a fresh anti-forgery token of this portal,
//!   once (`csrf.rs`); bodies over [`MAX_BODY`] are refused unread.
//! - Attempts are limited per NIF/NIE and per client address (`limits.rs`)
//!   before they reach the registry; an attempt over a limit is audited
//!   and answered with 429.
//! - The code is checked by the station engine's `generation_code::redeem`:
//!   only with its NIF, the same answer after the same work for a wrong
//!   NIF, a wrong, expired, used or void code, void at the third wrong
//!   code, every attempt audited, marked used in the transaction that
//!   records the certificate.
//! - The key is made only for a code that was right, for that request, and
//!   the PKCS#12 file is written before the code is marked used: whatever
//!   fails before the download leaves the code live (and a certificate
//!   issued for it revoked).
//! - The code and the password are never logged, shown back or stored.
#![forbid(unsafe_code)]

pub mod area;
pub mod csrf;
pub mod i18n;
pub mod issue;
pub mod limits;
pub mod p12;
pub mod pages;
pub mod request;
pub mod routes;
pub mod tls;

use firma_station_engine::audit::{Action, Event, Subject};
use firma_station_engine::ca::{Issued, RevocationReason};
use firma_station_engine::engine::Station;
use firma_station_engine::error::StationError;
use firma_station_engine::generation_code::{self, CodeError, CodeKey, Redeemed};
use firma_station_engine::identity::Nif;
use firma_station_engine::profile::CertProfile;
use firma_station_engine::registry::Application;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::csrf::Csrf;
use crate::issue::{KeyKind, SoftwareKey};
use crate::limits::{Counter, Limits};

/// The largest form body taken.
pub const MAX_BODY: usize = 8 * 1024;

/// The portal's state, shared by every request.
pub struct Portal {
    pub station: Station,
    pub code_key: CodeKey,
    pub csrf: Csrf,
    per_nif: Counter,
    per_address: Counter,
}

/// The certificate file a right code earned.
pub struct Download {
    pub file: Zeroizing<Vec<u8>>,
    pub filename: String,
    pub serial: String,
}

/// Why no file was made.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The NIF and code do not name a live code (one answer for all cases).
    #[error("refused")]
    Refused,
    /// The station could not do it now; the code is still live.
    #[error("unavailable: {0}")]
    Unavailable(StationError),
}

impl Portal {
    pub fn new(station: Station, code_key: CodeKey, limits: Limits) -> Self {
        Portal {
            station,
            code_key,
            csrf: Csrf::new(),
            per_nif: Counter::new(limits.per_nif),
            per_address: Counter::new(limits.per_address),
        }
    }

    /// Counts an attempt from `address` for `nif`; over a limit it is
    /// audited and refused with the time to wait.
    pub fn admit(&self, address: &str, nif: &str) -> Result<(), std::time::Duration> {
        let now = std::time::Instant::now();
        let key = Nif::parse(nif).map(|n| n.to_string()).ok();
        let counted = self
            .per_address
            .attempt(address, now)
            .and_then(|()| match &key {
                Some(nif) => self.per_nif.attempt(nif, now),
                None => Ok(()),
            });
        if let Err(wait) = counted {
            let who = key.as_deref().unwrap_or("a malformed NIF/NIE");
            let event = Event::new(
                Action::GenerationCodeRefused,
                Subject::Portal,
                format!("{who}: too many attempts from {address}"),
            );
            if let Err(e) = self
                .station
                .registry()
                .commit(&self.station.actor, None, &[], &event)
            {
                tracing::error!("cannot audit a throttled attempt: {e}");
            }
            return Err(wait);
        }
        Ok(())
    }

    /// Redeems `code` with `nif` now: the key, its certificate of the
    /// software profile and the PKCS#12 under `password`.
    pub fn redeem(
        &self,
        nif: &str,
        code: &str,
        password: &str,
        kind: KeyKind,
    ) -> Result<Download, Refusal> {
        let redeemed = self.redeem_with(nif, code, |app| self.make_file(app, password, kind))?;
        Ok(Download {
            file: redeemed.made,
            filename: format!("certificado-{}.p12", redeemed.application.nif),
            serial: redeemed.certificate.serial,
        })
    }

    /// Redeems `code` with `nif` now for the key of a certificate request
    /// made in the citizen's browser (already checked by
    /// [`request::parse`]): the certificate of the software profile, then
    /// the CA's, as a PEM chain.
    pub fn redeem_request(&self, nif: &str, code: &str, csr: &[u8]) -> Result<String, Refusal> {
        let station = &self.station;
        let redeemed = self.redeem_with(nif, code, |app| {
            let issued = station
                .ca()
                .issue(csr, &app.holder(), CertProfile::Software)?;
            Ok((issued, ()))
        })?;
        self.pem_chain(&redeemed.certificate.der)
            .map_err(Refusal::Unavailable)
    }

    /// `leaf`, then the CA's certificate, as PEM.
    fn pem_chain(&self, leaf: &[u8]) -> Result<String, StationError> {
        let pem = |der: &[u8]| {
            der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der).map_err(|e| {
                StationError::Io {
                    what: "cannot encode the certificate".into(),
                    source: std::io::Error::other(e.to_string()),
                }
            })
        };
        Ok(pem(leaf)? + &pem(self.station.ca().certificate())?)
    }

    /// A key of `kind` made for this request, its certificate of the
    /// software profile for `app`'s holder, and the PKCS#12 under
    /// `password`. If the file cannot be made, the certificate is revoked.
    fn make_file(
        &self,
        app: &Application,
        password: &str,
        kind: KeyKind,
    ) -> Result<(Issued, Zeroizing<Vec<u8>>), StationError> {
        let station = &self.station;
        let fail = |e: issue::IssueError| StationError::Io {
            what: "cannot make the software certificate".into(),
            source: std::io::Error::other(e.to_string()),
        };
        let key = SoftwareKey::generate(kind).map_err(fail)?;
        let request = key.request(&app.holder()).map_err(fail)?;
        let issued = station
            .ca()
            .issue(&request, &app.holder(), CertProfile::Software)?;
        let name = format!("{} {} - {}", app.given_name, app.surnames, app.nif);
        match key.pkcs12(&issued.der, station.ca().certificate(), password, &name) {
            Ok(file) => Ok((issued, file)),
            Err(e) => {
                station.revoke_at_ca(&issued.serial, RevocationReason::Superseded)?;
                Err(fail(e))
            }
        }
    }

    fn redeem_with<K>(
        &self,
        nif: &str,
        code: &str,
        make: impl FnOnce(&Application) -> Result<(Issued, K), StationError>,
    ) -> Result<Redeemed<K>, Refusal> {
        let now = OffsetDateTime::now_utc();
        match generation_code::redeem(&self.station, &self.code_key, nif, code, now, make) {
            Ok(r) => {
                tracing::info!(
                    application = r.application.id,
                    serial = %r.certificate.serial,
                    "software certificate issued"
                );
                Ok(r)
            }
            Err(StationError::GenerationCode(CodeError::Refused)) => Err(Refusal::Refused),
            Err(e) => {
                tracing::error!("a redemption failed: {e}");
                Err(Refusal::Unavailable(e))
            }
        }
    }
}
