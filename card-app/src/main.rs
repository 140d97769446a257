//! `firma-card`: opens the citizen's card manager.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use firma_card::worker::RegisterTarget;

fn main() -> ExitCode {
    if std::env::args()
        .nth(1)
        .is_some_and(|a| a == "--help" || a == "-h")
    {
        println!(
            "usage: firma-card\n\
             Opens Firma's card manager: your card's certificates, PIN change and unblock,\n\
             and the card in Firefox and Chrome. It needs a display and pcscd."
        );
        return ExitCode::SUCCESS;
    }
    match firma_card::ui::run(RegisterTarget::default()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firma-card: cannot open the window: {e}");
            ExitCode::FAILURE
        }
    }
}
