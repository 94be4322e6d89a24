//! A throwaway PKI, an mTLS server and a TLS client for the mTLS tests.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;

use authgate::mtls::{self, ClientAuth, ClientCertScheme, Workloads};
use authgate::testing::rcgen::{CertificateParams, SanType};
use authgate::testing::TestPki;
use authgate::{AuthLayer, Principal};
use axum::routing::get;
use axum::{Extension, Json, Router};
use http_body_util::{BodyExt, Empty};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

pub const TRUST_DOMAIN: &str = "prod.example";
pub const API: &str = "spiffe://prod.example/ns/payments/sa/api";
pub const ADMIN: &str = "spiffe://prod.example/ns/ops/sa/admin";

/// A client identity: its chain (leaf first) and key.
pub struct ClientCert {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
}

/// The test kit's PKI: a CA, a server certificate, client certificates.
pub struct Pki {
    pub kit: TestPki,
    pub server_cert: String,
    pub server_key: String,
}

impl Pki {
    pub fn new() -> Self {
        let kit = TestPki::new().unwrap();
        Self {
            server_cert: kit.server_cert_pem().to_owned(),
            server_key: kit.server_key_pem().to_owned(),
            kit,
        }
    }

    pub fn ca_pem(&self) -> String {
        self.kit.ca_pem()
    }

    /// A client certificate signed by this PKI's CA.
    pub fn client(&self, edit: impl FnOnce(&mut CertificateParams)) -> ClientCert {
        let cert = self.kit.client_with(edit).unwrap();
        ClientCert {
            chain: vec![CertificateDer::from(cert.cert_der().to_vec())],
            key: PrivateKeyDer::try_from(cert.key_der().to_vec()).unwrap(),
            cert_pem: cert.cert_pem().to_owned(),
            key_pem: cert.key_pem().to_owned(),
        }
    }
}

pub fn spiffe(id: &str) -> impl FnOnce(&mut CertificateParams) + '_ {
    move |p| p.subject_alt_names = vec![SanType::URI(id.try_into().unwrap())]
}

pub async fn me(principal: Extension<Principal>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "subject": principal.subject(),
        "spiffe_id": principal.claim("spiffe_id"),
        "thumbprint": principal.credential_id(),
    }))
}

/// Serves the API over TLS (optional client auth) and returns its address.
pub async fn start(pki: &Pki, scheme: ClientCertScheme) -> SocketAddr {
    let auth = AuthLayer::builder()
        .scheme(scheme)
        .anonymous_path("/health")
        .build()
        .unwrap();
    let admin = Workloads::new().id(ADMIN).unwrap();
    let app = Router::new()
        .route("/admin", get(|| async { "admin" }))
        .route_layer(auth.with_authorizer(admin))
        .route("/me", get(me))
        .route("/health", get(|| async { "ok" }))
        .layer(auth);
    let config = mtls::server_config(
        pki.server_cert.as_bytes(),
        pki.server_key.as_bytes(),
        pki.ca_pem().as_bytes(),
        ClientAuth::Optional,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(mtls::serve(listener, config, app));
    addr
}

pub fn spiffe_scheme() -> ClientCertScheme {
    ClientCertScheme::builder()
        .trust_domain(TRUST_DOMAIN)
        .build()
        .unwrap()
}

/// What a request got: status, `WWW-Authenticate`, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub challenge: Option<String>,
    pub body: String,
}

/// GET `path` over TLS, presenting `client` (or no certificate).
pub async fn get_with(
    pki: &Pki,
    addr: SocketAddr,
    client: Option<&ClientCert>,
    path: &str,
    bearer: Option<&str>,
) -> Result<Answer, Box<dyn std::error::Error + Send + Sync>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(pki.kit.ca_der()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match client {
        Some(c) => builder.with_client_auth_cert(c.chain.clone(), c.key.clone_key())?,
        None => builder.with_no_client_auth(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let tls = connector
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await?;
    tokio::spawn(connection);
    let mut request = http::Request::get(path).header("host", "localhost");
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = sender
        .send_request(request.body(Empty::<bytes::Bytes>::new())?)
        .await?;
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = String::from_utf8(response.into_body().collect().await?.to_bytes().to_vec())?;
    Ok(Answer {
        status,
        challenge,
        body,
    })
}

pub async fn fetch(pki: &Pki, addr: SocketAddr, client: Option<&ClientCert>, path: &str) -> Answer {
    get_with(pki, addr, client, path, None).await.unwrap()
}
