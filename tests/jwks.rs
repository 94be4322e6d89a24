//! The JWKS cache against a real endpoint (the kit's `MockIssuer` on
//! 127.0.0.1:0, serving the key sets each test chooses): rotation,
//! outages (500s, timeouts, malformed JSON, oversized bodies) within and
//! beyond the staleness bound, single flight, Cache-Control, discovery.
#![cfg(feature = "jwks-http")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/jwt.rs"]
mod support;

use std::time::Duration;

use authgate::jwt::{HttpFetcher, Issuer, JwksSettings, JwtScheme};
use authgate::testing::{MockIssuer, Outage};
use authgate::AuthLayer;
use serde_json::{json, Value};
use support::*;

fn settings() -> JwksSettings {
    JwksSettings::default()
        .ttl_bounds(Duration::from_secs(300), Duration::from_secs(3600))
        .unknown_kid_cooldown(Duration::from_secs(30))
        .fetch_timeout(Duration::from_millis(500))
        .failure_backoff(Duration::from_millis(100))
}

fn scheme(server: &MockIssuer, settings: JwksSettings) -> JwtScheme {
    JwtScheme::builder()
        .issuer(Issuer::new(ISS).audience(AUD).jwks_url(server.jwks_url()))
        .jwks_settings(settings)
        // Every request goes to the key cache, not the token cache.
        .token_cache_capacity(0)
        .build()
        .unwrap()
}

fn layer(scheme: &JwtScheme) -> AuthLayer {
    AuthLayer::builder().scheme(scheme.clone()).build().unwrap()
}

/// The public JWKs of `signers`.
fn jwks(signers: &[&Signer]) -> Vec<Value> {
    signers.iter().map(|s| s.jwk.clone()).collect()
}

/// The issuer serves exactly `keys`, with this `Cache-Control`, and no
/// longer fails.
fn serve(server: &MockIssuer, keys: Vec<Value>, cache_control: Option<&str>) {
    server.serve_jwks(keys);
    server.jwks_cache_control(cache_control);
    server.recover();
}

/// A key set no verifier should take.
#[derive(Clone)]
enum HostileSet {
    /// These keys, fresh for a second.
    Keys(Vec<Value>),
    /// A 10 MiB document.
    Oversized,
}

impl HostileSet {
    fn serve(&self, server: &MockIssuer) {
        match self {
            Self::Keys(keys) => serve(server, keys.clone(), Some("max-age=1")),
            Self::Oversized => server.fail_with(Outage::Oversized),
        }
    }
}

