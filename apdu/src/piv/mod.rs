//! The PIV card client (SP 800-73-4 with Yubico's management extensions),
//! over any [`Transport`].
//!
//! Every method sends what the operation needs and maps the card's answer to
//! an [`Error`] a caller can act on. Methods that need several APDUs in a row
//! run them in one card transaction; callers that need several operations
//! together (VERIFY and a signature with PIN policy "always") use
//! [`Piv::transaction`].

pub mod container;
pub mod keys;
pub mod mgm;
pub mod padding;
pub mod pin;
pub mod slot;
pub mod spki;

use zeroize::Zeroizing;

pub use keys::{Metadata, Origin, PublicKey};
pub use mgm::{ManagementKey, MgmAlgorithm};
pub use pin::{Pin, Puk, Secret};
pub use slot::{Algorithm, ObjectId, PinPolicy, Slot, TouchPolicy};

use crate::tlv::{self, Tlv};
use crate::transport::{Transport, TransportError};
use crate::{Command, Error, StatusWord};

/// The PIV application identifier (with version 01 00).
pub const PIV_AID: [u8; 11] = [
    0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
];

/// How long commands and answers may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApduMode {
    /// Short APDUs only: long commands are chained, long answers come with `61xx`.
    Short,
    /// Extended length: one APDU each way.
    Extended,
}

/// What SELECT told about the application.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApplicationInfo {
    /// The application's PIX and version (tag 4F).
    pub pix: Vec<u8>,
    /// A label, when the card gives one.
    pub label: Option<String>,
    /// Algorithm identifiers the card announces.
    pub algorithms: Vec<u8>,
}

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

/// A Yubico firmware version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u8, pub u8, pub u8);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// A key to import (Yubico IMPORT KEY).
pub enum ImportKey<'a> {
    /// RSA by its primes and CRT values (big-endian, each half the modulus long).
    Rsa {
        /// First prime.
        p: &'a [u8],
        /// Second prime.
        q: &'a [u8],
        /// `d mod (p - 1)`.
        dp: &'a [u8],
        /// `d mod (q - 1)`.
        dq: &'a [u8],
        /// `q^-1 mod p`.
        qinv: &'a [u8],
    },
    /// EC by its private scalar.
    Ec {
        /// The private scalar, big-endian, the field's length.
        scalar: &'a [u8],
    },
}

/// A PIV card.
pub struct Piv<T> {
    transport: T,
    mode: ApduMode,
    resets: u32,
}

/// What an operation is called in errors, and what a 6982 means for it.
#[derive(Clone, Copy)]
enum Needs {
    Pin,
    ManagementKey,
    Nothing,
}

/// An error that a [`Piv::transaction`] body returns: a card error or the
/// caller's own. The transaction runs the body again when the error is a
/// reset of the card by another application.
pub trait TransactionError: From<Error> {
    /// Whether this is [`TransportError::CardReset`] (directly or wrapped).
    fn is_card_reset(&self) -> bool;
}

impl TransactionError for Error {
    fn is_card_reset(&self) -> bool {
        matches!(self, Error::Transport(TransportError::CardReset))
    }
}

impl<T: Transport> Piv<T> {
    /// Wraps a transport; APDUs are short unless the card's ATR announces
    /// extended length (see [`Piv::set_mode`]).
    pub fn new(transport: T) -> Self {
        let mode = match transport.atr() {
            Some(atr) if atr_announces_extended_length(&atr) => ApduMode::Extended,
            _ => ApduMode::Short,
        };
        Self {
            transport,
            mode,
            resets: 0,
        }
    }

    /// Wraps a transport and selects the PIV application.
    pub fn open(transport: T) -> Result<(Self, ApplicationInfo), Error> {
        let mut piv = Self::new(transport);
        let info = piv.select()?;
        Ok((piv, info))
    }

    /// Whether APDUs are short (chained) or extended.
    pub fn mode(&self) -> ApduMode {
        self.mode
    }

    /// Chooses short (chained) or extended APDUs.
    pub fn set_mode(&mut self, mode: ApduMode) {
        self.mode = mode;
    }

