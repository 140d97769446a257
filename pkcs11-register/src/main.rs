//! `firma-pkcs11-register install [--module PATH] | uninstall | status`:
//! the command line of [`firma_pkcs11_register`].
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::ExitCode;

use firma_pkcs11_register::{self as register, Outcome, Registration};

fn usage() -> ExitCode {
    eprintln!(
        "usage: firma-pkcs11-register install [--module PATH] | uninstall | status\n\
         Close Firefox and Chrome first: they keep their certificate databases open."
    );
    ExitCode::from(2)
}

fn print(r: &Registration, status: bool) {
    let word = |o: Outcome| match (o, status) {
        (Outcome::AlreadyThere, true) => "registered",
        (Outcome::NotThere, true) => "not registered",
        (Outcome::Added, _) => "registered",
        (Outcome::AlreadyThere, _) => "already registered",
        (Outcome::Removed, _) => "removed",
        (Outcome::NotThere, _) => "not registered",
    };
    if status {
        println!("p11-kit: {}", word(r.p11kit_outcome));
    } else {
        println!(
            "p11-kit: {} ({})",
            r.p11kit.display(),
            word(r.p11kit_outcome)
        );
    }
    for (db, o) in &r.nss {
        println!("NSS: {} ({})", db.path.display(), word(*o));
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let module = match args.iter().position(|a| a == "--module") {
        Some(i) => match args.get(i + 1) {
            Some(p) => Some(Path::new(p)),
            None => return usage(),
        },
        None => None,
    };
    let command = args.first().map(String::as_str);
    if !matches!(command, Some("install" | "uninstall" | "status")) {
        return usage();
    }
    let result = register::home().and_then(|home| match command {
        Some("install") => register::find_module(module)
            .and_then(|m| register::install(&home, &m))
            .map(|r| print(&r, false)),
        Some("uninstall") => register::uninstall(&home).map(|r| print(&r, false)),
        _ => {
            print(&register::status(&home), true);
            Ok(())
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firma-pkcs11-register: {e}");
            ExitCode::FAILURE
        }
    }
}
