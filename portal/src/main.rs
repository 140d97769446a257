//! `firma-portal`: serves the generation portal over HTTPS on the station's
//! registry and CA.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use clap::Parser;
use firma_portal::limits::Limits;
use firma_portal::{area, routes, tls, Portal};
use firma_station_engine::audit::Actor;
use firma_station_engine::ca::cmp::{CmpCa, CmpConfig};
use firma_station_engine::ca::{CertificateAuthority, LocalCa};
use firma_station_engine::engine::{Config, RegistryLocation, Station};
use firma_station_engine::generation_code::{CodeKey, KEY_FILE};

#[derive(Parser)]
#[command(name = "firma-portal", version, about)]
struct Args {
    /// The station's data directory (made by `firma-station init`): the
    /// registry, the local CA and the Generation Codes' key.
    #[arg(long, env = "FIRMA_STATION_DIR", value_name = "DIR")]
    data_dir: PathBuf,
    /// The central registry (postgresql://...) instead of the embedded one.
    #[arg(long, env = "FIRMA_REGISTRY", value_name = "URL")]
    registry: Option<String>,
    /// A file holding the central registry's password.
    #[arg(long, value_name = "FILE")]
    registry_password_file: Option<PathBuf>,
    /// The local CA's directory (default: DIR/ca), when no --ca-url is
    /// given. A portal facing the Internet should not hold the CA's key:
    /// give it --ca-url.
    #[arg(long, value_name = "DIR", conflicts_with = "ca_url")]
    ca: Option<PathBuf>,
    /// The CA's CMP address (http://host:port/path): the portal enrols and
    /// revokes over CMP as one of the CA's registration authorities, and
    /// holds no CA key.
    #[arg(long, env = "FIRMA_PORTAL_CA_URL", value_name = "URL")]
    ca_url: Option<String>,
    /// The CA's certificate (PEM or DER), pinned. Default: DIR/cmp/ca.pem.
    #[arg(long, value_name = "FILE", requires = "ca_url")]
    ca_cert: Option<PathBuf>,
    /// The portal's RA key (P-256, PEM). Default: DIR/cmp/ra.key.
    #[arg(long, value_name = "FILE", requires = "ca_url")]
    ra_key: Option<PathBuf>,
    /// The portal's RA certificate, issued by the CA. Default: DIR/cmp/ra.pem.
    #[arg(long, value_name = "FILE", requires = "ca_url")]
    ra_cert: Option<PathBuf>,
    /// Where the CA publishes its CRL (http://...).
    #[arg(long, value_name = "URL", requires = "ca_url")]
    crl_url: Option<String>,
    /// The CA's profile for software certificates.
    #[arg(long, value_name = "NAME", default_value = "firma-software")]
    profile_software: String,
    /// Where to listen (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: String,
    /// The portal's TLS certificate chain (PEM).
    #[arg(long, value_name = "PEM")]
    tls_cert: PathBuf,
    /// The portal's TLS private key (PEM).
    #[arg(long, value_name = "PEM")]
    tls_key: PathBuf,
    /// Where to serve the citizen's area (TLS client authentication with a
    /// certificate of the CA; port 0: any free port). Not served without.
    #[arg(long, value_name = "ADDRESS")]
    area_listen: Option<String>,
    /// Attempts taken from one client address in 15 minutes (raise it for
    /// an office whose citizens share one address).
    #[arg(long, value_name = "N", default_value_t = Limits::default().per_address.max)]
    per_address: usize,
    /// The name the audit log gives this portal.
    #[arg(long, default_value = "portal")]
    name: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FIRMA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("firma-portal: {e}");
            ExitCode::from(2)
        }
    }
}

