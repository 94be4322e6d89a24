//! Webhook and signed-request endpoints with authgate.
//!
//! ```text
//! cargo run --example webhooks
//! ```
//!
//! By default the example starts a server on `127.0.0.1:0`, sends itself a
//! signed GitHub, Stripe, Slack and RFC 9421 request, prints each status and
//! exits (0 when all four were accepted).
//!
//! To point real providers (or their SDKs) at it, set `AUTHGATE_BIND` and
//! the secrets of the endpoints you want:
//!
//! | variable | endpoint |
//! |---|---|
//! | `GITHUB_WEBHOOK_SECRET` | `POST /webhooks/github` (`X-Hub-Signature-256`) |
//! | `STRIPE_WEBHOOK_SECRET` | `POST /webhooks/stripe` (`Stripe-Signature`) |
//! | `SLACK_SIGNING_SECRET` | `POST /webhooks/slack` (`X-Slack-Signature`) |
//! | `HTTPSIG_KEY_ID` + `HTTPSIG_HMAC_KEY` (base64) | `POST /signed` (RFC 9421 `hmac-sha256`) |
//!
//! ```text
//! AUTHGATE_BIND=0.0.0.0:8080 GITHUB_WEBHOOK_SECRET=… cargo run --example webhooks
//! ```
//!
//! Each endpoint answers `200 {"len": <body length>, "sha256": "<hex>"}`
//! for a valid signature, and serves until killed.
//!
//! With `AUTHGATE_REDIS_URL` also set (and the `redis` feature), every
//! endpoint's replay protection is on and stored in that Redis: several
//! copies of the receiver behind one load balancer accept a delivery once.
//!
//! ```text
//! AUTHGATE_BIND=0.0.0.0:8080 AUTHGATE_REDIS_URL=redis://127.0.0.1:6379 \
//!   GITHUB_WEBHOOK_SECRET=… cargo run --example webhooks --features redis
//! ```

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use authgate::hmac::{
    GithubWebhook, HmacKey, HttpSignatureScheme, HttpSigner, InMemorySecretStore, SecretRecord,
    SlackWebhook, StripeWebhook, WebhookSecrets,
};
use authgate::replay::ReplayStore;
use authgate::{AuthLayer, Scheme};
use axum::routing::{post, MethodRouter};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The secrets of each endpoint; `None` leaves the endpoint out.
#[derive(Default)]
struct Secrets {
    github: Option<String>,
    stripe: Option<String>,
    slack: Option<String>,
    httpsig: Option<(String, HmacKey)>,
}

impl Secrets {
    fn from_env() -> Result<Self, Error> {
        let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        let httpsig = match (var("HTTPSIG_KEY_ID"), var("HTTPSIG_HMAC_KEY")) {
            (Some(id), Some(key)) => Some((id, HmacKey::from_base64(&key)?)),
            (None, None) => None,
            _ => return Err("set both HTTPSIG_KEY_ID and HTTPSIG_HMAC_KEY".into()),
        };
        Ok(Self {
            github: var("GITHUB_WEBHOOK_SECRET"),
            stripe: var("STRIPE_WEBHOOK_SECRET"),
            slack: var("SLACK_SIGNING_SECRET"),
            httpsig,
        })
    }

    fn is_empty(&self) -> bool {
        self.github.is_none()
            && self.stripe.is_none()
            && self.slack.is_none()
            && self.httpsig.is_none()
    }

    /// Demo secrets for the self-test.
    fn demo() -> Self {
        Self {
            github: Some("It's a Secret to Everybody".into()),
            stripe: Some("whsec_demo".into()),
            slack: Some("8f742231b10e8888abcd99yyyzzz85a5".into()),
            httpsig: Some((
                "demo-key".into(),
                HmacKey::new("an HMAC key of at least 32 bytes!!"),
            )),
        }
    }
}

/// Answers with the length and SHA-256 of the body the handler received.
async fn received(body: Bytes) -> Json<Value> {
    let digest = ring::digest::digest(&ring::digest::SHA256, &body);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    Json(json!({ "len": body.len(), "sha256": hex }))
}

fn endpoint(scheme: impl Scheme) -> Result<MethodRouter, Error> {
    let layer = AuthLayer::builder()
        .scheme(scheme)
        .with_request_bodies()
        .build()?;
    Ok(post(received).layer(layer))
}

/// Where every endpoint records what it accepted, when replays are
/// refused: the Redis at `AUTHGATE_REDIS_URL`, shared by every copy.
type Replay = Option<Arc<dyn ReplayStore>>;

#[cfg(feature = "redis")]
fn replay_from_env() -> Result<Replay, Error> {
    let Ok(url) = std::env::var("AUTHGATE_REDIS_URL") else {
        return Ok(None);
    };
    let redis = authgate::redis::RedisConfig::new(url)
        .prefix("authgate-webhooks")
        .connect()?;
    Ok(Some(Arc::new(authgate::redis::RedisReplayStore::new(
        redis,
    ))))
}

