//! Printing the PUK letter on the default printer (`lp`).

/// Sends the letter to the default printer (`lp`), through a pipe: the PDF
/// is never written to disk.
pub fn print_pdf(pdf: &[u8]) -> Result<(), String> {
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
