//! Firma's PKCS#11 module, `libfirma_pkcs11.so`: PIV cards for Firefox and
//! Chrome (through NSS), OpenSSL, GnuTLS, ssh and every PKCS#11 application.
//!
//! `ffi` is the only place with `unsafe`: the C ABI skin. Everything it calls
//! is safe Rust: `module` (state and operations), `token` (a card read once
//! per insertion), `object` (certificates and keys as PKCS#11 objects),
//! `mechanism` (hashing and padding; the card only does raw RSA and ECDSA).
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod auth;
mod error;
#[allow(unsafe_code)]
pub mod ffi;
pub mod mechanism;
mod module;
mod object;
mod pin_cache;
mod token;
