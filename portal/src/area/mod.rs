//! The citizen's area: reached with a certificate of the CA (TLS client
//! authentication on a listener of its own, `tls.rs`), it lists the
//! citizen's certificates, renews a software certificate within the 70
//! days before it expires, and revokes one after a confirmation.
//!
//! The certificate presented says who the citizen is only if the registry
//! holds exactly that certificate, still valid, for the NIF it names: a
//! revoked, expired or unknown certificate opens nothing. A citizen acts
//! only on software certificates of their own NIF; card certificates are
//! listed, and renewed or revoked at a PRU, where the card is.

pub mod pages;
pub mod routes;
pub mod words;

use const_oid::db::rfc4519::SERIAL_NUMBER;
use der::Decode;
use firma_apdu::piv::Slot;
use firma_station_engine::ca::{Issued, RevocationReason};
use firma_station_engine::error::StationError;
use firma_station_engine::profile::{renewal_opens, CertProfile};
use firma_station_engine::registry::{
    AppKey, Application, CertState, SoftwareCertRecord, SoftwareCertState,
};
use time::OffsetDateTime;
use x509_cert::Certificate;

use crate::issue::KeyKind;
use crate::{Download, Portal};

/// The citizen the presented certificate names.
#[derive(Debug, Clone)]
pub struct Citizen {
    pub nif: String,
    /// Given name and surnames, as the registry has them.
    pub name: String,
    /// The serial of the certificate they came in with.
    pub serial: String,
}

/// What a certificate in the list is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Software,
    /// On the card, in a PIV slot (its purpose).
    Card(Slot),
}

/// Where a certificate stands for the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Valid,
    /// Valid, and renewal is open.
    Renewable,
    /// Valid, and renewed already.
    Renewed,
    Expired,
    Revoked,
}

/// A line of the citizen's list.
#[derive(Debug, Clone)]
pub struct Listed {
    pub serial: String,
    pub kind: Kind,
    pub not_after: OffsetDateTime,
    pub renewal_opens: OffsetDateTime,
    pub standing: Standing,
}

impl Listed {
    /// Whether the citizen may revoke it here.
    pub fn revocable(&self) -> bool {
        self.kind == Kind::Software
            && matches!(
                self.standing,
                Standing::Valid | Standing::Renewable | Standing::Renewed
            )
    }
}

/// Why the area refused.
#[derive(Debug, thiserror::Error)]
pub enum AreaRefusal {
    /// The certificate presented is not a valid one of the registry.
    #[error("the certificate presented is not valid here")]
    NotValid,
    /// No such certificate of this citizen's.
    #[error("no such certificate of this citizen")]
    NotYours,
    /// Renewal of this certificate opens later.
    #[error("renewal opens on {0}")]
    NotOpen(OffsetDateTime),
    /// Revoked, expired or renewed already: nothing more to do with it.
    #[error("the certificate is revoked, expired or renewed already")]
    Final,
    #[error("unavailable: {0}")]
    Unavailable(#[from] StationError),
}

impl From<firma_station_engine::registry::RegistryError> for AreaRefusal {
    fn from(e: firma_station_engine::registry::RegistryError) -> Self {
        AreaRefusal::Unavailable(e.into())
    }
}

/// The NIF of a certificate's subject (`serialNumber=IDCES-<NIF>`).
pub fn subject_nif(der: &[u8]) -> Option<String> {
    let cert = Certificate::from_der(der).ok()?;
    cert.tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == SERIAL_NUMBER)
        .find_map(|atv| std::str::from_utf8(atv.value.value()).ok())
        .and_then(|v| v.strip_prefix("IDCES-"))
        .map(str::to_string)
}

fn standing(c: &SoftwareCertRecord, renewed: bool, now: OffsetDateTime) -> Standing {
    if c.state == SoftwareCertState::Revoked {
        Standing::Revoked
    } else if now >= c.not_after {
        Standing::Expired
    } else if renewed {
        Standing::Renewed
    } else if now >= renewal_opens(c.not_after) {
        Standing::Renewable
    } else {
        Standing::Valid
    }
}

