//! Serving an axum `Router` (or any HTTP tower service) over rustls with
//! client certificates: what axum and hyper do not ship.

use std::convert::Infallible;
use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use super::peer::PeerCertificates;
use crate::error::ConfigError;

/// Whether a TLS client must present a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// Clients may connect without one; their requests then carry no
    /// [`PeerCertificates`] and get the layer's 401 with a challenge (or
    /// pass on anonymous paths). A certificate that is presented must
    /// still chain to the client CA bundle.
    Optional,
    /// The handshake fails without a valid client certificate.
    Required,
}

/// A rustls server configuration (ring, TLS 1.2 and 1.3, ALPN `h2` and
/// `http/1.1`) with the server's certificate chain and key, verifying
/// client certificates against `client_ca_pem`.
///
/// # Errors
///
/// When a PEM input holds no certificate or key, or rustls refuses them.
///
/// ```no_run
/// use authgate::mtls::{server_config, ClientAuth};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let config = server_config(
///     &std::fs::read("server.pem")?,
///     &std::fs::read("server.key")?,
///     &std::fs::read("client-ca.pem")?,
///     ClientAuth::Required,
/// )?;
/// # let _ = config;
/// # Ok(())
/// # }
/// ```
pub fn server_config(
    cert_chain_pem: &[u8],
    key_pem: &[u8],
    client_ca_pem: &[u8],
    client_auth: ClientAuth,
) -> Result<Arc<ServerConfig>, ConfigError> {
    let bad = |why: &'static str| ConfigError::InvalidSetting {
        setting: "tls",
        why,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|_| bad("the server certificate PEM cannot be read"))?;
    if chain.is_empty() {
        return Err(bad("the server certificate PEM holds no certificate"));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|_| bad("the server key PEM holds no private key"))?;
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(client_ca_pem) {
        let ca = ca.map_err(|_| bad("the client CA PEM cannot be read"))?;
        roots
            .add(ca)
            .map_err(|_| bad("a client CA certificate is not a valid trust anchor"))?;
    }
    if roots.is_empty() {
        return Err(bad("the client CA PEM holds no certificate"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let verifier = match client_auth {
        ClientAuth::Optional => verifier.allow_unauthenticated(),
        ClientAuth::Required => verifier,
    }
    .build()
    .map_err(|_| bad("the client certificate verifier cannot be built"))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| bad("no TLS protocol version is available"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|_| bad("the server certificate and key do not fit together"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Accepts TLS connections on `listener` and serves `service` (an axum
/// `Router`, or any tower HTTP service) on each, over HTTP/1.1 or HTTP/2.
/// Every request of a connection that presented a verified client
/// certificate carries it as [`PeerCertificates`], parsed once per
/// connection.
///
/// Runs until accepting fails for good; a failed handshake (no or bad
/// certificate under [`ClientAuth::Required`], a certificate from another
/// CA, a client slower than 10 s) closes that connection only.
///
/// # Errors
///
/// When the listener fails.
///
/// ```no_run
/// # async fn run(config: std::sync::Arc<rustls::ServerConfig>) -> std::io::Result<()> {
/// let app = axum::Router::new().route("/", axum::routing::get(|| async { "hi" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
/// authgate::mtls::serve(listener, config, app).await
/// # }
/// ```
pub async fn serve<S, B>(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    service: S,
) -> std::io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let acceptor = TlsAcceptor::from(config);
    loop {
        let (tcp, _remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: wait, and go on.
            Err(error) if is_transient(&error) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(error) => return Err(error),
        };
        let acceptor = acceptor.clone();
        let service = service.clone();
        tokio::spawn(async move {
            let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            else {
                return;
            };
            let peer = PeerCertificates::from_rustls(tls.get_ref().1.peer_certificates());
            let per_request = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                // Never a copy sent by the client: extensions are not
                // headers, and this replaces whatever was there.
                request.extensions_mut().remove::<PeerCertificates>();
                if let Some(peer) = &peer {
                    request.extensions_mut().insert(peer.clone());
                }
                let mut service = service.clone();
                async move {
                    poll_fn(|cx| service.poll_ready(cx)).await?;
                    service.call(request).await
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), per_request)
                .await;
        });
    }
}

fn is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted, WouldBlock};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || error
        .raw_os_error()
        .is_some_and(|code| code == 24 || code == 23)
}
