//! Client certificates (mTLS) as credentials: SPIFFE X.509-SVIDs for
//! service-to-service calls, classic certificates mapped to a name, and the
//! TLS plumbing axum and hyper lack (`mtls` feature).
//!
//! The TLS handshake verifies the client's chain against your client CA
//! bundle; what it verified reaches the layer as [`PeerCertificates`] in
//! the request extensions, and a [`ClientCertScheme`] turns the leaf into a
//! [`Principal`](crate::Principal). [`Workloads`] authorizes by SPIFFE ID,
//! trust domain or path pattern.
//!
//! - **axum / hyper:** [`server_config`] builds a rustls `ServerConfig`
//!   from PEM files, and [`serve()`] runs an accept loop that puts each
//!   connection's chain on every request it carries.
//! - **tonic** (`tonic` feature): `Server::builder().tls_config(..)` with
//!   a client CA root is all it takes; the chain tonic verified is read
//!   from its `TlsConnectInfo`.
//! - **Behind a TLS-terminating proxy**: [`ForwardedClientCerts`] reads
//!   RFC 9440 `Client-Cert` or Envoy's `x-forwarded-client-cert` from
//!   proxies you trust, and removes them from anyone else.
//! - **Anything else** that terminates TLS in-process: insert
//!   [`PeerCertificates`] yourself, only for chains your TLS stack
//!   verified.
//!
//! Client authentication is optional at the TLS layer when built with
//! [`ClientAuth::Optional`], so that a request without a certificate gets a
//! proper 401 with a challenge (and anonymous paths still work) instead of
//! a handshake failure. A certificate from a CA outside the bundle never
//! completes the handshake either way.
//!
//! A certificate is a credential only when the request presents no other:
//! with an API key or a bearer token on the same request, that credential
//! authenticates.
//!
//! # Example
//!
//! ```no_run
//! use authgate::mtls::{self, ClientAuth, ClientCertScheme, Workloads};
//! use authgate::{AuthLayer, Principal};
//! use axum::{routing::get, Router};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = AuthLayer::builder()
//!     .scheme(ClientCertScheme::builder().trust_domain("prod.example").build()?)
//!     .build()?;
//! let admin = Workloads::new().id("spiffe://prod.example/ns/ops/sa/admin")?;
//! let app = Router::new()
//!     .route("/admin", get(|| async { "admin" }))
//!     .route_layer(auth.with_authorizer(admin))
//!     .route("/me", get(|p: axum::Extension<Principal>| async move { p.subject().to_owned() }))
//!     .layer(auth);
//!
//! let tls = mtls::server_config(
//!     &std::fs::read("server.pem")?,
//!     &std::fs::read("server.key")?,
//!     &std::fs::read("client-ca.pem")?,
//!     ClientAuth::Optional,
//! )?;
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
//! mtls::serve(listener, tls, app).await?;
//! # Ok(())
//! # }
//! ```

mod authorize;
mod forwarded;
mod identity;
mod peer;
mod scheme;
mod serve;
mod spiffe;

pub use self::authorize::{InvalidWorkloadRule, Workloads};
pub use self::forwarded::{Forwarded, ForwardedClientCerts, CLIENT_CERT, CLIENT_CERT_CHAIN, XFCC};
pub use self::identity::{CertificateError, CertificateIdentity};
pub use self::peer::PeerCertificates;
pub use self::scheme::{
    ClientCertScheme, ClientCertSchemeBuilder, SubjectFrom, CHALLENGE_NAME, SCHEME_NAME,
};
pub use self::serve::{serve, server_config, ClientAuth};
pub use self::spiffe::{SpiffeId, SpiffeIdError, MAX_SPIFFE_ID_LEN};

/// The verified client chain of the request's connection, if any: our own
/// extension, or (with the `tonic` feature) tonic's `TlsConnectInfo`.
pub(crate) fn peer_certificates(parts: &http::request::Parts) -> Option<PeerCertificates> {
    if let Some(peer) = parts.extensions.get::<PeerCertificates>() {
        return Some(peer.clone());
    }
    #[cfg(feature = "tonic")]
    if let Some(peer) = tonic_peer::from_tonic(parts) {
        return Some(peer);
    }
    None
}

/// Whether the request's connection presented a client certificate.
pub(crate) fn has_peer_certificate(parts: &http::request::Parts) -> bool {
    peer_certificates(parts).is_some_and(|p| p.leaf().is_some())
}

#[cfg(feature = "tonic")]
mod tonic_peer {
    use std::cell::RefCell;
    use std::sync::Arc;

    use rustls::pki_types::CertificateDer;
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

    use super::PeerCertificates;

    type Chain = Arc<Vec<CertificateDer<'static>>>;

    thread_local! {
        /// The last connection's chain seen on this thread, and its parsed
        /// form: tonic hands the same `Arc` to every request of a
        /// connection, so the leaf is parsed about once per connection.
        /// Holding the `Arc` keeps its address from being reused.
        static LAST: RefCell<Option<(Chain, PeerCertificates)>> = const { RefCell::new(None) };
    }

    pub(super) fn from_tonic(parts: &http::request::Parts) -> Option<PeerCertificates> {
        let info = parts.extensions.get::<TlsConnectInfo<TcpConnectInfo>>()?;
        let chain = info.peer_certs().filter(|c| !c.is_empty())?;
        let hit = LAST
            .try_with(|last| {
                let last = last.try_borrow().ok()?;
                let (seen, peer) = last.as_ref()?;
                Arc::ptr_eq(seen, &chain).then(|| peer.clone())
            })
            .ok()
            .flatten();
        if hit.is_some() {
            return hit;
        }
        let peer = PeerCertificates::from_rustls(Some(chain.as_slice()))?;
        let _ = LAST.try_with(|last| {
            if let Ok(mut last) = last.try_borrow_mut() {
                *last = Some((Arc::clone(&chain), peer.clone()));
            }
        });
        Some(peer)
    }
}
