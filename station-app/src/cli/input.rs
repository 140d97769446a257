//! PINs and PUKs from the terminal (masked) or from standard input
//! (`--pin-stdin`, `--stdin`), wiped when dropped.

use std::io::BufRead;

use firma_apdu::piv::Pin;
use firma_station_engine::error::StationError;
use firma_station_engine::pin::{self, PinRule};
use zeroize::Zeroizing;

/// Line `n` (0-based) of standard input, read once for the whole process.
fn stdin_line(n: usize) -> Result<Option<Zeroizing<String>>, StationError> {
    use std::sync::OnceLock;
    static LINES: OnceLock<Vec<Zeroizing<String>>> = OnceLock::new();
    let lines = LINES.get_or_init(|| {
        std::io::stdin()
            .lock()
            .lines()
            .map_while(Result::ok)
            .map(|l| Zeroizing::new(l.trim().to_string()))
            .collect()
    });
    Ok(lines.get(n).cloned())
}

pub fn read_secret(
    from_stdin: bool,
    prompt: &str,
    line: usize,
) -> Result<Zeroizing<String>, StationError> {
    if from_stdin {
        return stdin_line(line)?.ok_or_else(|| StationError::NoStdinLine {
            line: line + 1,
            what: prompt.trim_end_matches([':', ' ']).to_string(),
        });
    }
    rpassword::prompt_password(prompt)
        .map(|s| Zeroizing::new(s.trim().to_string()))
        .map_err(|source| StationError::Io {
            what: "cannot read from the terminal (use the --stdin options in scripts)".into(),
            source,
        })
}

/// A new PIN, checked against the rules and typed twice.
pub fn read_new_pin_at(
    from_stdin: bool,
    line: usize,
    personal: &[String],
) -> Result<Pin, StationError> {
    if !from_stdin {
        eprintln!("The citizen chooses a PIN: {}.", pin::RULES);
    }
    let first = read_secret(from_stdin, "New PIN: ", line)?;
    let pin = pin::check_new_pin_for(&first, personal)?;
    let again = if from_stdin {
        stdin_line(line + 1)?
    } else {
        Some(read_secret(false, "New PIN again: ", 0)?)
    };
    if let Some(again) = again {
        if again.as_str() != first.as_str() {
            return Err(PinRule::TypedTwiceDifferently.into());
        }
    }
    Ok(pin)
}

/// A new PIN for the citizen whose own numbers are `personal`.
pub fn read_new_pin(from_stdin: bool, personal: &[String]) -> Result<Pin, StationError> {
    read_new_pin_at(from_stdin, 0, personal)
}
