//! Fault injection (issue 8): a key server that flaps for minutes, and wall
//! clocks that step backward and forward, through the real `AuthLayer`.
//!
//! Minutes pass on tokio's paused clock (`start_paused`), which is the clock
//! the JWKS cache reads; the wall clock claims are checked against is a
//! [`ManualClock`] stepped by hand. The HMAC replay cache ages nonces on the
//! monotonic clock, which a paused tokio clock does not move: its test
//! sleeps for real, with a one-second window. The key server is a [`JwksFetcher`]
//! (real HTTP cannot run on a paused clock: every idle moment would fire
//! the fetch timeout); `tests/jwks.rs` covers the same failures over HTTP.
//! Key-store errors and slowness are covered in `tests/api_key.rs`
//! (`a_failing_store_is_503…`, `a_stalled_store_is_503…`) and
//! `tests/hmac.rs` (`a_slow_secret_store_is_503_not_401`).
#![cfg(all(feature = "jwt", feature = "hmac", feature = "api-key"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/jwt.rs"]
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::clock::{Clock, ManualClock};
use authgate::hmac::{
    HmacKey, HmacScheme, InMemorySecretStore, SecretRecord, Signer as HmacSigner,
};
use authgate::jwt::{FetchError, Issuer, JwksSettings, JwtScheme};
use authgate::{AuthLayer, Scopes};
use bytes::Bytes;
use serde_json::{json, Value};
use support::{claims, Signer, AUD, ISS};
use tower::{service_fn, ServiceBuilder, ServiceExt};

/// Wall-clock "now" of every test here.
const NOW: u64 = 1_800_000_000;

/// What the simulated key server does at a moment of its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    Up,
    /// Connection refused, reset, DNS failure: the fetch fails at once.
    Refused,
    /// Answers 500.
    Error,
    /// Answers 200 with something that is not a key set.
    Garbage,
    /// Answers 200 with a set holding no key we can use.
    Empty,
    /// Never answers: only the fetch timeout ends the wait.
    Hangs,
}

/// A key server whose health follows a script.
#[derive(Clone)]
struct FlappingServer {
    health: Arc<Mutex<Health>>,
    keys: Value,
    fetches: Arc<AtomicU64>,
}

impl FlappingServer {
    fn new(keys: &[&Signer]) -> Self {
        Self {
            health: Arc::new(Mutex::new(Health::Up)),
            keys: json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }),
            fetches: Arc::new(AtomicU64::new(0)),
        }
    }

    fn set(&self, health: Health) {
        *self.health.lock().unwrap() = health;
    }

    fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }

    fn issuer(&self) -> Issuer {
        let server = self.clone();
        Issuer::new(ISS)
            .audience(AUD)
            .jwks_url("https://keys.test/jwks.json")
            .fetcher(move |_: &http::Uri| {
                let server = server.clone();
                async move {
                    server.fetches.fetch_add(1, Ordering::SeqCst);
                    let health = *server.health.lock().unwrap();
                    let (status, body) = match health {
                        Health::Up => (200, server.keys.to_string()),
                        Health::Refused => return Err(FetchError::new("connection refused")),
                        Health::Error => (500, "oops".to_owned()),
                        Health::Garbage => (200, "<html>maintenance</html>".to_owned()),
                        Health::Empty => (200, r#"{"keys":[]}"#.to_owned()),
                        Health::Hangs => {
                            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
                            (200, server.keys.to_string())
                        }
                    };
                    Ok(http::Response::builder()
                        .status(status)
                        .header("cache-control", "max-age=60")
                        .body(Bytes::from(body))
                        .unwrap())
                }
            })
    }
}

/// Keys fresh for 60 s, usable 10 minutes past that, fetched under a 2 s
/// timeout with 5 s between failed attempts.
fn settings() -> JwksSettings {
    JwksSettings::default()
        .ttl_bounds(Duration::from_secs(60), Duration::from_secs(60))
        .max_stale(Duration::from_secs(600))
        .fetch_timeout(Duration::from_secs(2))
        .failure_backoff(Duration::from_secs(5))
        .unknown_kid_cooldown(Duration::from_secs(30))
}

fn jwt_layer(server: &FlappingServer, clock: &ManualClock) -> AuthLayer {
    let scheme = JwtScheme::builder()
        .issuer(server.issuer().jwks_settings(settings()))
        .clock(clock.clone())
        // Every request goes to the key cache, not the token cache.
        .token_cache_capacity(0)
        .build()
        .unwrap();
    AuthLayer::builder().scheme(scheme).build().unwrap()
}

