//! The commands: `init`, `serve`, `crl`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use der::Decode;
use firma_station_engine::ca::{CaError, CertificateAuthority, LocalCa};
use firma_station_engine::profile::Profile;
use x509_cert::Certificate;

use crate::http::{self, Paths};
use crate::responder::{Profiles, Responder};
use crate::responder_cert;

#[derive(Parser)]
#[command(
    name = "firma-ca",
    version,
    about = "Firma's CA: CMP over HTTP for registered RAs"
)]
pub struct Cli {
    /// The CA's directory (key, certificate, issued certificates,
    /// revocations, CRL; `ra/` holds the accepted RA certificates).
    #[arg(long, global = true, env = "FIRMA_CA_DIR", default_value = "firma-ca")]
    pub dir: PathBuf,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Create a new CA in the directory.
    Init {
        #[arg(long, default_value = "Firma CA")]
        name: String,
    },
    /// Serve CMP (and the CRL) over HTTP.
    Serve(ServeArgs),
    /// Write the current CRL (PEM), re-signed first if it is about to expire.
    Crl {
        /// Where to write it (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DefaultProfile {
    Authentication,
    Signature,
    Encryption,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8829")]
    listen: String,
    /// The CMP path.
    #[arg(long, default_value = "/pkix/")]
    path: String,
    /// The CRL's path (its distribution point).
    #[arg(long, default_value = "/crl")]
    crl_path: String,
    /// The CRL's public address, put in every certificate as its CRL
    /// distribution point. Default: this server's CRL path on --listen.
    #[arg(long, value_name = "URL")]
    crl_url: Option<String>,
    /// A certificate policy (OID) put in every certificate; repeat for more.
    #[arg(long = "policy", value_name = "OID")]
    policies: Vec<String>,
    /// More accepted RA certificates (PEM), besides DIR/ra/*.pem.
    #[arg(long = "ra-cert")]
    ra_certs: Vec<PathBuf>,
    /// The profile for requests that name none (clients that cannot send
    /// id-it-certProfile); without it such requests are refused.
    #[arg(long, value_enum)]
    default_profile: Option<DefaultProfile>,
    /// Seconds an issued certificate waits for its certConf; then it is revoked.
    #[arg(long, default_value_t = 600)]
    confirm_timeout_secs: u64,
    /// How often the CRL is checked and re-signed a day before it expires.
    #[arg(long, default_value_t = 3600)]
    crl_check_secs: u64,
}

fn read_cert(path: &Path) -> Result<Certificate, CaError> {
    let unreadable = |reason: String| CaError::Unreadable {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
    let der = match der::pem::decode_vec(&bytes) {
        Ok((_, der)) => der,
        Err(_) => bytes,
    };
    Certificate::from_der(&der).map_err(|e| unreadable(format!("not a certificate: {e}")))
}

fn ra_certs(dir: &Path, more: &[PathBuf]) -> Result<Vec<Certificate>, CaError> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir.join("ra")) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "pem"))
            .collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    paths.extend(more.iter().cloned());
    paths.iter().map(|p| read_cert(p)).collect()
}

pub fn exec(cli: &Cli) -> Result<(), CaError> {
    match &cli.command {
        Cmd::Init { name } => {
            LocalCa::init(&cli.dir, name)?;
            responder_cert::ensure(&cli.dir)?;
            let ra = cli.dir.join("ra");
            std::fs::create_dir_all(&ra).map_err(|source| CaError::Io { path: ra, source })?;
            println!(
                "A new CA is in {}: its certificate is {}. Put the certificates of the RAs it accepts in {}",
                cli.dir.display(),
                cli.dir.join("ca.pem").display(),
                cli.dir.join("ra").display()
            );
            Ok(())
        }
        Cmd::Crl { out } => {
            let ca = LocalCa::open(&cli.dir)?;
            let der = ca.crl()?;
            let pem = der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &der)
                .map_err(|e| CaError::Encoding(e.into()))?;
            match out {
                Some(path) => std::fs::write(path, pem).map_err(|source| CaError::Io {
                    path: path.clone(),
                    source,
                })?,
                None => print!("{pem}"),
            }
            Ok(())
        }
        Cmd::Serve(args) => serve(&cli.dir, args),
    }
}

fn serve(dir: &Path, args: &ServeArgs) -> Result<(), CaError> {
    let policies = args
        .policies
        .iter()
        .map(|p| {
            p.parse::<der::asn1::ObjectIdentifier>()
                .map_err(|_| CaError::CmpConfig(format!("{p:?} is not an OID (--policy)")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ca = LocalCa::open(dir)?.with_policies(policies);
    let signer = responder_cert::ensure(dir)?;
    let ras = ra_certs(dir, &args.ra_certs)?;
    if ras.is_empty() {
        return Err(CaError::CmpConfig(format!(
            "no RA certificate is configured: put the station's RA certificate in {} or give --ra-cert",
            dir.join("ra").display()
        )));
    }
    let profiles = Profiles {
        default: args.default_profile.map(|p| match p {
            DefaultProfile::Authentication => Profile::Authentication.into(),
            DefaultProfile::Signature => Profile::Signature.into(),
            DefaultProfile::Encryption => Profile::KeyManagement.into(),
        }),
        ..Profiles::default()
    };
    let listener = TcpListener::bind(&args.listen).map_err(|source| CaError::Io {
        path: PathBuf::from(&args.listen),
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| CaError::Io {
        path: PathBuf::from(&args.listen),
        source,
    })?;
    let crl_url = args
        .crl_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}{}", args.crl_path));
    let ca = ca.with_distribution_point(&crl_url);
    let responder = Arc::new(
        Responder::new(ca, signer, ras, profiles)?
            .with_confirm_timeout(Duration::from_secs(args.confirm_timeout_secs)),
    );
    // The CRL on schedule: re-signed before its nextUpdate passes, even if
    // nothing is revoked.
    let every = Duration::from_secs(args.crl_check_secs.max(1));
    let crl_responder = responder.clone();
    std::thread::spawn(move || loop {
        if let Err(e) = crl_responder.ca().crl() {
            tracing::warn!(error = %e, "the CRL could not be re-signed");
        }
        crl_responder.sweep();
        std::thread::sleep(every);
    });
    println!(
        "firma-ca: serving CMP on http://{addr}{} (CRL on http://{addr}{})",
        args.path, args.crl_path
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let paths = Paths {
        cmp: args.path.clone(),
        crl: args.crl_path.clone(),
    };
    http::serve(listener, responder, paths).map_err(|source| CaError::Io {
        path: PathBuf::from(&args.listen),
        source,
    })
}
