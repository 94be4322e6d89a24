//! The `metrics` feature, read through metrics-util's debugging recorder:
//! each decision moves exactly its own series once, JWKS fetches are
//! counted by result against a real endpoint, caches count hits and misses,
//! and no credential ever creates a series.
#![cfg(all(
    feature = "metrics",
    feature = "jwks-http",
    feature = "api-key",
    feature = "hmac"
))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/jwt.rs"]
mod jwt_support;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme};
use authgate::jwt::{HttpFetcher, Issuer, JwksSettings, JwtScheme};
use authgate::testing::{MockIssuer, Outage};
use authgate::{AuthLayer, Scopes};
use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use jwt_support::{call, live_claims, Signer, AUD, ISS, RSA1};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::json;
use support::{echo, fixture, StoreMode, TestStore};
use tower::{service_fn, ServiceBuilder, ServiceExt};

/// A series as `name{label=value,...}`, labels sorted.
fn series_name(key: &metrics::Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

/// What moved since the last reading (the debugging recorder resets
/// counters and gauges as it reads them): counters and gauges by value,
/// histograms by number of samples.
#[derive(Debug, Default)]
struct Reading {
    counters: BTreeMap<String, u64>,
    gauges: BTreeMap<String, f64>,
    samples: BTreeMap<String, usize>,
    all: BTreeSet<String>,
}

impl Reading {
    fn take(snapshotter: &Snapshotter) -> Self {
        let mut reading = Self::default();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let name = series_name(key.key());
            reading.all.insert(name.clone());
            match value {
                DebugValue::Counter(0) => {}
                DebugValue::Counter(n) => {
                    reading.counters.insert(name, n);
                }
                DebugValue::Gauge(v) => {
                    reading.gauges.insert(name, v.into_inner());
                }
                DebugValue::Histogram(values) if values.is_empty() => {}
                DebugValue::Histogram(values) => {
                    reading.samples.insert(name, values.len());
                }
            }
        }
        reading
    }

    fn counters_named(&self, prefix: &str) -> BTreeMap<String, u64> {
        self.counters
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    fn counter(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

async fn status(layer: &AuthLayer, request: Request<Full<Bytes>>) -> u16 {
    ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(echo))
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn get(header: Option<(&str, String)>) -> Request<Full<Bytes>> {
    let mut request = Request::get("/orders");
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    request.body(Full::default()).unwrap()
}

/// Asserts that exactly one decision series moved, by one, with these
/// labels (`scheme` checked when given), and one duration sample with it.
fn assert_one_decision(
    reading: &Reading,
    scheme: Option<&str>,
    outcome: &str,
    reason: &str,
    status: &str,
    case: &str,
) {
    let moved = reading.counters_named("authgate_decisions_total");
    assert_eq!(moved.len(), 1, "{case}: {moved:?}");
    let (series, count) = moved.iter().next().unwrap();
    assert_eq!(*count, 1, "{case}: {series}");
    assert!(
        series.contains(&format!("outcome={outcome},")),
        "{case}: {series}"
    );
    assert!(
        series.contains(&format!("reason={reason},")),
        "{case}: {series}"
    );
    assert!(
        series.contains(&format!("status={status}}}")),
        "{case}: {series}"
    );
    let scheme = match scheme {
        Some(scheme) => {
            assert!(
                series.contains(&format!("scheme={scheme},")),
                "{case}: {series}"
            );
            scheme.to_owned()
        }
        None => series
            .split("scheme=")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap()
            .to_owned(),
    };
    let duration =
        format!("authgate_decision_duration_seconds{{outcome={outcome},scheme={scheme}}}");
    assert_eq!(
        reading.samples.get(&duration),
        Some(&1),
        "{case}: {:?}",
        reading.samples
    );
    assert_eq!(reading.samples.len(), 1, "{case}: {:?}", reading.samples);
}

#[tokio::test]
async fn every_api_key_decision_moves_exactly_its_series_once() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (store, keys) = fixture();
    let (layer, failing) = metrics::with_local_recorder(&recorder, || {
        let layer = AuthLayer::builder()
            .scheme(ApiKeyScheme::new(store.clone(), "sk_live").unwrap())
            .anonymous_path("/health")
            .build()
            .unwrap();
        let failing = AuthLayer::builder()
            .scheme(
                ApiKeyScheme::new(TestStore::new(store.clone(), StoreMode::Fail), "sk_live")
                    .unwrap(),
            )
            .build()
            .unwrap();
        (layer, failing)
    });
    let admin_only = layer.require_scopes(["admin"]);
    let key = |k: &str| Some(("x-api-key", k.to_owned()));
    let auth = |v: String| Some(("authorization", v));
    let mut typo = keys.admin.clone();
    typo.pop();
    typo.push('!');
    let _ = Reading::take(&snapshotter);

    // (case, layer, request, status, scheme, outcome, reason, status label)
    type Case<'a> = (
        &'a str,
        &'a AuthLayer,
        Request<Full<Bytes>>,
        u16,
        Option<&'a str>,
        &'a str,
        &'a str,
        &'a str,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "missing",
            &layer,
            get(None),
            401,
            Some("none"),
            "denied",
            "missing",
            "401",
        ),
        (
            "anonymous",
            &layer,
            Request::get("/health").body(Full::default()).unwrap(),
            200,
            Some("none"),
            "anonymous",
            "none",
            "none",
        ),
        (
            "granted",
            &layer,
            get(key(&keys.admin)),
            200,
            Some("api_key"),
            "granted",
            "none",
            "none",
        ),
        (
            "malformed",
            &layer,
            get(auth(format!("ApiKey {},x", keys.admin))),
            400,
            None,
            "denied",
            "malformed",
            "400",
        ),
        (
            "unsupported",
            &layer,
            get(auth(format!("Basic {}", keys.admin))),
            401,
            None,
            "denied",
            "unsupported_scheme",
            "401",
        ),
        (
            "invalid_format",
            &layer,
            get(key(&typo)),
            401,
            Some("api_key"),
            "denied",
            "invalid_format",
            "401",
        ),
        (
            "unknown_key",
            &layer,
            get(key(&keys.unknown)),
            401,
            Some("api_key"),
            "denied",
            "unknown_key",
            "401",
        ),
        (
            "bad_signature",
            &layer,
            get(key(&keys.wrong_secret)),
            401,
            Some("api_key"),
            "denied",
            "bad_signature",
            "401",
        ),
        (
            "expired",
            &layer,
            get(key(&keys.expired)),
            401,
            Some("api_key"),
            "denied",
            "expired",
            "401",
        ),
        (
            "revoked",
            &layer,
            get(key(&keys.revoked)),
            401,
            Some("api_key"),
            "denied",
            "revoked",
            "401",
        ),
        (
            "wrong_environment",
            &layer,
            get(key(&keys.test_env)),
            401,
            Some("api_key"),
            "denied",
            "wrong_environment",
            "401",
        ),
        (
            "insufficient_scope",
            &admin_only,
            get(key(&keys.reader)),
            403,
            Some("api_key"),
            "denied",
            "insufficient_scope",
            "403",
        ),
        (
            "unavailable",
            &failing,
            get(key(&keys.admin)),
            503,
            Some("api_key"),
            "denied",
            "unavailable",
            "503",
        ),
    ];
    for (case, layer, request, want, scheme, outcome, reason, status_label) in cases {
        assert_eq!(status(layer, request).await, want, "{case}");
        let reading = Reading::take(&snapshotter);
        assert_one_decision(&reading, scheme, outcome, reason, status_label, case);
        let revocations = reading.counter("authgate_revocation_hits_total{scheme=api_key}");
        assert_eq!(revocations, u64::from(case == "revoked"), "{case}");
        let store_errors =
            reading.counter("authgate_store_errors_total{error=error,store=api_key}");
        assert_eq!(store_errors, u64::from(case == "unavailable"), "{case}");
    }
}

