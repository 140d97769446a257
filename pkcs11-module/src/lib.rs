//! Firma's PKCS#11 module, `libfirma_pkcs11.so`.
//!
//! NOT IMPLEMENTED YET: this crate only reserves the module's place in the
//! workspace and exports no PKCS#11 function, so no application can mistake it
//! for a working module. The module is built on top of `firma-apdu`'s PIV
//! client (see the project's open issues).
#![forbid(unsafe_code)]
