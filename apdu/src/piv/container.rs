//! The contents of PIV data objects: certificate containers (with the gzip
//! flag), CHUID, CCC and the discovery object. Parsers take untrusted bytes.

use std::io::Read;

use crate::tlv::{self, Tlv};
use crate::Error;

/// Decompressed certificates larger than this are refused (a gzip bomb
/// must not exhaust memory; real certificates are a few kilobytes).
pub const MAX_CERTIFICATE: usize = 64 * 1024;

/// Builds the `53` value of a certificate object: `70` certificate, `71`
/// certinfo (`01` when gzip-compressed), `FE` error detection code.
pub fn certificate_object(der: &[u8], compress: bool) -> Vec<u8> {
    let (body, info) = if compress {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, der).expect("writing to memory");
        (gz.finish().expect("writing to memory"), 0x01)
    } else {
        (der.to_vec(), 0x00)
    };
    let mut out = tlv::encode(0x70, &body);
    tlv::push(&mut out, 0x71, &[info]);
    tlv::push(&mut out, 0xFE, &[]);
    out
}

/// The DER certificate inside a certificate object's `53` value.
pub fn parse_certificate_object(value: &[u8]) -> Result<Vec<u8>, Error> {
    let body = Tlv::find(value, 0x70).ok_or(Error::Malformed("certificate object (no 70)"))?;
    let compressed = matches!(Tlv::find(value, 0x71), Some([info, ..]) if info & 0x01 != 0);
    if !compressed {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(MAX_CERTIFICATE as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| Error::Malformed("certificate object (bad gzip)"))?;
    if out.len() > MAX_CERTIFICATE {
        return Err(Error::Malformed(
            "certificate object (too large once decompressed)",
        ));
    }
    Ok(out)
}

/// A Card Holder Unique Identifier for a card without a FASC-N of its own,
/// as yubico-piv-tool writes it: the "no FASC-N" value, a GUID, an
/// expiration date and an empty signature.
pub fn chuid(guid: &[u8; 16], expires_yyyymmdd: &str) -> Vec<u8> {
    const FASCN: [u8; 25] = [
        0xD4, 0xE7, 0x39, 0xDA, 0x73, 0x9C, 0xED, 0x39, 0xCE, 0x73, 0x9D, 0x83, 0x68, 0x58, 0x21,
        0x08, 0x42, 0x10, 0x84, 0x21, 0xC8, 0x42, 0x10, 0xC3, 0xEB,
    ];
    let mut out = tlv::encode(0x30, &FASCN);
    tlv::push(&mut out, 0x34, guid);
    tlv::push(&mut out, 0x35, expires_yyyymmdd.as_bytes());
    tlv::push(&mut out, 0x3E, &[]);
    tlv::push(&mut out, 0xFE, &[]);
    out
}

/// The GUID of a CHUID value.
pub fn chuid_guid(value: &[u8]) -> Option<[u8; 16]> {
    Tlv::find(value, 0x34).and_then(|g| g.try_into().ok())
}

/// A Card Capability Container with a unique card identifier.
pub fn ccc(card_id: &[u8; 14]) -> Vec<u8> {
    let mut id = vec![0xA0, 0x00, 0x00, 0x01, 0x16, 0xFF, 0x02];
    id.extend_from_slice(card_id);
    let mut out = tlv::encode(0xF0, &id);
    for (tag, value) in [
        (0xF1, &[0x21][..]),
        (0xF2, &[0x21]),
        (0xF3, &[]),
        (0xF4, &[0x00]),
        (0xF5, &[0x10]),
        (0xF6, &[]),
        (0xF7, &[]),
        (0xFA, &[]),
        (0xFB, &[]),
        (0xFC, &[]),
        (0xFD, &[]),
        (0xFE, &[]),
    ] {
        tlv::push(&mut out, tag, value);
    }
    out
}

/// What the discovery object says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The application identifier (AID) of the PIV application.
    pub aid: Vec<u8>,
    /// The PIN usage policy's first byte: bit 0x40 = PIV PIN, 0x20 = global PIN.
    pub pin_policy: Option<[u8; 2]>,
}

/// Parses the Discovery object (7E): the AID and the PIN usage policy.
pub fn parse_discovery(answer: &[u8]) -> Result<Discovery, Error> {
    let inner = Tlv::find(answer, 0x7E).ok_or(Error::Malformed("discovery object"))?;
    let aid = Tlv::find(inner, 0x4F).ok_or(Error::Malformed("discovery object (no AID)"))?;
    let pin_policy = Tlv::find(inner, 0x5F2F).and_then(|p| p.try_into().ok());
    Ok(Discovery {
        aid: aid.to_vec(),
        pin_policy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn certificate_round_trips_plain_and_compressed() {
        let der: Vec<u8> = (0..1500u32).map(|i| (i % 7) as u8).collect();
        for compress in [false, true] {
            let obj = certificate_object(&der, compress);
            assert_eq!(parse_certificate_object(&obj).unwrap(), der);
        }
        assert!(
            certificate_object(&der, true).len() < 200,
            "compression works"
        );
    }

    #[test]
    fn gzip_bomb_is_refused() {
        let big = vec![0u8; MAX_CERTIFICATE * 4];
        let obj = certificate_object(&big, true);
        assert!(matches!(
            parse_certificate_object(&obj),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn chuid_and_ccc_are_well_formed() {
        let c = chuid(&[7; 16], "20301231");
        assert_eq!(chuid_guid(&c), Some([7; 16]));
        assert!(Tlv::iter(&ccc(&[1; 14])).all(|t| t.is_ok()));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_certificate_object(&data);
            let _ = parse_discovery(&data);
            let _ = chuid_guid(&data);
        }
    }
}