#[tokio::test]
async fn every_jwt_decision_moves_exactly_its_series_once_and_the_token_cache_counts() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let signer = Signer::rsa("k1", RSA1);
    let layer = metrics::with_local_recorder(&recorder, || {
        let scheme = JwtScheme::builder()
            .issuer(Issuer::new(ISS).audience(AUD).key(signer.public_key()))
            .build()
            .unwrap();
        AuthLayer::builder().scheme(scheme).build().unwrap()
    });
    let _ = Reading::take(&snapshotter);

    let good = signer.sign(&live_claims(ISS));
    let mut expired = live_claims(ISS);
    expired["exp"] = json!(jwt_support::now_unix() - 3600);
    let mut early = live_claims(ISS);
    early["nbf"] = json!(jwt_support::now_unix() + 3600);
    // A character well inside the signature (the last one also carries
    // padding bits, and changing those makes the encoding non-canonical).
    let mut tampered = good.clone().into_bytes();
    let at = tampered.len() - 10;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let cases = [
        ("granted", good.clone(), 200, "granted", "none", "none"),
        (
            "expired",
            signer.sign(&expired),
            401,
            "denied",
            "expired",
            "401",
        ),
        (
            "not_yet_valid",
            signer.sign(&early),
            401,
            "denied",
            "not_yet_valid",
            "401",
        ),
        (
            "bad_signature",
            tampered,
            401,
            "denied",
            "bad_signature",
            "401",
        ),
        (
            "untrusted issuer",
            signer.sign(&live_claims("https://other.test")),
            401,
            "denied",
            "unknown_key",
            "401",
        ),
        (
            "malformed",
            "not.a.jwt".to_owned(),
            401,
            "denied",
            "invalid_format",
            "401",
        ),
    ];
    for (case, token, want, outcome, reason, status_label) in cases {
        assert_eq!(call(&layer, &token).await.status, want, "{case}");
        let reading = Reading::take(&snapshotter);
        assert_one_decision(&reading, Some("jwt"), outcome, reason, status_label, case);
    }

    // A token not seen before: a token-cache miss, then hits.
    let mut fresh = live_claims(ISS);
    fresh["jti"] = json!("fresh");
    let token = signer.sign(&fresh);
    assert_eq!(call(&layer, &token).await.status, 200);
    let first = Reading::take(&snapshotter);
    assert_eq!(
        first.counter("authgate_cache_misses_total{cache=jwt_token}"),
        1
    );
    assert_eq!(
        first.counter("authgate_cache_hits_total{cache=jwt_token}"),
        0
    );
    for _ in 0..3 {
        assert_eq!(call(&layer, &token).await.status, 200);
    }
    let again = Reading::take(&snapshotter);
    assert_eq!(
        again.counter("authgate_cache_misses_total{cache=jwt_token}"),
        0
    );
    assert_eq!(
        again.counter("authgate_cache_hits_total{cache=jwt_token}"),
        3
    );
    assert_eq!(
        again.counter(
            "authgate_decisions_total{outcome=granted,reason=none,scheme=jwt,status=none}"
        ),
        3
    );
}