fn token(signer: &Signer, iat: u64, exp: u64) -> String {
    let mut c = claims(ISS);
    c["iat"] = json!(iat);
    c["nbf"] = json!(iat);
    c["exp"] = json!(exp);
    signer.sign(&c)
}

/// The status of a bearer request, and its `WWW-Authenticate` header.
async fn bearer(layer: &AuthLayer, token: &str) -> (u16, Option<String>) {
    let answer = support::call(layer, token).await;
    (answer.status, answer.www_authenticate)
}

#[tokio::test(start_paused = true)]
async fn a_key_server_flapping_for_minutes_never_turns_valid_tokens_into_401s() {
    let k1 = Signer::ec("k1");
    let server = FlappingServer::new(&[&k1]);
    let clock = ManualClock::at_unix(NOW);
    let layer = jwt_layer(&server, &clock);
    let valid = token(&k1, NOW - 60, NOW + 24 * 3600);
    assert_eq!(bearer(&layer, &valid).await.0, 200);

    // Twenty-odd minutes of trouble, every failure mode in turn, with
    // recoveries of 10 s (enough for one fetch past the 5 s backoff):
    // between two recoveries, never longer than keys may be stale (1 + 10
    // min).
    let script = [
        (Health::Refused, 90),
        (Health::Up, 10),
        (Health::Error, 240),
        (Health::Garbage, 120),
        (Health::Up, 10),
        (Health::Hangs, 300),
        (Health::Empty, 200),
        (Health::Up, 10),
        (Health::Error, 30),
        (Health::Refused, 420),
        (Health::Up, 60),
    ];
    let start = tokio::time::Instant::now();
    let mut seconds = 0u64;
    for (health, duration) in script {
        server.set(health);
        for _ in 0..duration {
            clock.advance(Duration::from_secs(1));
            let (status, challenge) = bearer(&layer, &valid).await;
            assert_eq!(
                status, 200,
                "{health:?} at {seconds} s: a valid token got {status} {challenge:?}"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
            seconds += 1;
        }
    }
    let elapsed = start.elapsed().as_secs();
    assert!(elapsed >= seconds, "the simulated minutes really passed");
    // Failed fetches are spaced by the backoff, not repeated per request:
    // about one attempt per 5 s of trouble, never one per request.
    let fetches = server.fetches();
    assert!(fetches >= 20, "the cache kept trying ({fetches} fetches)");
    assert!(
        fetches <= elapsed / 5 + 10,
        "{fetches} fetches in {elapsed} s: failures are not backed off"
    );

    // A token signed with a key nobody published is still a 401.
    let stranger = Signer::ec("k1");
    assert_eq!(
        bearer(&layer, &token(&stranger, NOW, NOW + 3600)).await.0,
        401
    );
}

#[tokio::test(start_paused = true)]
async fn past_the_staleness_bound_the_answer_is_503_then_200_on_recovery() {
    let k1 = Signer::ed("k1");
    let server = FlappingServer::new(&[&k1]);
    let clock = ManualClock::at_unix(NOW);
    let layer = jwt_layer(&server, &clock);
    let valid = token(&k1, NOW - 60, NOW + 24 * 3600);
    assert_eq!(bearer(&layer, &valid).await.0, 200);

    server.set(Health::Hangs);
    // Fresh for 60 s, stale-but-usable for 600 s more.
    tokio::time::sleep(Duration::from_secs(655)).await;
    assert_eq!(bearer(&layer, &valid).await.0, 200);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (status, challenge) = bearer(&layer, &valid).await;
    assert_eq!(status, 503, "we cannot verify: not the client's fault");
    assert_eq!(challenge, None);

    server.set(Health::Up);
    // The next attempt comes after the backoff; until then, still 503.
    let mut recovered = false;
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        match bearer(&layer, &valid).await.0 {
            200 => {
                recovered = true;
                break;
            }
            503 => {}
            other => panic!("{other} while the key server recovers"),
        }
    }
    assert!(recovered, "keys are fetched again once the server is back");
}

