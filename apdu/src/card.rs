//! Card access by what a citizen's card is for, whatever its card profile.
//!
//! What the station does after issuance (PIN change and unblock), the
//! citizen's card manager and the PKCS#11 module need from a card is the
//! same: three keys by purpose (log in, sign, decrypt or agree), their
//! certificates, and a PIN with its PUK. [`CitizenCard`] is that contract,
//! in the way `native-pkcs11-traits` separates a PKCS#11 front from its
//! backend; [`Piv`] implements it with the design's slot table (9A, 9C,
//! 9D). A second profile (an OpenPGP card, PKCS#15) implements the same
//! trait and its callers do not change. Personalization at the PRU (keys
//! generated, management key, retry counters) stays profile-specific.

use zeroize::Zeroizing;

use crate::piv::{Algorithm, Pin, PinStatus, Piv, Puk, Slot};
use crate::transport::Transport;
use crate::Error;

/// What a key on a citizen's card is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyRole {
    /// Logging in to web sites (TLS client authentication).
    Authentication,
    /// Qualified electronic signature: the PIN before every use.
    Signature,
    /// Decryption and key agreement.
    Encryption,
}

impl KeyRole {
    /// The three roles, in the order the card profile lists them.
    pub const ALL: [KeyRole; 3] = [
        KeyRole::Authentication,
        KeyRole::Signature,
        KeyRole::Encryption,
    ];
}

/// A citizen's card, by what its keys are for.
pub trait CitizenCard {
    /// Selects the card's application (after insertion or a reset).
    fn open(&mut self) -> Result<(), Error>;
    /// The card's serial number.
    fn serial(&mut self) -> Result<u32, Error>;
    /// The PIN's state, without spending a try.
    fn pin_status(&mut self) -> Result<PinStatus, Error>;
    /// The PUK's state, without spending a try; `None` when the card
    /// cannot tell (PIV has no way to ask but Yubico's GET METADATA).
    fn puk_status(&mut self) -> Result<Option<PinStatus>, Error>;
    /// Verifies the PIN; a wrong PIN says how many tries are left.
    fn verify_pin(&mut self, pin: &Pin) -> Result<(), Error>;
    /// Leaves the card with the PIN not verified.
    fn forget_pin(&mut self) -> Result<(), Error>;
    /// Changes the PIN, given the current one.
    fn change_pin(&mut self, old: &Pin, new: &Pin) -> Result<(), Error>;
    /// Sets a new PIN with the PUK (also when the PIN is blocked).
    fn unblock_pin(&mut self, puk: &Puk, new: &Pin) -> Result<(), Error>;
    /// The DER certificate of the key for `role`, `None` when there is none.
    fn certificate(&mut self, role: KeyRole) -> Result<Option<Vec<u8>>, Error>;
    /// Whether the key for `role` wants the PIN verified right before each
    /// use (the qualified signature key).
    fn pin_before_each_use(&self, role: KeyRole) -> bool;
    /// The private-key operation of `role`'s key: for RSA the raw operation
    /// on a block as long as the modulus, for EC an ECDSA signature (DER) of
    /// a hash.
    fn private_operation(
        &mut self,
        role: KeyRole,
        algorithm: Algorithm,
        input: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error>;
    /// ECDH with `role`'s key and a peer's uncompressed point: the shared
    /// secret's x coordinate.
    fn key_agreement(
        &mut self,
        role: KeyRole,
        algorithm: Algorithm,
        peer_point: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error>;
}

/// The PUK's key reference (SP 800-73-4 Table 4: 81, PIN Unblocking Key).
const PUK_REFERENCE: u8 = 0x81;

/// The PIV slot of each role (the design's card profile).
pub fn piv_slot(role: KeyRole) -> Slot {
    match role {
        KeyRole::Authentication => Slot::Authentication,
        KeyRole::Signature => Slot::Signature,
        KeyRole::Encryption => Slot::KeyManagement,
    }
}

impl<T: Transport> CitizenCard for Piv<T> {
    fn open(&mut self) -> Result<(), Error> {
        self.select().map(drop)
    }

    fn serial(&mut self) -> Result<u32, Error> {
        Piv::serial(self)
    }

    fn pin_status(&mut self) -> Result<PinStatus, Error> {
        Piv::pin_status(self)
    }

    fn puk_status(&mut self) -> Result<Option<PinStatus>, Error> {
        match self.metadata(PUK_REFERENCE) {
            Ok(Some(m)) => Ok(m.retries.map(|(_, left)| match left {
                0 => PinStatus::Blocked,
                n => PinStatus::TriesLeft(n),
            })),
            Ok(None) | Err(Error::NotSupportedByCard(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn verify_pin(&mut self, pin: &Pin) -> Result<(), Error> {
        Piv::verify_pin(self, pin)
    }

    fn forget_pin(&mut self) -> Result<(), Error> {
        self.unverify_pin()
    }

    fn change_pin(&mut self, old: &Pin, new: &Pin) -> Result<(), Error> {
        Piv::change_pin(self, old, new)
    }

    fn unblock_pin(&mut self, puk: &Puk, new: &Pin) -> Result<(), Error> {
        Piv::unblock_pin(self, puk, new)
    }

    fn certificate(&mut self, role: KeyRole) -> Result<Option<Vec<u8>>, Error> {
        self.read_certificate(piv_slot(role))
    }

    fn pin_before_each_use(&self, role: KeyRole) -> bool {
        role == KeyRole::Signature
    }

    fn private_operation(
        &mut self,
        role: KeyRole,
        algorithm: Algorithm,
        input: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        Piv::private_operation(self, piv_slot(role), algorithm, input)
    }

    fn key_agreement(
        &mut self,
        role: KeyRole,
        algorithm: Algorithm,
        peer_point: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.ecdh(piv_slot(role), algorithm, peer_point)
    }
}

/// The card behind `transport` as a citizen's card, its application
/// selected. PIV is the one profile today; another would be recognized here
/// (by its application identifier) and its callers would not change.
pub fn open<'t, T: Transport + 't>(transport: T) -> Result<Box<dyn CitizenCard + 't>, Error> {
    let mut piv = Piv::new(transport);
    piv.select()?;
    Ok(Box::new(piv))
}