#[cfg(not(feature = "redis"))]
fn replay_from_env() -> Result<Replay, Error> {
    if std::env::var_os("AUTHGATE_REDIS_URL").is_some() {
        return Err("AUTHGATE_REDIS_URL needs the `redis` feature: --features redis".into());
    }
    Ok(None)
}

fn app(secrets: &Secrets, replay: &Replay) -> Result<Router, Error> {
    let mut app = Router::new();
    if let Some(secret) = &secrets.github {
        let mut scheme = GithubWebhook::new(WebhookSecrets::single(secret));
        if let Some(store) = replay {
            scheme = scheme.replay_store(Arc::clone(store));
        }
        app = app.route("/webhooks/github", endpoint(scheme)?);
    }
    if let Some(secret) = &secrets.stripe {
        let mut scheme = StripeWebhook::new(WebhookSecrets::single(secret));
        if let Some(store) = replay {
            scheme = scheme.replay_store(Arc::clone(store));
        }
        app = app.route("/webhooks/stripe", endpoint(scheme)?);
    }
    if let Some(secret) = &secrets.slack {
        let mut scheme = SlackWebhook::new(WebhookSecrets::single(secret));
        if let Some(store) = replay {
            scheme = scheme.replay_store(Arc::clone(store));
        }
        app = app.route("/webhooks/slack", endpoint(scheme)?);
    }
    if let Some((key_id, key)) = &secrets.httpsig {
        let store = InMemorySecretStore::new();
        store.insert(SecretRecord::new(
            key_id.clone(),
            key.clone(),
            key_id.clone(),
        ));
        let mut builder = HttpSignatureScheme::builder(store).assume_scheme("http");
        if let Some(replay) = replay {
            builder = builder.replay_store(Arc::clone(replay));
        }
        let scheme = builder.build()?;
        app = app.route("/signed", endpoint(scheme)?);
    }
    Ok(app)
}

fn hmac_hex(secret: &str, message: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, message)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Sends one request of each kind to `addr`, signed as each provider would.
async fn self_test(addr: SocketAddr, secrets: &Secrets) -> Result<bool, Error> {
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let payload = r#"{"action":"opened","number":1}"#;
    let mut all_ok = true;
    let mut report = |name: &str, status: reqwest::StatusCode, body: String| {
        println!("{name:<8} {status} {body}");
        all_ok &= status.is_success();
    };

    if let Some(secret) = &secrets.github {
        let sig = format!("sha256={}", hmac_hex(secret, payload.as_bytes()));
        let res = client
            .post(format!("{base}/webhooks/github"))
            .header("x-hub-signature-256", sig)
            .body(payload)
            .send()
            .await?;
        report("github", res.status(), res.text().await?);
    }
    if let Some(secret) = &secrets.stripe {
        let t = now();
        let sig = hmac_hex(secret, format!("{t}.{payload}").as_bytes());
        let res = client
            .post(format!("{base}/webhooks/stripe"))
            .header("stripe-signature", format!("t={t},v1={sig}"))
            .body(payload)
            .send()
            .await?;
        report("stripe", res.status(), res.text().await?);
    }
    if let Some(secret) = &secrets.slack {
        let ts = now().to_string();
        let form = "token=xyz&command=%2Fdemo&text=hello";
        let sig = format!(
            "v0={}",
            hmac_hex(secret, format!("v0:{ts}:{form}").as_bytes())
        );
        let res = client
            .post(format!("{base}/webhooks/slack"))
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await?;
        report("slack", res.status(), res.text().await?);
    }
    if let Some((key_id, key)) = &secrets.httpsig {
        let signer = HttpSigner::new("sig1", key_id.clone(), key.clone())?
            .with_alg()
            .cover("@method")?
            .cover("@authority")?
            .cover("@path")?
            .cover("content-type")?
            .cover("content-digest")?;
        let mut request = http::Request::post(format!("{base}/signed"))
            .header("host", addr.to_string())
            .header("content-type", "application/json")
            .body(payload.as_bytes().to_vec())?;
        signer.sign(&mut request)?;
        let res = client.execute(reqwest::Request::try_from(request)?).await?;
        report("rfc9421", res.status(), res.text().await?);
    }
    Ok(all_ok)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_target(true).init();
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<bool, Error> {
    if let Ok(bind) = std::env::var("AUTHGATE_BIND") {
        let secrets = Secrets::from_env()?;
        if secrets.is_empty() {
            return Err(
                "AUTHGATE_BIND is set but no endpoint secret is (see the example's docs)".into(),
            );
        }
        let replay = replay_from_env()?;
        let listener = tokio::net::TcpListener::bind(&bind).await?;
        println!("serving on http://{}", listener.local_addr()?);
        if replay.is_some() {
            println!("replays refused across every copy sharing AUTHGATE_REDIS_URL");
        }
        axum::serve(listener, app(&secrets, &replay)?).await?;
        return Ok(true);
    }
    let secrets = Secrets::demo();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(axum::serve(listener, app(&secrets, &None)?).into_future());
    let ok = self_test(addr, &secrets).await;
    server.abort();
    ok
}
