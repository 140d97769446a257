//! `--log-apdus`: one line per APDU with its shape and status word, never its
//! data (which may hold a PIN, a PUK or a key); the same format as
//! firma-vcard's, so the rig reads both.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::SystemTime;

use iso7816::command::CommandView;

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

    pub fn record(&mut self, command: &[u8], response: &[u8]) {
        let time = humantime::format_rfc3339_millis(SystemTime::now());
        let line = match (CommandView::try_from(command), command) {
            (Ok(c), [cla, ins, p1, p2, ..]) => format!(
                "{time} CLA={cla:02X} INS={ins:02X} P1={p1:02X} P2={p2:02X} Lc={} Le={}",
                c.data().len(),
                c.expected()
            ),
            _ => format!("{time} malformed command of {} bytes", command.len()),
        };
        let (data_len, sw) = match response.len().checked_sub(2) {
            Some(n) => (n, format!("{:02X}{:02X}", response[n], response[n + 1])),
            None => (0, "----".into()),
        };
        let _ = writeln!(self.out, "{line} -> {data_len} bytes SW={sw}");
        let _ = self.out.flush();
    }
}
