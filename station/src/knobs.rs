//! Knobs for the test suite only, compiled in with the `test-knobs` cargo
//! feature (the tests' dev-dependency turns it on; `cargo build` of the
//! station a PRU runs leaves it off, and then these read nothing from the
//! environment: a shipped binary has no way to shorten a qualified
//! certificate's life or to abort mid-activation).
//!
//! - `FIRMA_STATION_CRASH_AFTER=STEP` kills the process the moment STEP is
//!   journaled, as a power cut would (the tests of a station killed
//!   mid-activation);
//! - `FIRMA_STATION_CERT_DAYS=N`: the local CA issues certificates valid N
//!   days (the tests of renewal, which opens 70 days before expiry).

/// Whether this build has the test knobs.
pub const ENABLED: bool = cfg!(feature = "test-knobs");

/// Aborts the process after `step` when the tests asked for it.
pub fn crash_point(step: &str) {
    if ENABLED && std::env::var("FIRMA_STATION_CRASH_AFTER").is_ok_and(|s| s == step) {
        eprintln!("firma-station: killed after {step} (FIRMA_STATION_CRASH_AFTER)");
        std::process::abort();
    }
}

/// The certificates' validity in days the tests asked for, if any.
pub fn cert_days() -> Option<i64> {
    if !ENABLED {
        return None;
    }
    std::env::var("FIRMA_STATION_CERT_DAYS")
        .ok()
        .and_then(|d| d.parse().ok())
        .filter(|&d| d > 0)
}