#[tokio::test(start_paused = true)]
async fn the_wall_clock_stepping_moves_token_validity_not_key_freshness() {
    let k1 = Signer::rsa("k1", support::RSA1);
    let server = FlappingServer::new(&[&k1]);
    let clock = ManualClock::at_unix(NOW);
    let layer = jwt_layer(&server, &clock);
    let valid = token(&k1, NOW - 60, NOW + 3600);
    assert_eq!(bearer(&layer, &valid).await.0, 200);
    assert_eq!(server.fetches(), 1);

    // A step forward past `exp` (plus the 60 s leeway): expired.
    clock.set_unix(NOW + 3600 + 61);
    let (status, challenge) = bearer(&layer, &valid).await;
    assert_eq!(status, 401);
    assert!(challenge.unwrap().contains("invalid_token"));
    // A step back before `nbf`: not yet valid.
    clock.set_unix(NOW - 3600);
    assert_eq!(bearer(&layer, &valid).await.0, 401);
    // Back to the right time: valid again, and no step made the cache
    // think its keys were stale or fresh for longer.
    clock.set_unix(NOW);
    assert_eq!(bearer(&layer, &valid).await.0, 200);
    assert_eq!(server.fetches(), 1, "wall-clock steps cost no fetch");
}

/// A clock that reads before the Unix epoch (a dead RTC battery).
#[derive(Debug, Clone, Copy)]
struct BeforeEpoch;

impl Clock for BeforeEpoch {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH - Duration::from_secs(86_400)
    }
}

#[tokio::test(start_paused = true)]
async fn a_clock_before_the_epoch_rejects_instead_of_panicking() {
    let k1 = Signer::ec("k1");
    let server = FlappingServer::new(&[&k1]);
    let scheme = JwtScheme::builder()
        .issuer(server.issuer().jwks_settings(settings()))
        .clock(BeforeEpoch)
        .build()
        .unwrap();
    let layer = AuthLayer::builder().scheme(scheme).build().unwrap();
    // Issued "now" by an issuer whose clock is right: in our future.
    assert_eq!(bearer(&layer, &token(&k1, NOW, NOW + 3600)).await.0, 401);

    let store = InMemorySecretStore::new();
    store.insert(SecretRecord::new(
        "partner-1",
        HmacKey::new("s3cr3t"),
        "acct_7",
    ));
    let hmac = HmacScheme::builder(store)
        .clock(BeforeEpoch)
        .build()
        .unwrap();
    let layer = AuthLayer::builder()
        .scheme(hmac)
        .with_request_bodies()
        .build()
        .unwrap();
    let signer = HmacSigner::new("partner-1", HmacKey::new("s3cr3t")).unwrap();
    let mut request = http::Request::post("https://api.test/orders")
        .body(Bytes::from_static(b"{}"))
        .unwrap();
    signer.sign_at(&mut request, NOW, "nonce-1").unwrap();
    assert_eq!(send_signed(&layer, request).await, 401);
}

async fn send_signed(
    layer: &AuthLayer<authgate::request_body::Buffered>,
    request: http::Request<Bytes>,
) -> u16 {
    let (parts, body) = request.into_parts();
    let request = http::Request::from_parts(parts, http_body_util::Full::new(body));
    ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(
            |_: http::Request<http_body_util::Full<Bytes>>| async {
                Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
            },
        ))
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn hmac_replay_layer(
    window: Duration,
    clock: &ManualClock,
) -> AuthLayer<authgate::request_body::Buffered> {
    let store = InMemorySecretStore::new();
    store.insert(SecretRecord::new(
        "partner-1",
        HmacKey::new("s3cr3t"),
        "acct_7",
    ));
    let hmac = HmacScheme::builder(store)
        .window(window)
        .clock(clock.clone())
        .build()
        .unwrap();
    AuthLayer::builder()
        .scheme(hmac)
        .with_request_bodies()
        .build()
        .unwrap()
}

fn hmac_signed(ts: u64, nonce: &str) -> http::Request<Bytes> {
    let signer = HmacSigner::new("partner-1", HmacKey::new("s3cr3t")).unwrap();
    let mut request = http::Request::post("https://api.test/orders")
        .body(Bytes::from_static(b"{\"sku\":\"A-1\"}"))
        .unwrap();
    signer.sign_at(&mut request, ts, nonce).unwrap();
    request
}

