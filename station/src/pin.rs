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
    #[error("it is taken from the NIF/NIE or a date of the identity document, both printed on what the citizen carries with the card ({RULES})")]
    Personal,
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

/// The numbers printed on the identity document the citizen carries with
/// the card, which a PIN must not be taken from: the NIF/NIE's digits (an
/// NIE's letter as its digit too, X 0, Y 1, Z 2) and each date (expiry,
/// issue) as DDMMYYYY, YYYYMMDD, DDMMYY and YYMMDD.
pub fn personal_numbers(nif: &str, dates: &[time::Date]) -> Vec<String> {
    let mut out = Vec::new();
    let digits: String = nif.chars().filter(char::is_ascii_digit).collect();
    out.push(digits.clone());
    if let Some(d) = match nif.chars().next() {
        Some('X' | 'x') => Some('0'),
        Some('Y' | 'y') => Some('1'),
        Some('Z' | 'z') => Some('2'),
        _ => None,
    } {
        out.push(format!("{d}{digits}"));
    }
    for date in dates {
        let (y, m, d) = (date.year(), u8::from(date.month()), date.day());
        let yy = y.rem_euclid(100);
        out.push(format!("{d:02}{m:02}{y:04}"));
        out.push(format!("{y:04}{m:02}{d:02}"));
        out.push(format!("{d:02}{m:02}{yy:02}"));
        out.push(format!("{yy:02}{m:02}{d:02}"));
    }
    out
}

/// A new PIN checked against the rules and against the citizen's own
/// numbers ([`personal_numbers`]): refused if it is part of one of them,
/// or holds one of 6 digits or more.
pub fn check_new_pin_for(pin: &str, personal: &[String]) -> Result<Pin, PinRule> {
    let checked = check_new_pin(pin)?;
    let taken = personal
        .iter()
        .any(|n| n.contains(pin) || (n.len() >= 6 && pin.contains(n.as_str())));
    if taken {
        return Err(PinRule::Personal);
    }
    Ok(checked)
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
    fn pins_from_the_nif_or_the_document_dates_are_refused() {
        let dates = [time::macros::date!(2031 - 05 - 17)];
        let dni = personal_numbers("48291537X", &dates);
        for pin in [
            "291537", "8291537", "48291537", // the DNI's digits
            "170531", "17052031", "20310517", "310517", // the expiry date
        ] {
            assert_eq!(
                check_new_pin_for(pin, &dni).unwrap_err(),
                PinRule::Personal,
                "{pin}"
            );
        }
        let nie = personal_numbers("Y7654321X", &[]);
        assert_eq!(
            check_new_pin_for("17654321", &nie).unwrap_err(),
            PinRule::Personal
        );
        for pin in ["281947", "5830271", "90817263"] {
            check_new_pin_for(pin, &dni).unwrap();
            check_new_pin_for(pin, &nie).unwrap();
        }
        // The ordinary rules still come first.
        assert_eq!(check_new_pin_for("123456", &dni).unwrap_err(), PinRule::Run);
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
