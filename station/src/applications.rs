//! Importing the applications citizens filed online: CSV with the header
//! `given_name,surnames,nif,email,phone,card_serial` (an optional
//! `requested_on` column, YYYY-MM-DD, dates the application), or a JSON
//! array of objects with the same keys. Every row is checked; the good rows
//! are imported in one transaction and each rejected row is reported with
//! what is wrong.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;
use time::{Date, OffsetDateTime, Time};

use crate::engine::Station;
use crate::error::StationError;
use crate::identity::Nif;
use crate::profile::{self, Holder};
use crate::registry::{AppKey, AppState, NewApplication};

/// One row as the file has it, before it is checked.
#[derive(Debug, Deserialize, Default)]
pub struct Row {
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub surnames: Option<String>,
    #[serde(default)]
    pub nif: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default, deserialize_with = "serial_or_empty")]
    pub card_serial: Option<String>,
    #[serde(default)]
    pub requested_on: Option<String>,
}

/// `card_serial` may be a JSON number, a string, empty or null.
fn serial_or_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        N(u64),
        S(String),
    }
    Ok(match Option::<V>::deserialize(d)? {
        Some(V::N(n)) => Some(n.to_string()),
        Some(V::S(s)) => Some(s),
        None => None,
    })
}

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// 1-based record number (the CSV header is not counted).
    pub row: usize,
    /// What identifies the row for a person: its NIF or names.
    pub label: String,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: Vec<(i64, String)>,
    pub rejected: Vec<Rejected>,
}

const HEADER: [&str; 6] = [
    "given_name",
    "surnames",
    "nif",
    "email",
    "phone",
    "card_serial",
];

/// Reads and checks `path` (by extension: `.json`, else CSV) and imports the
/// good rows.
pub fn import(station: &Station, path: &Path) -> Result<ImportReport, StationError> {
    let text = std::fs::read_to_string(path).map_err(|source| StationError::Io {
        what: format!("cannot read {}", path.display()),
        source,
    })?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('[');
    let rows = parse(&text, is_json)?;
    let now = OffsetDateTime::now_utc();
    let mut report = ImportReport::default();
    let mut good = Vec::new();
    let mut seen = HashSet::new();
    for (i, row) in rows.into_iter().enumerate() {
        let row_no = i + 1;
        let (label, checked) = match row {
            Ok(r) => {
                let label = r
                    .nif
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or_else(|| {
                        format!(
                            "{} {}",
                            r.given_name.as_deref().unwrap_or(""),
                            r.surnames.as_deref().unwrap_or("")
                        )
                        .trim()
                        .to_string()
                    });
                (label, check_row(station, r, now))
            }
            Err(e) => (String::new(), Err(e)),
        };
        match checked {
            Ok(app) if !seen.insert(app.nif.clone()) => report.rejected.push(Rejected {
                row: row_no,
                label,
                reason: format!(
                    "{} appears twice in the file: only its first row was imported",
                    app.nif
                ),
            }),
            Ok(app) => good.push(app),
            Err(reason) => report.rejected.push(Rejected {
                row: row_no,
                label,
                reason,
            }),
        }
    }
    if !good.is_empty() {
        let ids = station.registry().import(&good, &station.actor)?;
        report.imported = ids
            .into_iter()
            .zip(good.into_iter().map(|a| a.nif))
            .collect();
    }
    Ok(report)
}

/// The rows of a file's text (CSV or JSON), each read or with why not.
/// The file itself may be refused (no header, not a JSON array).
pub fn parse(text: &str, json: bool) -> Result<Vec<Result<Row, String>>, StationError> {
    if json {
        parse_json(text)
    } else {
        parse_csv(text)
    }
}

fn parse_csv(text: &str) -> Result<Vec<Result<Row, String>>, StationError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| StationError::ImportFile(format!("the CSV header cannot be read: {e}")))?
        .clone();
    let missing: Vec<&str> = HEADER
        .iter()
        .copied()
        .filter(|h| !headers.iter().any(|x| x == *h))
        .collect();
    if !missing.is_empty() {
        return Err(StationError::ImportFile(format!(
            "the CSV header lacks {}: the first line must be {}",
            missing.join(", "),
            HEADER.join(",")
        )));
    }
    Ok(reader
        .deserialize::<Row>()
        .map(|r| {
            r.map_err(|e| match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => format!("it has {len} fields, the header has {expected_len}"),
                _ => format!("it cannot be read: {e}"),
            })
        })
        .collect())
}

