//! Service-to-service identity: mTLS client certificates with SPIFFE IDs,
//! and access tokens bound to them (RFC 8705).
//!
//! Without configuration it runs a self-contained demo: it makes a
//! throwaway PKI in memory (rcgen), serves an axum API over TLS with
//! optional client authentication (`authgate::mtls::serve`), and calls it
//! with a client certificate for an allowed SPIFFE ID (200), for another ID
//! (403 on `/admin`), without a certificate (401), and with a token bound
//! to another certificate (401). It prints each answer and exits 0.
//!
//! ```text
//! cargo run --example mtls --features mtls,jwt
//! ```
//!
//! With your own PKI, set these and it serves until killed:
//!
//! ```text
//! AUTHGATE_BIND=127.0.0.1:8443 \
//! AUTHGATE_TLS_CERT=server.pem AUTHGATE_TLS_KEY=server.key \
//! AUTHGATE_CLIENT_CA=client-ca.pem \
//! AUTHGATE_TRUST_DOMAIN=prod.example \
//! AUTHGATE_ADMIN_ID=spiffe://prod.example/ns/ops/sa/admin \
//! cargo run --example mtls --features mtls,jwt,jwks-http
//! ```
//!
//! - `GET /me`: 200 with `{"subject", "spiffe_id", "thumbprint"}`, 401
//!   without a client certificate;
//! - `GET /admin`: 200 only for `AUTHGATE_ADMIN_ID`, else 403;
//! - with `AUTHGATE_JWKS_URL`, `AUTHGATE_ISSUER` and `AUTHGATE_AUDIENCE`
//!   also set, `GET /token` takes `Authorization: Bearer` JWTs from that
//!   issuer, enforces `cnf.x5t#S256` against the connection's certificate,
//!   and answers the same JSON plus `"bound": true|false`.
//!
//! A certificate from a CA outside `AUTHGATE_CLIENT_CA` never completes
//! the handshake.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use authgate::jwt::{Issuer, JwtKey, JwtScheme};
use authgate::mtls::{self, ClientAuth, ClientCertScheme, Workloads};
use authgate::{AuthLayer, Principal};
use axum::routing::get;
use axum::{Extension, Json, Router};
use http_body_util::{BodyExt, Empty};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::json;

type BoxError = Box<dyn Error + Send + Sync>;

fn describe(principal: &Principal) -> serde_json::Value {
    json!({
        "subject": principal.subject(),
        "spiffe_id": principal.claim("spiffe_id"),
        "thumbprint": principal.credential_id(),
    })
}

async fn me(Extension(principal): Extension<Principal>) -> Json<serde_json::Value> {
    Json(describe(&principal))
}

async fn token(Extension(principal): Extension<Principal>) -> Json<serde_json::Value> {
    let bound = principal
        .claim("cnf")
        .and_then(|cnf| cnf.get("x5t#S256"))
        .is_some();
    let mut body = describe(&principal);
    if let Some(fields) = body.as_object_mut() {
        fields.insert("bound".into(), json!(bound));
    }
    Json(body)
}

/// The API: `/me` and `/admin` for certificates, `/token` for bearer tokens
/// (bound ones checked against the connection's certificate).
fn api(trust_domain: &str, admin_id: &str, jwt: Option<JwtScheme>) -> Result<Router, BoxError> {
    let certs = AuthLayer::builder()
        .scheme(
            ClientCertScheme::builder()
                .trust_domain(trust_domain)
                .build()?,
        )
        .build()?;
    let admin = Workloads::new().id(admin_id)?;
    let mut app = Router::new()
        .route("/admin", get(|| async { "hello, admin\n" }))
        .route_layer(certs.with_authorizer(admin))
        .route("/me", get(me))
        .layer(certs);
    if let Some(jwt) = jwt {
        let tokens = AuthLayer::builder().scheme(jwt).build()?;
        app = app.route("/token", get(token).layer(tokens));
    }
    Ok(app)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    authgate::jwt::install_default();
    match std::env::var("AUTHGATE_BIND") {
        Ok(bind) => serve_configured(&bind).await,
        Err(_) => demo().await,
    }
}

fn env(name: &str) -> Result<String, BoxError> {
    std::env::var(name).map_err(|_| format!("{name} is not set").into())
}

