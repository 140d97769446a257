//! The values the CLI's options take, as `clap::ValueEnum`s: clap lists them
//! in `--help` and refuses anything else with exit status 2 before any
//! work begins. The engine keeps its own types and knows nothing of clap.

use clap::ValueEnum;
use firma_apdu::piv::Algorithm;
use firma_station_engine::ca::RevocationReason;

/// The citizen's key algorithm (`--algorithm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeyAlgorithm {
    /// RSA 2048 (the default).
    #[value(name = "rsa2048", alias = "rsa-2048")]
    Rsa2048,
    /// ECC P-256.
    #[value(name = "p256", aliases = ["p-256", "eccp256"])]
    P256,
    /// ECC P-384.
    #[value(name = "p384", aliases = ["p-384", "eccp384"])]
    P384,
}

impl From<KeyAlgorithm> for Algorithm {
    fn from(a: KeyAlgorithm) -> Self {
        match a {
            KeyAlgorithm::Rsa2048 => Algorithm::Rsa2048,
            KeyAlgorithm::P256 => Algorithm::EccP256,
            KeyAlgorithm::P384 => Algorithm::EccP384,
        }
    }
}

/// Why certificates are revoked (`--reason`), RFC 5280's CRLReason names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Reason {
    Unspecified,
    KeyCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
}

impl From<Reason> for RevocationReason {
    fn from(r: Reason) -> Self {
        match r {
            Reason::Unspecified => RevocationReason::Unspecified,
            Reason::KeyCompromise => RevocationReason::KeyCompromise,
            Reason::AffiliationChanged => RevocationReason::AffiliationChanged,
            Reason::Superseded => RevocationReason::Superseded,
            Reason::CessationOfOperation => RevocationReason::CessationOfOperation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_is_named_as_the_engine_names_it() {
        for r in Reason::value_variants() {
            let name = r.to_possible_value().unwrap().get_name().to_string();
            assert_eq!(RevocationReason::from(*r).to_string(), name);
        }
    }
}
