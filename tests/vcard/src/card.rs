//! The PIV applet: SP 800-73-4 commands plus the Yubico extensions, with the
//! security status, retry counters and response chaining of a real card.

use std::path::PathBuf;
use std::time::Duration;

use firma_apdu::tlv::{self, Tlv};
use firma_apdu::{Command, StatusWord};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::keys::{KeyAlgorithm, PrivateKey};
use crate::mgmt::{MgmAlgorithm, MgmKey};
use crate::state::{CardState, SlotKey, ORIGIN_GENERATED, ORIGIN_IMPORTED};

/// PIV application identifier, with version 01 00.
pub const PIV_AID: [u8; 11] = [
    0xA0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00,
];
/// Yubico's management application: selecting it deselects PIV, as on a
/// YubiKey, so hosts can be tested for re-selecting after another application.
pub const YUBICO_MGMT_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x05, 0x27, 0x47, 0x11, 0x17];

/// T=1 ATR whose historical bytes announce command chaining and extended
/// Lc/Le (card capabilities `73 C0 21 C0`) and the issuer "FirmaVP".
pub const ATR: [u8; 18] = {
    let body: [u8; 17] = [
        0x3B, 0x8D, 0x80, 0x01, 0x80, 0x73, 0xC0, 0x21, 0xC0, 0x57, b'F', b'i', b'r', b'm', b'a',
        b'V', b'P',
    ];
    let mut atr = [0u8; 18];
    let mut tck = 0u8;
    let mut i = 0;
    while i < 17 {
        atr[i] = body[i];
        if i > 0 {
            tck ^= body[i];
        }
        i += 1;
    }
    atr[17] = tck;
    atr
};

/// Firmware version reported by GET VERSION: new enough that hosts use GET
/// METADATA and AES management keys.
pub const VERSION: [u8; 3] = [5, 4, 3];

const PIN_REF: u8 = 0x80;
const PUK_REF: u8 = 0x81;
const MGM_SLOT: u8 = 0x9B;

const POLICY_DEFAULT: u8 = 0;
const PIN_NEVER: u8 = 1;
const PIN_ONCE: u8 = 2;
const PIN_ALWAYS: u8 = 3;
const TOUCH_NEVER: u8 = 1;

/// Largest data object the card stores (a YubiKey 5 keeps about 3 KB).
const MAX_OBJECT: usize = 3072;
/// Largest command data accepted through chaining.
const MAX_CHAIN: usize = 16 * 1024;

/// Options that make the card behave like slower or failing hardware.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Extra time spent in GENERATE ASYMMETRIC KEY PAIR.
    pub keygen_delay: Duration,
    /// Behave like a plain PIV applet without Yubico's extensions: they
    /// answer `6D00`, and keys can only be generated.
    pub plain_piv: bool,
    /// Refuse VERIFY with `P1 = FF` (`6A86`), as a card that cannot reset
    /// the PIN's security status would.
    pub refuse_pin_reset: bool,
}

/// Which application the last successful SELECT chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selected {
    Piv,
    Other,
}

/// Pending step of a management-key challenge-response.
enum MgmPending {
    /// Mutual authentication: the witness we sent encrypted.
    Witness(Zeroizing<Vec<u8>>),
    /// External authentication: the challenge we sent in the clear.
    Challenge(Zeroizing<Vec<u8>>),
}

/// Volatile state, lost on power-off and reset.
struct Session {
    selected: Selected,
    pin_verified: bool,
    /// Set by a successful VERIFY, consumed by the next private-key operation
    /// and cleared by any other command: PIN policy "always".
    pin_just_verified: bool,
    mgm_authenticated: bool,
    mgm_pending: Option<MgmPending>,
    chain: Option<(u8, u8, u8, Zeroizing<Vec<u8>>)>,
    /// Response bytes waiting for GET RESPONSE.
    pending: Zeroizing<Vec<u8>>,
}