    /// The transport underneath.
    pub fn transport(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// How often another application reset the card under us (each time the
    /// application was selected again and the PIN state was lost).
    pub fn resets_seen(&self) -> u32 {
        self.resets
    }

    /// Runs `f` with the card to ourselves (one PC/SC transaction). If another
    /// application reset the card, `f` runs once more from the start after
    /// SELECT, so it must begin with whatever it needs (VERIFY, authentication).
    /// `f` may fail with the caller's own error type; [`TransactionError`]
    /// tells the transaction which of its errors is a reset.
    pub fn transaction<R, E: TransactionError>(
        &mut self,
        mut f: impl FnMut(&mut Piv<&mut dyn Transport>) -> Result<R, E>,
    ) -> Result<R, E> {
        let (mode, mut resets) = (self.mode, self.resets);
        let mut out = None;
        let mut runs = 0;
        let outer = self.transport.exclusive(&mut |t| {
            runs += 1;
            let mut inner = Piv {
                transport: t,
                mode,
                resets,
            };
            if runs > 1 {
                // The transport reconnected after another application reset
                // the card: start over from SELECT.
                inner.resets += 1;
                inner.select()?;
            }
            let result = f(&mut inner);
            resets = inner.resets;
            match result {
                Err(e) if e.is_card_reset() => Err(Error::Transport(TransportError::CardReset)),
                other => {
                    out = Some(other);
                    Ok(())
                }
            }
        });
        self.resets = resets;
        outer?;
        out.unwrap_or_else(|| Err(Error::Transport(TransportError::CardReset).into()))
    }

    /// Sends one command (chained when it is too long for a short APDU) and
    /// returns the whole answer. After another application reset the card,
    /// selects PIV again and retries once.
    fn send(&mut self, cmd: &Command) -> Result<(Zeroizing<Vec<u8>>, StatusWord), Error> {
        match self.send_once(cmd) {
            Err(Error::Transport(TransportError::CardReset)) => {
                self.resets += 1;
                self.select()?;
                self.send_once(cmd)
            }
            other => other,
        }
    }

    fn send_once(&mut self, cmd: &Command) -> Result<(Zeroizing<Vec<u8>>, StatusWord), Error> {
        let mut cmd = cmd.clone();
        match self.mode {
            ApduMode::Extended => {
                cmd.extended = cmd.data.len() > 255 || cmd.le.is_some_and(|l| l > 256);
                if cmd.le.is_some() && cmd.extended {
                    cmd.le = Some(65536);
                }
                Ok(self.transport.transmit(&cmd)?)
            }
            ApduMode::Short => {
                let pieces: Vec<Vec<u8>> = cmd.data.chunks(255).map(<[u8]>::to_vec).collect();
                let last = pieces.len().saturating_sub(1);
                for (i, piece) in pieces.into_iter().enumerate() {
                    let mut part = Command::new(cmd.cla, cmd.ins, cmd.p1, cmd.p2).with_data(piece);
                    if i < last {
                        part.cla |= 0x10;
                        let (_, sw) = self.transport.transmit(&part)?;
                        if !sw.is_success() {
                            return Ok((Zeroizing::new(Vec::new()), sw));
                        }
                    } else {
                        part.le = cmd.le.map(|l| l.min(256));
                        return Ok(self.transport.transmit(&part)?);
                    }
                }
                cmd.le = cmd.le.map(|l| l.min(256));
                Ok(self.transport.transmit(&cmd)?)
            }
        }
    }

    /// Sends and maps every status but success to an error for `op`.
    fn call(
        &mut self,
        op: &'static str,
        needs: Needs,
        cmd: &Command,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let (data, sw) = self.send(cmd)?;
        check(op, needs, sw)?;
        Ok(data)
    }

    /// Selects the PIV application and reads its property template.
    pub fn select(&mut self) -> Result<ApplicationInfo, Error> {
        let cmd = Command::new(0, 0xA4, 0x04, 0x00)
            .with_data(PIV_AID[..9].to_vec())
            .with_le(256);
        let (data, sw) = self.send_once(&cmd)?;
        if sw == StatusWord::FILE_NOT_FOUND {
            return Err(Error::NotFound("the PIV application"));
        }
        check("SELECT", Needs::Nothing, sw)?;
        Ok(parse_application_template(&data))
    }

    /// Reads a data object; `None` when the card does not hold it.
    pub fn read_object(&mut self, id: ObjectId) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let cmd = Command::new(0, 0xCB, 0x3F, 0xFF)
            .with_data(tlv::encode(0x5C, &id.tag_bytes()))
            .with_le(65536);
        let (data, sw) = self.send(&cmd)?;
        if sw == StatusWord::FILE_NOT_FOUND {
            return Ok(None);
        }
        check("GET DATA", Needs::Pin, sw)?;
        if id == ObjectId::DISCOVERY {
            return Ok(Some(data));
        }
        let (t, _) = Tlv::parse(&data).map_err(|_| Error::Malformed("GET DATA"))?;
        if t.tag != 0x53 {
            return Err(Error::Malformed("GET DATA (no 53 template)"));
        }
        Ok(Some(Zeroizing::new(t.value.to_vec())))
    }

