//! The card's secrets: PIN and PUK (VERIFY, CHANGE REFERENCE DATA, RESET
//! RETRY COUNTER) and the management key (mutual authentication, Yubico's SET
//! MANAGEMENT KEY and SET PIN RETRIES).

use zeroize::Zeroizing;

use super::{check, reference_result, template_item, ManagementKey, Needs, Pin, Piv, Puk, Secret};
use crate::tlv;
use crate::transport::Transport;
use crate::{Command, Error, StatusWord};

/// The state of the PIN as the empty VERIFY reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinStatus {
    /// Verified in this session.
    Verified,
    /// Not verified; this many tries left.
    TriesLeft(u8),
    /// Blocked: only the PUK can unblock it.
    Blocked,
}

impl<T: Transport> Piv<T> {
    /// The PIN's state, without spending a try.
    pub fn pin_status(&mut self) -> Result<PinStatus, Error> {
        let (_, sw) = self.send(&Command::new(0, 0x20, 0x00, 0x80))?;
        match (sw, sw.tries_left()) {
            (StatusWord::SUCCESS, _) => Ok(PinStatus::Verified),
            (_, Some(0)) | (StatusWord::AUTH_METHOD_BLOCKED, _) => Ok(PinStatus::Blocked),
            (_, Some(n)) => Ok(PinStatus::TriesLeft(n)),
            _ => Err(Error::Refused { op: "VERIFY", sw }),
        }
    }

    /// VERIFY with the PIN; a wrong PIN says how many tries are left.
    pub fn verify_pin(&mut self, pin: &Pin) -> Result<(), Error> {
        let cmd = Command::new(0, 0x20, 0x00, 0x80).with_data(pin.padded().to_vec());
        let (_, sw) = self.send(&cmd)?;
        reference_result(sw, 0x80, "VERIFY")
    }

    /// Forgets the PIN verification (`P1 = FF`).
    pub fn unverify_pin(&mut self) -> Result<(), Error> {
        self.call("VERIFY", Needs::Nothing, &Command::new(0, 0x20, 0xFF, 0x80))?;
        Ok(())
    }

    /// CHANGE REFERENCE DATA of the PIN.
    pub fn change_pin(&mut self, old: &Pin, new: &Pin) -> Result<(), Error> {
        self.change_reference(0x80, old, new)
    }

    /// CHANGE REFERENCE DATA of the PUK.
    pub fn change_puk(&mut self, old: &Puk, new: &Puk) -> Result<(), Error> {
        self.change_reference(0x81, old, new)
    }

    fn change_reference(&mut self, reference: u8, old: &Secret, new: &Secret) -> Result<(), Error> {
        let mut data = Zeroizing::new(old.padded().to_vec());
        data.extend_from_slice(new.padded());
        let (_, sw) =
            self.send(&Command::new(0, 0x24, 0x00, reference).with_data(data.to_vec()))?;
        if sw == StatusWord::VERIFICATION_FAILED {
            // Refused without the count (Nitrokey 3): the PIN's can be asked.
            return Err(match reference {
                0x80 => match self.pin_status()? {
                    PinStatus::TriesLeft(n) => Error::WrongPin { tries_left: n },
                    _ => Error::PinBlocked,
                },
                _ => Error::WrongPukUncounted,
            });
        }
        reference_result(sw, reference, "CHANGE REFERENCE DATA")
    }

    /// Sets a new PIN with the PUK (also when the PIN is blocked).
    pub fn unblock_pin(&mut self, puk: &Puk, new_pin: &Pin) -> Result<(), Error> {
        let mut data = Zeroizing::new(puk.padded().to_vec());
        data.extend_from_slice(new_pin.padded());
        let (_, sw) = self.send(&Command::new(0, 0x2C, 0x00, 0x80).with_data(data.to_vec()))?;
        reference_result(sw, 0x81, "RESET RETRY COUNTER")
    }

