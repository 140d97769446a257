//! What a card remembers across power cycles, and its file form for `--state`.
//!
//! The file is the card's non-volatile memory, so it holds the card's own
//! secrets; it is written with mode 0600 and replaced atomically (write to a
//! temporary file, fsync, rename) so a killed process never leaves half a card.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::keys::{KeyAlgorithm, PrivateKey};
use crate::mgmt::{MgmAlgorithm, MgmKey};

pub const DEFAULT_PIN: &[u8] = b"123456";
pub const DEFAULT_PUK: &[u8] = b"12345678";
pub const DEFAULT_TRIES: u8 = 3;

/// Where a key came from, as GET METADATA reports it.
pub const ORIGIN_GENERATED: u8 = 1;
pub const ORIGIN_IMPORTED: u8 = 2;

/// A PIN or PUK with its retry counter. The value is kept unpadded.
pub struct Reference {
    pub value: Zeroizing<Vec<u8>>,
    pub tries_total: u8,
    pub tries_left: u8,
}

impl Reference {
    fn new(value: &[u8]) -> Self {
        Self {
            value: Zeroizing::new(value.to_vec()),
            tries_total: DEFAULT_TRIES,
            tries_left: DEFAULT_TRIES,
        }
    }

    pub fn blocked(&self) -> bool {
        self.tries_left == 0
    }
}

pub struct SlotKey {
    pub key: PrivateKey,
    pub pin_policy: u8,
    pub touch_policy: u8,
    pub origin: u8,
}

pub struct CardState {
    pub serial: u32,
    pub pin: Reference,
    pub puk: Reference,
    pub mgm: MgmKey,
    /// Data objects by tag, each stored as the `53` TLV that PUT DATA wrote.
    pub objects: BTreeMap<u32, Vec<u8>>,
    pub keys: BTreeMap<u8, SlotKey>,
    pub attestation_key: p256::SecretKey,
}

pub const ATTESTATION_CERT_TAG: u32 = 0x5FFF01;

impl CardState {
    /// A blank card as it leaves the factory.
    pub fn blank(serial: u32) -> Self {
        let attestation_key = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let mut objects = BTreeMap::new();
        let cert = crate::attest::self_signed(&attestation_key, serial);
        objects.insert(
            ATTESTATION_CERT_TAG,
            firma_apdu::tlv::encode(0x53, &firma_apdu::tlv::encode(0x70, &cert)),
        );
        Self {
            serial,
            pin: Reference::new(DEFAULT_PIN),
            puk: Reference::new(DEFAULT_PUK),
            mgm: MgmKey::default_key(),
            objects,
            keys: BTreeMap::new(),
            attestation_key,
        }
    }

    /// Back to blank after the Yubico RESET: keys, objects, PIN, PUK and
    /// management key go; the serial and the attestation key stay.
    pub fn reset(&mut self) {
        let attestation = self.objects.remove(&ATTESTATION_CERT_TAG);
        self.objects.clear();
        self.objects
            .extend(attestation.map(|c| (ATTESTATION_CERT_TAG, c)));
        self.keys.clear();
        self.pin = Reference::new(DEFAULT_PIN);
        self.puk = Reference::new(DEFAULT_PUK);
        self.mgm = MgmKey::default_key();
    }

