//! The keys' operations: generation, import, the private-key operation
//! (signature, RSA decryption), ECDH and attestation.

use zeroize::Zeroizing;

use super::{check, template_item, Algorithm, Needs, PinPolicy, Piv, PublicKey, Slot, TouchPolicy};
use crate::tlv;
use crate::transport::Transport;
use crate::{Command, Error, StatusWord};

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

impl<T: Transport> Piv<T> {
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
