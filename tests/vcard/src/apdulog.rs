//! `--log-apdus`: one line per APDU with its shape, its status word and the
//! time the card took to answer it, never its data (which may hold a PIN, a
//! PUK or a key). The card's time lets a benchmark tell the host's share of
//! an operation (wall time minus the card's) from the card's.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

pub struct ApduLog {
    out: BufWriter<File>,
}

impl ApduLog {
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            out: BufWriter::new(file),
        })
    }

    /// Logs one exchange: header bytes, data length and Le of the command,
    /// data length and status word of the response, and `card`, the time
    /// the card took (from the command's arrival to the answer).
    pub fn record(&mut self, command: &[u8], response: &[u8], card: Duration) {
        let time = humantime::format_rfc3339_millis(SystemTime::now());
        let line = match firma_apdu::Command::parse(command) {
            Ok(c) => format!(
                "{time} CLA={:02X} INS={:02X} P1={:02X} P2={:02X} Lc={} Le={}",
                c.cla,
                c.ins,
                c.p1,
                c.p2,
                c.data.len(),
                c.le.map_or("-".to_string(), |l| l.to_string())
            ),
            Err(_) => format!("{time} malformed command of {} bytes", command.len()),
        };
        let (data_len, sw) = match response.len().checked_sub(2) {
            Some(n) => (n, format!("{:02X}{:02X}", response[n], response[n + 1])),
            None => (0, "----".into()),
        };
        let ms = card.as_secs_f64() * 1e3;
        let _ = writeln!(
            self.out,
            "{line} -> {data_len} bytes SW={sw} card {ms:.3} ms"
        );
        let _ = self.out.flush();
    }
}