#[tokio::test]
async fn api_key_cache_counts_one_miss_then_hits() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (store, keys) = fixture();
    let layer = metrics::with_local_recorder(&recorder, || {
        AuthLayer::builder()
            .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
            .build()
            .unwrap()
    });
    let _ = Reading::take(&snapshotter);
    assert_eq!(
        status(&layer, get(Some(("x-api-key", keys.admin.clone())))).await,
        200
    );
    let first = Reading::take(&snapshotter);
    assert_eq!(
        first.counter("authgate_cache_misses_total{cache=api_key}"),
        1
    );
    assert_eq!(first.counter("authgate_cache_hits_total{cache=api_key}"), 0);
    assert_eq!(
        first
            .gauges
            .get("authgate_cache_entries{cache=api_key}")
            .copied()
            .map(|v| v >= 0.0),
        Some(true)
    );
    for _ in 0..4 {
        assert_eq!(
            status(&layer, get(Some(("x-api-key", keys.admin.clone())))).await,
            200
        );
    }
    let again = Reading::take(&snapshotter);
    assert_eq!(
        again.counter("authgate_cache_misses_total{cache=api_key}"),
        0
    );
    assert_eq!(again.counter("authgate_cache_hits_total{cache=api_key}"), 4);
}

#[tokio::test]
async fn jwks_fetches_are_counted_by_result_against_a_real_endpoint() {
    let k1 = Signer::rsa("k1", RSA1);
    let k2 = Signer::ec("k2");
    let server = MockIssuer::start().await.unwrap();
    server.serve_jwks(vec![k1.jwk.clone()]);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let layer = metrics::with_local_recorder(&recorder, || {
        let settings = JwksSettings::default()
            .unknown_kid_cooldown(Duration::ZERO)
            .fetch_timeout(Duration::from_millis(300))
            .failure_backoff(Duration::from_millis(1));
        let scheme = JwtScheme::builder()
            .issuer(Issuer::new(ISS).audience(AUD).jwks_url(server.jwks_url()))
            .jwks_settings(settings)
            .fetcher(HttpFetcher::new().unwrap())
            .token_cache_capacity(0)
            .build()
            .unwrap();
        AuthLayer::builder().scheme(scheme).build().unwrap()
    });
    let source = server.jwks_url();
    let fetches =
        |result: &str| format!("authgate_jwks_fetches_total{{result={result},source={source}}}");
    let _ = Reading::take(&snapshotter);

    // Success: one fetch, one key held, a fresh timestamp.
    assert_eq!(call(&layer, &k1.sign(&live_claims(ISS))).await.status, 200);
    let reading = Reading::take(&snapshotter);
    assert_eq!(reading.counter(&fetches("success")), 1);
    assert_eq!(reading.counter(&fetches("error")), 0);
    assert_eq!(
        reading
            .gauges
            .get(&format!("authgate_jwks_keys{{source={source}}}")),
        Some(&1.0)
    );
    let stamp =
        reading.gauges[&format!("authgate_jwks_last_success_timestamp_seconds{{source={source}}}")];
    #[allow(clippy::cast_precision_loss)]
    let now = jwt_support::now_unix() as f64;
    assert!((now - stamp).abs() < 60.0, "{stamp} vs {now}");

    // A 500: an unknown kid forces a refresh, which fails.
    server.fail_with(Outage::Status(500));
    let _ = call(&layer, &k2.sign(&live_claims(ISS))).await;
    let reading = Reading::take(&snapshotter);
    assert_eq!(reading.counter(&fetches("error")), 1);
    assert_eq!(reading.counter(&fetches("success")), 0);
    assert_eq!(reading.counter(&fetches("timeout")), 0);

    // A key server slower than the fetch timeout.
    tokio::time::sleep(Duration::from_millis(5)).await;
    server.fail_with(Outage::Slow(Duration::from_secs(2)));
    let _ = call(&layer, &k2.sign(&live_claims(ISS))).await;
    let reading = Reading::take(&snapshotter);
    assert_eq!(reading.counter(&fetches("timeout")), 1);
    assert_eq!(reading.counter(&fetches("error")), 0);
    // Known keys still work, and no fetch is needed for them.
    assert_eq!(call(&layer, &k1.sign(&live_claims(ISS))).await.status, 200);
}

