//! Interoperability with an authorization server nobody here wrote:
//! panva's `oidc-provider` (npm, pinned by tests/interop/oidc-provider's
//! package-lock.json), started on loopback with the client credentials
//! grant, JWT access tokens for one resource, opaque ones for another, and
//! introspection. The test obtains real tokens from it and calls a real
//! axum server guarded by authgate over HTTP.
//!
//! `.ci/run` runs `npm ci` there first. Locally, without node or the
//! installed package, the test prints a notice and passes, unless `CI` is
//! set: then it fails.
#![cfg(feature = "introspection")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use authgate::introspection::{jwt_or_opaque, IntrospectionScheme};
use authgate::jwt::{Issuer, JwtScheme};
use authgate::{AuthLayer, Principal, RequireScopes};
use axum::routing::get;
use serde_json::{json, Value};

const JWT_RESOURCE: &str = "https://api.example/jwt";
const OPAQUE_RESOURCE: &str = "https://api.example/opaque";
const APP: (&str, &str) = ("app", "app-secret-0123456789-0123456789-0123456789");
const RS: (&str, &str) = ("authgate-rs", "rs-secret-0123456789-0123456789-0123456789");

/// The provider's process, killed when the test ends however it ends.
struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn directory() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/oidc-provider")
}

/// Starts the provider, or says why it cannot (`None` after a notice
/// locally; a panic when `CI` is set).
fn start() -> Option<Provider> {
    let dir = directory();
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let installed = dir.join("node_modules/oidc-provider/package.json").exists();
    if !node_ok || !installed {
        let why = if node_ok {
            "oidc-provider is not installed (run `npm ci` in tests/interop/oidc-provider)"
        } else {
            "node is not installed"
        };
        if std::env::var_os("CI").is_some() {
            panic!("CI is set and the interop test cannot run: {why}");
        }
        println!("notice: skipping the oidc-provider interop test: {why}");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("node")
        .arg("server.js")
        .arg(port.to_string())
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node server.js");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(issuer) = line.strip_prefix("READY ") {
                let _ = tx.send(issuer.to_owned());
            }
        }
    });
    let mut provider = Provider {
        child,
        issuer: String::new(),
    };
    provider.issuer = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("oidc-provider did not start within 30 s");
    Some(provider)
}

/// A token from the provider's token endpoint (client credentials).
async fn token(client: &reqwest::Client, issuer: &str, resource: &str, scope: &str) -> String {
    let response = client
        .post(format!("{issuer}/token"))
        .basic_auth(APP.0, Some(APP.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&scope={}&resource={}",
            scope.replace(' ', "+"),
            resource.replace(':', "%3A").replace('/', "%2F")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn me(principal: Principal) -> axum::Json<Value> {
    let scopes: Vec<&str> = principal.scopes().iter().collect();
    axum::Json(json!({
        "sub": principal.subject(),
        "scopes": scopes,
        "client_id": principal.claim("client_id"),
        "token": if principal.scheme() == "jwt" { "jwt" } else { "opaque" },
    }))
}

#[tokio::test]
async fn tokens_from_oidc_provider_pass_authgate() {
    let Some(provider) = start() else {
        return;
    };
    let issuer = provider.issuer.clone();
    let jwt = JwtScheme::builder()
        .issuer(Issuer::new(&issuer).audience(JWT_RESOURCE).oidc_discovery())
        .rfc9068_strict()
        .max_token_lifetime(Duration::from_secs(3600))
        .build()
        .unwrap();
    let opaque = IntrospectionScheme::builder()
        .issuer(&issuer)
        .discover_endpoint()
        .client(RS.0, RS.1)
        .audience(OPAQUE_RESOURCE)
        .build()
        .unwrap();
    let auth = AuthLayer::builder()
        .scheme(jwt_or_opaque(jwt, opaque.clone()).unwrap())
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route("/admin", get(|| async { "admin" }))
        .route_layer(RequireScopes::all(["admin"]))
        .route("/me", get(me))
        .layer(auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::new();
    let get =
        |path: &str, token: &str| client.get(format!("{api}{path}")).bearer_auth(token).send();

    let opaque_token = token(&client, &issuer, OPAQUE_RESOURCE, "orders:read").await;
    let jwt_token = token(&client, &issuer, JWT_RESOURCE, "orders:read").await;
    assert_eq!(jwt_token.split('.').count(), 3, "a JWT access token");
    assert_eq!(opaque_token.split('.').count(), 1, "an opaque access token");

    for (token, kind) in [(&opaque_token, "opaque"), (&jwt_token, "jwt")] {
        let response = get("/me", token).await.unwrap();
        assert_eq!(response.status(), 200, "{kind}");
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body["token"], kind);
        assert_eq!(body["client_id"], "app");
        assert_eq!(body["sub"], "app");
        assert_eq!(body["scopes"], json!(["orders:read"]));
        // No `admin` scope: 403 on /admin.
        assert_eq!(get("/admin", token).await.unwrap().status(), 403, "{kind}");
    }
    for resource in [OPAQUE_RESOURCE, JWT_RESOURCE] {
        let admin = token(&client, &issuer, resource, "orders:read admin").await;
        assert_eq!(get("/admin", &admin).await.unwrap().status(), 200);
    }
    assert_eq!(
        get("/me", "not-a-token-it-issued").await.unwrap().status(),
        401
    );

    // Revoked at the provider: inactive once the cached answer is gone.
    let response = client
        .post(format!("{issuer}/token/revocation"))
        .basic_auth(APP.0, Some(APP.1))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={opaque_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        get("/me", &opaque_token).await.unwrap().status(),
        200,
        "cached"
    );
    opaque.clear_cache();
    assert_eq!(get("/me", &opaque_token).await.unwrap().status(), 401);
}
