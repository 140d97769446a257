//! The SMS that carries a Generation Code, and how it leaves the station:
//! an HTTP POST to the provider's gateway, or (for a demonstration) a file
//! in an outbox directory.
//!
//! The gateway gets `{"to": "+34600123456", "text": "..."}` as JSON and
//! answers 2xx when it took the message. The message is the one place
//! besides the paper letter where the code is written; the station logs
//! only that a message went, to whom (the last digits) and what the
//! gateway answered.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::code::GenerationCode;
use crate::letter::{date_en, date_es};

/// Where the station's SMS go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsGateway {
    /// The provider's HTTP endpoint (`http://...`).
    Http { url: String },
    /// One file per message in a directory, for a demonstration station.
    Outbox { dir: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("the SMS gateway {url} cannot be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the SMS gateway {url} refused the message (HTTP {status})")]
    Refused { url: String, status: u16 },
    #[error("{url} is not an http:// address (this build sends SMS over plain HTTP to a gateway on the station's network)")]
    BadUrl { url: String },
    #[error("cannot write to the SMS outbox {dir}: {source}")]
    Outbox {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// The message, Spanish then English, under 320 characters (two SMS).
pub fn message(code: &GenerationCode, expires_at: OffsetDateTime) -> Zeroizing<String> {
    let head = "Codigo de Generacion de su certificado / Your Generation Code: ";
    let tail = format!(
        ". Valido hasta el {} / valid until {}. No lo comparta / Do not share it.",
        date_es(expires_at.date()),
        date_en(expires_at.date())
    );
    let mut out = Zeroizing::new(String::with_capacity(head.len() + 10 + tail.len()));
    out.push_str(head);
    out.push_str(code.expose());
    out.push_str(&tail);
    out
}

/// The last three digits of a phone number, for the log and the audit.
pub fn masked(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let tail: String = digits[digits.len().saturating_sub(3)..].iter().collect();
    format!("...{tail}")
}

impl SmsGateway {
    /// Sends `text` to `phone`.
    pub fn send(&self, phone: &str, text: &str) -> Result<(), SmsError> {
        match self {
            SmsGateway::Http { url } => post(url, phone, text),
            SmsGateway::Outbox { dir } => outbox(dir, phone, text),
        }
    }
}

fn post(url: &str, phone: &str, text: &str) -> Result<(), SmsError> {
    if !url.starts_with("http://") {
        return Err(SmsError::BadUrl { url: url.into() });
    }
    let body = Zeroizing::new(
        serde_json::to_vec(&serde_json::json!({ "to": phone, "text": text }))
            .expect("a JSON object of two strings serializes"),
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(concat!("firma-station/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let response = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(&body[..])
        .map_err(|e| SmsError::Unreachable {
            url: url.into(),
            reason: e.to_string(),
        })?;
    let status = response.status().as_u16();
    tracing::info!(url, to = %masked(phone), status, "SMS sent to the gateway");
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(SmsError::Refused {
            url: url.into(),
            status,
        })
    }
}

fn outbox(dir: &std::path::Path, phone: &str, text: &str) -> Result<(), SmsError> {
    let io = |source| SmsError::Outbox {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let now = OffsetDateTime::now_utc();
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let path = dir.join(format!(
        "{}-{:09}-{digits}.sms",
        now.unix_timestamp(),
        now.nanosecond()
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&path).map_err(io)?;
    writeln!(f, "To: {phone}\n\n{text}").map_err(io)?;
    tracing::info!(outbox = %dir.display(), to = %masked(phone), "SMS written to the outbox");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_message_fits_two_sms_and_names_the_expiry() {
        let code = GenerationCode::parse("ABCDEfghmn").unwrap();
        let m = message(&code, datetime!(2026-12-17 17:40 UTC));
        assert!(m.contains("ABCDEfghmn"));
        assert!(m.contains("17 de diciembre de 2026"));
        assert!(m.chars().count() <= 320, "{}", m.chars().count());
    }

    #[test]
    fn phones_are_masked_to_their_last_digits() {
        assert_eq!(masked("+34 600 123 456"), "...456");
        assert_eq!(masked("12"), "...12");
    }

    #[test]
    fn an_outbox_gets_one_private_file_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let gw = SmsGateway::Outbox {
            dir: dir.path().join("outbox"),
        };
        gw.send("+34600123456", "hello").unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        assert!(std::fs::read_to_string(&files[0])
            .unwrap()
            .contains("hello"));
    }

    #[test]
    fn a_gateway_that_is_not_http_is_refused_before_anything_is_sent() {
        let gw = SmsGateway::Http {
            url: "ftp://gateway".into(),
        };
        assert!(matches!(
            gw.send("+34600123456", "x"),
            Err(SmsError::BadUrl { .. })
        ));
    }
}
