//! Command APDUs (ISO 7816-4 §5.1): all four cases, short and extended length.

use thiserror::Error;
use zeroize::Zeroizing;

/// Why bytes are not a well-formed command APDU.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    /// Command APDU shorter than its 4-byte header.
    #[error("command APDU shorter than its 4-byte header")]
    TooShort,
    /// Command APDU length fields do not match its size.
    #[error("command APDU length fields do not match its size")]
    BadLength,
    /// Command data of … bytes is too long for an APDU.
    #[error("command data of {0} bytes is too long for an APDU")]
    DataTooLong(usize),
}

/// One command APDU. The data field is zeroized on drop because it may hold a
/// PIN, a PUK or a key, and `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// First parameter byte.
    pub p1: u8,
    /// Second parameter byte.
    pub p2: u8,
    /// Command data (wiped on drop: it may hold a PIN or a key).
    pub data: Zeroizing<Vec<u8>>,
    /// Expected response length: `None` when absent; 256 for a short `00`,
    /// 65536 for an extended `0000`.
    pub le: Option<usize>,
    /// Whether the APDU was (or is to be) sent with extended length fields.
    pub extended: bool,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Command {{ {:02X} {:02X} {:02X} {:02X}, data: {} bytes, le: {:?}{} }}",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            self.data.len(),
            self.le,
            if self.extended { ", extended" } else { "" }
        )
    }
}

impl Command {
    /// A command with this header, no data and no expected length.
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Self {
            cla,
            ins,
            p1,
            p2,
            data: Zeroizing::new(Vec::new()),
            le: None,
            extended: false,
        }
    }

    /// The command with `data` as its body.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = Zeroizing::new(data.into());
        self
    }

    /// The command expecting `le` bytes of answer (Le).
    pub fn with_le(mut self, le: usize) -> Self {
        self.le = Some(le);
        self
    }

    /// Whether bit 5 of CLA announces that more commands of a chain follow.
    pub fn is_chained(&self) -> bool {
        self.cla & 0x10 != 0
    }

    /// Decodes a command APDU as received by a card.
    pub fn parse(bytes: &[u8]) -> Result<Self, CommandError> {
        let (header, body) = bytes.split_at_checked(4).ok_or(CommandError::TooShort)?;
        let mut cmd = Self::new(header[0], header[1], header[2], header[3]);
        match body {
            // Case 1.
            [] => {}
            // Case 2 short.
            [le] => cmd.le = Some(short_le(*le)),
            // Extended: a zero byte then two length bytes.
            [0, b1, b2, rest @ ..] => {
                cmd.extended = true;
                let n = usize::from(u16::from_be_bytes([*b1, *b2]));
                if rest.is_empty() {
                    // Case 2 extended: the two bytes are Le.
                    cmd.le = Some(extended_le(n));
                } else {
                    if n == 0 || rest.len() < n {
                        return Err(CommandError::BadLength);
                    }
                    let (data, le) = rest.split_at(n);
                    cmd.data = Zeroizing::new(data.to_vec());
                    cmd.le = match le {
                        [] => None,
                        [h, l] => Some(extended_le(usize::from(u16::from_be_bytes([*h, *l])))),
                        _ => return Err(CommandError::BadLength),
                    };
                }
            }
            [lc, rest @ ..] => {
                let n = *lc as usize;
                if n == 0 || rest.len() < n {
                    return Err(CommandError::BadLength);
                }
                let (data, le) = rest.split_at(n);
                cmd.data = Zeroizing::new(data.to_vec());
                cmd.le = match le {
                    [] => None,
                    [le] => Some(short_le(*le)),
                    _ => return Err(CommandError::BadLength),
                };
            }
        }
        Ok(cmd)
    }

    /// Encodes the command, with extended length fields when `self.extended`
    /// is set or the data or Le does not fit a short APDU.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, CommandError> {
        let n = self.data.len();
        if n > 65535 {
            return Err(CommandError::DataTooLong(n));
        }
        let extended = self.extended || n > 255 || self.le.is_some_and(|le| le > 256);
        let mut out = Zeroizing::new(Vec::with_capacity(n + 9));
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        if n > 0 {
            if extended {
                out.extend_from_slice(&[0, (n >> 8) as u8, n as u8]);
            } else {
                out.push(n as u8);
            }
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            let le = le.min(if extended { 65536 } else { 256 });
            if extended {
                if n == 0 {
                    out.push(0);
                }
                out.extend_from_slice(&[(le >> 8) as u8, le as u8]);
            } else {
                out.push(le as u8);
            }
        }
        Ok(out)
    }
}

fn short_le(b: u8) -> usize {
    if b == 0 {
        256
    } else {
        b as usize
    }
}

fn extended_le(n: usize) -> usize {
    if n == 0 {
        65536
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_case() {
        let c = Command::parse(&[0, 0xA4, 4, 0]).unwrap();
        assert_eq!((c.data.len(), c.le), (0, None));
        let c = Command::parse(&[0, 0xCB, 0x3F, 0xFF, 0]).unwrap();
        assert_eq!(c.le, Some(256));
        let c = Command::parse(&[0, 0xA4, 4, 0, 2, 0xA0, 0]).unwrap();
        assert_eq!((&c.data[..], c.le), (&[0xA0, 0][..], None));
        let c = Command::parse(&[0, 0xA4, 4, 0, 2, 0xA0, 0, 0]).unwrap();
        assert_eq!(c.le, Some(256));
        let c = Command::parse(&[0, 0xCB, 0x3F, 0xFF, 0, 0, 0]).unwrap();
        assert_eq!((c.le, c.extended), (Some(65536), true));
        let c = Command::parse(&[0, 0x87, 7, 0x9A, 0, 0, 1, 0x55, 0, 0]).unwrap();
        assert_eq!(
            (&c.data[..], c.le, c.extended),
            (&[0x55][..], Some(65536), true)
        );
        assert_eq!(Command::parse(&[0, 1, 2]), Err(CommandError::TooShort));
        assert_eq!(
            Command::parse(&[0, 1, 2, 3, 5, 1]),
            Err(CommandError::BadLength)
        );
        assert_eq!(
            Command::parse(&[0, 1, 2, 3, 1, 1, 2, 3]),
            Err(CommandError::BadLength)
        );
    }

    #[test]
    fn debug_hides_data() {
        let c = Command::new(0, 0x20, 0, 0x80).with_data(b"123456\xff\xff".to_vec());
        assert!(!format!("{c:?}").contains("31"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Command::parse(&bytes);
        }

        #[test]
        fn encode_parse_round_trip(
            ins in any::<u8>(),
            data in proptest::collection::vec(any::<u8>(), 0..1000),
            le in proptest::option::of(1usize..=65536),
            extended in any::<bool>(),
        ) {
            let mut cmd = Command::new(0, ins, 1, 2).with_data(data);
            cmd.le = le;
            cmd.extended = extended;
            let bytes = cmd.to_bytes().unwrap();
            let back = Command::parse(&bytes).unwrap();
            prop_assert_eq!(&back.data, &cmd.data);
            let short = !back.extended;
            let expect_le = le.map(|l| if short { l.min(256) } else { l });
            prop_assert_eq!(back.le, expect_le);
        }
    }
}