    /// Writes a data object (needs the management key); an empty value deletes it.
    pub fn write_object(&mut self, id: ObjectId, value: &[u8]) -> Result<(), Error> {
        let mut data = tlv::encode(0x5C, &id.tag_bytes());
        tlv::push(&mut data, 0x53, value);
        self.call(
            "PUT DATA",
            Needs::ManagementKey,
            &Command::new(0, 0xDB, 0x3F, 0xFF).with_data(data),
        )?;
        Ok(())
    }

    /// The DER certificate of a slot, decompressed; `None` when there is none.
    pub fn read_certificate(&mut self, slot: Slot) -> Result<Option<Vec<u8>>, Error> {
        match self.read_object(slot.certificate_object())? {
            Some(v) if v.is_empty() => Ok(None),
            Some(v) => container::parse_certificate_object(&v).map(Some),
            None => Ok(None),
        }
    }

    /// Stores a DER certificate in `slot`'s certificate object (management key required).
    pub fn write_certificate(
        &mut self,
        slot: Slot,
        der: &[u8],
        compress: bool,
    ) -> Result<(), Error> {
        self.write_object(
            slot.certificate_object(),
            &container::certificate_object(der, compress),
        )
    }

    /// Empties `slot`'s certificate object (management key required).
    pub fn delete_certificate(&mut self, slot: Slot) -> Result<(), Error> {
        self.write_object(slot.certificate_object(), &[])
    }

    /// Reads the Discovery object, `None` if the card has none.
    pub fn discovery(&mut self) -> Result<Option<container::Discovery>, Error> {
        self.read_object(ObjectId::DISCOVERY)?
            .map(|d| container::parse_discovery(&d))
            .transpose()
    }

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

    /// Generates a key pair in `slot` (needs the management key) and returns
    /// its public key.
    pub fn generate(
        &mut self,
        slot: Slot,
        alg: Algorithm,
        pin: PinPolicy,
        touch: TouchPolicy,
    ) -> Result<PublicKey, Error> {
        let mut t = tlv::encode(0x80, &[alg.id()]);
        if pin != PinPolicy::Default {
            tlv::push(&mut t, 0xAA, &[pin.id()]);
        }
        if touch != TouchPolicy::Default {
            tlv::push(&mut t, 0xAB, &[touch.id()]);
        }
        let cmd = Command::new(0, 0x47, 0x00, slot.key_reference())
            .with_data(tlv::encode(0xAC, &t))
            .with_le(65536);
        let answer = self.call("key generation", Needs::ManagementKey, &cmd)?;
        PublicKey::parse_generated(alg, &answer)
    }

    /// The private-key operation of `slot`: for RSA the raw operation on a
    /// block as long as the modulus (a padded hash to sign, or a ciphertext
    /// to decrypt); for EC an ECDSA signature (DER) of a hash.
    pub fn private_operation(
        &mut self,
        slot: Slot,
        alg: Algorithm,
        input: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        if alg.is_rsa() && input.len() != alg.size() {
            return Err(Error::InvalidInput {
                what: "RSA input",
                why: "it must be as long as the modulus",
            });
        }
        let mut t = tlv::encode(0x82, &[]);
        tlv::push(&mut t, 0x81, input);
        self.general_authenticate(slot, alg, &t, "signature or decryption")
    }