#[tokio::test]
async fn ten_thousand_distinct_bad_credentials_add_no_series() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (store, _) = fixture();
    // ECDSA: thousands of signatures stay quick in a debug build.
    let signer = Signer::ec("k2");
    let layer = metrics::with_local_recorder(&recorder, || {
        AuthLayer::builder()
            .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
            .scheme(
                JwtScheme::builder()
                    .issuer(Issuer::new(ISS).audience(AUD).key(signer.public_key()))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    });
    let before = Reading::take(&snapshotter).all;
    assert!(!before.is_empty());
    let generator = ApiKeyGenerator::new("sk_live").unwrap();
    for i in 0..10_000u32 {
        let request = match i % 4 {
            // Well-formed keys the store never saw: one look-up each.
            0 => {
                let key = generator
                    .generate(format!("acct_{i}"), Scopes::empty())
                    .unwrap();
                get(Some(("x-api-key", key.plaintext().expose().to_owned())))
            }
            1 => get(Some(("x-api-key", format!("sk_live_{i}_garbage")))),
            2 => get(Some(("authorization", format!("Bearer e{i}.e{i}.e{i}")))),
            _ => {
                let mut claims = live_claims(ISS);
                claims["sub"] = json!(format!("user-{i}"));
                claims["jti"] = json!(format!("jti-{i}"));
                claims["exp"] = json!(jwt_support::now_unix() - 3600 - u64::from(i));
                get(Some((
                    "authorization",
                    format!("Bearer {}", signer.sign(&claims)),
                )))
            }
        };
        assert_ne!(status(&layer, request).await, 200);
    }
    let after = Reading::take(&snapshotter);
    assert_eq!(before, after.all, "a credential created a series");
    let denied: u64 = after
        .counters_named("authgate_decisions_total")
        .values()
        .sum();
    assert_eq!(denied, 10_000);
    for series in &after.all {
        assert!(
            !series.contains("acct_") && !series.contains("user-") && !series.contains("jti-"),
            "{series}"
        );
    }
}

