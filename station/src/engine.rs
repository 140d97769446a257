//! The station: its data directory, registry, certificate authority, key
//! vault, configuration and operator. Workers share one `Station`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use firma_apdu::piv::{Algorithm, ManagementKey, Piv};
use firma_apdu::transport::Transport;
use time::{Duration, OffsetDateTime};

use crate::audit::Actor;
use crate::ca::CertificateAuthority;
use crate::error::{CardTask, StationError};
use crate::profile::Holder;
use crate::registry::{
    AppKey, AppState, Application, CertState, IdentityCheck, PostgresRegistry, Registry,
    SqliteRegistry,
};
use crate::vault::Vault;

/// How the station personalizes cards.
#[derive(Debug, Clone)]
pub struct Config {
    /// The key algorithm for 9A, 9C and 9D.
    pub algorithm: Algorithm,
    pub pin_tries: u8,
    pub puk_tries: u8,
    /// How long an application may wait for its activation.
    pub application_validity: Duration,
    /// How recent the identity check must be when a card is activated.
    pub identity_check_validity: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            algorithm: Algorithm::Rsa2048,
            pin_tries: 3,
            puk_tries: 3,
            application_validity: Duration::days(90),
            identity_check_validity: Duration::hours(12),
        }
    }
}

pub struct Station {
    dir: PathBuf,
    registry: Mutex<Box<dyn Registry>>,
    ca: Box<dyn CertificateAuthority>,
    vault: Vault,
    pub config: Config,
    pub actor: Actor,
}

/// The embedded registry's file in the data directory.
pub const EMBEDDED_REGISTRY: &str = "registry.sqlite";

/// Where the station's registry is.
#[derive(Debug, Clone, Default)]
pub enum RegistryLocation {
    /// The embedded SQLite file in the data directory (one station).
    #[default]
    Embedded,
    /// A central PostgreSQL database shared by a network of stations.
    Central {
        /// `postgres://USER@HOST:PORT/DATABASE` (or `key=value` pairs).
        url: String,
        /// A file holding the password, when the URL does not.
        password_file: Option<PathBuf>,
    },
}

impl RegistryLocation {
    /// Opens the registry (the embedded one is created and migrated; a
    /// central one must be at this station's schema already).
    pub fn open(&self, dir: &Path) -> Result<Box<dyn Registry>, StationError> {
        Ok(match self {
            RegistryLocation::Embedded => {
                Box::new(SqliteRegistry::open(&dir.join(EMBEDDED_REGISTRY))?)
            }
            RegistryLocation::Central { url, password_file } => {
                Box::new(PostgresRegistry::connect(url, password_file.as_deref())?)
            }
        })
    }
}

impl Station {
    /// Opens the station in `dir` with the SQLite registry and the given CA.
    pub fn open(
        dir: &Path,
        ca: Box<dyn CertificateAuthority>,
        actor: Actor,
        config: Config,
    ) -> Result<Self, StationError> {
        Self::open_at(dir, &RegistryLocation::Embedded, ca, actor, config)
    }

    /// Opens the station in `dir` with the registry at `registry`.
    pub fn open_at(
        dir: &Path,
        registry: &RegistryLocation,
        ca: Box<dyn CertificateAuthority>,
        actor: Actor,
        config: Config,
    ) -> Result<Self, StationError> {
        // Nothing is created in a directory `init` has not made the station's.
        if !dir.join(crate::datadir::STATION_KEY).exists() {
            return Err(crate::vault::VaultError::Missing(dir.to_path_buf()).into());
        }
        crate::datadir::check(dir)?;
        if let RegistryLocation::Embedded = registry {
            crate::datadir::touch_private(&dir.join(EMBEDDED_REGISTRY))?;
        }
        let registry = registry.open(dir)?;
        Self::with_registry(dir, registry, ca, actor, config)
    }

