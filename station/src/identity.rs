//! Spanish identity numbers (DNI and NIE) and the identity documents that
//! carry them, checked at the Registration Point before a card is issued.
//!
//! Every error says what is wrong in words an operator can act on: which
//! letter was expected, how many digits were found, when the document
//! expired.
//!
//! Support numbers (número de soporte) follow the formats the Agencia
//! Tributaria gives for Cl@ve registration ("Introduzca soporte válido"):
//! a foreigner's card or residence permit has `E` and 8 digits, completed
//! with zeros on the left when fewer are printed; an EU citizen's
//! registration certificate has a number that is written after a `C`,
//! completed with zeros on the left to 8 digits. A DNI's support number
//! (IDESP) has 3 letters and 6 digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::Date;

/// The control letters, indexed by the number modulo 23.
const CONTROL_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

const DNI_SHAPE: &str = "a DNI has 8 digits and a control letter (like 12345678Z)";
const NIE_SHAPE: &str =
    "a NIE has a letter X, Y or Z, 7 digits and a control letter (like X1234567L)";
const IDESP_SHAPE: &str =
    "a DNI's support number (IDESP) has 3 letters and 6 digits (like BAA000589)";
const NIE_SUPPORT_SHAPE: &str = "a NIE document's support number is E and 8 digits on a \
     foreigner's card or residence permit (like E01234567), or C and 8 digits on an EU \
     citizen's registration certificate (like C01234567)";

/// The kind of identity document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// Documento Nacional de Identidad, for Spanish citizens.
    Dni,
    /// A document carrying a Número de Identidad de Extranjero: a
    /// foreigner's card (TIE), residence permit or EU citizen's registration
    /// certificate.
    Nie,
}

impl DocumentKind {
    /// "DNI" or "NIE".
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Dni => "DNI",
            DocumentKind::Nie => "NIE",
        }
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DocumentKind {
    type Err = IdentityError;

    /// "DNI" or "NIE", in any case, with surrounding spaces ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("DNI") {
            Ok(DocumentKind::Dni)
        } else if t.eq_ignore_ascii_case("NIE") {
            Ok(DocumentKind::Nie)
        } else {
            Err(IdentityError::UnknownKind(s.to_owned()))
        }
    }
}

impl Serialize for DocumentKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DocumentKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why an identity number or document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Nothing was written (spaces, dots and dashes do not count).
    #[error("the {what} is empty")]
    Empty { what: &'static str },

    /// A character that is neither a letter, a digit, a space, a dot nor a
    /// dash.
    #[error("unexpected character '{ch}' in the {what} \"{input}\"")]
    UnexpectedCharacter {
        what: &'static str,
        ch: char,
        input: String,
    },

    /// The number starts with something other than a digit or X, Y, Z.
    #[error("{number} is neither a DNI nor a NIE: {DNI_SHAPE}; {NIE_SHAPE}")]
    NotDniOrNie { number: String },

    /// The number has the wrong length or layout for its kind.
    #[error("{expected}; {number} {problem}")]
    Shape {
        expected: &'static str,
        number: String,
        problem: String,
    },

    /// The digits are fine, but the control letter does not match them.
    #[error(
        "{number} is not a valid {kind}: its control letter should be {expected}, not {found}"
    )]
    ControlLetter {
        kind: DocumentKind,
        number: String,
        expected: char,
        found: char,
    },

    /// The document kind is neither DNI nor NIE.
    #[error("unknown document kind \"{0}\": write DNI or NIE")]
    UnknownKind(String),

    /// The number is valid but of the other kind than the one declared.
    #[error("{number} is a {actual}, but the document was declared as a {declared}")]
    KindMismatch {
        number: String,
        actual: DocumentKind,
        declared: DocumentKind,
    },

    /// The support number does not have the form its document uses.
    #[error("{expected}; {problem}")]
    SupportNumber {
        expected: &'static str,
        problem: String,
    },

    /// The expiry date could not be read.
    #[error("the expiry date must be written as on the document, DD/MM/YYYY like 17/05/2031 (or YYYY-MM-DD); \"{input}\" is not")]
    DateFormat { input: String },

    /// The expiry date has the right form but is not a day of the calendar.
    #[error("the expiry date {input} does not exist: check the day and the month")]
    NoSuchDate { input: String },

    /// The document is no longer valid.
    #[error("the document expired on {expired_on}: ask for a valid document")]
    Expired { expired_on: Date },

    /// The document's number is not the applicant's.
    #[error("the document's number {document} is not the applicant's ({application}): the document belongs to someone else")]
    NotTheApplicants {
        document: String,
        application: String,
    },
}