impl Portal {
    /// Who `leaf`, the certificate of the TLS client, is, if the registry
    /// holds it as a valid certificate of theirs at `now`.
    pub fn citizen(&self, leaf: &[u8], now: OffsetDateTime) -> Result<Citizen, AreaRefusal> {
        let nif = subject_nif(leaf).ok_or(AreaRefusal::NotValid)?;
        let registry = self.station.registry();
        let app = match registry.application(&AppKey::Nif(nif.clone())) {
            Ok(app) => app,
            Err(firma_station_engine::registry::RegistryError::NoApplication(_)) => {
                return Err(AreaRefusal::NotValid)
            }
            Err(e) => return Err(e.into()),
        };
        let software = registry
            .software_certificates_of(&nif)?
            .into_iter()
            .find(|c| c.der == leaf && c.state == SoftwareCertState::Issued)
            .map(|c| (c.serial, c.not_after));
        let card = || -> Result<_, AreaRefusal> {
            Ok(registry
                .certificates(app.id)?
                .into_iter()
                .find(|c| c.der == leaf && c.state == CertState::Loaded)
                .map(|c| (c.serial, c.not_after)))
        };
        let (serial, not_after) = match software {
            Some(s) => s,
            None => card()?.ok_or(AreaRefusal::NotValid)?,
        };
        if now >= not_after {
            return Err(AreaRefusal::NotValid);
        }
        Ok(Citizen {
            nif,
            name: format!("{} {}", app.given_name, app.surnames),
            serial,
        })
    }

    /// The citizen's certificates, software then card, oldest first.
    pub fn certificates_of(
        &self,
        citizen: &Citizen,
        now: OffsetDateTime,
    ) -> Result<Vec<Listed>, AreaRefusal> {
        let registry = self.station.registry();
        let software = registry.software_certificates_of(&citizen.nif)?;
        let mut listed: Vec<Listed> = software
            .iter()
            .map(|c| {
                let renewed = software
                    .iter()
                    .any(|n| n.renews.as_ref() == Some(&c.serial));
                Listed {
                    serial: c.serial.clone(),
                    kind: Kind::Software,
                    not_after: c.not_after,
                    renewal_opens: renewal_opens(c.not_after),
                    standing: standing(c, renewed, now),
                }
            })
            .collect();
        let app = registry.application(&AppKey::Nif(citizen.nif.clone()))?;
        for c in registry.certificates(app.id)? {
            let standing = match c.state {
                CertState::Revoked => Standing::Revoked,
                _ if now >= c.not_after => Standing::Expired,
                CertState::Loaded => Standing::Valid,
                _ => continue,
            };
            listed.push(Listed {
                serial: c.serial,
                kind: Kind::Card(c.slot),
                not_after: c.not_after,
                renewal_opens: renewal_opens(c.not_after),
                standing,
            });
        }
        Ok(listed)
    }

    /// The citizen's software certificate `serial` and where it stands.
    fn own(
        &self,
        citizen: &Citizen,
        serial: &str,
        now: OffsetDateTime,
    ) -> Result<(SoftwareCertRecord, Standing), AreaRefusal> {
        let all = self
            .station
            .registry()
            .software_certificates_of(&citizen.nif)?;
        let cert = all
            .iter()
            .find(|c| c.serial.eq_ignore_ascii_case(serial))
            .ok_or(AreaRefusal::NotYours)?;
        let renewed = all.iter().any(|n| n.renews.as_ref() == Some(&cert.serial));
        Ok((cert.clone(), standing(cert, renewed, now)))
    }

    /// Where the citizen's software certificate `serial` stands.
    pub fn standing_of(
        &self,
        citizen: &Citizen,
        serial: &str,
        now: OffsetDateTime,
    ) -> Result<Standing, AreaRefusal> {
        self.own(citizen, serial, now).map(|(_, s)| s)
    }

    /// The citizen's software certificate `serial`, if it may be renewed at
    /// `now`.
    pub fn renewable(
        &self,
        citizen: &Citizen,
        serial: &str,
        now: OffsetDateTime,
    ) -> Result<SoftwareCertRecord, AreaRefusal> {
        let (cert, standing) = self.own(citizen, serial, now)?;
        match standing {
            Standing::Renewable => Ok(cert),
            Standing::Valid => Err(AreaRefusal::NotOpen(renewal_opens(cert.not_after))),
            _ => Err(AreaRefusal::Final),
        }
    }