    pub fn with_registry(
        dir: &Path,
        registry: Box<dyn Registry>,
        ca: Box<dyn CertificateAuthority>,
        actor: Actor,
        config: Config,
    ) -> Result<Self, StationError> {
        crate::datadir::check(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            vault: Vault::open(dir)?,
            registry: Mutex::new(registry),
            ca,
            config,
            actor,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The registry, for one short piece of work (never across card I/O).
    pub fn registry(&self) -> MutexGuard<'_, Box<dyn Registry>> {
        // A worker that panicked mid-call leaves SQLite consistent (its
        // transaction rolled back), so the registry stays usable.
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn ca(&self) -> &dyn CertificateAuthority {
        self.ca.as_ref()
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    pub fn application(&self, key: &AppKey) -> Result<Application, StationError> {
        Ok(self.registry().application(key)?)
    }

    /// Refuses an application that cannot be activated now, saying why.
    pub fn check_activatable(&self, app: &Application) -> Result<(), StationError> {
        match app.state {
            AppState::Requested => {}
            AppState::Activated | AppState::Renewed => {
                return Err(StationError::AlreadyActivated {
                    application: app.id,
                    nif: app.nif.clone(),
                })
            }
            AppState::Revoked | AppState::Expired => {
                return Err(StationError::ApplicationClosed {
                    application: app.id,
                    nif: app.nif.clone(),
                    state: app.state,
                })
            }
        }
        let now = OffsetDateTime::now_utc();
        if app.expires_at < now {
            return Err(StationError::ApplicationExpired {
                application: app.id,
                nif: app.nif.clone(),
                on: app.expires_at.date(),
            });
        }
        // What goes into the certificates is checked before the card is touched.
        crate::profile::subject_alt_name(&app.holder()).map_err(|e| StationError::NotIssuable {
            application: app.id,
            why: e.to_string(),
        })?;
        let checks = self.registry().identity_checks(app.id)?;
        if !self.identity_checked(&checks) {
            return Err(StationError::IdentityNotChecked {
                application: app.id,
            });
        }
        Ok(())
    }

    /// Whether one of an application's identity checks counts now: not yet
    /// evidence of an earlier activation, recent enough, and of a document
    /// that has not expired.
    pub fn identity_checked(&self, checks: &[IdentityCheck]) -> bool {
        let now = OffsetDateTime::now_utc();
        checks.iter().any(|c| {
            c.used_by.is_none()
                && now - c.checked_at <= self.config.identity_check_validity
                && c.document_expires >= now.date()
        })
    }

    /// The numbers on the citizen's identity document a new PIN must not
    /// be taken from ([`crate::pin::personal_numbers`]): the NIF/NIE and the
    /// dates of the documents checked.
    pub fn personal_numbers(&self, app: &Application) -> Result<Vec<String>, StationError> {
        let dates: Vec<_> = self
            .registry()
            .identity_checks(app.id)?
            .iter()
            .map(|c| c.document_expires)
            .collect();
        Ok(crate::pin::personal_numbers(&app.nif, &dates))
    }

    /// When renewal opens for an application, and when its certificates
    /// expire: from the earliest expiry of the certificates on its card.
    pub fn renewal_window(
        &self,
        application_id: i64,
    ) -> Result<Option<(OffsetDateTime, OffsetDateTime)>, StationError> {
        let certs = self.registry().certificates(application_id)?;
        let expiry = certs
            .iter()
            .filter(|c| c.state == CertState::Loaded)
            .map(|c| c.not_after)
            .min();
        Ok(expiry.map(|e| (crate::profile::renewal_opens(e), e)))
    }

    /// Authenticates to the card with the first of the keys the station
    /// knows for it that the card accepts: its sealed key, a key being set,
    /// then the transport key. Returns the key that worked.
    /// Revokes a certificate at the CA; one the CA already revoked counts as
    /// done, so a resumed workflow can revoke again safely.
    pub fn revoke_at_ca(
        &self,
        serial: &str,
        reason: crate::ca::RevocationReason,
    ) -> Result<(), StationError> {
        match self.ca().revoke(serial, reason) {
            Ok(()) | Err(crate::ca::CaError::AlreadyRevoked(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn authenticate<T: Transport>(
        &self,
        piv: &mut Piv<T>,
        serial: u32,
    ) -> Result<ManagementKey, StationError> {
        let card = self.registry().card(serial)?;
        let mut candidates = Vec::new();
        if let Some(c) = &card {
            for sealed in [&c.pending_key, &c.sealed_key].into_iter().flatten() {
                candidates.push(self.vault.unseal(serial, sealed)?);
            }
        }
        candidates.push(ManagementKey::default_key());
        for key in candidates {
            match piv.authenticate(&key) {
                Ok(()) => return Ok(key),
                Err(firma_apdu::Error::WrongManagementKey) => continue,
                Err(e) => return Err(StationError::card(CardTask::ManagementKeyAuth, e)),
            }
        }
        Err(StationError::NotBlank {
            serial,
            why: "it refuses the transport management key and every key this station holds for it"
                .into(),
        })
    }
}

impl Application {
    pub fn holder(&self) -> Holder {
        Holder {
            given_name: self.given_name.clone(),
            surnames: self.surnames.clone(),
            nif: self.nif.clone(),
            email: self.email.clone(),
        }
    }
}