impl Session {
    fn new() -> Self {
        Self {
            selected: Selected::Piv,
            pin_verified: false,
            pin_just_verified: false,
            mgm_authenticated: false,
            mgm_pending: None,
            chain: None,
            pending: Zeroizing::new(Vec::new()),
        }
    }

    fn clear_security(&mut self) {
        self.pin_verified = false;
        self.pin_just_verified = false;
        self.mgm_authenticated = false;
        self.mgm_pending = None;
    }
}

/// The result of one command before response chaining: data and status.
type Reply = Result<Zeroizing<Vec<u8>>, StatusWord>;

fn ok(data: Vec<u8>) -> Reply {
    Ok(Zeroizing::new(data))
}

fn ok_empty() -> Reply {
    Ok(Zeroizing::new(Vec::new()))
}

/// A virtual PIV card.
pub struct VirtualCard {
    state: CardState,
    store: Option<PathBuf>,
    session: Session,
    options: Options,
}

impl std::fmt::Debug for VirtualCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualCard")
            .field("serial", &self.state.serial)
            .field("store", &self.store)
            .finish()
    }
}

impl VirtualCard {
    /// A blank card with default PIN, PUK and management key, kept in memory.
    pub fn blank(serial: u32) -> Self {
        Self::with_state(CardState::blank(serial), None)
    }

    /// A card kept in `path`: loaded if the file exists, else created blank
    /// with `serial` and saved there.
    pub fn open(path: PathBuf, serial: u32) -> Result<Self, String> {
        let state = if path.exists() {
            CardState::load(&path)?
        } else {
            let s = CardState::blank(serial);
            s.save(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            s
        };
        Ok(Self::with_state(state, Some(path)))
    }

    fn with_state(state: CardState, store: Option<PathBuf>) -> Self {
        Self {
            state,
            store,
            session: Session::new(),
            options: Options::default(),
        }
    }

    pub fn set_options(&mut self, options: Options) {
        self.options = options;
    }

    pub fn serial(&self) -> u32 {
        self.state.serial
    }

    pub fn atr(&self) -> &'static [u8] {
        &ATR
    }

    /// Power-off, power-on or warm reset: the volatile state is lost.
    pub fn reset(&mut self) {
        self.session = Session::new();
    }

