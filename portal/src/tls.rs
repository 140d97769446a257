//! TLS for the citizen's area: the client must present a certificate of
//! the CA (rustls's WebPKI client verifier, rooted at the CA's certificate
//! only), and each connection's handler sees it as a [`ClientCertificate`]
//! extension. Whether the registry still holds that certificate as valid
//! is the area's question (`area::Portal::citizen`), asked on every
//! request.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use axum::middleware::AddExtension;
use axum::Extension;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tower::Layer;

/// The certificate the TLS client presented (DER), verified against the CA.
#[derive(Clone)]
pub struct ClientCertificate(pub Arc<Vec<u8>>);

impl ClientCertificate {
    /// What the area's form tokens are bound to: the certificate's SHA-256.
    pub fn binding(&self) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(self.0.as_slice()).into()
    }
}

/// The server configuration of the area: the portal's certificate and key
/// (PEM files), client certificates required and verified against
/// `ca_der`, HTTP/2 or 1.1.
pub fn area_config(cert: &Path, key: &Path, ca_der: &[u8]) -> Result<RustlsConfig, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("the TLS certificate {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("the TLS key {}: {e}", key.display()))?;
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der.to_vec()))
        .map_err(|e| format!("the CA's certificate as a client root: {e}"))?;
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .map_err(|e| format!("the client verifier: {e}"))?;
    let mut config = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("the TLS certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}

/// rustls's acceptor, with the client's certificate handed to the
/// connection's service.
#[derive(Clone)]
pub struct ClientAuthAcceptor(pub RustlsAcceptor);

type Accepted<I, S> = (TlsStream<I>, AddExtension<S, ClientCertificate>);

impl<I, S> Accept<I, S> for ClientAuthAcceptor
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Send + 'static,
{
    type Stream = TlsStream<I>;
    type Service = AddExtension<S, ClientCertificate>;
    type Future = Pin<Box<dyn Future<Output = io::Result<Accepted<I, S>>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let inner = self.0.clone();
        Box::pin(async move {
            let (stream, service) = inner.accept(stream, service).await?;
            let leaf = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .map(|c| c.as_ref().to_vec())
                .ok_or_else(|| io::Error::other("no client certificate"))?;
            let service = Extension(ClientCertificate(Arc::new(leaf))).layer(service);
            Ok((stream, service))
        })
    }
}
