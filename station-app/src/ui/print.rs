//! Printing the PUK letter on the default printer (`lp`), on a thread of
//! its own: a slow or stuck printer never holds the window. The result
//! comes back as a message.

use std::sync::mpsc::{channel, Receiver, Sender};

use eframe::egui;
use zeroize::Zeroizing;

/// What the printer said: sent, or why not.
pub type Printed = Result<(), String>;

pub struct Printer {
    done_tx: Sender<Printed>,
    done: Receiver<Printed>,
}

impl Printer {
    pub fn new() -> Self {
        let (done_tx, done) = channel();
        Self { done_tx, done }
    }

    /// Prints `pdf` (wiped when the job ends); repaints when it did.
    pub fn print(&self, pdf: Zeroizing<Vec<u8>>, repaint: &egui::Context) {
        let tx = self.done_tx.clone();
        let repaint = repaint.clone();
        std::thread::Builder::new()
            .name("print".into())
            .spawn(move || {
                let _ = tx.send(print_pdf(&pdf));
                repaint.request_repaint();
            })
            .expect("the system can start a thread");
    }

    /// A print job's result, if one ended.
    pub fn poll(&self) -> Option<Printed> {
        self.done.try_recv().ok()
    }
}

/// Sends the letter to the default printer (`lp`), through a pipe: the PDF
/// is never written to disk.
fn print_pdf(pdf: &[u8]) -> Printed {
    use std::io::Write;
    let mut child = std::process::Command::new("lp")
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("lp: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("lp")?
        .write_all(pdf)
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}
