//! The card's secrets in the workflow: the management key (transport key
//! first, then a new sealed one), the citizen's PIN, the PUK and its letter.

use firma_apdu::piv::pin::{DEFAULT_PIN, DEFAULT_PUK};
use firma_apdu::piv::{ManagementKey, MgmAlgorithm, Pin, Puk};
use firma_apdu::{Error as CardError, StatusWord};
use time::OffsetDateTime;

use crate::audit::{Action, Event, Subject};
use crate::error::{CardTask, StationError};
use crate::letter::LetterInfo;
use crate::registry::{Change, WorkflowKind};

use super::{crash_point, Card, CardNote, Run, Step, StepOutcome};

impl Run<'_> {
    pub(super) fn authenticate(&mut self, card: &mut Card<'_>) -> Result<(), StationError> {
        let key = self.station.authenticate(card, self.serial)?;
        let record = self.station.registry().card(self.serial)?;
        let pending_took = record
            .as_ref()
            .and_then(|r| r.pending_key.as_ref())
            .and_then(|p| self.station.vault().unseal(self.serial, p).ok())
            .is_some_and(|p| p.key_bytes() == key.key_bytes());
        if pending_took {
            // The card took the new key before the station could record it.
            self.record(
                Step::ManagementKey,
                "recovered".into(),
                &[Change::ConfirmKey(self.serial)],
            )?;
        }
        self.record(Step::Authenticate, String::new(), &[])?;
        Ok(())
    }

    /// A new random management key of the strongest algorithm the card
    /// takes (AES-256 first: Nitrokey 3 takes AES-256 and 3DES only, older
    /// YubiKeys no AES-256). The sealed key carries its algorithm, so the
    /// station remembers which one the card holds.
    pub(super) fn replace_management_key(
        &mut self,
        card: &mut Card<'_>,
    ) -> Result<bool, StationError> {
        let step = Step::ManagementKey;
        let mut refused = Vec::new();
        for alg in MgmAlgorithm::STRONGEST_FIRST {
            let key = ManagementKey::random(alg);
            let sealed = self.station.vault().seal(self.serial, &key);
            // Sealed into the registry first: a crash after the card
            // took the key must not lose it.
            self.station.registry().commit(
                &self.station.actor,
                None,
                &[Change::PendingKey {
                    serial: self.serial,
                    sealed,
                }],
                &Event::new(
                    Action::ManagementKeySealed,
                    Subject::Card(self.serial),
                    format!("a new per-card {alg} key, sealed by the station key"),
                ),
            )?;
            crash_point("management-key-sealed");
            match card.set_management_key(&key, false) {
                Ok(()) => {
                    let note = match refused.is_empty() {
                        true => alg.to_string(),
                        false => format!("{alg} (the card refused {})", refused.join(", ")),
                    };
                    self.record(step, note, &[Change::ConfirmKey(self.serial)])?;
                    return Ok(false);
                }
                // The card does not take this algorithm: offer the next.
                Err(CardError::Refused {
                    sw: StatusWord::INCORRECT_DATA | StatusWord::INCORRECT_P1P2,
                    ..
                }) => refused.push(alg.to_string()),
                Err(e) => return Err(StationError::card(step, e)),
            }
        }
        Err(StationError::NoManagementKeyAlgorithm {
            serial: self.serial,
            refused: refused.join(", "),
        })
    }

    pub(super) fn citizen_pin(&mut self) -> Result<Pin, StationError> {
        if self.pin.is_none() {
            self.pin = Some(match self.kind {
                WorkflowKind::Activate => {
                    let pin = self.citizen.choose_pin()?;
                    // Whoever asked the citizen, the engine has the last word.
                    let personal = self.station.personal_numbers(&self.app)?;
                    let typed = std::str::from_utf8(pin.as_bytes()).unwrap_or_default();
                    crate::pin::check_new_pin_for(typed, &personal)?;
                    pin
                }
                WorkflowKind::Renew => self.citizen.current_pin()?,
            });
        }
        Ok(Pin::new(self.pin.as_ref().expect("set above").as_bytes()).expect("a valid PIN"))
    }

    /// VERIFY with the PIN the card holds: the citizen's once set, else the
    /// factory PIN. After an interrupted PIN change it may be either.
    pub(super) fn verify_pin(&mut self, card: &mut Card<'_>) -> Result<(), StationError> {
        let citizen = self.citizen_pin()?;
        let default = Pin::new(DEFAULT_PIN).expect("valid");
        let candidates: Vec<(&Pin, bool)> = match self.kind {
            WorkflowKind::Renew => vec![(&citizen, true)],
            WorkflowKind::Activate if self.pin_on_card => vec![(&citizen, true)],
            WorkflowKind::Activate => match self.last_entry(Step::PinPuk)?.map(|e| e.outcome) {
                None => vec![(&default, false)],
                Some(StepOutcome::Done) => vec![(&citizen, true)],
                Some(_) => vec![(&default, false), (&citizen, true)],
            },
        };
        let count = candidates.len();
        for (i, (pin, is_citizens)) in candidates.into_iter().enumerate() {
            match card.verify_pin(pin) {
                Ok(()) => {
                    self.pin_on_card = is_citizens;
                    return Ok(());
                }
                Err(CardError::WrongPin { .. }) if i + 1 < count => {}
                Err(CardError::WrongPin { tries_left }) if self.kind == WorkflowKind::Activate => {
                    return Err(StationError::NotTheChosenPin { tries_left })
                }
                Err(e) => return Err(StationError::card(CardTask::VerifyPin, e)),
            }
        }
        unreachable!("every workflow tries at least one PIN, and the last one returns")
    }

    /// The citizen's PIN and a new random PUK. A card with SET PIN RETRIES
    /// first puts both back to the factory values, so an unfinished run's
    /// PUK is never needed; a card without it (Nitrokey 3) keeps its own
    /// retry counts and changes its PUK from the one it holds (see
    /// [`Self::replace_puk_without_reset`]).
    pub(super) fn pin_puk(&mut self, card: &mut Card<'_>) -> Result<(), StationError> {
        let step = Step::PinPuk;
        let on_card = |e: CardError| StationError::card(step, e);
        self.verify_pin(card)?;
        // Journaled before the card changes: if this run dies half-way, the
        // next one knows the PIN may be either.
        self.station.registry().commit(
            &self.station.actor,
            Some(&self.entry(step, StepOutcome::Started, String::new())),
            &[],
            &Event::new(
                Action::StepStarted(self.kind, step),
                self.subject(),
                format!("card {}", self.serial),
            ),
        )?;
        let (pin_tries, puk_tries) = (self.station.config.pin_tries, self.station.config.puk_tries);
        let citizen = self.citizen_pin()?;
        let default_pin = Pin::new(DEFAULT_PIN).expect("valid");
        let retries = match card.set_pin_retries(pin_tries, puk_tries) {
            Ok(()) => {
                self.pin_on_card = false;
                card.change_pin(&default_pin, &citizen).map_err(on_card)?;
                self.pin_on_card = true;
                let puk = crate::pin::random_puk();
                let default_puk = Puk::new(DEFAULT_PUK).expect("valid");
                card.change_puk(&default_puk, &puk).map_err(on_card)?;
                self.puk = Some(puk);
                format!("{pin_tries} and {puk_tries} tries")
            }
            Err(CardError::NotSupportedByCard(_)) => {
                if !self.pin_on_card {
                    card.change_pin(&default_pin, &citizen).map_err(on_card)?;
                    self.pin_on_card = true;
                }
                self.puk = Some(self.replace_puk_without_reset(card)?);
                self.note = Some(CardNote::NoRetrySetting);
                CardNote::NoRetrySetting.to_string()
            }
            Err(e) => return Err(on_card(e)),
        };
        self.record(step, format!("PIN and PUK set, {retries}"), &[])?;
        Ok(())
    }

    /// A new random PUK on a card that cannot put its PUK back to the
    /// factory value. The card holds the factory PUK or one that an
    /// unfinished run sealed into the registry; the new PUK is sealed with
    /// those before the card takes it, so a run stopped anywhere leaves a PUK
    /// the next run can change, and the sealed PUKs are erased when the
    /// activation is finished. A resumed run may spend one PUK try on a sealed
    /// PUK the card never took; the right one then restores the count.
    pub(super) fn replace_puk_without_reset(
        &mut self,
        card: &mut Card<'_>,
    ) -> Result<Puk, StationError> {
        let serial = self.serial;
        let sealed = self
            .station
            .registry()
            .card(serial)?
            .and_then(|c| c.sealed_puks);
        let mut held = match sealed {
            Some(s) => self.station.vault().unseal_puks(serial, &s)?,
            None => Vec::new(),
        };
        let factory = Puk::new(DEFAULT_PUK).expect("valid");
        if !held.iter().any(|p| p.padded() == factory.padded()) {
            held.push(factory);
        }
        let new = crate::pin::random_puk();
        let seal = |puks: &[&Puk]| Change::SealedPuks {
            serial,
            sealed: Some(self.station.vault().seal_puks(serial, puks)),
        };
        let all: Vec<&Puk> = std::iter::once(&new).chain(&held).collect();
        self.station.registry().commit(
            &self.station.actor,
            None,
            &[seal(&all)],
            &Event::new(
                Action::PukSealed,
                Subject::Card(serial),
                "the card cannot reset its PUK: the new PUK is kept sealed until the activation is finished",
            ),
        )?;
        crash_point("puk-sealed");
        let mut refused = None;
        for old in &held {
            match card.change_puk(old, &new) {
                Ok(()) => {
                    self.station.registry().commit(
                        &self.station.actor,
                        None,
                        &[seal(&[&new])],
                        &Event::new(
                            Action::PukChanged,
                            Subject::Card(serial),
                            "a new random PUK",
                        ),
                    )?;
                    return Ok(new);
                }
                Err(e @ (CardError::WrongPuk { .. } | CardError::WrongPukUncounted)) => {
                    refused = Some(e)
                }
                Err(e) => return Err(StationError::card(Step::PinPuk, e)),
            }
        }
        Err(StationError::PukUnknown {
            serial,
            refused: refused.map_or(String::new(), |e| e.to_string()),
        })
    }

    /// Prints or shows the PUK letter; only the run that set the PUK can.
    pub(super) fn puk_letter(&mut self, card: &mut Card<'_>) -> Result<bool, StationError> {
        let step = Step::PukLetter;
        if self.puk.is_none() {
            // The PUK of an earlier run is gone: make a new one.
            self.pin_puk(card)?;
        }
        let puk = self.puk.as_ref().expect("set above");
        let expires = self
            .certs
            .iter()
            .flatten()
            .map(|c| c.not_after)
            .min()
            .unwrap_or_else(OffsetDateTime::now_utc);
        let info = LetterInfo {
            holder_name: format!("{} {}", self.app.given_name, self.app.surnames),
            nif: self.app.nif.clone(),
            card_serial: self.serial,
            station: self.station.actor.station.clone(),
            issued_on: OffsetDateTime::now_utc().date(),
            certificates_expire: expires.date(),
        };
        self.citizen.deliver_letter(&info, puk)?;
        // Shown to the operator, not yet printed nor handed over: the
        // window records those when they happen (`letter::record`).
        self.record(step, "made".into(), &[])?;
        Ok(false)
    }
}
