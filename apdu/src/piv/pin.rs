//! PIN and PUK values: checked before anything is sent (a wrong-length PIN
//! is an error, not a wasted try), padded with FF, zeroized on drop.

use std::fmt;

use zeroize::Zeroizing;

use crate::Error;

/// The blank-card default PIN.
pub const DEFAULT_PIN: &str = "123456";
/// The blank-card default PUK.
pub const DEFAULT_PUK: &str = "12345678";

/// A PIN or PUK: 6 to 8 printable ASCII characters.
#[derive(Clone)]
pub struct Secret {
    padded: Zeroizing<[u8; 8]>,
}

/// The application PIN (reference 80).
pub type Pin = Secret;
/// The PIN unblocking key (reference 81).
pub type Puk = Secret;

impl Secret {
    /// A PIN or PUK of 6 to 8 bytes, padded with FF to 8 as PIV wants; fails on other lengths.
    pub fn new(value: impl AsRef<[u8]>) -> Result<Self, Error> {
        let value = value.as_ref();
        if !(6..=8).contains(&value.len()) {
            return Err(Error::InvalidInput {
                what: "PIN or PUK",
                why: "it must have 6 to 8 characters",
            });
        }
        if !value.iter().all(|b| (0x20..0x7F).contains(b)) {
            return Err(Error::InvalidInput {
                what: "PIN or PUK",
                why: "it may only hold printable ASCII characters",
            });
        }
        let mut padded = Zeroizing::new([0xFF; 8]);
        padded[..value.len()].copy_from_slice(value);
        Ok(Self { padded })
    }

    /// The 8-byte field that goes to the card.
    pub fn padded(&self) -> &[u8; 8] {
        &self.padded
    }

    /// The characters, without padding.
    pub fn as_bytes(&self) -> &[u8] {
        let len = self.padded.iter().position(|&b| b == 0xFF).unwrap_or(8);
        &self.padded[..len]
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        // Constant time: no early exit on the first differing byte.
        self.padded
            .iter()
            .zip(other.padded.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_length_and_characters_and_hides_itself() {
        assert!(Secret::new("12345").is_err());
        assert!(Secret::new("123456789").is_err());
        assert!(Secret::new(b"12345\xFF").is_err());
        let pin = Secret::new("123456").unwrap();
        assert_eq!(pin.padded(), b"123456\xFF\xFF");
        assert_eq!(pin.as_bytes(), b"123456");
        assert!(!format!("{pin:?}").contains("123"));
        assert_eq!(Secret::new("abcdefgh").unwrap().padded(), b"abcdefgh");
    }
}