/// Uppercases and drops spaces, dots and dashes; refuses anything else that
/// is not an ASCII letter or digit.
fn normalize(what: &'static str, input: &str) -> Result<String, IdentityError> {
    let mut out = String::with_capacity(input.len());
    for ch in input.chars() {
        if ch.is_whitespace() || ch == '.' || ch == '-' {
            continue;
        }
        if ch.is_ascii_alphanumeric() {
            out.push(ch.to_ascii_uppercase());
        } else {
            return Err(IdentityError::UnexpectedCharacter {
                what,
                ch,
                input: input.to_owned(),
            });
        }
    }
    if out.is_empty() {
        return Err(IdentityError::Empty { what });
    }
    Ok(out)
}

/// Describes what is wrong with `body` (the part after any NIE prefix),
/// which should be `digits` digits and one control letter. `None` if the
/// shape is right.
fn shape_problem(body: &str, digits: usize) -> Option<String> {
    let n = body.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &body[n..];
    let mut problems = Vec::new();
    if rest.bytes().any(|b| b.is_ascii_digit()) {
        return Some("has a letter among its digits".to_owned());
    }
    if n != digits {
        problems.push(format!("has {n} digit{}", if n == 1 { "" } else { "s" }));
    }
    match rest.len() {
        0 => problems.push("no control letter".to_owned()),
        1 => {}
        k => problems.push(format!("{k} letters at the end instead of one")),
    }
    if problems.is_empty() {
        None
    } else if n != digits {
        Some(problems.join(" and "))
    } else {
        Some(format!("has {}", problems.join(" and ")))
    }
}

/// A validated DNI or NIE number, normalized: uppercase, without spaces,
/// dots or dashes, like `12345678Z` or `X1234567L`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nif(String);

impl Nif {
    /// Checks a DNI or NIE number and its control letter. Spaces, dots and
    /// dashes are ignored and letters may be lowercase.
    pub fn parse(input: &str) -> Result<Nif, IdentityError> {
        let number = normalize("identity number", input)?;
        let first = number.as_bytes()[0];
        let (kind, prefix, body, digits) = match first {
            b'0'..=b'9' => (DocumentKind::Dni, "", &number[..], 8),
            b'X' => (DocumentKind::Nie, "0", &number[1..], 7),
            b'Y' => (DocumentKind::Nie, "1", &number[1..], 7),
            b'Z' => (DocumentKind::Nie, "2", &number[1..], 7),
            _ => return Err(IdentityError::NotDniOrNie { number }),
        };
        if let Some(mut problem) = shape_problem(body, digits) {
            let expected = match kind {
                DocumentKind::Dni => DNI_SHAPE,
                DocumentKind::Nie => NIE_SHAPE,
            };
            // NIEs given before 2008 were sometimes written X + 8 digits
            // with a leading zero; today the zero is dropped.
            if kind == DocumentKind::Nie
                && body.len() == 9
                && body.starts_with('0')
                && shape_problem(&body[1..], 7).is_none()
            {
                problem.push_str(&format!(
                    "; an old NIE written with 8 digits drops the leading 0: {}{}",
                    &number[..1],
                    &body[1..]
                ));
            }
            return Err(IdentityError::Shape {
                expected,
                number,
                problem,
            });
        }
        let digits_str = &body[..digits];
        let value: u32 = format!("{prefix}{digits_str}")
            .parse()
            .expect("at most 8 ASCII digits fit in a u32");
        let expected = CONTROL_LETTERS[(value % 23) as usize] as char;
        let found = body.as_bytes()[digits] as char;
        if expected != found {
            return Err(IdentityError::ControlLetter {
                kind,
                number,
                expected,
                found,
            });
        }
        Ok(Nif(number))
    }