    /// ECDH with the key in `slot`: the shared secret (x coordinate) with a
    /// peer's uncompressed public point.
    pub fn ecdh(
        &mut self,
        slot: Slot,
        alg: Algorithm,
        peer_point: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        if alg.is_rsa() || peer_point.len() != 1 + 2 * alg.size() {
            return Err(Error::InvalidInput {
                what: "ECDH peer key",
                why: "not an uncompressed point of the key's curve",
            });
        }
        let mut t = tlv::encode(0x82, &[]);
        tlv::push(&mut t, 0x85, peer_point);
        self.general_authenticate(slot, alg, &t, "key agreement")
    }

    fn general_authenticate(
        &mut self,
        slot: Slot,
        alg: Algorithm,
        template: &[u8],
        op: &'static str,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let cmd = Command::new(0, 0x87, alg.id(), slot.key_reference())
            .with_data(tlv::encode(0x7C, template))
            .with_le(65536);
        let (answer, sw) = self.send(&cmd)?;
        if sw == StatusWord::INCORRECT_DATA
            || sw == StatusWord::INCORRECT_P1P2
            || sw == StatusWord::REFERENCE_NOT_FOUND
        {
            return Err(Error::NotFound("a key of that algorithm in that slot"));
        }
        check(op, Needs::Pin, sw)?;
        let result = template_item(&answer, 0x82).ok_or(Error::Malformed(op))?;
        Ok(Zeroizing::new(result.to_vec()))
    }

    /// Random bytes from the card: the challenges of management-key external
    /// authentication (GENERAL AUTHENTICATE 9B, `81` requested empty), as
    /// OpenSC does; no key is needed and the card's state does not change.
    pub fn random(&mut self, len: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
        let alg = match self.metadata(0x9B) {
            Ok(Some(Metadata {
                algorithm: Some(a), ..
            })) => a,
            _ => MgmAlgorithm::TripleDes.id(),
        };
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        while out.len() < len {
            let cmd = Command::new(0, 0x87, alg, 0x9B)
                .with_data(vec![0x7C, 0x02, 0x81, 0x00])
                .with_le(256);
            let answer = self.call("GENERAL AUTHENTICATE (challenge)", Needs::Nothing, &cmd)?;
            let challenge = template_item(&answer, 0x81)
                .filter(|c| !c.is_empty())
                .ok_or(Error::Malformed("challenge"))?;
            out.extend_from_slice(challenge);
        }
        out.truncate(len);
        Ok(out)
    }

    /// Yubico GET VERSION.
    pub fn version(&mut self) -> Result<Version, Error> {
        let v = self.call(
            "GET VERSION (a Yubico extension)",
            Needs::Nothing,
            &Command::new(0, 0xFD, 0, 0).with_le(256),
        )?;
        match v[..] {
            [a, b, c] => Ok(Version(a, b, c)),
            _ => Err(Error::Malformed("GET VERSION")),
        }
    }

    /// Yubico GET SERIAL.
    pub fn serial(&mut self) -> Result<u32, Error> {
        let s = self.call(
            "GET SERIAL (a Yubico extension)",
            Needs::Nothing,
            &Command::new(0, 0xF8, 0, 0).with_le(256),
        )?;
        <[u8; 4]>::try_from(&s[..])
            .map(u32::from_be_bytes)
            .map_err(|_| Error::Malformed("GET SERIAL"))
    }