    /// Renews the citizen's software certificate `serial` at `now`: a new
    /// key, its certificate and the PKCS#12 under `password`. The old
    /// certificate stays valid until it expires.
    pub fn renew(
        &self,
        citizen: &Citizen,
        serial: &str,
        password: &str,
        kind: KeyKind,
        now: OffsetDateTime,
    ) -> Result<Download, AreaRefusal> {
        let (app, issued, file) = self.renew_with(citizen, serial, now, |app| {
            self.make_file(app, password, kind)
        })?;
        Ok(Download {
            file,
            filename: format!("certificado-{}.p12", app.nif),
            serial: issued.serial,
        })
    }

    /// Renews `serial` for the key of a certificate request made in the
    /// citizen's browser (checked by [`crate::request::parse`]): the new
    /// certificate and the CA's, as a PEM chain.
    pub fn renew_request(
        &self,
        citizen: &Citizen,
        serial: &str,
        csr: &[u8],
        now: OffsetDateTime,
    ) -> Result<String, AreaRefusal> {
        let station = &self.station;
        let (_, issued, ()) = self.renew_with(citizen, serial, now, |app| {
            let issued = station
                .ca()
                .issue(csr, &app.holder(), CertProfile::Software)?;
            Ok((issued, ()))
        })?;
        Ok(self.pem_chain(&issued.der)?)
    }

    /// Renews `serial` with the certificate `make` gets issued, recorded as
    /// its renewal; revoked again if the registry refuses it.
    fn renew_with<K>(
        &self,
        citizen: &Citizen,
        serial: &str,
        now: OffsetDateTime,
        make: impl FnOnce(&Application) -> Result<(Issued, K), StationError>,
    ) -> Result<(Application, Issued, K), AreaRefusal> {
        let old = self.renewable(citizen, serial, now)?;
        let station = &self.station;
        let app = station
            .registry()
            .application(&AppKey::Nif(citizen.nif.clone()))?;
        let (issued, made) = make(&app)?;
        let new = SoftwareCertRecord {
            serial: issued.serial.clone(),
            application_id: old.application_id,
            code_id: None,
            renews: Some(old.serial.clone()),
            der: issued.der.clone(),
            not_before: issued.not_before,
            not_after: issued.not_after,
            state: SoftwareCertState::Issued,
        };
        if !station
            .registry()
            .software_renewed(&new, now, &station.actor)?
        {
            // Renewed or revoked meanwhile: the new one must not stay valid.
            station.revoke_at_ca(&issued.serial, RevocationReason::Superseded)?;
            return Err(AreaRefusal::Final);
        }
        tracing::info!(old = %old.serial, new = %new.serial, "software certificate renewed");
        Ok((app, issued, made))
    }

    /// Revokes the citizen's software certificate `serial`: at the CA (its
    /// CRL lists it at once), then in the registry.
    pub fn revoke(
        &self,
        citizen: &Citizen,
        serial: &str,
        now: OffsetDateTime,
    ) -> Result<(), AreaRefusal> {
        let (cert, standing) = self.own(citizen, serial, now)?;
        if matches!(standing, Standing::Revoked | Standing::Expired) {
            return Err(AreaRefusal::Final);
        }
        let station = &self.station;
        let reason = RevocationReason::Unspecified;
        station.revoke_at_ca(&cert.serial, reason)?;
        station.registry().software_revoked(
            &cert.serial,
            &format!("{reason}, by the holder in the citizen's area"),
            now,
            &station.actor,
        )?;
        tracing::info!(serial = %cert.serial, "software certificate revoked by its holder");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::SoftwareKey;
    use firma_station_engine::ca::{CertificateAuthority, LocalCa};
    use firma_station_engine::profile::Holder;

    #[test]
    fn the_nif_is_read_from_the_subject_and_nothing_else_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::init(dir.path(), "Test CA").unwrap();
        let holder = Holder {
            given_name: "Ana".into(),
            surnames: "García López".into(),
            nif: "12345678Z".into(),
            email: "ana@example.es".into(),
        };
        let request = SoftwareKey::generate(KeyKind::P256)
            .unwrap()
            .request(&holder)
            .unwrap();
        let issued = ca.issue(&request, &holder, CertProfile::Software).unwrap();
        assert_eq!(subject_nif(&issued.der).as_deref(), Some("12345678Z"));
        // The CA's own certificate names no citizen; bytes are no certificate.
        assert_eq!(subject_nif(ca.certificate()), None);
        assert_eq!(subject_nif(b"not a certificate"), None);
    }
}