    /// The normalized number.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// DNI if it starts with a digit, NIE if it starts with X, Y or Z.
    pub fn kind(&self) -> DocumentKind {
        if self.0.as_bytes()[0].is_ascii_digit() {
            DocumentKind::Dni
        } else {
            DocumentKind::Nie
        }
    }
}

impl fmt::Display for Nif {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Nif {
    type Err = IdentityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Nif::parse(s)
    }
}

impl AsRef<str> for Nif {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for Nif {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Nif {
    /// Deserializing checks the number like [`Nif::parse`].
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Nif::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Checks and normalizes a support number (número de soporte) for a
/// document of the given kind.
///
/// - DNI: the IDESP, 3 letters and 6 digits (`BAA000589`).
/// - NIE: `E` and 8 digits for a foreigner's card or residence permit
///   (`E01234567`), `C` and 8 digits for an EU citizen's registration
///   certificate (`C01234567`). As the Agencia Tributaria instructs, a
///   number printed with fewer than 8 digits is completed with zeros on the
///   left (`C1234567` becomes `C01234567`). The certificate prints the
///   number without the `C`, so a number without a letter is refused with a
///   request to write `E` or `C` in front.
///
/// Spaces, dots and dashes are ignored and letters may be lowercase.
pub fn support_number(kind: DocumentKind, s: &str) -> Result<String, IdentityError> {
    let n = normalize("support number", s)?;
    let bytes = n.as_bytes();
    match kind {
        DocumentKind::Dni => {
            let letters = bytes.iter().take_while(|b| b.is_ascii_alphabetic()).count();
            let digits = bytes[letters..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            if letters == 3 && digits == 6 && n.len() == 9 {
                return Ok(n);
            }
            let problem = if letters + digits != n.len() {
                format!("{n} has letters after its digits")
            } else if letters == 0 {
                format!("{n} has no letters")
            } else {
                format!(
                    "{n} has {letters} letter{} and {digits} digit{}",
                    if letters == 1 { "" } else { "s" },
                    if digits == 1 { "" } else { "s" }
                )
            };
            Err(IdentityError::SupportNumber {
                expected: IDESP_SHAPE,
                problem,
            })
        }
        DocumentKind::Nie => {
            let fail = |problem: String| IdentityError::SupportNumber {
                expected: NIE_SUPPORT_SHAPE,
                problem,
            };
            let first = bytes[0];
            if first.is_ascii_digit() {
                return Err(fail(format!(
                    "{n} has no letter: write E in front of a card's or permit's number, \
                     C in front of a registration certificate's"
                )));
            }
            if first != b'E' && first != b'C' {
                return Err(fail(format!(
                    "{n} starts with {}, not E or C",
                    first as char
                )));
            }
            let digits = &n[1..];
            if digits.is_empty() {
                return Err(fail(format!("{n} has no digits")));
            }
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(fail(format!("{n} has letters after the {}", first as char)));
            }
            if digits.len() > 8 {
                return Err(fail(format!("{n} has {} digits", digits.len())));
            }
            Ok(format!("{}{digits:0>8}", first as char))
        }
    }
}

/// An identity document shown at the Registration Point, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityDocument {
    pub kind: DocumentKind,
    pub number: Nif,
    pub support_number: Option<String>,
    pub expires: Date,
}

impl IdentityDocument {
    /// Checks what the operator typed from the document:
    /// the kind ("DNI" or "NIE"), the number (which must be of that kind),
    /// the support number if any (blank counts as none), and the expiry date
    /// written as the document prints it (DD/MM/YYYY) or YYYY-MM-DD, which
    /// must not be before `today` (a document is valid through its expiry
    /// day).
    pub fn check(
        kind: &str,
        number: &str,
        support_number: Option<&str>,
        expires: &str,
        today: Date,
    ) -> Result<Self, IdentityError> {
        let kind: DocumentKind = kind.parse()?;
        let number = Nif::parse(number)?;
        if number.kind() != kind {
            return Err(IdentityError::KindMismatch {
                actual: number.kind(),
                number: number.0,
                declared: kind,
            });
        }
        let support_number = match support_number {
            Some(s) if !s.trim().is_empty() => Some(self::support_number(kind, s)?),
            _ => None,
        };
        let expires = parse_date(expires)?;
        if expires < today {
            return Err(IdentityError::Expired {
                expired_on: expires,
            });
        }
        Ok(IdentityDocument {
            kind,
            number,
            support_number,
            expires,
        })
    }

