//! The card's identity objects and key pairs: CHUID and CCC written, keys
//! generated, and the public keys the journal keeps for a resumed run.

use der::{Decode, Encode};
use firma_apdu::piv::{PublicKey, TouchPolicy};
use firma_apdu::Error as CardError;
use spki::SubjectPublicKeyInfoOwned;
use time::OffsetDateTime;

use crate::csr;
use crate::error::StationError;
use crate::profile::Profile;
use crate::registry::RegistryError;

use super::{index, Card, Run, Step};

impl Run<'_> {
    /// Writes a fresh CHUID (GUID, expiry) and CCC.
    pub(super) fn chuid_ccc(&mut self, card: &mut Card<'_>) -> Result<bool, StationError> {
        let step = Step::ChuidCcc;
        let on_card = |e: CardError| StationError::card(step, e);
        if self.done_before(step)?.is_some() {
            return Ok(true);
        }
        let guid: [u8; 16] = rand::random();
        let card_id: [u8; 14] = rand::random();
        let expiry = (OffsetDateTime::now_utc() + time::Duration::days(3 * 365 + 1)).date();
        let expiry = format!(
            "{:04}{:02}{:02}",
            expiry.year(),
            u8::from(expiry.month()),
            expiry.day()
        );
        card.write_object(
            firma_apdu::piv::ObjectId::CHUID,
            &firma_apdu::piv::container::chuid(&guid, &expiry),
        )
        .map_err(on_card)?;
        card.write_object(
            firma_apdu::piv::ObjectId::CCC,
            &firma_apdu::piv::container::ccc(&card_id),
        )
        .map_err(on_card)?;
        self.record(step, format!("CHUID GUID {}", hex::encode_upper(guid)), &[])?;
        Ok(false)
    }

    /// Generates the key pair of `p`'s slot, or takes it from the journal.
    pub(super) fn generate(
        &mut self,
        card: &mut Card<'_>,
        p: Profile,
    ) -> Result<bool, StationError> {
        let step = Step::Generate(p);
        let on_card = |e: CardError| StationError::card(step, e);
        if let Some(e) = self.done_before(step)? {
            self.keys[index(p)] = Some(decode_key(&e.data)?);
            return Ok(true);
        }
        let key = card
            .generate(
                p.slot(),
                self.station.config.algorithm,
                p.pin_policy(),
                TouchPolicy::Never,
            )
            .map_err(on_card)?;
        self.record(step, encode_key(&key)?, &[])?;
        self.keys[index(p)] = Some(key);
        Ok(false)
    }
}

/// Public keys go to the journal as hex SPKI DER (public data only).
pub(super) fn encode_key(key: &PublicKey) -> Result<String, StationError> {
    let unusable = |e: String| StationError::UnusableCardKey(e);
    let spki = csr::spki(key).map_err(|e| unusable(e.to_string()))?;
    let der = spki.to_der().map_err(|e| unusable(e.to_string()))?;
    Ok(hex::encode(der))
}

pub(super) fn decode_key(data: &str) -> Result<PublicKey, StationError> {
    let bad = |why: String| RegistryError::Corrupt(format!("a public key in the journal ({why})"));
    let der = hex::decode(data).map_err(|e| bad(e.to_string()))?;
    let spki = SubjectPublicKeyInfoOwned::from_der(&der).map_err(|e| bad(e.to_string()))?;
    Ok(csr::public_key(&spki).map_err(|e| bad(e.to_string()))?)
}

/// The public key of a card slot as the journal records it, for tests.
pub fn journal_key(data: &str) -> Option<PublicKey> {
    decode_key(data).ok()
}
