//! `--ca-url` and its companions: the station as the registration authority
//! of a CA reached over CMP, instead of a local CA directory.

use std::path::PathBuf;

use clap::Args;
use firma_station_engine::ca::cmp::{CmpCa, CmpConfig, ProfileNames};
use firma_station_engine::ca::CaError;

use super::{data_dir, Cli};

#[derive(Args, Clone, Debug, Default)]
pub struct CmpArgs {
    /// The CA's CMP address (http://host:port/path). With it the station
    /// enrols and revokes over CMP as the CA's registration authority, and
    /// no local CA directory is used.
    #[arg(long, global = true, env = "FIRMA_STATION_CA_URL", value_name = "URL")]
    pub ca_url: Option<String>,
    /// The CA's certificate (PEM or DER), pinned: answers must be signed by
    /// it or by a certificate it issued. Default: DATA_DIR/cmp/ca.pem.
    #[arg(
        long,
        global = true,
        env = "FIRMA_STATION_CA_CERT",
        value_name = "FILE"
    )]
    pub ca_cert: Option<PathBuf>,
    /// The station's RA key (P-256, PEM). Default: DATA_DIR/cmp/ra.key.
    #[arg(long, global = true, env = "FIRMA_STATION_RA_KEY", value_name = "FILE")]
    pub ra_key: Option<PathBuf>,
    /// The station's RA certificate, issued by the CA. Default: DATA_DIR/cmp/ra.pem.
    #[arg(
        long,
        global = true,
        env = "FIRMA_STATION_RA_CERT",
        value_name = "FILE"
    )]
    pub ra_cert: Option<PathBuf>,
    /// Where the CA publishes its CRL (http://...).
    #[arg(long, global = true, env = "FIRMA_STATION_CRL_URL", value_name = "URL")]
    pub crl_url: Option<String>,
    /// The CA's certificate profile for 9A (authentication).
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        default_value = "firma-authentication"
    )]
    pub profile_authentication: String,
    /// The CA's certificate profile for 9C (qualified signature).
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        default_value = "firma-qualified-signature"
    )]
    pub profile_signature: String,
    /// The CA's certificate profile for 9D (encryption).
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        default_value = "firma-encryption"
    )]
    pub profile_encryption: String,
    /// The CA's profile for the generation portal's software certificates.
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        default_value = "firma-software"
    )]
    pub profile_software: String,
}

/// The CMP CA of `--ca-url`, if one is given.
pub fn open(cli: &Cli) -> Option<Result<CmpCa, CaError>> {
    let args = &cli.cmp;
    let url = args.ca_url.as_ref()?;
    let dir = data_dir(cli).join("cmp");
    let ca_cert = args.ca_cert.clone().unwrap_or_else(|| dir.join("ca.pem"));
    let ra_key = args.ra_key.clone().unwrap_or_else(|| dir.join("ra.key"));
    let ra_cert = args.ra_cert.clone().unwrap_or_else(|| dir.join("ra.pem"));
    Some((|| {
        let mut config = CmpConfig::from_files(url, &ca_cert, &ra_key, &ra_cert)?;
        config.crl_url = args.crl_url.clone();
        config.profiles = ProfileNames {
            authentication: args.profile_authentication.clone(),
            signature: args.profile_signature.clone(),
            key_management: args.profile_encryption.clone(),
            software: args.profile_software.clone(),
        };
        CmpCa::new(config)
    })())
}
