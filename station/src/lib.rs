//! Firma Station's engine: the registry of applications, identity checks,
//! the certificate authority, the activation workflow and the after-issuance
//! services, with no user interface. The `firma-station` CLI and the
//! operator's window both drive this library.
#![forbid(unsafe_code)]
pub mod activation;
pub mod applications;
pub mod audit;
pub mod ca;
pub mod csr;
pub mod datadir;
pub mod engine;
pub mod error;
pub mod generation_code;
pub mod identity;
pub mod inspection;
pub mod knobs;
pub mod letter;
pub mod pin;
pub mod profile;
pub mod readers;
pub mod registry;
pub mod services;
pub mod step;
pub mod text;
pub mod vault;
pub mod worker;
