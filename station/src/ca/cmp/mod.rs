//! CMP (RFC 4210, the Lightweight CMP Profile of RFC 9483) over HTTP
//! (RFC 6712): the station as a registration authority of a remote CA.
//!
//! - `status.rs`: PKIStatusInfo and the failure bits in words;
//! - `body.rs`: the PKIBody types the profile uses;
//! - `message.rs`: PKIMessage, read from untrusted bytes and written;
//! - `protection.rs`: the RA's signature on requests, the CA's checked on responses;
//! - `transaction.rs`: transactionID, nonces, and the checks of each response;
//! - `http.rs`: RFC 6712 transfer;
//! - `config.rs`: the CA's address, pinned certificate, RA credential, profiles;
//! - `client.rs`: [`CmpCa`], the `CertificateAuthority` over all of it.
//!
//! The ASN.1 types come from RustCrypto's `cmpv2` and `crmf` where they are
//! right (see `body.rs` and `status.rs` for where they are not); the
//! protocol logic is Firma's.

pub mod body;
pub mod client;
pub mod config;
pub mod http;
pub mod message;
pub mod protection;
pub mod status;
pub mod transaction;

/// The ASN.1 crates whose types this module's API shows.
pub use {cmpv2, crmf};

pub use body::Body;
pub use client::CmpCa;
pub use config::{CmpConfig, ProfileNames};
pub use message::{DecodeError, Message};
pub use protection::RaCredential;
pub use status::{Failure, Failures, Status, StatusInfo};
pub use transaction::Transaction;

#[cfg(test)]
mod tests;
