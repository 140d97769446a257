//! Data objects: GET DATA and PUT DATA, and the certificate objects and
//! Discovery object read and written through them.

use zeroize::Zeroizing;

use super::{check, container, Needs, ObjectId, Piv, Slot};
use crate::tlv::{self, Tlv};
use crate::transport::Transport;
use crate::{Command, Error, StatusWord};

impl<T: Transport> Piv<T> {
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
}
