//! The rules for a citizen's PIN, and the PUK the station makes.

use firma_apdu::piv::{Pin, Puk};
use rand::Rng;

/// The rules in plain words, for prompts and the UI.
pub const RULES: &str = "6 to 8 digits, not a run like 123456 or 654321, not one digit repeated like 000000, not a repeated group like 123123 or 121212";

/// Why a new PIN is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PinRule {
    #[error("it has {0} characters, it needs 6 to 8 digits ({RULES})")]
    Length(usize),
    #[error("it may only hold digits ({RULES})")]
    NotDigits,
    #[error("it repeats one digit ({RULES})")]
    OneDigit,
    #[error("it is a run of consecutive digits ({RULES})")]
    Run,
    #[error("it repeats a group of digits ({RULES})")]
    RepeatedGroup,
    #[error("the two PINs typed are different")]
    TypedTwiceDifferently,
}

/// Checks a new PIN against the rules and returns it ready for the card.
pub fn check_new_pin(pin: &str) -> Result<Pin, PinRule> {
    let d = pin.as_bytes();
    if !(6..=8).contains(&d.len()) {
        return Err(PinRule::Length(d.len()));
    }
    if !d.iter().all(u8::is_ascii_digit) {
        return Err(PinRule::NotDigits);
    }
    let steps: Vec<i8> = d.windows(2).map(|w| w[1] as i8 - w[0] as i8).collect();
    if steps.iter().all(|&s| s == 0) {
        return Err(PinRule::OneDigit);
    }
    if steps.iter().all(|&s| s == 1) || steps.iter().all(|&s| s == -1) {
        return Err(PinRule::Run);
    }
    for period in 1..=d.len() / 2 {
        if d.chunks_exact(period).remainder().is_empty()
            && d.chunks(period).all(|c| c == &d[..period])
        {
            return Err(PinRule::RepeatedGroup);
        }
    }
    // 6 to 8 digits: a valid PIN for the card.
    Pin::new(pin).map_err(|_| PinRule::Length(d.len()))
}

/// Why what was typed cannot be a PUK of this station: it is never sent
/// to the card, so it costs no try.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PukRule {
    #[error("a PUK has the 8 digits printed in the PUK letter; {0} digits were typed")]
    Length(usize),
    #[error("a PUK has only digits (the spaces of the letter may be typed or not)")]
    NotDigits,
}

/// A PUK as the citizen reads it from the letter ("1970 7260"): the
/// spaces between the groups are ignored, and anything but 8 digits is
/// refused before the card sees it (every PUK this station sets, and the
/// factory PUK, has 8 digits).
pub fn parse_puk(typed: &str) -> Result<Puk, PukRule> {
    let digits: zeroize::Zeroizing<String> =
        zeroize::Zeroizing::new(typed.chars().filter(|c| !c.is_whitespace()).collect());
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(PukRule::NotDigits);
    }
    if digits.len() != 8 {
        return Err(PukRule::Length(digits.len()));
    }
    Puk::new(digits.as_bytes()).map_err(|_| PukRule::Length(digits.len()))
}

/// A random 8-digit PUK from the operating system's generator, never one
/// digit repeated (the wrong PUK a card reset spends tries with).
pub fn random_puk() -> Puk {
    let mut rng = rand::rngs::OsRng;
    let mut digits = zeroize::Zeroizing::new([0u8; 8]);
    loop {
        for d in digits.iter_mut() {
            *d = b'0' + rng.gen_range(0..10u8);
        }
        if digits.iter().any(|&d| d != digits[0]) {
            return Puk::new(&digits[..]).expect("8 digits are a valid PUK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivial_pins_are_refused_with_the_reason() {
        for (pin, why) in [
            ("123456", "consecutive"),
            ("654321", "consecutive"),
            ("000000", "repeats one digit"),
            ("123123", "repeats a group"),
            ("121212", "repeats a group"),
            ("12345", "5 characters"),
            ("123456789", "9 characters"),
            ("12a456", "only hold digits"),
            ("87654321", "consecutive"),
        ] {
            let e = check_new_pin(pin).unwrap_err().to_string();
            assert!(e.contains(why), "{pin}: {e}");
        }
    }

    #[test]
    fn ordinary_pins_pass() {
        for pin in ["281947", "5830271", "90817263", "112358"] {
            assert_eq!(check_new_pin(pin).unwrap().as_bytes(), pin.as_bytes());
        }
    }

    #[test]
    fn a_puk_is_read_as_the_letter_prints_it() {
        for typed in ["19707260", "1970 7260", " 1970  7260 ", "1970\t7260"] {
            assert_eq!(
                parse_puk(typed).unwrap().as_bytes(),
                b"19707260",
                "{typed:?}"
            );
        }
        assert_eq!(parse_puk("1970 726").err(), Some(PukRule::Length(7)));
        assert_eq!(parse_puk("1970 72601").err(), Some(PukRule::Length(9)));
        assert_eq!(parse_puk("").err(), Some(PukRule::Length(0)));
        assert_eq!(parse_puk("1970-7260").err(), Some(PukRule::NotDigits));
        assert_eq!(parse_puk("abcd efgh").err(), Some(PukRule::NotDigits));
    }

    #[test]
    fn pins_are_eight_random_digits() {
        let a = random_puk();
        assert_eq!(a.as_bytes().len(), 8);
        assert!(a.as_bytes().iter().all(u8::is_ascii_digit));
        let distinct: std::collections::HashSet<Vec<u8>> =
            (0..20).map(|_| random_puk().as_bytes().to_vec()).collect();
        assert!(distinct.len() > 15);
    }
}
