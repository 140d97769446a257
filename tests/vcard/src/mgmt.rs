//! The card management key (slot 9B). The block cipher is firma-apdu's, so
//! host and card share one implementation of 3DES/AES single-block ECB
//! (checked against openssl's known answers there).

pub use firma_apdu::piv::mgm::{
    ManagementKey as MgmKey, MgmAlgorithm, DEFAULT_MGM_KEY as DEFAULT_KEY,
};
