//! ISO 7816-4 status words.

use std::fmt;

/// The two trailing bytes of every response APDU.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// 9000: normal processing.
    pub const SUCCESS: Self = Self(0x9000);
    /// 63 00: verification failed (63 Cx gives tries left).
    pub const VERIFICATION_FAILED: Self = Self(0x6300);
    /// 67 00: wrong length.
    pub const WRONG_LENGTH: Self = Self(0x6700);
    /// 68 83: last command of a chain expected.
    pub const LAST_COMMAND_OF_CHAIN_EXPECTED: Self = Self(0x6883);
    /// 69 82: security status not satisfied (PIN or key needed).
    pub const SECURITY_STATUS_NOT_SATISFIED: Self = Self(0x6982);
    /// 69 83: authentication method blocked.
    pub const AUTH_METHOD_BLOCKED: Self = Self(0x6983);
    /// 69 85: conditions of use not satisfied.
    pub const CONDITIONS_NOT_SATISFIED: Self = Self(0x6985);
    /// 6A 80: incorrect data.
    pub const INCORRECT_DATA: Self = Self(0x6A80);
    /// 6A 81: function not supported.
    pub const FUNCTION_NOT_SUPPORTED: Self = Self(0x6A81);
    /// 6A 82: file or application not found.
    pub const FILE_NOT_FOUND: Self = Self(0x6A82);
    /// 6A 84: not enough memory.
    pub const NOT_ENOUGH_MEMORY: Self = Self(0x6A84);
    /// 6A 86: incorrect P1 P2.
    pub const INCORRECT_P1P2: Self = Self(0x6A86);
    /// 6A 88: referenced data not found.
    pub const REFERENCE_NOT_FOUND: Self = Self(0x6A88);
    /// 6D 00: instruction not supported.
    pub const INS_NOT_SUPPORTED: Self = Self(0x6D00);
    /// 6E 00: class not supported.
    pub const CLA_NOT_SUPPORTED: Self = Self(0x6E00);
    /// 6F 00: no precise diagnosis.
    pub const UNKNOWN_ERROR: Self = Self(0x6F00);

    /// The status word of SW1 SW2.
    pub fn from_bytes(sw1: u8, sw2: u8) -> Self {
        Self(u16::from_be_bytes([sw1, sw2]))
    }

    /// SW1 SW2.
    pub fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// The first byte.
    pub fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }

    /// The second byte.
    pub fn sw2(self) -> u8 {
        self.0 as u8
    }

    /// Whether it is 9000.
    pub fn is_success(self) -> bool {
        self == Self::SUCCESS
    }

    /// `61xx`: more response bytes wait for GET RESPONSE (`00` means 256 or more).
    pub fn bytes_remaining(self) -> Option<usize> {
        (self.sw1() == 0x61).then(|| match self.sw2() {
            0 => 256,
            n => n as usize,
        })
    }

    /// `6Cxx`: the command must be resent with Le = xx.
    pub fn correct_le(self) -> Option<usize> {
        (self.sw1() == 0x6C).then(|| match self.sw2() {
            0 => 256,
            n => n as usize,
        })
    }

    /// `63Cx`: verification failed, x tries left.
    pub fn tries_left(self) -> Option<u8> {
        (self.0 & 0xFFF0 == 0x63C0).then(|| self.sw2() & 0x0F)
    }

    /// `63Cx` for the given number of tries left (at most 15).
    pub fn with_tries_left(tries: u8) -> Self {
        Self(0x63C0 | u16::from(tries.min(15)))
    }

    /// What the status word means, for logs and error messages.
    pub fn describe(self) -> &'static str {
        match self.0 {
            0x9000 => "success",
            0x6100..=0x61FF => "more data available",
            0x6281 => "part of returned data may be corrupted",
            0x6300 => "verification failed",
            0x63C0..=0x63CF => "verification failed",
            0x6581 => "memory failure",
            0x6700 => "wrong length",
            0x6882 => "secure messaging not supported",
            0x6883 => "last command of the chain expected",
            0x6884 => "command chaining not supported",
            0x6982 => "security status not satisfied",
            0x6983 => "authentication method blocked",
            0x6984 => "reference data not usable",
            0x6985 => "conditions of use not satisfied",
            0x6986 => "command not allowed",
            0x6A80 => "incorrect data",
            0x6A81 => "function not supported",
            0x6A82 => "file or application not found",
            0x6A84 => "not enough memory",
            0x6A86 => "incorrect P1-P2",
            0x6A88 => "referenced data not found",
            0x6B00 => "wrong parameters P1-P2",
            0x6C00..=0x6CFF => "wrong Le",
            0x6D00 => "instruction not supported",
            0x6E00 => "class not supported",
            0x6F00 => "unknown error",
            _ => "unrecognized status",
        }
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StatusWord({:04X})", self.0)
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} ({})", self.0, self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_left_and_remaining_are_decoded() {
        assert_eq!(StatusWord(0x63C2).tries_left(), Some(2));
        assert_eq!(StatusWord(0x6983).tries_left(), None);
        assert_eq!(StatusWord(0x6110).bytes_remaining(), Some(16));
        assert_eq!(StatusWord(0x6100).bytes_remaining(), Some(256));
        assert_eq!(StatusWord(0x6C05).correct_le(), Some(5));
        assert_eq!(StatusWord::with_tries_left(20), StatusWord(0x63CF));
        assert_eq!(
            StatusWord(0x6982).to_string(),
            "6982 (security status not satisfied)"
        );
    }
}
