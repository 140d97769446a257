//! What the card says about itself (Yubico's GET VERSION, GET SERIAL and GET
//! METADATA), its random generator, and its reset to blank.

use zeroize::Zeroizing;

use super::{check, template_item, Metadata, MgmAlgorithm, Needs, Piv};
use crate::transport::Transport;
use crate::{Command, Error, StatusWord};

/// A Yubico firmware version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u8, pub u8, pub u8);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

impl<T: Transport> Piv<T> {
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
}