/// A wall clock stepped forward then back while the nonce is still held:
/// the cache still holds it. (Nothing ages here: the replay cache runs on
/// the monotonic clock, which tokio's paused clock does not drive; the test
/// below ages it for real.)
#[tokio::test]
async fn a_wall_clock_stepping_back_within_the_nonce_lifetime_does_not_reopen_a_replay() {
    let clock = ManualClock::at_unix(NOW);
    let layer = hmac_replay_layer(Duration::from_secs(300), &clock);
    let signed = || hmac_signed(NOW, "nonce-once");
    assert_eq!(send_signed(&layer, signed()).await, 200);
    assert_eq!(send_signed(&layer, signed()).await, 401, "replayed");

    // Forward past the window: the captured request is stale.
    clock.set_unix(NOW + 301);
    assert_eq!(send_signed(&layer, signed()).await, 401);
    // The clock is corrected backward, into the window again: the nonce
    // is still held.
    clock.set_unix(NOW + 10);
    assert_eq!(send_signed(&layer, signed()).await, 401, "still a replay");
}

/// Issue 13, item 9: a nonce aged out of the cache (for real: a one-second
/// window keeps nonces `2 × 1 + 1 = 3` s on the monotonic clock, and this
/// test sleeps past that), then the wall clock stepped back by more than
/// the window, which puts the captured timestamp inside the window again.
/// A cache that only ages nonces would admit the replay; the floor of
/// forgotten timestamps refuses it.
#[tokio::test]
async fn a_wall_clock_stepped_back_past_the_window_cannot_replay_an_aged_out_nonce() {
    let clock = ManualClock::at_unix(NOW);
    let layer = hmac_replay_layer(Duration::from_secs(1), &clock);
    let captured = || hmac_signed(NOW, "nonce-aged");
    assert_eq!(send_signed(&layer, captured()).await, 200);
    assert_eq!(send_signed(&layer, captured()).await, 401, "replayed");

    // Real time passes, and the wall clock with it.
    std::thread::sleep(Duration::from_millis(3_300));
    clock.set_unix(NOW + 3);
    assert_eq!(send_signed(&layer, captured()).await, 401, "stale");

    // Stepped back 3 s (more than the 1 s window): `NOW` is inside the
    // window again, and the nonce's monotonic lifetime is over.
    clock.set_unix(NOW);
    assert_eq!(
        send_signed(&layer, captured()).await,
        401,
        "an aged-out nonce replayed after a backward step"
    );
    // The same timestamp under a nonce never seen is refused as well: the
    // server cannot tell it from one it has forgotten.
    assert_eq!(
        send_signed(&layer, hmac_signed(NOW, "nonce-new")).await,
        401
    );
    // Newer than every forgotten timestamp and inside the window: served.
    assert_eq!(
        send_signed(&layer, hmac_signed(NOW + 1, "nonce-newer")).await,
        200
    );
}

#[tokio::test]
async fn api_key_rotation_deadlines_follow_the_wall_clock_both_ways() {
    let clock = ManualClock::at_unix(NOW);
    let store = InMemoryKeyStore::new();
    let generator = ApiKeyGenerator::new("sk_live").unwrap();
    let old = generator
        .generate("acct_42", Scopes::parse("orders:read"))
        .unwrap();
    store.insert(old.record().clone());
    let grace = Duration::from_secs(3600);
    let new = store
        .rotate(&old.record().id, grace, clock.now())
        .unwrap()
        .expect("the old key exists");
    let scheme = ApiKeyScheme::builder(store)
        .prefix("sk_live")
        .clock(clock.clone())
        .build()
        .unwrap();
    let layer = AuthLayer::builder().scheme(scheme).build().unwrap();
    let status = |key: String| {
        let layer = layer.clone();
        async move {
            ServiceBuilder::new()
                .layer(layer)
                .service(service_fn(|_: http::Request<()>| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(()))
                }))
                .oneshot(
                    http::Request::get("/")
                        .header("x-api-key", key)
                        .body(())
                        .unwrap(),
                )
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let old_key = || old.plaintext().expose().to_owned();
    let new_key = || new.plaintext().expose().to_owned();
    assert_eq!(status(old_key()).await, 200, "inside the grace period");
    clock.set_unix(NOW + 3601);
    assert_eq!(status(old_key()).await, 401, "past the grace deadline");
    assert_eq!(status(new_key()).await, 200);
    // A clock corrected backward puts the deadline ahead again.
    clock.set_unix(NOW + 60);
    assert_eq!(status(old_key()).await, 200);
    assert_eq!(status(new_key()).await, 200);
}
