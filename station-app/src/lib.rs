//! Firma Station, the program: the operator's window (`ui`) on the engine
//! of `firma-station-engine`. The command line is `src/main.rs`; both only
//! drive the engine and word what it reports.
#![forbid(unsafe_code)]
pub mod ui;