    /// Whether the document carries the applicant's number.
    pub fn matches(&self, application_nif: &Nif) -> bool {
        self.number == *application_nif
    }

    /// Like [`matches`](Self::matches), with an error to show the operator.
    pub fn belongs_to(&self, application_nif: &Nif) -> Result<(), IdentityError> {
        if self.matches(application_nif) {
            Ok(())
        } else {
            Err(IdentityError::NotTheApplicants {
                document: self.number.0.clone(),
                application: application_nif.0.clone(),
            })
        }
    }
}

/// Reads a date as the document prints it, DD MM YYYY (the DNI prints
/// "17 05 2031"), with '/', '-', '.' or spaces between the numbers, or as
/// YYYY-MM-DD; tells a badly written date from a date that does not exist
/// (30/02/2031).
fn parse_date(input: &str) -> Result<Date, IdentityError> {
    let t = input.trim();
    let parts: Vec<&str> = t
        .split(|c: char| c == '/' || c == '-' || c == '.' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .collect();
    let digits = |p: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    };
    let (year, month, day) = match parts.as_slice() {
        [y, m, d] if digits(y, 4..=4) && digits(m, 2..=2) && digits(d, 2..=2) => (*y, *m, *d),
        [d, m, y] if digits(d, 1..=2) && digits(m, 1..=2) && digits(y, 4..=4) => (*y, *m, *d),
        _ => {
            return Err(IdentityError::DateFormat {
                input: input.to_owned(),
            })
        }
    };
    let num = |p: &str| -> u32 { p.parse().expect("checked digits") };
    let (year, month, day) = (num(year), num(month), num(day));
    let no_such = || IdentityError::NoSuchDate {
        input: t.to_owned(),
    };
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(no_such)?;
    let day = u8::try_from(day).map_err(|_| no_such())?;
    Date::from_calendar_date(year as i32, month, day).map_err(|_| no_such())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    fn err(input: &str) -> String {
        Nif::parse(input).unwrap_err().to_string()
    }

    #[test]
    fn accepts_real_valid_numbers() {
        for (n, kind) in [
            ("12345678Z", DocumentKind::Dni),
            ("00000000T", DocumentKind::Dni),
            ("99999999R", DocumentKind::Dni),
            ("47110815F", DocumentKind::Dni),
            ("00000023T", DocumentKind::Dni),
            ("X1234567L", DocumentKind::Nie),
            ("X0000000T", DocumentKind::Nie),
            ("X9876543K", DocumentKind::Nie),
            ("Y1234567X", DocumentKind::Nie),
            ("Y0000000Z", DocumentKind::Nie),
            ("Y9876543N", DocumentKind::Nie),
            ("Z1234567R", DocumentKind::Nie),
            ("Z0000000M", DocumentKind::Nie),
            ("Z9876543A", DocumentKind::Nie),
        ] {
            let nif = Nif::parse(n).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!(nif.as_str(), n);
            assert_eq!(nif.to_string(), n);
            assert_eq!(nif.kind(), kind, "{n}");
        }
    }

    #[test]
    fn normalizes() {
        assert_eq!(Nif::parse(" 12.345.678-z ").unwrap().as_str(), "12345678Z");
        assert_eq!(Nif::parse("x-1234567-l").unwrap().as_str(), "X1234567L");
        assert_eq!(Nif::parse("Y 123 4567 x").unwrap().as_str(), "Y1234567X");
        assert_eq!("z1234567r".parse::<Nif>().unwrap().as_str(), "Z1234567R");
    }

    #[test]
    fn explains_each_error() {
        assert_eq!(
            err("12345678A"),
            "12345678A is not a valid DNI: its control letter should be Z, not A"
        );
        assert_eq!(
            err("x1234567a"),
            "X1234567A is not a valid NIE: its control letter should be L, not A"
        );
        assert_eq!(
            err("X123456L"),
            "a NIE has a letter X, Y or Z, 7 digits and a control letter (like X1234567L); \
             X123456L has 6 digits"
        );
        assert_eq!(
            err("1234567L"),
            "a DNI has 8 digits and a control letter (like 12345678Z); 1234567L has 7 digits"
        );
        assert_eq!(
            err("12345678"),
            "a DNI has 8 digits and a control letter (like 12345678Z); \
             12345678 has no control letter"
        );
        assert_eq!(
            err("1234567"),
            "a DNI has 8 digits and a control letter (like 12345678Z); \
             1234567 has 7 digits and no control letter"
        );
        assert_eq!(
            err("12345678ZZ"),
            "a DNI has 8 digits and a control letter (like 12345678Z); \
             12345678ZZ has 2 letters at the end instead of one"
        );
        assert_eq!(
            err("1234A5678Z"),
            "a DNI has 8 digits and a control letter (like 12345678Z); \
             1234A5678Z has a letter among its digits"
        );
        assert_eq!(
            err("X01234567L"),
            "a NIE has a letter X, Y or Z, 7 digits and a control letter (like X1234567L); \
             X01234567L has 8 digits; an old NIE written with 8 digits drops the leading 0: \
             X1234567L"
        );
        assert!(err("B12345678").starts_with("B12345678 is neither a DNI nor a NIE: "));
        assert_eq!(err(""), "the identity number is empty");
        assert_eq!(err(" .- "), "the identity number is empty");
        assert_eq!(
            err("1234#5678Z"),
            "unexpected character '#' in the identity number \"1234#5678Z\""
        );
        assert!(matches!(
            Nif::parse("1234ñ5678Z"),
            Err(IdentityError::UnexpectedCharacter { ch: 'ñ', .. })
        ));
    }

    #[test]
    fn document_kind_parses_and_prints() {
        assert_eq!("dni".parse::<DocumentKind>().unwrap(), DocumentKind::Dni);
        assert_eq!(" NiE ".parse::<DocumentKind>().unwrap(), DocumentKind::Nie);
        assert_eq!(DocumentKind::Dni.to_string(), "DNI");
        assert_eq!(DocumentKind::Nie.to_string(), "NIE");
        assert_eq!(
            "passport".parse::<DocumentKind>().unwrap_err().to_string(),
            "unknown document kind \"passport\": write DNI or NIE"
        );
    }

    #[test]
    fn serializes_as_strings() {
        let nif = Nif::parse("x1234567l").unwrap();
        assert_eq!(serde_json::to_string(&nif).unwrap(), "\"X1234567L\"");
        assert_eq!(
            serde_json::from_str::<Nif>("\"12345678z\"")
                .unwrap()
                .as_str(),
            "12345678Z"
        );
        let e = serde_json::from_str::<Nif>("\"12345678A\"").unwrap_err();
        assert!(e.to_string().contains("should be Z, not A"), "{e}");
        assert_eq!(
            serde_json::to_string(&DocumentKind::Nie).unwrap(),
            "\"NIE\""
        );
    }

    #[test]
    fn support_numbers() {
        use DocumentKind::*;
        assert_eq!(support_number(Dni, "baa000589").unwrap(), "BAA000589");
        assert_eq!(support_number(Dni, "BAA 000 589").unwrap(), "BAA000589");
        assert_eq!(support_number(Nie, "E01234567").unwrap(), "E01234567");
        assert_eq!(support_number(Nie, "e-8765-4321").unwrap(), "E87654321");
        assert_eq!(support_number(Nie, "C01234567").unwrap(), "C01234567");
        // Fewer than 8 digits are completed with zeros, as the AEAT says.
        assert_eq!(support_number(Nie, "C1234567").unwrap(), "C01234567");
        assert_eq!(support_number(Nie, "E1234").unwrap(), "E00001234");

        let e = |k, s| support_number(k, s).unwrap_err().to_string();
        assert_eq!(
            e(Dni, "BA000589"),
            "a DNI's support number (IDESP) has 3 letters and 6 digits (like BAA000589); \
             BA000589 has 2 letters and 6 digits"
        );
        assert!(e(Dni, "BAA0005890").ends_with("BAA0005890 has 3 letters and 7 digits"));
        assert!(e(Dni, "000589").ends_with("000589 has no letters"));
        assert!(e(Dni, "BAA000589X").ends_with("BAA000589X has letters after its digits"));
        assert!(e(Nie, "01234567").contains("01234567 has no letter: write E in front"));
        assert!(e(Nie, "X01234567").ends_with("X01234567 starts with X, not E or C"));
        assert!(e(Nie, "E123456789").ends_with("E123456789 has 9 digits"));
        assert!(e(Nie, "E").ends_with("E has no digits"));
        assert!(e(Nie, "E12A4").ends_with("E12A4 has letters after the E"));
        assert_eq!(e(Nie, "  "), "the support number is empty");
        assert_eq!(
            e(Dni, "BAA/000589"),
            "unexpected character '/' in the support number \"BAA/000589\""
        );
    }

    const TODAY: Date = date!(2025 - 06 - 15);

    #[test]
    fn checks_documents() {
        let d =
            IdentityDocument::check("dni", "12345678-z", Some("baa000589"), "2031-05-17", TODAY)
                .unwrap();
        assert_eq!(d.kind, DocumentKind::Dni);
        assert_eq!(d.number.as_str(), "12345678Z");
        assert_eq!(d.support_number.as_deref(), Some("BAA000589"));
        assert_eq!(d.expires, date!(2031 - 05 - 17));
        assert!(d.matches(&Nif::parse("12345678Z").unwrap()));
        assert!(!d.matches(&Nif::parse("00000000T").unwrap()));
        assert!(d.belongs_to(&Nif::parse("12345678Z").unwrap()).is_ok());
        assert_eq!(
            d.belongs_to(&Nif::parse("00000000T").unwrap())
                .unwrap_err()
                .to_string(),
            "the document's number 12345678Z is not the applicant's (00000000T): \
             the document belongs to someone else"
        );

        // Valid through the expiry day; blank support number is none.
        let d =
            IdentityDocument::check("NIE", "Y1234567X", Some(" "), "2025-06-15", TODAY).unwrap();
        assert_eq!(d.support_number, None);
        let d = IdentityDocument::check("NIE", "Y1234567X", Some("c1234567"), "2025-06-15", TODAY)
            .unwrap();
        assert_eq!(d.support_number.as_deref(), Some("C01234567"));

        let e = |k, n, s, x| {
            IdentityDocument::check(k, n, s, x, TODAY)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            e("DNI", "X1234567L", None, "2031-05-17"),
            "X1234567L is a NIE, but the document was declared as a DNI"
        );
        assert_eq!(
            e("NIE", "12345678Z", None, "2031-05-17"),
            "12345678Z is a DNI, but the document was declared as a NIE"
        );
        assert_eq!(
            e("DNI", "12345678Z", None, "2025-03-01"),
            "the document expired on 2025-03-01: ask for a valid document"
        );
        assert_eq!(
            e("DNI", "12345678Z", None, "17/05/31"),
            "the expiry date must be written as on the document, DD/MM/YYYY like 17/05/2031 (or YYYY-MM-DD); \"17/05/31\" is not"
        );
        assert_eq!(
            e("DNI", "12345678Z", None, ""),
            "the expiry date must be written as on the document, DD/MM/YYYY like 17/05/2031 (or YYYY-MM-DD); \"\" is not"
        );
        for printed in [
            "17/05/2031",
            "17 05 2031",
            "17.05.2031",
            "17-05-2031",
            "2031-05-17",
        ] {
            assert_eq!(
                IdentityDocument::check("DNI", "12345678Z", None, printed, TODAY)
                    .unwrap()
                    .expires,
                time::macros::date!(2031 - 05 - 17),
                "{printed}"
            );
        }
        assert_eq!(
            e("DNI", "12345678Z", None, "2031-02-30"),
            "the expiry date 2031-02-30 does not exist: check the day and the month"
        );
        assert_eq!(
            e("DNI", "12345678Z", None, "2031-13-01"),
            "the expiry date 2031-13-01 does not exist: check the day and the month"
        );
        assert!(e("DNI", "12345678Z", Some("E01234567"), "2031-05-17")
            .starts_with("a DNI's support number (IDESP)"));
        assert!(e("TIE", "12345678Z", None, "2031-05-17").starts_with("unknown document kind"));
        assert!(e("DNI", "12345678A", None, "2031-05-17").contains("should be Z, not A"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = Nif::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_near_misses(s in "[0-9XYZxyzE .#ñ-]{0,12}[A-Za-z]{0,2}") {
            let _ = Nif::parse(&s);
            let _ = support_number(DocumentKind::Dni, &s);
            let _ = support_number(DocumentKind::Nie, &s);
        }

        #[test]
        fn valid_dni_round_trips(n in 0u32..100_000_000, lower in any::<bool>()) {
            let s = format!("{n:08}{}", CONTROL_LETTERS[(n % 23) as usize] as char);
            let typed = if lower { s.to_ascii_lowercase() } else { s.clone() };
            let nif = Nif::parse(&typed).unwrap();
            prop_assert_eq!(nif.as_str(), s.as_str());
            prop_assert_eq!(nif.kind(), DocumentKind::Dni);
            prop_assert_eq!(Nif::parse(nif.as_str()).unwrap(), nif);
        }

        #[test]
        fn valid_nie_round_trips(p in 0u32..3, n in 0u32..10_000_000, spaced in any::<bool>()) {
            let letter = CONTROL_LETTERS[((p * 10_000_000 + n) % 23) as usize] as char;
            let s = format!("{}{n:07}{letter}", ['X', 'Y', 'Z'][p as usize]);
            let typed = if spaced { format!("{} {}-{}", &s[..1], &s[1..8], &s[8..]) } else { s.clone() };
            let nif = Nif::parse(&typed).unwrap();
            prop_assert_eq!(nif.as_str(), s.as_str());
            prop_assert_eq!(nif.kind(), DocumentKind::Nie);
        }

        #[test]
        fn any_other_letter_is_refused(n in 0u32..100_000_000, wrong in 0usize..23) {
            let right = (n % 23) as usize;
            prop_assume!(wrong != right);
            let s = format!("{n:08}{}", CONTROL_LETTERS[wrong] as char);
            let is_control_letter_error =
                matches!(Nif::parse(&s), Err(IdentityError::ControlLetter { .. }));
            prop_assert!(is_control_letter_error);
        }
    }
}
