//! The certificates: requested with a card-signed CSR, checked against the
//! card's keys, loaded, and proven by a signature with each key.

use std::time::Instant;

use der::Decode;
use firma_apdu::piv::PublicKey;
use firma_apdu::Error as CardError;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

use crate::ca::RevocationReason;
use crate::csr;
use crate::error::StationError;
use crate::profile::Profile;
use crate::registry::{CertRecord, CertState, Change, RegistryError};

use super::{index, Card, Run, Step};

impl Run<'_> {
    pub(super) fn cert_and_key(
        &self,
        p: Profile,
    ) -> Result<(&CertRecord, &PublicKey), StationError> {
        let missing = || StationError::MissingCertificateOrKey(p);
        let cert = self.certs[index(p)].as_ref().ok_or_else(missing)?;
        let key = self.keys[index(p)].as_ref().ok_or_else(missing)?;
        Ok((cert, key))
    }

    pub(super) fn issue(&mut self, card: &mut Card<'_>, p: Profile) -> Result<bool, StationError> {
        let step = Step::Issue(p);
        let key = self.keys[index(p)]
            .clone()
            .ok_or(StationError::NoKeyGenerated(p))?;
        // A certificate of this activation for this slot, issued earlier.
        let earlier: Vec<CertRecord> = self
            .station
            .registry()
            .certificates(self.app.id)?
            .into_iter()
            .filter(|c| c.activation_id == self.activation_id() && c.slot == p.slot())
            .filter(|c| c.state != CertState::Revoked)
            .collect();
        let mut changes = Vec::new();
        for c in earlier {
            if csr::same_key(&cert_spki(&c.der)?, &key) {
                self.certs[index(p)] = Some(c);
                return Ok(true); // issued before, not lost: reuse it
            }
            // Issued for a key the card no longer has.
            self.station
                .revoke_at_ca(&c.serial, RevocationReason::Superseded)?;
            changes.push(Change::CertificateState {
                serial: c.serial.clone(),
                state: CertState::Revoked,
                reason: Some(RevocationReason::Superseded),
            });
        }
        let holder = self.app.holder();
        let alg = self.station.config.algorithm;
        let info = csr::request_info(&holder, &key).map_err(|e| StationError::NotIssuable {
            application: self.app.id,
            why: e.to_string(),
        })?;
        self.verify_pin(card)?;
        let sig = card
            .private_operation(p.slot(), alg, &csr::card_input(alg, &info))
            .map_err(|e| StationError::card(step, e))?;
        let request = csr::assemble(&info, alg, &sig)
            .map_err(|e| StationError::RequestSignatureInvalid(e.to_string()))?;
        let t = Instant::now();
        let issued = self.station.ca().issue(&request, &holder, p.into());
        self.ca_time += t.elapsed();
        let issued = issued?;
        let record = CertRecord {
            serial: issued.serial.clone(),
            application_id: self.app.id,
            card_serial: self.serial,
            activation_id: self.activation_id(),
            slot: p.slot(),
            der: issued.der,
            not_before: issued.not_before,
            not_after: issued.not_after,
            state: CertState::Issued,
            revocation_reason: None,
        };
        changes.push(Change::Certificate(Box::new(record.clone())));
        self.record(step, format!("certificate {}", issued.serial), &changes)?;
        self.certs[index(p)] = Some(record);
        Ok(false)
    }

    /// Each certificate names the key its slot holds.
    pub(super) fn check_certificates(&mut self, card: &mut Card<'_>) -> Result<bool, StationError> {
        let step = Step::CheckCertificates;
        for p in Profile::all() {
            let (cert, key) = self.cert_and_key(p)?;
            let spki = cert_spki(&cert.der)?;
            // The card's own word on its key, where it can give it.
            let on_card = match card.metadata(p.slot().key_reference()) {
                Ok(Some(m)) => m.public_key,
                _ => None,
            };
            if !csr::same_key(&spki, key) || on_card.is_some_and(|k| !csr::same_key(&spki, &k)) {
                return Err(StationError::CertificateNotCardKey {
                    profile: p,
                    serial: cert.serial.clone(),
                });
            }
        }
        self.record(step, String::new(), &[])?;
        Ok(false)
    }

    /// Writes the three certificates to their slots.
    pub(super) fn load_certificates(&mut self, card: &mut Card<'_>) -> Result<bool, StationError> {
        let step = Step::LoadCertificates;
        let on_card = |e: CardError| StationError::card(step, e);
        if self.done_before(step)?.is_some() {
            return Ok(true);
        }
        let mut changes = Vec::new();
        for p in Profile::all() {
            let (cert, _) = self.cert_and_key(p)?;
            let der = cert.der.clone();
            let serial = cert.serial.clone();
            card.write_certificate(p.slot(), &der, false)
                .map_err(on_card)?;
            changes.push(Change::CertificateState {
                serial,
                state: CertState::Loaded,
                reason: None,
            });
        }
        self.record(step, String::new(), &changes)?;
        for c in self.certs.iter_mut().flatten() {
            c.state = CertState::Loaded;
        }
        Ok(false)
    }

    /// Each key signs a random challenge that verifies with its certificate.
    pub(super) fn self_test(&mut self, card: &mut Card<'_>) -> Result<bool, StationError> {
        let step = Step::SelfTest;
        let on_card = |e: CardError| StationError::card(step, e);
        for p in Profile::all() {
            self.verify_pin(card)?;
            let (cert, _) = self.cert_and_key(p)?;
            let spki = cert_spki(&cert.der)?;
            let alg = self.station.config.algorithm;
            let challenge: [u8; 32] = rand::random();
            let sig = card
                .private_operation(p.slot(), alg, &csr::card_input(alg, &challenge))
                .map_err(on_card)?;
            csr::verify(&spki, &csr::signature_algorithm(alg), &challenge, &sig).map_err(|e| {
                StationError::TestSignatureFailed {
                    profile: p,
                    why: e.to_string(),
                }
            })?;
        }
        self.record(
            step,
            "each key signed a challenge that verified".into(),
            &[],
        )?;
        Ok(false)
    }
}

pub(super) fn cert_spki(der: &[u8]) -> Result<SubjectPublicKeyInfoOwned, StationError> {
    let cert = Certificate::from_der(der)
        .map_err(|e| RegistryError::Corrupt(format!("a certificate that cannot be read: {e}")))?;
    Ok(cert.tbs_certificate.subject_public_key_info)
}
