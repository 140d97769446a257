//! Printing the PUK letter on the default printer (`lp`), on a thread of
//! its own: a slow or stuck printer never holds the window. The result
//! comes back typed, for the window to say in words; the system's own
//! message goes to the log.

use std::sync::mpsc::{channel, Receiver, Sender};

use eframe::egui;
use zeroize::Zeroizing;

/// Why the letter was not printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrintError {
    /// No print system on this station (`lp` is not installed).
    NoPrinter,
    /// The print system refused the job (no default printer, printer off).
    Refused,
}

/// What the printer said: sent, or why not.
pub type Printed = Result<(), PrintError>;

pub struct Printer {
    /// The program that takes a PDF on its standard input.
    command: String,
    done_tx: Sender<Printed>,
    done: Receiver<Printed>,
}

impl Printer {
    pub fn new() -> Self {
        Self::with_command("lp")
    }

    /// A printer that runs `command -` instead of `lp -` (for tests).
    pub fn with_command(command: &str) -> Self {
        let (done_tx, done) = channel();
        Self {
            command: command.to_string(),
            done_tx,
            done,
        }
    }

    /// Another printer on the same command, with its own results.
    pub fn sibling(&self) -> Self {
        Self::with_command(&self.command)
    }

    /// Prints `pdf` (wiped when the job ends); repaints when it did.
    pub fn print(&self, pdf: Zeroizing<Vec<u8>>, repaint: &egui::Context) {
        let tx = self.done_tx.clone();
        let repaint = repaint.clone();
        let command = self.command.clone();
        std::thread::Builder::new()
            .name("print".into())
            .spawn(move || {
                let _ = tx.send(print_pdf(&command, &pdf));
                repaint.request_repaint();
            })
            .expect("the system can start a thread");
    }

    /// A print job's result, if one ended.
    pub fn poll(&self) -> Option<Printed> {
        self.done.try_recv().ok()
    }
}

/// Sends the letter to the default printer, through a pipe: the PDF is
/// never written to disk.
fn print_pdf(command: &str, pdf: &[u8]) -> Printed {
    use std::io::Write;
    let mut child = std::process::Command::new(command)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| {
            tracing::warn!("printing the PUK letter: {command}: {e}");
            match e.kind() {
                std::io::ErrorKind::NotFound => PrintError::NoPrinter,
                _ => PrintError::Refused,
            }
        })?;
    let refused = |e: &dyn std::fmt::Display| {
        tracing::warn!("printing the PUK letter: {command}: {e}");
        PrintError::Refused
    };
    child
        .stdin
        .take()
        .ok_or(PrintError::Refused)?
        .write_all(pdf)
        .map_err(|e| refused(&e))?;
    let out = child.wait_with_output().map_err(|e| refused(&e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(refused(&String::from_utf8_lossy(&out.stderr).trim()))
    }
}