    /// Mutual authentication with the management key: the card proves it
    /// knows the key too, so a host never talks to an impostor card.
    pub fn authenticate(&mut self, key: &ManagementKey) -> Result<(), Error> {
        self.transaction(|piv| piv.authenticate_now(key))
    }

    fn authenticate_now(&mut self, key: &ManagementKey) -> Result<(), Error> {
        let alg = key.algorithm();
        let op = "management key authentication";
        let step1 = Command::new(0, 0x87, alg.id(), 0x9B)
            .with_data(vec![0x7C, 0x02, 0x80, 0x00])
            .with_le(256);
        let (answer, sw) = self.send(&step1)?;
        match sw {
            StatusWord::SUCCESS => {}
            StatusWord::INCORRECT_P1P2 | StatusWord::INCORRECT_DATA => {
                return Err(Error::WrongManagementKey);
            }
            sw => check(op, Needs::Nothing, sw)?,
        }
        let sealed = template_item(&answer, 0x80).ok_or(Error::Malformed(op))?;
        let witness = key.crypt(sealed, false).ok_or(Error::Malformed(op))?;
        let mut challenge = Zeroizing::new(vec![0u8; alg.block_len()]);
        getrandom::getrandom(&mut challenge).expect("the OS random generator is available");
        // Witness and challenge only, as libykpiv sends them: SP 800-73-4's
        // empty 82 asking for the response is refused (6A80) by Nitrokey's
        // PIV application, and no card needs it.
        let mut t = tlv::encode(0x80, &witness);
        tlv::push(&mut t, 0x81, &challenge);
        let step2 = Command::new(0, 0x87, alg.id(), 0x9B)
            .with_data(tlv::encode(0x7C, &t))
            .with_le(256);
        let (answer, sw) = self.send(&step2)?;
        if sw == StatusWord::SECURITY_STATUS_NOT_SATISFIED || sw == StatusWord::INCORRECT_DATA {
            return Err(Error::WrongManagementKey);
        }
        check(op, Needs::Nothing, sw)?;
        let response = template_item(&answer, 0x82).ok_or(Error::Malformed(op))?;
        let expected = key.crypt(&challenge, true).ok_or(Error::Malformed(op))?;
        if response != &expected[..] {
            return Err(Error::WrongManagementKey);
        }
        Ok(())
    }

    /// Yubico SET MANAGEMENT KEY (needs the current management key).
    pub fn set_management_key(
        &mut self,
        new: &ManagementKey,
        require_touch: bool,
    ) -> Result<(), Error> {
        let mut data = Zeroizing::new(vec![
            new.algorithm().id(),
            0x9B,
            new.key_bytes().len() as u8,
        ]);
        data.extend_from_slice(new.key_bytes());
        let cmd = Command::new(0, 0xFF, 0xFF, if require_touch { 0xFE } else { 0xFF })
            .with_data(data.to_vec());
        self.call(
            "SET MANAGEMENT KEY (a Yubico extension)",
            Needs::ManagementKey,
            &cmd,
        )?;
        Ok(())
    }

    /// Yubico SET PIN RETRIES (needs management key and PIN). The card puts
    /// PIN and PUK back to their defaults: change them afterwards.
    pub fn set_pin_retries(&mut self, pin_tries: u8, puk_tries: u8) -> Result<(), Error> {
        if pin_tries == 0 || puk_tries == 0 {
            return Err(Error::InvalidInput {
                what: "retry count",
                why: "it must be at least 1",
            });
        }
        let cmd = Command::new(0, 0xFA, pin_tries, puk_tries);
        let (_, sw) = self.send(&cmd)?;
        if sw == StatusWord::SECURITY_STATUS_NOT_SATISFIED {
            return Err(Error::ManagementKeyRequired(
                "SET PIN RETRIES (and the PIN)",
            ));
        }
        check("SET PIN RETRIES (a Yubico extension)", Needs::Nothing, sw)
    }
}
