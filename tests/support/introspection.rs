//! A real introspection endpoint (axum on 127.0.0.1:0) for the
//! introspection tests: it counts calls, records what the client sent,
//! answers from a table of tokens, and can fail in every way a real
//! authorization server does.

#![allow(dead_code, unreachable_pub, missing_docs)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde_json::{json, Value};

use super::Signer;

/// What the endpoint answers.
#[derive(Clone)]
pub enum Mode {
    /// The token table (`{"active": false}` for unknown tokens).
    Normal,
    Status(u16),
    Malformed,
    Oversized,
    Redirect,
    /// RFC 9701 signed answers, correct.
    Signed,
    SignedWrongAud,
    SignedWrongTyp,
    SignedBadSignature,
}

/// One call as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub authorization: Option<String>,
    pub accept: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

pub struct AsState {
    pub base: String,
    pub tokens: Mutex<HashMap<String, Value>>,
    pub mode: Mutex<Mode>,
    pub delay: Mutex<Duration>,
    pub calls: AtomicU64,
    pub received: Mutex<Vec<Received>>,
    pub signer: Signer,
    pub impostor: Signer,
}

#[derive(Clone)]
pub struct AuthServer {
    pub addr: SocketAddr,
    pub state: Arc<AsState>,
}

impl AuthServer {
    pub fn base(&self) -> String {
        self.state.base.clone()
    }

    pub fn endpoint(&self) -> String {
        format!("{}/introspect", self.base())
    }

    pub fn set(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    pub fn delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    pub fn token(&self, token: &str, answer: Value) {
        self.state
            .tokens
            .lock()
            .unwrap()
            .insert(token.to_owned(), answer);
    }

    pub fn calls(&self) -> u64 {
        self.state.calls.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }
}

fn form_value(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| decode(v))
    })
}

/// Decodes one `application/x-www-form-urlencoded` value.
pub fn decode(value: &str) -> String {
    let mut out = Vec::new();
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

async fn introspect(
    State(state): State<Arc<AsState>>,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    state.calls.fetch_add(1, Ordering::SeqCst);
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
    };
    state.received.lock().unwrap().push(Received {
        authorization: header("authorization"),
        accept: header("accept"),
        content_type: header("content-type"),
        body: body.clone(),
    });
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let token = form_value(&body, "token").unwrap_or_default();
    let answer = state
        .tokens
        .lock()
        .unwrap()
        .get(&token)
        .cloned()
        .unwrap_or_else(|| json!({"active": false}));
    let mode = state.mode.lock().unwrap().clone();
    let signed = |signer: &Signer, aud: &str, typ: &str| {
        let mut h = signer.header();
        h.typ = Some(typ.to_owned());
        let claims = json!({
            "iss": state.base, "aud": aud, "iat": super::now_unix(),
            "token_introspection": answer,
        });
        let jwt = signer.sign_with(&h, &claims);
        (
            [("content-type", "application/token-introspection+jwt")],
            jwt,
        )
            .into_response()
    };
    match mode {
        Mode::Normal => axum::Json(answer).into_response(),
        Mode::Status(code) => axum::http::StatusCode::from_u16(code)
            .unwrap()
            .into_response(),
        Mode::Malformed => {
            ([("content-type", "application/json")], "{\"active\": tr").into_response()
        }
        Mode::Oversized => {
            let pad = "x".repeat(1024 * 1024);
            axum::Json(json!({"active": true, "sub": "alice", "pad": pad})).into_response()
        }
        Mode::Redirect => (
            axum::http::StatusCode::FOUND,
            [("location", "https://evil.example/introspect")],
        )
            .into_response(),
        Mode::Signed => signed(&state.signer, "resource-server", "token-introspection+jwt"),
        Mode::SignedWrongAud => signed(&state.signer, "someone-else", "token-introspection+jwt"),
        Mode::SignedWrongTyp => signed(&state.signer, "resource-server", "JWT"),
        Mode::SignedBadSignature => signed(
            &state.impostor,
            "resource-server",
            "token-introspection+jwt",
        ),
    }
}

pub async fn auth_server() -> AuthServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let signer = Signer::ec("as-key");
    // Another key under the same kid: a forged signature.
    let impostor = Signer::ec("as-key");
    let state = Arc::new(AsState {
        base: base.clone(),
        tokens: Mutex::new(HashMap::new()),
        mode: Mutex::new(Mode::Normal),
        delay: Mutex::new(Duration::ZERO),
        calls: AtomicU64::new(0),
        received: Mutex::new(Vec::new()),
        signer,
        impostor,
    });
    let discovery = {
        let base = base.clone();
        move || async move {
            axum::Json(json!({
                "issuer": base,
                "jwks_uri": format!("{base}/jwks"),
                "introspection_endpoint": format!("{base}/introspect"),
            }))
        }
    };
    let jwks = {
        let jwk = state.signer.jwk.clone();
        move || async move { axum::Json(json!({"keys": [jwk]})) }
    };
    let app = axum::Router::new()
        .route("/introspect", axum::routing::post(introspect))
        .route("/jwks", axum::routing::get(jwks))
        .route(
            "/.well-known/openid-configuration",
            axum::routing::get(discovery),
        )
        .with_state(Arc::clone(&state));
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    AuthServer { addr, state }
}