async fn serve_configured(bind: &str) -> Result<(), BoxError> {
    let jwt = match (
        std::env::var("AUTHGATE_JWKS_URL"),
        std::env::var("AUTHGATE_ISSUER"),
        std::env::var("AUTHGATE_AUDIENCE"),
    ) {
        (Ok(jwks), Ok(issuer), Ok(audience)) => Some(
            JwtScheme::builder()
                .issuer(Issuer::new(issuer).audience(audience).jwks_url(jwks))
                .build()?,
        ),
        _ => None,
    };
    let app = api(
        &env("AUTHGATE_TRUST_DOMAIN")?,
        &env("AUTHGATE_ADMIN_ID")?,
        jwt,
    )?;
    let tls = mtls::server_config(
        &std::fs::read(env("AUTHGATE_TLS_CERT")?)?,
        &std::fs::read(env("AUTHGATE_TLS_KEY")?)?,
        &std::fs::read(env("AUTHGATE_CLIENT_CA")?)?,
        ClientAuth::Optional,
    )?;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("serving https://{} (mTLS optional)", listener.local_addr()?);
    mtls::serve(listener, tls, app).await?;
    Ok(())
}

/// A client identity made by the demo's CA.
struct Client {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn issue(ca: &rcgen::Issuer<'_, rcgen::KeyPair>, spiffe_id: &str) -> Result<Client, BoxError> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params.subject_alt_names = vec![rcgen::SanType::URI(spiffe_id.try_into()?)];
    let cert = params.signed_by(&key, ca)?;
    Ok(Client {
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::try_from(key.serialize_der())?,
    })
}

/// GET `path` over TLS as `client` (or with no certificate).
async fn call(
    ca_der: &CertificateDer<'static>,
    addr: SocketAddr,
    client: Option<&Client>,
    path: &str,
    bearer: Option<&str>,
) -> Result<(u16, String), BoxError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_der.clone())?;
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    let config = match client {
        Some(c) => builder.with_client_auth_cert(c.chain.clone(), c.key.clone_key())?,
        None => builder.with_no_client_auth(),
    };
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
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
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).trim().to_owned()))
}

async fn demo() -> Result<(), BoxError> {
    const DOMAIN: &str = "prod.example";
    const API_ID: &str = "spiffe://prod.example/ns/payments/sa/api";
    const ADMIN_ID: &str = "spiffe://prod.example/ns/ops/sa/admin";

    // A throwaway PKI: one CA for the server and the clients.
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate()?)?;
    let server_key = rcgen::KeyPair::generate()?;
    let server_cert =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&server_key, &ca)?;
    let api_client = issue(&ca, API_ID)?;
    let admin_client = issue(&ca, ADMIN_ID)?;

    // Tokens bound to a certificate, from a demo issuer (HS256).
    let secret = [42u8; 32];
    let jwt = JwtScheme::builder()
        .issuer(
            Issuer::new("https://login.example")
                .audience("api")
                .key(JwtKey::shared_secret(&secret)?),
        )
        .build()?;
    let thumbprint = {
        use base64::Engine as _;
        let leaf = admin_client.chain.first().ok_or("no leaf")?;
        let digest = ring::digest::digest(&ring::digest::SHA256, leaf.as_ref());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    };
    let bound_to_admin = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({
            "iss": "https://login.example", "aud": "api", "sub": "alice",
            "exp": 4_000_000_000u64, "cnf": { "x5t#S256": thumbprint },
        }),
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )?;

    let tls = mtls::server_config(
        server_cert.pem().as_bytes(),
        server_key.serialize_pem().as_bytes(),
        ca.pem().as_bytes(),
        ClientAuth::Optional,
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(mtls::serve(
        listener,
        tls,
        api(DOMAIN, ADMIN_ID, Some(jwt))?,
    ));

    let ca_der = ca.der().clone();
    type Check<'a> = (&'a str, Option<&'a Client>, &'a str, Option<&'a str>, u16);
    let checks: [Check<'_>; 6] = [
        (
            "payments workload, /me",
            Some(&api_client),
            "/me",
            None,
            200,
        ),
        (
            "admin workload, /admin",
            Some(&admin_client),
            "/admin",
            None,
            200,
        ),
        (
            "payments workload, /admin",
            Some(&api_client),
            "/admin",
            None,
            403,
        ),
        ("no certificate, /me", None, "/me", None, 401),
        (
            "token bound to the admin cert, over the admin cert",
            Some(&admin_client),
            "/token",
            Some(&bound_to_admin),
            200,
        ),
        (
            "token bound to the admin cert, over another cert",
            Some(&api_client),
            "/token",
            Some(&bound_to_admin),
            401,
        ),
    ];
    let mut failed = 0;
    for (what, client, path, bearer, expected) in checks {
        let (status, body) = call(&ca_der, addr, client, path, bearer).await?;
        let verdict = if status == expected {
            "ok"
        } else {
            "UNEXPECTED"
        };
        println!("{what}: {status} ({verdict}) {body}");
        if status != expected {
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(format!("{failed} unexpected answers").into());
    }
    Ok(())
}