#[tokio::test]
async fn tokens_pass_through_key_rotation() {
    let k1 = Signer::rsa("k1", RSA1);
    let k2 = Signer::ec("k2");
    let server = MockIssuer::start().await.unwrap();
    server.serve_jwks(jwks(&[&k1]));
    let scheme = scheme(&server, settings().unknown_kid_cooldown(Duration::ZERO));
    let layer = layer(&scheme);
    let t1 = k1.sign(&live_claims(ISS));
    let t2 = k2.sign(&live_claims(ISS));
    assert_eq!(call(&layer, &t1).await.status, 200);
    // The issuer publishes k2 next to k1, then starts signing with it.
    server.serve_jwks(jwks(&[&k1, &k2]));
    assert_eq!(call(&layer, &t2).await.status, 200);
    assert_eq!(call(&layer, &t1).await.status, 200);
    assert_eq!(server.jwks_fetches(), 2);
    // k1 retired: tokens still signed with it stop working once the set
    // is refreshed (here by an unknown kid).
    server.serve_jwks(jwks(&[&k2]));
    let k3 = Signer::ed("k3");
    assert_eq!(call(&layer, &k3.sign(&live_claims(ISS))).await.status, 401);
    assert_eq!(call(&layer, &t1).await.status, 401);
    assert_eq!(call(&layer, &t2).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_fetch_for_a_thousand_concurrent_unknown_kids() {
    let k1 = Signer::ed("k1");
    let k2 = Signer::ed("k2");
    let server = MockIssuer::start().await.unwrap();
    server.serve_jwks(jwks(&[&k1]));
    let scheme = scheme(&server, settings());
    let layer = layer(&scheme);
    assert_eq!(call(&layer, &k1.sign(&live_claims(ISS))).await.status, 200);
    assert_eq!(server.jwks_fetches(), 1);
    server.serve_jwks(jwks(&[&k1, &k2]));
    let token = k2.sign(&live_claims(ISS));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (layer, token) = (layer.clone(), token.clone());
        tasks.spawn(async move { call(&layer, &token).await.status });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    assert_eq!(
        server.jwks_fetches(),
        2,
        "exactly one fetch for the unknown kid"
    );
    assert_eq!(scheme.jwks_fetches(ISS), Some(2));
}

#[tokio::test]
async fn unknown_kid_refreshes_at_most_once_per_cooldown() {
    let k1 = Signer::ed("k1");
    let server = MockIssuer::start().await.unwrap();
    server.serve_jwks(jwks(&[&k1]));
    let layer = layer(&scheme(&server, settings()));
    assert_eq!(call(&layer, &k1.sign(&live_claims(ISS))).await.status, 200);
    for i in 0..20 {
        let stranger = Signer::ed(&format!("x{i}"));
        let answer = call(&layer, &stranger.sign(&live_claims(ISS))).await;
        assert_eq!(answer.status, 401);
        assert_eq!(
            answer.www_authenticate.as_deref(),
            Some(
                r#"Bearer error="invalid_token", error_description="the token's signing key is not known""#
            )
        );
    }
    assert_eq!(server.jwks_fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outages_within_the_staleness_bound_keep_known_keys_working() {
    let k1 = Signer::ed("k1");
    let server = MockIssuer::start().await.unwrap();
    serve(&server, vec![k1.jwk.clone()], Some("max-age=1"));
    let scheme = scheme(
        &server,
        settings()
            .ttl_bounds(Duration::from_secs(1), Duration::from_secs(60))
            .max_stale(Duration::from_secs(2)),
    );
    let layer = layer(&scheme);
    let token = k1.sign(&live_claims(ISS));
    assert_eq!(call(&layer, &token).await.status, 200);
    for outage in [
        Outage::Status(500),
        Outage::Garbage,
        Outage::Oversized,
        Outage::Slow(Duration::from_secs(3)),
    ] {
        let name = match &outage {
            Outage::Status(_) => "500",
            Outage::Garbage => "malformed",
            Outage::Oversized => "oversized",
            _ => "slow",
        };
        server.fail_with(outage);
        // Past freshness (1 s), inside max staleness (1 s + 2 s).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(call(&layer, &token).await.status, 200);
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(call(&layer, &token).await.status, 200, "{name}");
        // Recover; keep calling (always 200) until a refresh has landed.
        serve(&server, vec![k1.jwk.clone()], Some("max-age=1"));
        let before = server.jwks_fetches();
        for _ in 0..40 {
            assert_eq!(call(&layer, &token).await.status, 200, "{name} recovery");
            tokio::time::sleep(Duration::from_millis(100)).await;
            if server.jwks_fetches() > before {
                break;
            }
        }
        assert!(
            server.jwks_fetches() > before,
            "{name}: no refresh after recovery"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Beyond max staleness: 503, never 401.
    server.fail_with(Outage::Status(500));
    tokio::time::sleep(Duration::from_millis(3300)).await;
    let answer = call(&layer, &token).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.www_authenticate, None);
    let grpc = call_with(&layer, &token, true).await;
    assert_eq!(grpc.grpc_status.as_deref(), Some("14"));
}

#[tokio::test]
async fn no_key_obtainable_is_503_for_every_failure_mode() {
    let k1 = Signer::ed("k1");
    for outage in [
        Some(Outage::Status(500)),
        Some(Outage::Status(404)),
        Some(Outage::Garbage),
        Some(Outage::Oversized),
        Some(Outage::Slow(Duration::from_secs(2))),
        // No outage: a set with no usable key.
        None,
    ] {
        let server = MockIssuer::start().await.unwrap();
        serve(&server, vec![json!({"kty": "oct", "k": "AAAA"})], None);
        if let Some(outage) = outage {
            server.fail_with(outage);
        }
        let layer = layer(&scheme(&server, settings()));
        let answer = call(&layer, &k1.sign(&live_claims(ISS))).await;
        assert_eq!(answer.status, 503);
    }
}

#[tokio::test]
async fn unusable_keys_are_skipped_without_failing_the_set() {
    let good = Signer::ec("good");
    let server = MockIssuer::start().await.unwrap();
    server.serve_jwks(vec![
        json!({"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB"}),
        json!({"kty": "oct", "kid": "hs", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}),
        json!({"kty": "OKP", "crv": "X25519", "kid": "x", "x": "AAAA"}),
        json!({"kty": "EC", "crv": "P-256", "kid": "enc", "use": "enc", "x": good.jwk["x"], "y": good.jwk["y"]}),
        good.jwk.clone(),
    ]);
    let layer = layer(&scheme(&server, settings()));
    assert_eq!(
        call(&layer, &good.sign(&live_claims(ISS))).await.status,
        200
    );
    // A token without kid works when exactly one key fits its alg.
    let mut header = good.header();
    header.kid = None;
    assert_eq!(
        call(&layer, &good.sign_with(&header, &live_claims(ISS)))
            .await
            .status,
        200
    );
    // The HS256 key from the JWKS is never used.
    let hs = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some("hs".into());
        jsonwebtoken::encode(
            &h,
            &live_claims(ISS),
            &jsonwebtoken::EncodingKey::from_secret(b"secretsecretsecretsecretsecret"),
        )
        .unwrap()
    };
    assert_eq!(call(&layer, &hs).await.status, 401);
}

#[tokio::test]
async fn cache_control_max_age_is_honoured_and_refresh_does_not_block() {
    let k1 = Signer::ed("k1");
    let server = MockIssuer::start().await.unwrap();
    serve(&server, vec![k1.jwk.clone()], Some("public, max-age=1"));
    let layer = layer(&scheme(
        &server,
        settings().ttl_bounds(Duration::from_secs(1), Duration::from_secs(60)),
    ));
    let token = k1.sign(&live_claims(ISS));
    assert_eq!(call(&layer, &token).await.status, 200);
    assert_eq!(server.jwks_fetches(), 1);
    // Fresh: no fetch.
    assert_eq!(call(&layer, &token).await.status, 200);
    assert_eq!(server.jwks_fetches(), 1);
    // Refresh due: the request is answered from the known keys while the
    // key server takes its time.
    server.fail_with(Outage::Slow(Duration::from_millis(400)));
    tokio::time::sleep(Duration::from_millis(950)).await;
    let start = std::time::Instant::now();
    assert_eq!(call(&layer, &token).await.status, 200);
    assert!(start.elapsed() < Duration::from_millis(200));
}

#[tokio::test]
async fn oidc_discovery_finds_the_jwks() {
    let k1 = Signer::ed("k1");
    let server = MockIssuer::start().await.unwrap();
    server.serve_jwks(jwks(&[&k1]));
    let iss = server.url().to_owned();
    let scheme = JwtScheme::builder()
        .issuer(Issuer::new(iss.clone()).audience(AUD).oidc_discovery())
        .build()
        .unwrap();
    let layer = layer(&scheme);
    assert_eq!(call(&layer, &k1.sign(&live_claims(&iss))).await.status, 200);
    assert_eq!(server.discovery_fetches(), 1);
    assert_eq!(server.jwks_fetches(), 1);
}

#[tokio::test]
async fn unknown_issuer_costs_no_fetch() {
    let k1 = Signer::ed("k1");
    let server = MockIssuer::start().await.unwrap();
    server.serve_jwks(jwks(&[&k1]));
    let scheme = scheme(&server, settings());
    let layer = layer(&scheme);
    let answer = call(&layer, &k1.sign(&live_claims("https://elsewhere.test"))).await;
    assert_eq!(answer.status, 401);
    assert_eq!(server.jwks_fetches(), 0);
    assert_eq!(scheme.jwks_fetches(ISS), Some(0));
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused() {
    let k1 = Signer::ed("k1");
    let scheme = JwtScheme::builder()
        .issuer(
            Issuer::new(ISS)
                .audience(AUD)
                .jwks_url("http://example.com/jwks.json"),
        )
        .fetcher(HttpFetcher::new().unwrap())
        .build()
        .unwrap();
    let layer = layer(&scheme);
    assert_eq!(call(&layer, &k1.sign(&live_claims(ISS))).await.status, 503);
}

#[tokio::test]
async fn hostile_key_sets_are_refused_whole_and_known_keys_survive_them() {
    let k1 = Signer::ed("k1");
    // 10,000 keys in 150 KiB: under the size cap, over the key cap.
    let many: Vec<serde_json::Value> = (0..10_000)
        .map(|i| json!({"kty": "OKP", "kid": format!("k{i}")}))
        .collect();
    // Served with `Cache-Control: max-age=1`.
    let flood = HostileSet::Keys(many);
    let fresh_for_a_second = settings()
        .ttl_bounds(Duration::from_secs(1), Duration::from_secs(60))
        .max_stale(Duration::from_secs(60));

    // Never a usable key: 503 for every hostile set (10,000 keys; a 10 MiB
    // document, cut off at the size cap), within the fetch timeout.
    for (name, set) in [
        ("10,000 keys", flood.clone()),
        ("10 MiB", HostileSet::Oversized),
    ] {
        let server = MockIssuer::start().await.unwrap();
        set.serve(&server);
        let layer = layer(&scheme(&server, fresh_for_a_second.clone()));
        let started = std::time::Instant::now();
        let answer = call(&layer, &k1.sign(&live_claims(ISS))).await;
        assert_eq!(answer.status, 503, "{name}");
        assert!(started.elapsed() < Duration::from_secs(5), "{name}");
    }

    // A set that turns hostile on refresh is refused as a whole: the keys
    // already known keep working.
    let server = MockIssuer::start().await.unwrap();
    serve(&server, vec![k1.jwk.clone()], Some("max-age=1"));
    let layer = layer(&scheme(&server, fresh_for_a_second));
    let token = k1.sign(&live_claims(ISS));
    assert_eq!(call(&layer, &token).await.status, 200);
    for set in [flood, HostileSet::Oversized] {
        set.serve(&server);
        let before = server.jwks_fetches();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        for _ in 0..40 {
            assert_eq!(call(&layer, &token).await.status, 200);
            if server.jwks_fetches() > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            server.jwks_fetches() > before,
            "the hostile set was fetched"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(call(&layer, &token).await.status, 200);
    }
}

/// A key published without `kid` never stands in for a token that names
/// one: the unknown `kid` triggers the refresh that finds the new key.
/// (It used to select the kid-less key, fail its signature, and never
/// refresh: rotation stalled until the cache expired.)
#[tokio::test]
async fn a_kidless_key_does_not_stall_rotation() {
    let anonymous = Signer::ed("unused");
    let mut anonymous_jwk = anonymous.jwk.clone();
    anonymous_jwk.as_object_mut().unwrap().remove("kid");
    let k1 = Signer::ed("k1");
    let k2 = Signer::ed("k2");
    let server = MockIssuer::start().await.unwrap();
    server.serve_jwks(vec![anonymous_jwk.clone(), k1.jwk.clone()]);
    let layer = layer(&scheme(
        &server,
        settings().unknown_kid_cooldown(Duration::ZERO),
    ));
    assert_eq!(call(&layer, &k1.sign(&live_claims(ISS))).await.status, 200);
    assert_eq!(server.jwks_fetches(), 1);
    server.serve_jwks(vec![anonymous_jwk.clone(), k1.jwk.clone(), k2.jwk.clone()]);
    assert_eq!(call(&layer, &k2.sign(&live_claims(ISS))).await.status, 200);
    assert_eq!(server.jwks_fetches(), 2);
    // A token naming a kid the set lacks is an unknown key, even when
    // signed by the kid-less key.
    let mut header = anonymous.header();
    header.kid = Some("elsewhere".into());
    let answer = call(&layer, &anonymous.sign_with(&header, &live_claims(ISS))).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.www_authenticate.as_deref(),
        Some(
            r#"Bearer error="invalid_token", error_description="the token's signing key is not known""#
        )
    );
}

/// Review of issue 13.3: `clear_token_cache` is the documented step after
/// an identity provider drops a compromised key, but the key set itself
/// stayed cached (minutes to a day), so a new token forged with the
/// dropped key still got 200. Clearing now makes the next token wait for a
/// fresh key set.
#[tokio::test]
async fn clearing_the_token_cache_drops_a_removed_jwks_key_at_once() {
    let compromised = Signer::ec("k1");
    let fresh = Signer::ec("k2");
    let server = MockIssuer::start().await.unwrap();
    server.serve_jwks(jwks(&[&compromised]));
    let scheme = JwtScheme::builder()
        .issuer(Issuer::new(ISS).audience(AUD).jwks_url(server.jwks_url()))
        .build()
        .unwrap();
    let layer = AuthLayer::builder().scheme(scheme.clone()).build().unwrap();
    assert_eq!(
        call(&layer, &compromised.sign(&live_claims(ISS)))
            .await
            .status,
        200
    );
    server.serve_jwks(jwks(&[&fresh]));
    scheme.clear_token_cache();
    let mut claims = live_claims(ISS);
    claims["sub"] = serde_json::json!("attacker-chosen-admin");
    assert_eq!(call(&layer, &compromised.sign(&claims)).await.status, 401);
    assert_eq!(
        call(&layer, &fresh.sign(&live_claims(ISS))).await.status,
        200
    );
}