/// A listener on `at` for tokio, and the address it got (port 0: any).
fn listen(at: &str) -> Result<(TcpListener, SocketAddr), String> {
    let listener = TcpListener::bind(at).map_err(|e| format!("cannot listen on {at}: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((listener, address))
}

/// The CA of `--ca-url` over CMP, or the local CA's directory.
fn open_ca(args: &Args) -> Result<Box<dyn CertificateAuthority>, String> {
    if let Some(url) = &args.ca_url {
        let dir = args.data_dir.join("cmp");
        let or = |given: &Option<PathBuf>, name: &str| given.clone().unwrap_or(dir.join(name));
        let mut config = CmpConfig::from_files(
            url,
            &or(&args.ca_cert, "ca.pem"),
            &or(&args.ra_key, "ra.key"),
            &or(&args.ra_cert, "ra.pem"),
        )
        .map_err(|e| e.to_string())?;
        config.crl_url = args.crl_url.clone();
        config.profiles.software = args.profile_software.clone();
        return Ok(Box::new(CmpCa::new(config).map_err(|e| e.to_string())?));
    }
    let ca_dir = args.ca.clone().unwrap_or_else(|| args.data_dir.join("ca"));
    let mut ca =
        LocalCa::open(&ca_dir).map_err(|e| format!("the CA in {}: {e}", ca_dir.display()))?;
    // Short certificates, for the tests of renewal (a build with the
    // station's test knobs only).
    if let Some(days) = firma_station_engine::knobs::cert_days() {
        ca = ca.with_validity(time::Duration::days(days));
    }
    Ok(Box::new(ca))
}

fn run(args: Args) -> Result<(), String> {
    let registry = match &args.registry {
        Some(url) => RegistryLocation::Central {
            url: url.clone(),
            password_file: args.registry_password_file.clone(),
        },
        None => RegistryLocation::Embedded,
    };
    let ca = open_ca(&args)?;
    let actor = Actor {
        operator: "portal".into(),
        station: args.name.clone(),
    };
    let station = Station::open_at(&args.data_dir, &registry, ca, actor, Config::default())
        .map_err(|e| e.to_string())?;
    let key_path = args.data_dir.join(KEY_FILE);
    let code_key = CodeKey::open(&key_path).map_err(|e| {
        format!("{e} (the key is made when a station issues its first Generation Code)")
    })?;
    let mut limits = Limits::default();
    limits.per_address.max = args.per_address;
    let portal = Arc::new(Portal::new(station, code_key, limits));

    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| "cannot install the TLS provider".to_string())?;
    let (listener, address) = listen(&args.listen)?;
    let (area, area_address) = match &args.area_listen {
        Some(at) => {
            let (l, address) = listen(at)?;
            (Some(l), Some(address))
        }
        None => (None, None),
    };

    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let area = match area {
            Some(listener) => {
                let tls = tls::area_config(
                    &args.tls_cert,
                    &args.tls_key,
                    portal.station.ca().certificate(),
                )?;
                let app = area::routes::router(Arc::clone(&portal)).into_make_service();
                let server = axum_server::from_tcp(listener)
                    .acceptor(tls::ClientAuthAcceptor(RustlsAcceptor::new(tls)));
                Some(tokio::spawn(async move { server.serve(app).await }))
            }
            None => None,
        };
        let tls = RustlsConfig::from_pem_file(&args.tls_cert, &args.tls_key)
            .await
            .map_err(|e| {
                format!(
                    "the TLS certificate {} or key {}: {e}",
                    args.tls_cert.display(),
                    args.tls_key.display()
                )
            })?;
        println!("firma-portal: listening on https://{address}/");
        if let Some(at) = &area_address {
            println!("firma-portal: citizen's area on https://{at}/");
        }
        let app = routes::router(portal).into_make_service_with_connect_info::<SocketAddr>();
        let portal = axum_server::from_tcp_rustls(listener, tls).serve(app);
        match area {
            Some(area) => tokio::select! {
                done = portal => done.map_err(|e| e.to_string()),
                done = area => match done {
                    Ok(served) => served.map_err(|e| format!("the citizen's area: {e}")),
                    Err(e) => Err(format!("the citizen's area: {e}")),
                },
            },
            None => portal.await.map_err(|e| e.to_string()),
        }
    })
}