fn parse_json(text: &str) -> Result<Vec<Result<Row, String>>, StationError> {
    let values: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| {
        StationError::ImportFile(format!(
            "the JSON file must be an array of objects with the keys {}: {e}",
            HEADER.join(", ")
        ))
    })?;
    Ok(values
        .into_iter()
        .map(|v| {
            if !v.is_object() {
                return Err("it is not an object".to_string());
            }
            serde_json::from_value::<Row>(v).map_err(|e| format!("it cannot be read: {e}"))
        })
        .collect())
}

fn required(value: Option<String>, what: &str) -> Result<String, String> {
    match value.map(|v| v.split_whitespace().collect::<Vec<_>>().join(" ")) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(format!("{what} is empty")),
    }
}

/// The longest given name and surnames taken, in characters. With the
/// NIF they make the certificates' CN, "SURNAMES GIVEN NAME - NIF", which
/// X.520 limits to 64 characters; the PUK letter is laid out for them.
pub const MAX_GIVEN_NAME: usize = 40;
pub const MAX_SURNAMES: usize = 50;
const MAX_CN: usize = 64;

/// A name as an identity document prints it: letters (accents precomposed
/// or combining), spaces, and the apostrophe, hyphen, period and the
/// ordinal and middle dots of Spanish and Catalan names. Control and bidi
/// characters, and everything else, are refused: they would reorder or
/// hide text on the letter, in the certificate and on the operator's screen.
fn check_name(value: &str, what: &str, max: usize) -> Result<(), String> {
    let len = value.chars().count();
    if len > max {
        return Err(format!(
            "{what} has {len} characters, at most {max} are taken"
        ));
    }
    let allowed = |c: char| {
        c.is_alphabetic()
            || c == ' '
            || "'’-.·ªº".contains(c)
            || ('\u{300}'..='\u{36F}').contains(&c)
    };
    if let Some(bad) = value.chars().find(|&c| !allowed(c)) {
        let kind = if bad.is_control() {
            "a control character"
        } else if matches!(bad, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        {
            "a bidirectional-text control"
        } else {
            "a character that is not part of a name"
        };
        return Err(format!(
            "{what} holds {kind} (U+{:04X}): only letters, spaces and ' - . are taken",
            bad as u32
        ));
    }
    Ok(())
}

fn check_row(station: &Station, r: Row, now: OffsetDateTime) -> Result<NewApplication, String> {
    let given_name = required(r.given_name, "given_name")?;
    let surnames = required(r.surnames, "surnames")?;
    check_name(&given_name, "given_name", MAX_GIVEN_NAME)?;
    check_name(&surnames, "surnames", MAX_SURNAMES)?;
    // "SURNAMES GIVEN - NIF": the NIF is 9 characters.
    let cn = surnames.chars().count() + 1 + given_name.chars().count() + 3 + 9;
    if cn > MAX_CN {
        return Err(format!(
            "the names are too long together: the certificate's name would have {cn} characters, at most {MAX_CN}"
        ));
    }
    let nif = Nif::parse(&required(r.nif, "nif")?).map_err(|e| e.to_string())?;
    let email = required(r.email, "email")?;
    let holder = Holder {
        given_name: given_name.clone(),
        surnames: surnames.clone(),
        nif: nif.to_string(),
        email: email.clone(),
    };
    profile::subject_alt_name(&holder).map_err(|e| e.to_string())?;
    let phone = required(r.phone, "phone")?;
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let phone_ok = phone
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || c == ' ' || (i == 0 && c == '+'));
    if !phone_ok || !(9..=15).contains(&digits) {
        return Err(format!(
            "phone {phone:?} is not a phone number (9 to 15 digits, spaces allowed, + in front for another country)"
        ));
    }
    let card_serial = match r.card_serial.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(s.parse::<u32>().map_err(|_| {
            format!("card_serial {s:?} is not a card serial number (digits only, or empty when not known)")
        })?),
    };
    let requested_at = match r.requested_on.as_deref().map(str::trim) {
        None | Some("") => now,
        Some(s) => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            Date::parse(s, format)
                .map_err(|_| format!("requested_on {s:?} must be written YYYY-MM-DD"))?
                .with_time(Time::MIDNIGHT)
                .assume_utc()
        }
    };
    if requested_at > now {
        return Err(format!(
            "requested_on {} is in the future",
            requested_at.date()
        ));
    }
    if let Ok(existing) = station.application(&AppKey::Nif(nif.to_string())) {
        if matches!(
            existing.state,
            AppState::Requested | AppState::Activated | AppState::Renewed
        ) {
            return Err(format!(
                "{nif} already has an open application (number {}, {})",
                existing.id, existing.state
            ));
        }
    }
    Ok(NewApplication {
        given_name,
        surnames,
        nif: nif.to_string(),
        email,
        phone,
        card_serial,
        requested_at,
        expires_at: requested_at + station.config.application_validity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quoted_fields_and_json_numbers_are_read() {
        let rows = parse(
            "given_name,surnames,nif,email,phone,card_serial\n\"Ana, María\",\"de la Peña\",12345678Z,a@b.es,600000000,\n",
            false,
        )
        .unwrap();
        let row = rows[0].as_ref().unwrap();
        assert_eq!(row.given_name.as_deref(), Some("Ana, María"));
        assert!(row.card_serial.as_deref().is_none_or(str::is_empty));
        let rows = parse(
            r#"[{"nif":"12345678Z","card_serial":42},{"card_serial":null},7]"#,
            true,
        )
        .unwrap();
        assert_eq!(rows[0].as_ref().unwrap().card_serial.as_deref(), Some("42"));
        assert!(rows[1].as_ref().unwrap().card_serial.is_none());
        assert_eq!(rows[2].as_ref().unwrap_err(), "it is not an object");
    }

    #[test]
    fn names_with_controls_bidi_or_too_long_are_refused() {
        for (given, why) in [
            ("Ana\u{202E}", "bidirectional-text control"),
            ("Ana\u{2067}x", "bidirectional-text control"),
            ("An\u{7}a", "control character"),
            ("Ana<b>", "not part of a name"),
            (&"A".repeat(41), "41 characters, at most 40"),
        ] {
            let e = check_name(given, "given_name", MAX_GIVEN_NAME).unwrap_err();
            assert!(e.contains(why), "{given:?}: {e}");
        }
        for ok in [
            "María José",
            "Núñez",
            "O'Neill",
            "Jean-Luc",
            "Ll·lúcia",
            "Mª Ángeles",
            "Nu\u{303}n\u{303}ez",
        ] {
            check_name(ok, "given_name", MAX_GIVEN_NAME).unwrap();
        }
    }

    #[test]
    fn a_file_without_the_header_is_refused_whole() {
        let e = parse("name,nif\nAna,12345678Z\n", false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the CSV header lacks given_name, surnames, email, phone, card_serial"),
            "{e}"
        );
        let e = parse("{\"not\": \"an array\"}", true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be an array of objects"), "{e}");
    }

    proptest! {
        #[test]
        fn a_name_taken_has_no_control_or_bidi_character(name in "(\\PC|\\p{Cc}|\\p{Cf}){0,60}") {
            if check_name(&name, "given_name", MAX_GIVEN_NAME).is_ok() {
                prop_assert!(name.chars().count() <= MAX_GIVEN_NAME);
                let hidden = |c: char| {
                    c.is_control()
                        || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
                };
                let bad = name.chars().any(hidden);
                prop_assert!(!bad, "{:?} was taken", name);
            }
        }

        #[test]
        fn any_text_is_read_or_refused_without_panicking(text in "\\PC{0,400}", json: bool) {
            let _ = parse(&text, json);
            let with_header = format!("given_name,surnames,nif,email,phone,card_serial\n{text}");
            let _ = parse(&with_header, false);
        }

        #[test]
        fn any_bytes_as_csv_do_not_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse(&format!("given_name,surnames,nif,email,phone,card_serial\n{text}"), false);
            let _ = parse(&text, true);
        }
    }
}
