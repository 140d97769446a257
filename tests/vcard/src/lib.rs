//! `firma-vcard`: a virtual blank PIV card.
//!
//! It behaves like the PIV applet of a blank Java Card or a new YubiKey
//! (SP 800-73-4 plus Yubico's management extensions), answers APDUs in
//! process through [`VirtualCard::process`], and plugs into vsmartcard's vpcd
//! reader driver through [`vpcd`] so that the whole PC/SC stack is exercised.
#![forbid(unsafe_code)]

pub mod apdulog;
mod attest;
pub mod card;
pub mod keys;
pub mod mgmt;
pub mod state;
pub mod vpcd;

pub use card::{Options, VirtualCard};