#[tokio::test]
async fn a_replayed_signed_request_moves_the_replay_series() {
    use authgate::hmac::{HmacKey, HmacScheme, InMemorySecretStore, SecretRecord, SCHEME_NAME};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let secrets = InMemorySecretStore::new();
    secrets.insert(SecretRecord::new(
        "partner",
        HmacKey::new("s3cr3t-s3cr3t-s3cr3t"),
        "acct",
    ));
    let layer = metrics::with_local_recorder(&recorder, || {
        AuthLayer::builder()
            .scheme(HmacScheme::builder(secrets).build().unwrap())
            .with_request_bodies()
            .build()
            .unwrap()
    });
    let signer =
        authgate::hmac::Signer::new("partner", HmacKey::new("s3cr3t-s3cr3t-s3cr3t")).unwrap();
    let now = jwt_support::now_unix();
    let mut request = Request::post("/orders")
        .body(Bytes::from_static(b"{}"))
        .unwrap();
    signer.sign_at(&mut request, now, "nonce-1").unwrap();
    let (parts, body) = request.into_parts();
    let again = || Request::from_parts(parts.clone(), Full::new(body.clone()));
    let send = |request: Request<Full<Bytes>>| {
        ServiceBuilder::new()
            .layer(layer.clone())
            .service(service_fn(echo))
            .oneshot(request)
    };
    let _ = Reading::take(&snapshotter);

    assert_eq!(send(again()).await.unwrap().status(), 200);
    let first = Reading::take(&snapshotter);
    assert_one_decision(
        &first,
        Some(SCHEME_NAME),
        "granted",
        "none",
        "none",
        "first use",
    );
    assert_eq!(
        first.counter("authgate_cache_misses_total{cache=replay}"),
        1
    );
    assert_eq!(
        first.counter("authgate_cache_misses_total{cache=hmac_secret}"),
        1
    );

    assert_eq!(send(again()).await.unwrap().status(), 401);
    let replay = Reading::take(&snapshotter);
    assert_one_decision(
        &replay,
        Some(SCHEME_NAME),
        "denied",
        "replayed",
        "401",
        "replay",
    );
    assert_eq!(
        replay.counter(&format!(
            "authgate_replay_rejections_total{{scheme={SCHEME_NAME}}}"
        )),
        1
    );
    assert_eq!(replay.counter("authgate_cache_hits_total{cache=replay}"), 1);
    assert_eq!(
        replay.counter("authgate_cache_hits_total{cache=hmac_secret}"),
        1
    );
}

/// Keys used past their freshness while refreshes fail are counted as
/// served stale, and the failing refreshes as fetch errors.
#[tokio::test(start_paused = true)]
async fn stale_keys_served_while_refreshes_fail_are_counted() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use authgate::jwt::FetchError;

    let signer = Signer::ec("k2");
    let jwks = Bytes::from(json!({ "keys": [signer.jwk.clone()] }).to_string());
    let failing = Arc::new(AtomicBool::new(false));
    let fail = Arc::clone(&failing);
    let fetcher = move |_: &http::Uri| {
        let (jwks, fail) = (jwks.clone(), fail.load(Ordering::SeqCst));
        async move {
            let mut response = http::Response::new(if fail { Bytes::new() } else { jwks });
            if fail {
                *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            }
            Ok::<_, FetchError>(response)
        }
    };
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let url = "https://keys.example/jwks.json";
    let layer = metrics::with_local_recorder(&recorder, || {
        let settings = JwksSettings::default()
            .ttl_bounds(Duration::from_secs(60), Duration::from_secs(60))
            .max_stale(Duration::from_secs(3600))
            .failure_backoff(Duration::from_millis(1));
        let scheme = JwtScheme::builder()
            .issuer(Issuer::new(ISS).audience(AUD).jwks_url(url))
            .jwks_settings(settings)
            .fetcher(fetcher)
            .token_cache_capacity(0)
            .build()
            .unwrap();
        AuthLayer::builder().scheme(scheme).build().unwrap()
    });
    let token = signer.sign(&live_claims(ISS));
    let _ = Reading::take(&snapshotter);
    assert_eq!(call(&layer, &token).await.status, 200);
    let fresh = Reading::take(&snapshotter);
    let series = |name: &str| format!("{name}{{source={url}}}");
    assert_eq!(
        fresh.counter(&series("authgate_jwks_stale_served_total")),
        0
    );

    failing.store(true, Ordering::SeqCst);
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(call(&layer, &token).await.status, 200);
    // Let the background refresh run and fail.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(call(&layer, &token).await.status, 200);
    let stale = Reading::take(&snapshotter);
    assert_eq!(
        stale.counter(&series("authgate_jwks_stale_served_total")),
        2
    );
    let errors = format!("authgate_jwks_fetches_total{{result=error,source={url}}}");
    assert!(stale.counter(&errors) >= 1, "{:?}", stale.counters);
}