    /// Yubico GET METADATA for a key reference: a slot, 80 (PIN), 81 (PUK) or 9B.
    pub fn metadata(&mut self, reference: u8) -> Result<Option<Metadata>, Error> {
        let cmd = Command::new(0, 0xF7, 0x00, reference).with_le(256);
        let (data, sw) = self.send(&cmd)?;
        if sw == StatusWord::REFERENCE_NOT_FOUND {
            return Ok(None);
        }
        let op = "GET METADATA (a Yubico extension)";
        check(op, Needs::Nothing, sw)?;
        if data.is_empty() {
            // Nitrokey 3 answers 9000 without any item: it keeps no metadata.
            return Err(Error::NotSupportedByCard(op));
        }
        Metadata::parse(&data).map(Some)
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

    /// Yubico RESET: back to a blank card. The card only accepts it when PIN
    /// and PUK are both blocked.
    pub fn reset(&mut self) -> Result<(), Error> {
        self.call(
            "RESET (a Yubico extension)",
            Needs::Nothing,
            &Command::new(0, 0xFB, 0, 0),
        )?;
        Ok(())
    }

    /// Yubico IMPORT KEY (needs the management key).
    pub fn import_key(
        &mut self,
        slot: Slot,
        alg: Algorithm,
        key: ImportKey,
        pin: PinPolicy,
        touch: TouchPolicy,
    ) -> Result<(), Error> {
        let mut data = Zeroizing::new(Vec::new());
        match key {
            ImportKey::Rsa { p, q, dp, dq, qinv } => {
                for (tag, v) in [(0x01, p), (0x02, q), (0x03, dp), (0x04, dq), (0x05, qinv)] {
                    tlv::push(&mut data, tag, v);
                }
            }
            ImportKey::Ec { scalar } => tlv::push(&mut data, 0x06, scalar),
        }
        if pin != PinPolicy::Default {
            tlv::push(&mut data, 0xAA, &[pin.id()]);
        }
        if touch != TouchPolicy::Default {
            tlv::push(&mut data, 0xAB, &[touch.id()]);
        }
        let cmd = Command::new(0, 0xFE, alg.id(), slot.key_reference()).with_data(data.to_vec());
        self.call(
            "IMPORT KEY (a Yubico extension)",
            Needs::ManagementKey,
            &cmd,
        )?;
        Ok(())
    }

    /// Yubico ATTEST: a certificate, signed by the card's attestation key,
    /// for a key generated in `slot`.
    pub fn attest(&mut self, slot: Slot) -> Result<Vec<u8>, Error> {
        let cmd = Command::new(0, 0xF9, slot.key_reference(), 0x00).with_le(65536);
        let (data, sw) = self.send(&cmd)?;
        if sw == StatusWord::REFERENCE_NOT_FOUND || sw == StatusWord::INCORRECT_DATA {
            return Err(Error::NotFound("a key generated on the card in that slot"));
        }
        check("ATTEST (a Yubico extension)", Needs::Nothing, sw)?;
        Ok(data.to_vec())
    }
}

/// Maps a status word to the error a caller can act on.
fn check(op: &'static str, needs: Needs, sw: StatusWord) -> Result<(), Error> {
    match sw {
        StatusWord::SUCCESS => Ok(()),
        StatusWord::SECURITY_STATUS_NOT_SATISFIED => Err(match needs {
            Needs::ManagementKey => Error::ManagementKeyRequired(op),
            _ => Error::PinRequired(op),
        }),
        StatusWord::AUTH_METHOD_BLOCKED => Err(Error::PinBlocked),
        // Cards say "not supported" either way: YubiKeys with 6D00, Nitrokey
        // 3 with 6A81 (ISO 7816-4's "function not supported").
        StatusWord::INS_NOT_SUPPORTED | StatusWord::FUNCTION_NOT_SUPPORTED => {
            Err(Error::NotSupportedByCard(op))
        }
        StatusWord::CONDITIONS_NOT_SATISFIED => Err(Error::ConditionsNotSatisfied(op)),
        StatusWord::FILE_NOT_FOUND | StatusWord::REFERENCE_NOT_FOUND => Err(Error::NotFound(op)),
        sw => Err(Error::Refused { op, sw }),
    }
}

/// The result of VERIFY, CHANGE REFERENCE DATA or RESET RETRY COUNTER,
/// where the reference checked was the PIN (80) or the PUK (81).
fn reference_result(sw: StatusWord, reference: u8, op: &'static str) -> Result<(), Error> {
    let puk = reference == 0x81;
    match (sw, sw.tries_left()) {
        (StatusWord::SUCCESS, _) => Ok(()),
        (_, Some(0)) | (StatusWord::AUTH_METHOD_BLOCKED, _) => Err(if puk {
            Error::PukBlocked
        } else {
            Error::PinBlocked
        }),
        (_, Some(n)) if puk => Err(Error::WrongPuk { tries_left: n }),
        (_, Some(n)) => Err(Error::WrongPin { tries_left: n }),
        (StatusWord::INCORRECT_DATA, _) => Err(Error::InvalidInput {
            what: "PIN or PUK",
            why: "the card refused its format",
        }),
        _ => check(op, Needs::Nothing, sw),
    }
}

/// An item of the `7C` dynamic authentication template in an answer.
fn template_item(answer: &[u8], tag: u32) -> Option<&[u8]> {
    Tlv::find(answer, 0x7C).and_then(|inner| Tlv::find(inner, tag))
}

/// Parses the application property template that SELECT returns (tag 61).
/// Unknown or malformed parts are ignored: the template is informative.
pub fn parse_application_template(answer: &[u8]) -> ApplicationInfo {
    let inner = Tlv::find(answer, 0x61).unwrap_or(answer);
    let mut info = ApplicationInfo::default();
    for item in Tlv::iter(inner).map_while(Result::ok) {
        match item.tag {
            0x4F => info.pix = item.value.to_vec(),
            0x50 => info.label = Some(String::from_utf8_lossy(item.value).into_owned()),
            0xAC => {
                info.algorithms = Tlv::iter(item.value)
                    .map_while(Result::ok)
                    .filter(|a| a.tag == 0x80)
                    .filter_map(|a| a.value.first().copied())
                    .collect()
            }
            _ => {}
        }
    }
    info
}

/// Whether an ATR's historical bytes carry card capabilities (compact TLV tag
/// 7) with extended Lc/Le (ISO 7816-4 §8.1.1.2.7, third byte bit 0x40).
pub fn atr_announces_extended_length(atr: &[u8]) -> bool {
    historical_bytes(atr).is_some_and(|h| {
        let mut rest = match h.split_first() {
            Some((0x80, rest)) => rest,
            _ => return false,
        };
        while let Some((&head, tail)) = rest.split_first() {
            let len = usize::from(head & 0x0F);
            if tail.len() < len {
                return false;
            }
            if head >> 4 == 7 && len >= 3 {
                return tail[2] & 0x40 != 0;
            }
            rest = &tail[len..];
        }
        false
    })
}

/// The historical bytes of an ATR (ISO 7816-3 §8.2).
fn historical_bytes(atr: &[u8]) -> Option<&[u8]> {
    let t0 = *atr.get(1)?;
    let k = usize::from(t0 & 0x0F);
    let mut i = 1;
    let mut y = t0 >> 4;
    loop {
        let present = (y & 1) + ((y >> 1) & 1) + ((y >> 2) & 1) + ((y >> 3) & 1);
        let td = if y & 0x08 != 0 {
            Some(i + usize::from(present))
        } else {
            None
        };
        i += usize::from(present);
        match td {
            Some(pos) => y = *atr.get(pos)? >> 4,
            None => break,
        }
    }
    atr.get(i + 1..i + 1 + k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn extended_length_is_read_from_the_atr() {
        let firma = hex::decode("3B8D80018073C021C0574669726D615650DE").unwrap();
        assert!(atr_announces_extended_length(&firma));
        // A YubiKey 5 NFC's ATR announces extended length too (73 C0 21 C0).
        let yubikey = hex::decode("3BFD1300008131FE158073C021C057597562694B657940").unwrap();
        assert!(atr_announces_extended_length(&yubikey));
        assert!(!atr_announces_extended_length(&[0x3B, 0x02, 0x14, 0x50]));
        // Nitrokey 3's generic ATR does not: its APDUs stay short.
        let nitrokey = hex::decode("3B9513810180 73FF01000B".replace(' ', "")).unwrap();
        assert!(!atr_announces_extended_length(&nitrokey));
    }

    #[test]
    fn both_ways_of_saying_not_supported_are_one_error() {
        for sw in [0x6D00, 0x6A81] {
            assert!(
                matches!(
                    check("SET PIN RETRIES", Needs::Nothing, StatusWord(sw)),
                    Err(Error::NotSupportedByCard("SET PIN RETRIES"))
                ),
                "{sw:04X}"
            );
        }
        assert!(matches!(
            check("PUT DATA", Needs::ManagementKey, StatusWord(0x6A80)),
            Err(Error::Refused { .. })
        ));
    }

    #[test]
    fn template_parses() {
        let apt = hex::decode(
            "611B4F0600001000010079074F05A0000003085003414243AC03800107".replace(' ', ""),
        )
        .unwrap();
        let info = parse_application_template(&apt);
        assert_eq!(info.pix, vec![0, 0, 0x10, 0, 1, 0]);
        assert_eq!(info.label.as_deref(), Some("ABC"));
        assert_eq!(info.algorithms, vec![0x07]);
    }

    proptest! {
        #[test]
        fn atr_and_template_parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = atr_announces_extended_length(&data);
            let _ = parse_application_template(&data);
        }
    }
}
