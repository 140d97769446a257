//! BER-TLV as used by ISO 7816-4 and PIV: tags of one to three bytes,
//! definite lengths of up to three length bytes.

use thiserror::Error;

/// Why a byte string is not well-formed BER-TLV.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TlvError {
    /// TLV truncated: ….
    #[error("TLV truncated: {0}")]
    Truncated(&'static str),
    /// TLV tag longer than three bytes.
    #[error("TLV tag longer than three bytes")]
    TagTooLong,
    /// TLV length form 0x… not supported.
    #[error("TLV length form 0x{0:02X} not supported")]
    BadLength(u8),
}

/// One decoded data object, borrowing its value from the input.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag with its class and constructed bits, e.g. `0x7F49` or `0x5FC105`.
    pub tag: u32,
    /// The value bytes.
    pub value: &'a [u8],
}

impl std::fmt::Debug for Tlv<'_> {
    // Values may hold secrets (a PIN inside a template): show only their size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tlv({:X}, {} bytes)", self.tag, self.value.len())
    }
}

impl<'a> Tlv<'a> {
    /// Decodes the first data object of `input`, returning it and the bytes after it.
    pub fn parse(input: &'a [u8]) -> Result<(Tlv<'a>, &'a [u8]), TlvError> {
        let (tag, rest) = parse_tag(input)?;
        let (len, rest) = parse_length(rest)?;
        if rest.len() < len {
            return Err(TlvError::Truncated("value shorter than its length"));
        }
        let (value, rest) = rest.split_at(len);
        Ok((Tlv { tag, value }, rest))
    }

    /// Iterates over the data objects that follow each other in `input`.
    pub fn iter(input: &'a [u8]) -> TlvIter<'a> {
        TlvIter { rest: input }
    }

    /// The value of the first top-level object with `tag`, if `input` is well formed up to it.
    pub fn find(input: &'a [u8], tag: u32) -> Option<&'a [u8]> {
        Self::iter(input)
            .map_while(Result::ok)
            .find(|t| t.tag == tag)
            .map(|t| t.value)
    }

    /// Whether the tag marks a constructed object (its value is itself TLV).
    pub fn is_constructed(&self) -> bool {
        let first = tag_bytes(self.tag)[0];
        first & 0x20 != 0
    }
}

/// Iterator over consecutive data objects; yields one error and then stops.
pub struct TlvIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Result<Tlv<'a>, TlvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match Tlv::parse(self.rest) {
            Ok((tlv, rest)) => {
                self.rest = rest;
                Some(Ok(tlv))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

fn parse_tag(input: &[u8]) -> Result<(u32, &[u8]), TlvError> {
    let (&first, mut rest) = input.split_first().ok_or(TlvError::Truncated("no tag"))?;
    let mut tag = u32::from(first);
    if first & 0x1F == 0x1F {
        // Subsequent bytes follow while their top bit is set.
        for i in 0.. {
            let (&b, r) = rest.split_first().ok_or(TlvError::Truncated("tag"))?;
            rest = r;
            tag = (tag << 8) | u32::from(b);
            if b & 0x80 == 0 {
                break;
            }
            if i == 1 {
                return Err(TlvError::TagTooLong);
            }
        }
    }
    Ok((tag, rest))
}

fn parse_length(input: &[u8]) -> Result<(usize, &[u8]), TlvError> {
    let (&first, rest) = input
        .split_first()
        .ok_or(TlvError::Truncated("no length"))?;
    match first {
        0x00..=0x7F => Ok((first as usize, rest)),
        0x81..=0x83 => {
            let n = (first & 0x7F) as usize;
            if rest.len() < n {
                return Err(TlvError::Truncated("length"));
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | b as usize);
            Ok((len, &rest[n..]))
        }
        _ => Err(TlvError::BadLength(first)),
    }
}

/// The bytes of a tag, without leading zero bytes.
pub fn tag_bytes(tag: u32) -> Vec<u8> {
    let bytes = tag.to_be_bytes();
    let skip = bytes.iter().take(3).take_while(|&&b| b == 0).count();
    bytes[skip..].to_vec()
}

/// Appends a definite length in its shortest form.
pub fn push_length(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xFFFF => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        _ => out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
    }
}

/// Appends one data object.
pub fn push(out: &mut Vec<u8>, tag: u32, value: &[u8]) {
    out.extend_from_slice(&tag_bytes(tag));
    push_length(out, value.len());
    out.extend_from_slice(value);
}

/// Encodes one data object.
pub fn encode(tag: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    push(&mut out, tag, value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_multibyte_tags_and_long_lengths() {
        let mut data = vec![0x5F, 0xC1, 0x05, 0x82, 0x01, 0x00];
        data.extend(std::iter::repeat_n(0xAB, 256));
        data.extend_from_slice(&[0x7F, 0x49, 0x00]);
        let items: Vec<_> = Tlv::iter(&data).collect::<Result<_, _>>().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].tag, 0x5FC105);
        assert_eq!(items[0].value.len(), 256);
        assert_eq!(items[1].tag, 0x7F49);
        assert!(items[1].is_constructed());
        assert_eq!(Tlv::find(&data, 0x7F49), Some(&[][..]));
    }

    #[test]
    fn rejects_malformed_input() {
        assert_eq!(Tlv::parse(&[]).unwrap_err(), TlvError::Truncated("no tag"));
        assert_eq!(
            Tlv::parse(&[0x53, 0x05, 1, 2]).unwrap_err(),
            TlvError::Truncated("value shorter than its length")
        );
        assert_eq!(
            Tlv::parse(&[0x53, 0x84, 0, 0, 0, 1]).unwrap_err(),
            TlvError::BadLength(0x84)
        );
        assert_eq!(
            Tlv::parse(&[0x5F, 0xC1, 0x85, 0x81, 0x01]).unwrap_err(),
            TlvError::TagTooLong
        );
        assert_eq!(
            Tlv::parse(&[0x53, 0x82, 0x01]).unwrap_err(),
            TlvError::Truncated("length")
        );
    }

    proptest! {
        #[test]
        fn parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            for t in Tlv::iter(&data).flatten() {
                prop_assert!(t.value.len() <= data.len());
            }
        }

        #[test]
        fn encode_then_parse_round_trips(
            tag in prop_oneof![0x01u32..0x1E, 0x5F00u32..0x5F7F, Just(0x5FC105u32), Just(0x7F49u32)],
            value in proptest::collection::vec(any::<u8>(), 0..70000),
        ) {
            let bytes = encode(tag, &value);
            let (tlv, rest) = Tlv::parse(&bytes).unwrap();
            prop_assert_eq!(tlv.tag, tag);
            prop_assert_eq!(tlv.value, &value[..]);
            prop_assert!(rest.is_empty());
        }
    }
}