    pub fn set_retries(&mut self, pin_tries: u8, puk_tries: u8) {
        self.pin = Reference::new(DEFAULT_PIN);
        self.puk = Reference::new(DEFAULT_PUK);
        (self.pin.tries_total, self.pin.tries_left) = (pin_tries, pin_tries);
        (self.puk.tries_total, self.puk.tries_left) = (puk_tries, puk_tries);
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: StateFile = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a card state file: {e}", path.display()))?;
        file.into_state()
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let json = Zeroizing::new(serde_json::to_vec_pretty(&StateFile::from_state(self))?);
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// The JSON form of the card; byte strings are hex.
#[derive(Serialize, Deserialize)]
struct StateFile {
    format: u32,
    serial: u32,
    pin: RefFile,
    puk: RefFile,
    mgm_alg: u8,
    mgm_key: String,
    objects: BTreeMap<String, String>,
    keys: BTreeMap<String, KeyFile>,
    attestation_key: String,
}

#[derive(Serialize, Deserialize)]
struct RefFile {
    value: String,
    tries_total: u8,
    tries_left: u8,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    alg: u8,
    pkcs8: String,
    pin_policy: u8,
    touch_policy: u8,
    origin: u8,
}

impl Drop for StateFile {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.pin.value.zeroize();
        self.puk.value.zeroize();
        self.mgm_key.zeroize();
        self.attestation_key.zeroize();
        for k in self.keys.values_mut() {
            k.pkcs8.zeroize();
        }
    }
}

fn unhex(s: &str, what: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    hex::decode(s)
        .map(Zeroizing::new)
        .map_err(|_| format!("{what} is not hex"))
}

impl StateFile {
    fn from_state(s: &CardState) -> Self {
        let r = |r: &Reference| RefFile {
            value: hex::encode(&r.value[..]),
            tries_total: r.tries_total,
            tries_left: r.tries_left,
        };
        Self {
            format: 1,
            serial: s.serial,
            pin: r(&s.pin),
            puk: r(&s.puk),
            mgm_alg: s.mgm.algorithm().id(),
            mgm_key: hex::encode(s.mgm.key_bytes()),
            objects: s
                .objects
                .iter()
                .map(|(t, v)| (format!("{t:X}"), hex::encode(v)))
                .collect(),
            keys: s
                .keys
                .iter()
                .map(|(slot, k)| {
                    let file = KeyFile {
                        alg: k.key.algorithm() as u8,
                        pkcs8: hex::encode(&k.key.to_pkcs8()[..]),
                        pin_policy: k.pin_policy,
                        touch_policy: k.touch_policy,
                        origin: k.origin,
                    };
                    (format!("{slot:02X}"), file)
                })
                .collect(),
            attestation_key: hex::encode(&s.attestation_key.to_bytes()[..]),
        }
    }

    fn into_state(self) -> Result<CardState, String> {
        if self.format != 1 {
            return Err(format!("state format {} not supported", self.format));
        }
        let r = |f: &RefFile, what| -> Result<Reference, String> {
            Ok(Reference {
                value: unhex(&f.value, what)?,
                tries_total: f.tries_total,
                tries_left: f.tries_left,
            })
        };
        let alg = MgmAlgorithm::from_id(self.mgm_alg).ok_or("unknown management key algorithm")?;
        let mgm = MgmKey::new(alg, &unhex(&self.mgm_key, "management key")?)
            .map_err(|_| "management key has the wrong length for its algorithm".to_string())?;
        let mut objects = BTreeMap::new();
        for (tag, value) in &self.objects {
            let tag = u32::from_str_radix(tag, 16)
                .map_err(|_| format!("object tag {tag:?} is not hex"))?;
            objects.insert(tag, unhex(value, "object")?.to_vec());
        }
        let mut keys = BTreeMap::new();
        for (slot, k) in &self.keys {
            let slot =
                u8::from_str_radix(slot, 16).map_err(|_| format!("slot {slot:?} is not hex"))?;
            let alg = KeyAlgorithm::try_from(k.alg)
                .map_err(|_| format!("slot {slot:02X}: bad algorithm"))?;
            let key = PrivateKey::from_pkcs8(alg, &unhex(&k.pkcs8, "key")?)
                .map_err(|_| format!("slot {slot:02X}: bad key"))?;
            keys.insert(
                slot,
                SlotKey {
                    key,
                    pin_policy: k.pin_policy,
                    touch_policy: k.touch_policy,
                    origin: k.origin,
                },
            );
        }
        let attestation_key =
            p256::SecretKey::from_slice(&unhex(&self.attestation_key, "attestation key")?)
                .map_err(|_| "bad attestation key".to_string())?;
        Ok(CardState {
            serial: self.serial,
            pin: r(&self.pin, "PIN")?,
            puk: r(&self.puk, "PUK")?,
            mgm,
            objects,
            keys,
            attestation_key,
        })
    }
}