    /// Processes one command APDU and returns the response APDU (data + SW).
    /// Never panics on any input: malformed commands get an ISO status word.
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let cmd = match Command::parse(apdu) {
            Ok(c) => c,
            Err(_) => return StatusWord::WRONG_LENGTH.to_bytes().to_vec(),
        };
        let max_out = match (cmd.le, cmd.extended) {
            (Some(le), _) => le,
            (None, true) => 65536,
            (None, false) => 256,
        };
        if cmd.ins == 0xC0 && cmd.cla & 0xEF == 0 {
            return self.get_response(max_out);
        }
        self.session.pending = Zeroizing::new(Vec::new());
        let reply = self.dispatch(cmd);
        match reply {
            Err(sw) => sw.to_bytes().to_vec(),
            Ok(data) => self.chunk(data, max_out),
        }
    }

    /// Sends `data` at once when it fits `max_out`, else the first part with
    /// `61xx` and the rest on GET RESPONSE.
    fn chunk(&mut self, data: Zeroizing<Vec<u8>>, max_out: usize) -> Vec<u8> {
        if data.len() <= max_out {
            let mut out = data.to_vec();
            out.extend_from_slice(&StatusWord::SUCCESS.to_bytes());
            return out;
        }
        let mut out = data[..max_out].to_vec();
        self.session.pending = Zeroizing::new(data[max_out..].to_vec());
        let left = self.session.pending.len().min(256);
        out.extend_from_slice(&[0x61, left as u8]);
        out
    }

    fn get_response(&mut self, max_out: usize) -> Vec<u8> {
        if self.session.pending.is_empty() {
            return StatusWord::CONDITIONS_NOT_SATISFIED.to_bytes().to_vec();
        }
        let data = std::mem::take(&mut self.session.pending);
        self.chunk(data, max_out.min(256))
    }

    fn dispatch(&mut self, mut cmd: Command) -> Reply {
        if cmd.cla & !0x10 != 0 {
            return Err(StatusWord::CLA_NOT_SUPPORTED);
        }
        // Command chaining: collect data until the last command of the chain.
        if let Some((ins, p1, p2, _)) = &self.session.chain {
            if (*ins, *p1, *p2) != (cmd.ins, cmd.p1, cmd.p2) {
                self.session.chain = None;
                return Err(StatusWord::LAST_COMMAND_OF_CHAIN_EXPECTED);
            }
        }
        if cmd.is_chained() {
            let (_, _, _, buf) = self
                .session
                .chain
                .get_or_insert_with(|| (cmd.ins, cmd.p1, cmd.p2, Zeroizing::new(Vec::new())));
            if buf.len() + cmd.data.len() > MAX_CHAIN {
                self.session.chain = None;
                return Err(StatusWord::WRONG_LENGTH);
            }
            buf.extend_from_slice(&cmd.data);
            return ok_empty();
        }
        if let Some((_, _, _, mut buf)) = self.session.chain.take() {
            buf.extend_from_slice(&cmd.data);
            cmd.data = buf;
        }
        // Re-selecting PIV (hosts do it when they take the card) keeps the
        // security status; any other command ends PIN policy "always".
        if cmd.ins == 0xA4 {
            return self.select(&cmd);
        }
        let just_verified = std::mem::take(&mut self.session.pin_just_verified);
        if self.session.selected != Selected::Piv {
            return Err(StatusWord::INS_NOT_SUPPORTED);
        }
        if self.options.plain_piv && matches!(cmd.ins, 0xF7..=0xFF) {
            return Err(StatusWord::INS_NOT_SUPPORTED);
        }
        match cmd.ins {
            0xCB => self.get_data(&cmd),
            0xDB => self.put_data(&cmd),
            0x20 => self.verify(&cmd),
            0x24 => self.change_reference(&cmd),
            0x2C => self.reset_retry_counter(&cmd),
            0x87 => self.general_authenticate(&cmd, just_verified),
            0x47 => self.generate(&cmd),
            0xFD => ok(VERSION.to_vec()),
            0xF8 => ok(self.state.serial.to_be_bytes().to_vec()),
            0xF7 => self.metadata(&cmd),
            0xFF => self.set_management_key(&cmd),
            0xFA => self.set_pin_retries(&cmd),
            0xFB => self.factory_reset(),
            0xFE => self.import_key(&cmd),
            0xF9 => self.attest(&cmd),
            _ => Err(StatusWord::INS_NOT_SUPPORTED),
        }
    }

    fn persist(&mut self) -> Result<(), StatusWord> {
        match &self.store {
            Some(path) => self.state.save(path).map_err(|_| StatusWord(0x6581)),
            None => Ok(()),
        }
    }

    fn select(&mut self, cmd: &Command) -> Reply {
        if cmd.p1 != 0x04 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let aid = &cmd.data[..];
        if aid.len() >= 5 && PIV_AID.starts_with(aid) {
            self.session.selected = Selected::Piv;
            let mut apt = Vec::new();
            tlv::push(&mut apt, 0x4F, &PIV_AID[5..]);
            tlv::push(&mut apt, 0x79, &tlv::encode(0x4F, &PIV_AID[..5]));
            tlv::push(&mut apt, 0x50, b"Firma Virtual PIV");
            let mut algs = Vec::new();
            for a in [0x03, 0x08, 0x0A, 0x0C, 0x06, 0x07, 0x11, 0x14] {
                tlv::push(&mut algs, 0x80, &[a]);
            }
            tlv::push(&mut algs, 0x06, &[0x00]);
            tlv::push(&mut apt, 0xAC, &algs);
            return ok(tlv::encode(0x61, &apt));
        }
        if aid == YUBICO_MGMT_AID {
            self.session.selected = Selected::Other;
            self.session.clear_security();
            return ok(b"Firma virtual card 5.4.3".to_vec());
        }
        // A failed SELECT leaves the current selection as it was (ISO 7816-4).
        Err(StatusWord::FILE_NOT_FOUND)
    }

    /// The tag named by a `5C` tag list in GET DATA / PUT DATA.
    fn object_tag(data: &[u8]) -> Result<(u32, &[u8]), StatusWord> {
        let (t, rest) = Tlv::parse(data).map_err(|_| StatusWord::INCORRECT_DATA)?;
        if t.tag != 0x5C || t.value.is_empty() || t.value.len() > 3 {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let tag = t
            .value
            .iter()
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
        Ok((tag, rest))
    }

    fn valid_object(tag: u32) -> bool {
        matches!(tag, 0x5FC101..=0x5FC123 | 0x5FFF00..=0x5FFF15 | 0x7F61)
    }

    fn get_data(&mut self, cmd: &Command) -> Reply {
        if (cmd.p1, cmd.p2) != (0x3F, 0xFF) {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let (tag, _) = Self::object_tag(&cmd.data)?;
        if tag == 0x7E {
            // Discovery object: PIV AID and PIN usage policy (PIV PIN only).
            let mut v = tlv::encode(0x4F, &PIV_AID);
            tlv::push(&mut v, 0x5F2F, &[0x40, 0x00]);
            return ok(tlv::encode(0x7E, &v));
        }
        if !Self::valid_object(tag) {
            return Err(StatusWord::FILE_NOT_FOUND);
        }
        // Fingerprints, facial image, printed information and iris images
        // are readable only after the PIN (SP 800-73-4 table 2).
        if matches!(tag, 0x5FC103 | 0x5FC108 | 0x5FC109 | 0x5FC121) && !self.session.pin_verified {
            return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        match self.state.objects.get(&tag) {
            Some(v) => ok(v.clone()),
            None => Err(StatusWord::FILE_NOT_FOUND),
        }
    }

    fn put_data(&mut self, cmd: &Command) -> Reply {
        if (cmd.p1, cmd.p2) != (0x3F, 0xFF) {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        if !self.session.mgm_authenticated {
            return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        let (tag, rest) = Self::object_tag(&cmd.data)?;
        if !Self::valid_object(tag) {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let (obj, trailing) = Tlv::parse(rest).map_err(|_| StatusWord::INCORRECT_DATA)?;
        if obj.tag != 0x53 || !trailing.is_empty() {
            return Err(StatusWord::INCORRECT_DATA);
        }
        if rest.len() > MAX_OBJECT {
            return Err(StatusWord::NOT_ENOUGH_MEMORY);
        }
        if obj.value.is_empty() {
            self.state.objects.remove(&tag);
        } else {
            self.state.objects.insert(tag, rest.to_vec());
        }
        self.persist()?;
        ok_empty()
    }

    /// A PIN or PUK field: 8 bytes, 6–8 characters then `FF` padding.
    fn unpad(field: &[u8], min: usize) -> Result<&[u8], StatusWord> {
        if field.len() != 8 {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let len = field.iter().position(|&b| b == 0xFF).unwrap_or(8);
        if len < min || field[len..].iter().any(|&b| b != 0xFF) {
            return Err(StatusWord::INCORRECT_DATA);
        }
        Ok(&field[..len])
    }

    /// Checks a PIN or PUK against its reference, counting down on failure.
    fn check_reference(&mut self, reference: u8, given: &[u8]) -> Result<(), StatusWord> {
        let r = if reference == PIN_REF {
            &mut self.state.pin
        } else {
            &mut self.state.puk
        };
        if r.blocked() {
            return Err(StatusWord::AUTH_METHOD_BLOCKED);
        }
        let equal = given.len() == r.value.len()
            && given
                .iter()
                .zip(r.value.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if equal {
            // Write only when the counter changes: a successful VERIFY is
            // the most frequent command and needs no fsync.
            if r.tries_left != r.tries_total {
                r.tries_left = r.tries_total;
                self.persist()?;
            }
            Ok(())
        } else {
            r.tries_left -= 1;
            let left = r.tries_left;
            self.persist()?;
            Err(if left == 0 {
                StatusWord::AUTH_METHOD_BLOCKED
            } else {
                StatusWord::with_tries_left(left)
            })
        }
    }

    fn verify(&mut self, cmd: &Command) -> Reply {
        if cmd.p2 != PIN_REF {
            return Err(StatusWord::REFERENCE_NOT_FOUND);
        }
        match (cmd.p1, cmd.data.is_empty()) {
            (0xFF, true) if self.options.refuse_pin_reset => Err(StatusWord::INCORRECT_P1P2),
            // Reset the security status of the PIN.
            (0xFF, true) => {
                self.session.pin_verified = false;
                ok_empty()
            }
            (0x00, true) => {
                if self.session.pin_verified {
                    ok_empty()
                } else if self.state.pin.blocked() {
                    Err(StatusWord::AUTH_METHOD_BLOCKED)
                } else {
                    Err(StatusWord::with_tries_left(self.state.pin.tries_left))
                }
            }
            (0x00, false) => {
                let pin = Zeroizing::new(Self::unpad(&cmd.data, 6)?.to_vec());
                let result = self.check_reference(PIN_REF, &pin);
                self.session.pin_verified = result.is_ok();
                self.session.pin_just_verified = result.is_ok();
                result.map(|_| Zeroizing::new(Vec::new()))
            }
            _ => Err(StatusWord::INCORRECT_P1P2),
        }
    }

    fn change_reference(&mut self, cmd: &Command) -> Reply {
        if cmd.p1 != 0 || !matches!(cmd.p2, PIN_REF | PUK_REF) {
            return Err(StatusWord::REFERENCE_NOT_FOUND);
        }
        if cmd.data.len() != 16 {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let old = Self::unpad(&cmd.data[..8], 6)?;
        let new = Self::unpad(&cmd.data[8..], 6)?;
        let (old, new) = (Zeroizing::new(old.to_vec()), Zeroizing::new(new.to_vec()));
        self.check_reference(cmd.p2, &old)?;
        let r = if cmd.p2 == PIN_REF {
            &mut self.state.pin
        } else {
            &mut self.state.puk
        };
        r.value = new;
        if cmd.p2 == PIN_REF {
            self.session.pin_verified = true;
        }
        self.persist()?;
        ok_empty()
    }

    fn reset_retry_counter(&mut self, cmd: &Command) -> Reply {
        if cmd.p1 != 0 || cmd.p2 != PIN_REF {
            return Err(StatusWord::REFERENCE_NOT_FOUND);
        }
        if cmd.data.len() != 16 {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let puk = Zeroizing::new(Self::unpad(&cmd.data[..8], 6)?.to_vec());
        let new = Zeroizing::new(Self::unpad(&cmd.data[8..], 6)?.to_vec());
        self.check_reference(PUK_REF, &puk)?;
        self.state.pin.value = new;
        self.state.pin.tries_left = self.state.pin.tries_total;
        self.persist()?;
        ok_empty()
    }

    fn general_authenticate(&mut self, cmd: &Command, just_verified: bool) -> Reply {
        let (template, rest) = Tlv::parse(&cmd.data).map_err(|_| StatusWord::INCORRECT_DATA)?;
        if template.tag != 0x7C || !rest.is_empty() {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let mut items = [None::<&[u8]>; 6]; // tags 80..85
        for item in Tlv::iter(template.value) {
            let item = item.map_err(|_| StatusWord::INCORRECT_DATA)?;
            match item.tag {
                0x80..=0x85 => items[(item.tag - 0x80) as usize] = Some(item.value),
                _ => return Err(StatusWord::INCORRECT_DATA),
            }
        }
        if cmd.p2 == MGM_SLOT {
            return self.mgm_authenticate(cmd.p1, items);
        }
        self.key_operation(cmd.p1, cmd.p2, items, just_verified)
    }

    fn mgm_authenticate(&mut self, alg: u8, items: [Option<&[u8]>; 6]) -> Reply {
        let key = self.state.mgm.clone();
        if alg != key.algorithm().id() {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let block = key.algorithm().block_len();
        let pending = self.session.mgm_pending.take();
        self.session.mgm_authenticated = false;
        let random = || {
            let mut v = Zeroizing::new(vec![0u8; block]);
            rand::rngs::OsRng.fill_bytes(&mut v);
            v
        };
        let reply = |tag, value: &[u8]| ok(tlv::encode(0x7C, &tlv::encode(tag, value)));
        match items {
            // Step 1 of mutual authentication: we send an encrypted witness.
            [Some([]), None, None, ..] => {
                let witness = random();
                let sealed = key
                    .crypt(&witness, true)
                    .ok_or(StatusWord::INCORRECT_DATA)?;
                self.session.mgm_pending = Some(MgmPending::Witness(witness));
                reply(0x80, &sealed)
            }
            // Step 2: the host proves it decrypted the witness and challenges us.
            // (yubico-piv-tool omits the empty `82` that asks for the response.)
            [Some(witness), Some(challenge), None | Some([]), ..] if !witness.is_empty() => {
                match pending {
                    Some(MgmPending::Witness(expected)) if witness == &expected[..] => {
                        let answer = key
                            .crypt(challenge, true)
                            .ok_or(StatusWord::INCORRECT_DATA)?;
                        self.session.mgm_authenticated = true;
                        reply(0x82, &answer)
                    }
                    _ => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
                }
            }
            // External authentication, step 1: a challenge in the clear.
            [None, Some([]), None, ..] => {
                let challenge = random();
                self.session.mgm_pending = Some(MgmPending::Challenge(challenge.clone()));
                reply(0x81, &challenge)
            }
            // Step 2: the host's encryption of our challenge.
            [None, None, Some(response), ..] if !response.is_empty() => match pending {
                Some(MgmPending::Challenge(challenge)) => {
                    let expected = key
                        .crypt(&challenge, true)
                        .ok_or(StatusWord::INCORRECT_DATA)?;
                    if response == &expected[..] {
                        self.session.mgm_authenticated = true;
                        ok_empty()
                    } else {
                        Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED)
                    }
                }
                _ => Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED),
            },
            _ => Err(StatusWord::INCORRECT_DATA),
        }
    }

    fn key_operation(
        &mut self,
        alg: u8,
        slot: u8,
        items: [Option<&[u8]>; 6],
        just_verified: bool,
    ) -> Reply {
        let Some(k) = self.state.keys.get(&slot) else {
            return Err(if is_key_slot(slot) {
                StatusWord::INCORRECT_DATA
            } else {
                StatusWord::INCORRECT_P1P2
            });
        };
        if alg != k.key.algorithm() as u8 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let allowed = match k.pin_policy {
            PIN_NEVER => true,
            PIN_ALWAYS => self.session.pin_verified && just_verified,
            _ => self.session.pin_verified,
        };
        if !allowed {
            return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        let result = match items {
            [None, Some(input), Some([]), None, None, None] => k.key.sign_or_decrypt(input),
            [None, None, Some([]), None, None, Some(point)] => {
                k.key.ecdh(point).map(|z| z.to_vec())
            }
            _ => return Err(StatusWord::INCORRECT_DATA),
        };
        let out = Zeroizing::new(result.map_err(|_| StatusWord::INCORRECT_DATA)?);
        ok(tlv::encode(0x7C, &tlv::encode(0x82, &out)))
    }

    /// PIN and touch policies from an `AA` / `AB` template, resolved to the
    /// slot's default where the host asks for "default".
    fn policies(slot: u8, data: &[u8]) -> Result<(u8, u8), StatusWord> {
        let pin = match Tlv::find(data, 0xAA) {
            Some([p @ 0..=3]) => *p,
            Some(_) => return Err(StatusWord::INCORRECT_DATA),
            None => POLICY_DEFAULT,
        };
        let touch = match Tlv::find(data, 0xAB) {
            Some([t @ 0..=3]) => *t,
            Some(_) => return Err(StatusWord::INCORRECT_DATA),
            None => POLICY_DEFAULT,
        };
        let pin = match (pin, slot) {
            (POLICY_DEFAULT, 0x9C) => PIN_ALWAYS,
            (POLICY_DEFAULT, 0x9E) => PIN_NEVER,
            (POLICY_DEFAULT, _) => PIN_ONCE,
            (p, _) => p,
        };
        let touch = if touch == POLICY_DEFAULT {
            TOUCH_NEVER
        } else {
            touch
        };
        Ok((pin, touch))
    }

    fn generate(&mut self, cmd: &Command) -> Reply {
        if !self.session.mgm_authenticated {
            return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        if cmd.p1 != 0 || !is_key_slot(cmd.p2) {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let (t, _) = Tlv::parse(&cmd.data).map_err(|_| StatusWord::INCORRECT_DATA)?;
        if t.tag != 0xAC {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let alg = match Tlv::find(t.value, 0x80) {
            Some([a]) => KeyAlgorithm::try_from(*a).map_err(|_| StatusWord::INCORRECT_P1P2)?,
            _ => return Err(StatusWord::INCORRECT_DATA),
        };
        let (pin_policy, touch_policy) = Self::policies(cmd.p2, t.value)?;
        std::thread::sleep(self.options.keygen_delay);
        let key = PrivateKey::generate(alg);
        let public = tlv::encode(0x7F49, &key.public_template_content());
        self.state.keys.insert(
            cmd.p2,
            SlotKey {
                key,
                pin_policy,
                touch_policy,
                origin: ORIGIN_GENERATED,
            },
        );
        self.persist()?;
        ok(public)
    }

    fn import_key(&mut self, cmd: &Command) -> Reply {
        if !self.session.mgm_authenticated {
            return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        if !is_key_slot(cmd.p2) {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let alg = KeyAlgorithm::try_from(cmd.p1).map_err(|_| StatusWord::INCORRECT_P1P2)?;
        if Tlv::iter(&cmd.data).any(|t| t.is_err()) {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let key = PrivateKey::import(alg, &cmd.data).map_err(|_| StatusWord::INCORRECT_DATA)?;
        let (pin_policy, touch_policy) = Self::policies(cmd.p2, &cmd.data)?;
        self.state.keys.insert(
            cmd.p2,
            SlotKey {
                key,
                pin_policy,
                touch_policy,
                origin: ORIGIN_IMPORTED,
            },
        );
        self.persist()?;
        ok_empty()
    }

    fn metadata(&mut self, cmd: &Command) -> Reply {
        let mut out = Vec::new();
        match cmd.p2 {
            PIN_REF | PUK_REF => {
                let (r, default) = if cmd.p2 == PIN_REF {
                    (&self.state.pin, crate::state::DEFAULT_PIN)
                } else {
                    (&self.state.puk, crate::state::DEFAULT_PUK)
                };
                tlv::push(&mut out, 0x01, &[0xFF]);
                tlv::push(&mut out, 0x05, &[u8::from(&r.value[..] == default)]);
                tlv::push(&mut out, 0x06, &[r.tries_total, r.tries_left]);
            }
            MGM_SLOT => {
                tlv::push(&mut out, 0x01, &[self.state.mgm.algorithm().id()]);
                tlv::push(&mut out, 0x02, &[0x00, TOUCH_NEVER]);
                tlv::push(&mut out, 0x05, &[u8::from(self.state.mgm.is_default())]);
            }
            slot if is_key_slot(slot) => {
                let k = self
                    .state
                    .keys
                    .get(&slot)
                    .ok_or(StatusWord::REFERENCE_NOT_FOUND)?;
                tlv::push(&mut out, 0x01, &[k.key.algorithm() as u8]);
                tlv::push(&mut out, 0x02, &[k.pin_policy, k.touch_policy]);
                tlv::push(&mut out, 0x03, &[k.origin]);
                tlv::push(&mut out, 0x04, &k.key.public_template_content());
            }
            _ => return Err(StatusWord::INCORRECT_P1P2),
        }
        ok(out)
    }

    fn set_management_key(&mut self, cmd: &Command) -> Reply {
        if !self.session.mgm_authenticated {
            return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        if cmd.p1 != 0xFF || !matches!(cmd.p2, 0xFF | 0xFE) {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        match &cmd.data[..] {
            [alg, MGM_SLOT, len, key @ ..] if key.len() == usize::from(*len) => {
                let alg = MgmAlgorithm::from_id(*alg).ok_or(StatusWord::INCORRECT_DATA)?;
                self.state.mgm = MgmKey::new(alg, key).map_err(|_| StatusWord::INCORRECT_DATA)?;
                self.persist()?;
                ok_empty()
            }
            _ => Err(StatusWord::INCORRECT_DATA),
        }
    }

    fn set_pin_retries(&mut self, cmd: &Command) -> Reply {
        if !self.session.mgm_authenticated || !self.session.pin_verified {
            return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
        }
        if cmd.p1 == 0 || cmd.p2 == 0 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        // As on a YubiKey: PIN and PUK go back to their defaults.
        self.state.set_retries(cmd.p1, cmd.p2);
        self.session.pin_verified = false;
        self.persist()?;
        ok_empty()
    }

    fn factory_reset(&mut self) -> Reply {
        if !(self.state.pin.blocked() && self.state.puk.blocked()) {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        self.state.reset();
        self.session.clear_security();
        self.persist()?;
        ok_empty()
    }

    fn attest(&mut self, cmd: &Command) -> Reply {
        let slot = cmd.p1;
        let k = self
            .state
            .keys
            .get(&slot)
            .ok_or(StatusWord::REFERENCE_NOT_FOUND)?;
        if k.origin != ORIGIN_GENERATED {
            return Err(StatusWord::INCORRECT_DATA);
        }
        let issuer_obj = self
            .state
            .objects
            .get(&crate::state::ATTESTATION_CERT_TAG)
            .ok_or(StatusWord::FILE_NOT_FOUND)?;
        let issuer = Tlv::parse(issuer_obj)
            .ok()
            .and_then(|(t, _)| Tlv::find(t.value, 0x70))
            .ok_or(StatusWord::FILE_NOT_FOUND)?;
        let spki = k.key.spki_der();
        let what = crate::attest::Attested {
            slot,
            spki_der: &spki,
            serial: self.state.serial,
            version: VERSION,
            pin_policy: k.pin_policy,
            touch_policy: k.touch_policy,
        };
        let cert = crate::attest::attest(&self.state.attestation_key, issuer, &what)
            .ok_or(StatusWord::UNKNOWN_ERROR)?;
        ok(cert)
    }
}

/// Asymmetric key slots: 9A, 9C, 9D, 9E and the retired 82–95.
pub fn is_key_slot(slot: u8) -> bool {
    matches!(slot, 0x9A | 0x9C | 0x9D | 0x9E | 0x82..=0x95)
}

impl firma_apdu::transport::Transport for VirtualCard {
    fn transmit_raw(
        &mut self,
        apdu: &[u8],
    ) -> Result<Vec<u8>, firma_apdu::transport::TransportError> {
        Ok(self.process(apdu))
    }

    /// In process, every exchange is already exclusive.
    fn exclusive(
        &mut self,
        f: &mut dyn FnMut(
            &mut dyn firma_apdu::transport::Transport,
        ) -> Result<(), firma_apdu::Error>,
    ) -> Result<(), firma_apdu::Error> {
        f(self)
    }

    fn atr(&self) -> Option<Vec<u8>> {
        Some(ATR.to_vec())
    }
}
