//! JWT validation through the real `AuthLayer`: claims, leeway boundaries
//! to the second, every rejection reason with its status and challenge,
//! multiple issuers, the token cache and revocation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "support/jwt.rs"]
mod support;

use std::time::Duration;

use authgate::clock::ManualClock;
use authgate::jwt::{InMemoryRevocation, Issuer, JwtKey, JwtScheme};
use authgate::AuthLayer;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use std::sync::Arc;
use support::*;

fn scheme_for(signer: &Signer, clock: &ManualClock) -> authgate::jwt::JwtSchemeBuilder {
    JwtScheme::builder()
        .issuer(Issuer::new(ISS).audience(AUD).key(signer.public_key()))
        .clock(clock.clone())
}

fn layer(builder: authgate::jwt::JwtSchemeBuilder) -> AuthLayer {
    AuthLayer::builder()
        .scheme(builder.build().unwrap())
        .build()
        .unwrap()
}

fn invalid_token(description: &str) -> String {
    format!(r#"Bearer error="invalid_token", error_description="{description}""#)
}

#[tokio::test]
async fn valid_token_yields_principal_with_scopes_and_claims() {
    let signer = Signer::ed("k1");
    let clock = ManualClock::at_unix(NOW);
    let layer = layer(scheme_for(&signer, &clock));
    let answer = call(&layer, &signer.sign(&claims(ISS))).await;
    assert_eq!(answer.status, 200);
    let p = answer.principal.unwrap();
    assert_eq!(p.subject(), "alice");
    assert_eq!(p.scheme(), "jwt");
    assert_eq!(p.credential_id(), Some("t-1"));
    assert!(p.scopes().contains("orders:write"));
    assert_eq!(p.claim("tenant"), Some(&json!("acme")));
    #[derive(serde::Deserialize)]
    struct Tenant {
        tenant: String,
    }
    assert_eq!(p.deserialize_claims::<Tenant>().unwrap().tenant, "acme");
}

#[tokio::test]
async fn every_default_algorithm_verifies() {
    let clock = ManualClock::at_unix(NOW);
    for signer in [Signer::rsa("r", RSA1), Signer::ec("e"), Signer::ed("d")] {
        let layer = layer(scheme_for(&signer, &clock));
        assert_eq!(
            call(&layer, &signer.sign(&claims(ISS))).await.status,
            200,
            "{:?}",
            signer.alg
        );
    }
    // PS256 with the same RSA key.
    let signer = Signer::rsa("r", RSA1);
    let layer = layer(scheme_for(&signer, &clock));
    let mut header = Header::new(Algorithm::PS256);
    header.kid = Some("r".into());
    let mut unrestricted = signer.clone();
    unrestricted.alg = Algorithm::PS256;
    let token = unrestricted.sign_with(&header, &claims(ISS));
    // The JWK names RS256, so PS256 does not fit it.
    assert_eq!(call(&layer, &token).await.status, 401);
}

#[tokio::test]
async fn scopes_from_scp_array_and_configured_claim() {
    let signer = Signer::ed("k1");
    let clock = ManualClock::at_unix(NOW);
    let layer1 = layer(scheme_for(&signer, &clock));
    let mut c = claims(ISS);
    c.as_object_mut().unwrap().remove("scope");
    c["scp"] = json!(["a", "b"]);
    let p = call(&layer1, &signer.sign(&c)).await.principal.unwrap();
    assert!(p.scopes().contains("b"));
    let layer2 = layer(scheme_for(&signer, &clock).scope_claim("permissions"));
    c["permissions"] = json!(["admin"]);
    let p = call(&layer2, &signer.sign(&c)).await.principal.unwrap();
    assert!(p.scopes().contains("admin"));
    assert!(!p.scopes().contains("a"));
}

#[tokio::test]
async fn leeway_boundaries_to_the_second() {
    let signer = Signer::ed("k1");
    for leeway in [0u64, 60] {
        let clock = ManualClock::at_unix(NOW);
        let layer = layer(
            scheme_for(&signer, &clock)
                .leeway(Duration::from_secs(leeway))
                .token_cache_capacity(0),
        );
        let mut c = claims(ISS);
        c["exp"] = json!(NOW + 100);
        c["nbf"] = json!(NOW + 50);
        c["iat"] = json!(NOW + 50);
        let token = signer.sign(&c);
        // nbf/iat: valid from nbf - leeway on.
        clock.set_unix(NOW + 50 - leeway - 1);
        let early = call(&layer, &token).await;
        assert_eq!(early.status, 401, "leeway {leeway}");
        assert_eq!(
            early.www_authenticate.unwrap(),
            invalid_token("the credential is not valid yet")
        );
        clock.set_unix(NOW + 50 - leeway);
        assert_eq!(call(&layer, &token).await.status, 200, "leeway {leeway}");
        // exp: valid until exp + leeway, exclusive.
        clock.set_unix(NOW + 100 + leeway - 1);
        assert_eq!(call(&layer, &token).await.status, 200, "leeway {leeway}");
        clock.set_unix(NOW + 100 + leeway);
        let late = call(&layer, &token).await;
        assert_eq!(late.status, 401);
        assert_eq!(
            late.www_authenticate.unwrap(),
            invalid_token("the credential has expired")
        );

        // iat alone in the future.
        let mut c = claims(ISS);
        c["iat"] = json!(NOW + 10);
        c.as_object_mut().unwrap().remove("nbf");
        let token = signer.sign(&c);
        clock.set_unix(NOW + 10 - leeway - 1);
        let answer = call(&layer, &token).await;
        assert_eq!(answer.status, 401);
        assert_eq!(
            answer.www_authenticate.unwrap(),
            invalid_token("the token was issued in the future")
        );
        clock.set_unix(NOW + 10 - leeway);
        assert_eq!(call(&layer, &token).await.status, 200);
    }
}

#[tokio::test]
async fn cached_tokens_still_expire_to_the_second() {
    let signer = Signer::ed("k1");
    let clock = ManualClock::at_unix(NOW);
    let scheme = scheme_for(&signer, &clock)
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let layer = AuthLayer::builder().scheme(scheme.clone()).build().unwrap();
    let mut c = claims(ISS);
    c["exp"] = json!(NOW + 5);
    let token = signer.sign(&c);
    assert_eq!(call(&layer, &token).await.status, 200);
    assert_eq!(scheme.cached_tokens(), 1);
    clock.set_unix(NOW + 4);
    assert_eq!(call(&layer, &token).await.status, 200);
    clock.set_unix(NOW + 5);
    assert_eq!(call(&layer, &token).await.status, 401);
}

/// Every rejection: status and the full `WWW-Authenticate` value.
#[tokio::test]
async fn every_rejection_reason_with_status_and_challenge() {
    let signer = Signer::rsa("k1", RSA1);
    let other = Signer::rsa("k1", RSA2);
    let clock = ManualClock::at_unix(NOW);
    let revocation = Arc::new(InMemoryRevocation::new());
    revocation.revoke_jti(ISS, "revoked-jti");
    revocation.revoke_subject(ISS, "bob", NOW - 5);
    let layer = layer(
        scheme_for(&signer, &clock)
            .token_type("at+jwt")
            .require_claim("client_id")
            .revocation(Arc::clone(&revocation)),
    );
    let mut header = signer.header();
    header.typ = Some("at+jwt".into());
    let mut good = claims(ISS);
    good["client_id"] = json!("c1");
    let sign = |c: &serde_json::Value| signer.sign_with(&header, c);
    assert_eq!(call(&layer, &sign(&good)).await.status, 200);

    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = good.clone();
        f(&mut c);
        c
    };
    let hs_confusion = {
        // HS256 keyed with the RSA public key's bytes: the classic confusion.
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("k1".into());
        h.typ = Some("at+jwt".into());
        let key = EncodingKey::from_secret(signer.jwk["n"].as_str().unwrap().as_bytes());
        authgate::jwt::install_default();
        jsonwebtoken::encode(&h, &good, &key).unwrap()
    };
    let none = {
        let t = sign_raw(&signer, &json!({"alg":"none","typ":"at+jwt"}), &good);
        let mut parts: Vec<&str> = t.split('.').collect();
        parts[2] = "";
        parts.join(".")
    };
    let crit = sign_raw(
        &signer,
        &json!({"alg":"RS256","kid":"k1","typ":"at+jwt","crit":["exp"],"exp":1}),
        &good,
    );
    let tampered = {
        let t = sign(&good);
        let (rest, sig) = t.rsplit_once('.').unwrap();
        let mut sig = sig.to_owned();
        let last = if sig.ends_with('A') { "B" } else { "A" };
        sig.replace_range(sig.len() - 1.., last);
        format!("{rest}.{sig}")
    };
    let es_with_rsa_kid = {
        let ec = Signer::ec("k1");
        let mut h = ec.header();
        h.typ = Some("at+jwt".into());
        ec.sign_with(&h, &good)
    };
    let cases: Vec<(&str, String, u16, String)> = vec![
        (
            "expired",
            sign(&with(&|c| c["exp"] = json!(NOW - 61))),
            401,
            invalid_token("the credential has expired"),
        ),
        (
            "not yet valid",
            sign(&with(&|c| c["nbf"] = json!(NOW + 61))),
            401,
            invalid_token("the credential is not valid yet"),
        ),
        (
            "bad signature",
            tampered,
            401,
            invalid_token("the credential is invalid"),
        ),
        (
            "other key",
            other.sign_with(&header, &good),
            401,
            invalid_token("the credential is invalid"),
        ),
        (
            "alg none",
            none,
            401,
            invalid_token("the token's algorithm is not accepted"),
        ),
        (
            "HS256 with the RSA key",
            hs_confusion,
            401,
            invalid_token("the token's algorithm is not accepted"),
        ),
        (
            "crit",
            crit,
            401,
            invalid_token("the token has critical header parameters"),
        ),
        (
            "ES256 naming an RSA kid",
            es_with_rsa_kid,
            401,
            invalid_token("no single key of the issuer fits the token's algorithm"),
        ),
        (
            "unknown kid",
            {
                let mut h = header.clone();
                h.kid = Some("nope".into());
                signer.sign_with(&h, &good)
            },
            401,
            invalid_token("no single key of the issuer fits the token's algorithm"),
        ),
        (
            "unknown issuer",
            sign(&with(&|c| c["iss"] = json!("https://evil.test"))),
            401,
            invalid_token("the token's issuer is not trusted"),
        ),
        (
            "no issuer",
            sign(&with(&|c| {
                c.as_object_mut().unwrap().remove("iss");
            })),
            401,
            invalid_token("the token's issuer is not trusted"),
        ),
        (
            "wrong audience",
            sign(&with(&|c| c["aud"] = json!("api://other"))),
            401,
            invalid_token("the token is not meant for this audience"),
        ),
        (
            "audience array without ours",
            sign(&with(&|c| c["aud"] = json!(["a", "b"]))),
            401,
            invalid_token("the token is not meant for this audience"),
        ),
        (
            "no audience",
            sign(&with(&|c| {
                c.as_object_mut().unwrap().remove("aud");
            })),
            401,
            invalid_token("the token is not meant for this audience"),
        ),
        (
            "no exp",
            sign(&with(&|c| {
                c.as_object_mut().unwrap().remove("exp");
            })),
            401,
            invalid_token("the token has no expiry"),
        ),
        (
            "exp not a number",
            sign(&with(&|c| c["exp"] = json!("tomorrow"))),
            401,
            invalid_token("a time claim is not a number"),
        ),
        (
            "no sub",
            sign(&with(&|c| {
                c.as_object_mut().unwrap().remove("sub");
            })),
            401,
            invalid_token("the token has no subject"),
        ),
        (
            "missing required claim",
            sign(&with(&|c| {
                c.as_object_mut().unwrap().remove("client_id");
            })),
            401,
            invalid_token("the token lacks a required claim"),
        ),
        (
            "wrong typ",
            signer.sign(&good),
            401,
            invalid_token("the token is not of the expected type"),
        ),
        (
            "revoked jti",
            sign(&with(&|c| c["jti"] = json!("revoked-jti"))),
            401,
            invalid_token("the credential was revoked"),
        ),
        (
            "subject logged out everywhere",
            sign(&with(&|c| c["sub"] = json!("bob"))),
            401,
            invalid_token("the credential was revoked"),
        ),
        (
            "not a JWS",
            "abc.def".to_owned(),
            401,
            invalid_token("the token is not a compact JWS"),
        ),
        (
            "bad base64",
            "eyJhbGciOiJSUzI1NiJ9.e30.A".to_owned(),
            401,
            invalid_token("the token is not valid base64url"),
        ),
        (
            "claims not an object",
            sign_raw(
                &signer,
                &json!({"alg":"RS256","kid":"k1","typ":"at+jwt"}),
                &json!([1]),
            ),
            401,
            invalid_token("the token's claims are not a JSON object"),
        ),
    ];
    for (name, token, status, challenge) in cases {
        let answer = call(&layer, &token).await;
        assert_eq!(answer.status, status, "{name}");
        assert_eq!(
            answer.www_authenticate.as_deref(),
            Some(challenge.as_str()),
            "{name}"
        );
    }
    // Bob's token issued after the cutoff passes.
    let fresh = sign(&with(&|c| {
        c["sub"] = json!("bob");
        c["iat"] = json!(NOW - 1);
    }));
    assert_eq!(call(&layer, &fresh).await.status, 200);
}

#[tokio::test]
async fn revocation_applies_to_cached_tokens() {
    let signer = Signer::ed("k1");
    let clock = ManualClock::at_unix(NOW);
    let revocation = Arc::new(InMemoryRevocation::new());
    let scheme = scheme_for(&signer, &clock)
        .revocation(Arc::clone(&revocation))
        .build()
        .unwrap();
    let layer = AuthLayer::builder().scheme(scheme.clone()).build().unwrap();
    let token = signer.sign(&claims(ISS));
    assert_eq!(call(&layer, &token).await.status, 200);
    assert_eq!(scheme.cached_tokens(), 1);
    revocation.revoke_jti(ISS, "t-1");
    let answer = call(&layer, &token).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.www_authenticate.unwrap(),
        invalid_token("the credential was revoked")
    );
}

#[tokio::test]
async fn multiple_issuers_each_with_their_own_keys() {
    let a = Signer::ed("a");
    let b = Signer::ec("b");
    let clock = ManualClock::at_unix(NOW);
    let secret = [9u8; 32];
    let layer = layer(
        JwtScheme::builder()
            .issuer(
                Issuer::new("https://a.test")
                    .audience(AUD)
                    .key(a.public_key()),
            )
            .issuer(
                Issuer::new("https://b.test")
                    .audience(AUD)
                    .key(b.public_key()),
            )
            .issuer(
                Issuer::new("https://hs.test")
                    .audience(AUD)
                    .key(JwtKey::shared_secret(&secret).unwrap()),
            )
            .clock(clock),
    );
    assert_eq!(
        call(&layer, &a.sign(&claims("https://a.test")))
            .await
            .status,
        200
    );
    assert_eq!(
        call(&layer, &b.sign(&claims("https://b.test")))
            .await
            .status,
        200
    );
    // Issuer A's key does not verify tokens claiming to be from B.
    assert_eq!(
        call(&layer, &a.sign(&claims("https://b.test")))
            .await
            .status,
        401
    );
    let hs = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("https://hs.test"),
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    assert_eq!(call(&layer, &hs).await.status, 200);
    // HS256 is not accepted from an issuer without a shared secret.
    let hs_as_a = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("https://a.test"),
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    assert_eq!(call(&layer, &hs_as_a).await.status, 401);
}

#[tokio::test]
async fn grpc_rejections_carry_grpc_status() {
    let signer = Signer::ed("k1");
    let clock = ManualClock::at_unix(NOW);
    let layer = layer(scheme_for(&signer, &clock));
    let mut c = claims(ISS);
    c["exp"] = json!(NOW - 100);
    let answer = call_with(&layer, &signer.sign(&c), true).await;
    assert_eq!(answer.grpc_status.as_deref(), Some("16"));
}

#[tokio::test]
async fn required_scopes_are_enforced_by_the_layer() {
    let signer = Signer::ed("k1");
    let clock = ManualClock::at_unix(NOW);
    let base = layer(scheme_for(&signer, &clock));
    let admin = base.require_scopes(["admin"]);
    let answer = call(&admin, &signer.sign(&claims(ISS))).await;
    assert_eq!(answer.status, 403);
    assert!(answer
        .www_authenticate
        .unwrap()
        .contains(r#"error="insufficient_scope""#));
}

#[test]
fn configuration_mistakes_are_reported_at_build() {
    let signer = Signer::ed("k1");
    assert!(JwtScheme::builder().build().is_err());
    assert!(JwtScheme::builder()
        .issuer(Issuer::new(ISS).key(signer.public_key()))
        .build()
        .is_err());
    assert!(JwtScheme::builder()
        .issuer(Issuer::new(ISS).audience(AUD))
        .build()
        .is_err());
    assert!(JwtScheme::builder()
        .issuer(Issuer::new(ISS).audience(AUD).key(signer.public_key()))
        .issuer(Issuer::new(ISS).audience(AUD).key(signer.public_key()))
        .build()
        .is_err());
    // An Ed25519 key cannot serve an RS256-only issuer.
    assert!(JwtScheme::builder()
        .issuer(
            Issuer::new(ISS)
                .audience(AUD)
                .key(signer.public_key())
                .algorithms([Algorithm::RS256])
        )
        .build()
        .is_err());
    assert!(JwtScheme::builder()
        .issuer(Issuer::new(ISS).audience(AUD).jwks_url("not a url"))
        .build()
        .is_err());
    assert!(JwtScheme::builder()
        .issuer(
            Issuer::new(ISS)
                .audience(AUD)
                .key(signer.public_key())
                .jwks_url("https://issuer.test/jwks.json")
        )
        .build()
        .is_err());
}

#[test]
fn keys_are_debug_printed_without_secrets() {
    let key = JwtKey::shared_secret(b"super-secret-super-secret-super!").unwrap();
    let printed = format!("{key:?}");
    assert!(!printed.contains("super"));
    assert!(printed.contains("redacted"));
}

/// A closure is a `JwksFetcher`: the cache works without the `jwks-http`
/// feature, and a failing fetcher means 503, never 401.
#[tokio::test]
async fn closure_fetcher_feeds_the_jwks_cache() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    let signer = Signer::ec("k1");
    let body = bytes::Bytes::from(json!({ "keys": [signer.jwk.clone()] }).to_string());
    let up = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let fetcher = {
        let (up, calls) = (Arc::clone(&up), Arc::clone(&calls));
        move |uri: &http::Uri| {
            assert_eq!(uri.path(), "/jwks.json");
            calls.fetch_add(1, Ordering::SeqCst);
            let (up, body) = (up.load(Ordering::SeqCst), body.clone());
            async move {
                if up {
                    Ok(http::Response::new(body))
                } else {
                    Err(authgate::jwt::FetchError::new("down"))
                }
            }
        }
    };
    let scheme = JwtScheme::builder()
        .issuer(
            Issuer::new(ISS)
                .audience(AUD)
                .jwks_url("https://issuer.test/jwks.json"),
        )
        .fetcher(fetcher)
        .jwks_settings(
            authgate::jwt::JwksSettings::default().failure_backoff(Duration::from_millis(1)),
        )
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    let layer = AuthLayer::builder().scheme(scheme).build().unwrap();
    let token = signer.sign(&claims(ISS));
    assert_eq!(call(&layer, &token).await.status, 503);
    tokio::time::sleep(Duration::from_millis(5)).await;
    // gRPC answers are HTTP 200 with the status in grpc-status.
    let answer = call_with(&layer, &token, true).await;
    assert_eq!(answer.grpc_status.as_deref(), Some("14"));
    tokio::time::sleep(Duration::from_millis(5)).await;
    up.store(true, Ordering::SeqCst);
    assert_eq!(call(&layer, &token).await.status, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_token_expiring_in_the_year_9999_is_cached_without_trouble() {
    let signer = Signer::ed("k1");
    let clock = ManualClock::at_unix(NOW);
    let layer = layer(scheme_for(&signer, &clock));
    let mut claims = claims(ISS);
    claims["exp"] = json!(253_402_300_799u64);
    let token = signer.sign(&claims);
    for _ in 0..3 {
        assert_eq!(call(&layer, &token).await.status, 200);
    }
}

/// Cached tokens are served from a per-thread table in front of the shared
/// cache (one thread here: `#[tokio::test]` is current-thread).
#[tokio::test]
async fn the_per_thread_token_table_obeys_clearing_and_keeps_schemes_apart() {
    let clock = ManualClock::at_unix(NOW);
    let k1 = Signer::ec("k1");
    let k2 = Signer::ec("k1");
    let first = scheme_for(&k1, &clock).build().unwrap();
    let second = scheme_for(&k2, &clock).build().unwrap();
    let layer_of =
        |scheme: &JwtScheme| AuthLayer::builder().scheme(scheme.clone()).build().unwrap();
    let (first_layer, second_layer) = (layer_of(&first), layer_of(&second));
    let token = k1.sign(&claims(ISS));
    for _ in 0..3 {
        assert_eq!(call(&first_layer, &token).await.status, 200);
    }
    assert_eq!(first.cached_tokens(), 1);
    // Same thread, same token, another scheme whose key did not sign it.
    assert_eq!(call(&second_layer, &token).await.status, 401);
    assert_eq!(second.cached_tokens(), 0);

    // Cleared: the next request verifies the token again (and caches it
    // again) instead of finding it in the per-thread table.
    first.clear_token_cache();
    assert_eq!(first.cached_tokens(), 0);
    assert_eq!(call(&first_layer, &token).await.status, 200);
    assert_eq!(first.cached_tokens(), 1);

    // Past `exp`, a token in the table is refused like one in the cache.
    clock.set_unix(NOW + 7200);
    assert_eq!(call(&first_layer, &token).await.status, 401);
}

/// What a request with `Authorization: <value>` gets: status, challenge
/// and body.
async fn raw_answer(layer: &AuthLayer, value: &[u8]) -> (u16, Option<String>, bytes::Bytes) {
    use http_body_util::BodyExt;
    use tower::{service_fn, ServiceBuilder, ServiceExt};
    let service = ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(|_: http::Request<()>| async {
            let body = http_body_util::Empty::<bytes::Bytes>::new();
            Ok::<_, std::convert::Infallible>(http::Response::new(body))
        }));
    let request = http::Request::get("/orders")
        .header(
            "authorization",
            http::HeaderValue::from_bytes(value).unwrap(),
        )
        .body(())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, challenge, body)
}

/// The JWT scheme checks the token68 syntax of a bearer token only when
/// the token is not one it has cached (a cached token passed the check when
/// it was first seen). Malformed credentials are answered exactly as the
/// extractor answers them, whether or not valid tokens are cached, and a
/// cached token with a byte appended is not mistaken for the cached one.
#[tokio::test]
async fn malformed_bearer_credentials_are_400_with_or_without_cached_tokens() {
    let signer = Signer::ed("k1");
    let clock = ManualClock::at_unix(NOW);
    let layer = layer(scheme_for(&signer, &clock));
    let token = signer.sign(&claims(ISS));
    let outside = format!("Bearer {token},x");
    let cases: [(&[u8], &str); 4] = [
        (
            b"Bearer a,b",
            "the credentials contain characters outside token68",
        ),
        (
            outside.as_bytes(),
            "the credentials contain characters outside token68",
        ),
        (
            b"Bearer a=b",
            "the credentials contain characters outside token68",
        ),
        (
            b"Bearer ab\xff",
            "the Authorization header is not visible ASCII",
        ),
    ];
    let mut before = Vec::new();
    for (value, description) in cases {
        let (status, challenge, body) = raw_answer(&layer, value).await;
        assert_eq!(status, 400, "{value:?}");
        let challenge = challenge.unwrap_or_default();
        assert!(
            challenge.contains(r#"error="invalid_request""#),
            "{challenge}"
        );
        assert!(challenge.contains(description), "{challenge}");
        assert!(String::from_utf8_lossy(&body).contains(description));
        before.push((status, challenge, body));
    }
    // The valid token, cached; then the same malformed requests again.
    assert_eq!(call(&layer, &token).await.status, 200);
    assert_eq!(call(&layer, &token).await.status, 200);
    for ((value, _), expected) in cases.iter().zip(&before) {
        let (status, challenge, body) = raw_answer(&layer, value).await;
        assert_eq!(
            (status, challenge.unwrap_or_default(), body),
            expected.clone(),
            "{value:?}"
        );
    }
    // Token68 allows trailing `=`: a well-formed credential, not a JWS.
    let padded = call(&layer, &format!("{token}=")).await;
    assert_eq!(padded.status, 401);
}

// ---- Keys that can never verify, or verify anything, are refused at load.

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A DER element: tag, definite length, content.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// A `SubjectPublicKeyInfo`: algorithm OID, optional parameters, key bits.
fn spki(oid: &[u8], params: Option<Vec<u8>>, key: &[u8]) -> Vec<u8> {
    let mut alg = der(0x06, oid);
    alg.extend(params.unwrap_or_default());
    let mut bits = vec![0u8];
    bits.extend_from_slice(key);
    let mut body = der(0x30, &alg);
    body.extend(der(0x03, &bits));
    der(0x30, &body)
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_SECP256K1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x0a];
const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Every encoding of an Ed25519 point of small order (libsodium's
/// blocklist), with and without the sign bit, and the non-canonical
/// spellings of 0 and 1 (y = p, y = p + 1).
fn small_order_ed25519() -> Vec<Vec<u8>> {
    let mut all = Vec::new();
    for y in [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ] {
        let y = hex(y);
        let mut negative = y.clone();
        negative[31] |= 0x80;
        all.push(y);
        all.push(negative);
    }
    all
}

/// The forgery small-order keys allow: R = the identity, S = 0.
fn forge_ed25519(kid: &str, claims: &serde_json::Value) -> (String, Vec<u8>) {
    let input = format!(
        "{}.{}",
        b64url(json!({"alg": "EdDSA", "kid": kid}).to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut signature = vec![0u8; 64];
    signature[0] = 1;
    let token = format!("{input}.{}", b64url(&signature));
    (token, input.into_bytes())
}

#[test]
fn small_order_and_non_canonical_ed25519_keys_are_refused_on_every_path() {
    for key in small_order_ed25519() {
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": "zero", "x": b64url(&key)});
        let err = JwtKey::from_jwk(&jwk).unwrap_err();
        assert!(
            err.reason().contains("small order") || err.reason().contains("canonical"),
            "{key:02x?}: {err}"
        );
        let der = spki(OID_ED25519, None, &key);
        assert!(JwtKey::from_ed_pem(pem("PUBLIC KEY", &der).as_bytes()).is_err());
        assert!(JwtKey::from_public_key_der(&der).is_err());
        let set = json!({"keys": [jwk]}).to_string();
        assert!(JwtKey::parse_set(&set).is_err());
    }
    // y = p + 2 .. 2^255 - 1: on no list, but not canonical either.
    let mut y = hex("efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
    assert_eq!(
        JwtKey::from_jwk(&json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(&y)}))
            .unwrap_err()
            .reason(),
        "the Ed25519 key is not canonically encoded"
    );
    y[0] = 0xff;
    assert!(JwtKey::from_public_key_der(&spki(OID_ED25519, None, &y)).is_err());
    // y = 2 is canonical but on no point of the curve: no token could verify.
    let mut two = [0u8; 32];
    two[0] = 2;
    assert_eq!(
        JwtKey::from_jwk(&json!({"kty": "OKP", "crv": "Ed25519", "x": b64url(&two)}))
            .unwrap_err()
            .reason(),
        "the Ed25519 key is not a point on the curve"
    );
    // A real key still loads, from a JWK and from PEM.
    let signer = Signer::ed("k1");
    let x = signer.jwk["x"].as_str().unwrap();
    let raw = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(x)
            .unwrap()
    };
    assert!(
        JwtKey::from_ed_pem(pem("PUBLIC KEY", &spki(OID_ED25519, None, &raw)).as_bytes()).is_ok()
    );
}

/// The attack end to end: with the identity as an issuer's key, a token
/// with R = identity and S = 0 verifies (ring accepts it), so anyone could
/// mint an admin token. A JWKS publishing such a key now loses it (with a
/// warning), and the forged token gets 401.
#[tokio::test]
async fn a_token_forged_under_a_small_order_key_is_refused_through_the_layer() {
    let identity = hex("0100000000000000000000000000000000000000000000000000000000000000");
    let mut admin = claims(ISS);
    admin["sub"] = json!("admin");
    admin["scope"] = json!("admin");
    let (forged, input) = forge_ed25519("zero", &admin);
    // The forgery is real: ring verifies it under the identity point.
    let signature = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(forged.rsplit('.').next().unwrap())
            .unwrap()
    };
    assert!(
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &identity)
            .verify(&input, &signature)
            .is_ok()
    );

    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": "zero", "x": b64url(&identity)});
    // A fetched key set: the small-order key is skipped, the good one stays.
    let good = Signer::ed("k1");
    let body = bytes::Bytes::from(json!({"keys": [jwk, good.jwk.clone()]}).to_string());
    let scheme = JwtScheme::builder()
        .issuer(
            Issuer::new(ISS)
                .audience(AUD)
                .jwks_url("https://issuer.test/jwks.json"),
        )
        .fetcher(move |_: &http::Uri| {
            let body = body.clone();
            async move { Ok(http::Response::new(body)) }
        })
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    let layer = AuthLayer::builder()
        .scheme(scheme)
        .require_scopes(["admin"])
        .build()
        .unwrap();
    let answer = call(&layer, &forged).await;
    assert_eq!(answer.status, 401);
    assert!(answer.principal.is_none());
    let mut good_admin = admin.clone();
    good_admin["sub"] = json!("root");
    assert_eq!(call(&layer, &good.sign(&good_admin)).await.status, 200);

    // A static key: refused when it is loaded, so no scheme is ever built on it.
    assert_eq!(
        JwtKey::from_jwk(&jwk).unwrap_err().reason(),
        "the Ed25519 key is a point of small order"
    );
}

#[test]
fn rsa_keys_under_2048_bits_are_refused_on_every_path() {
    // A 1024-bit modulus (odd, top bit set) and e = 65537.
    let mut n = vec![0xc5u8; 128];
    n[127] = 0x4b;
    let e = [1u8, 0, 1];
    let pkcs1 = {
        let mut n_int = vec![0u8];
        n_int.extend_from_slice(&n);
        let mut body = der(0x02, &n_int);
        body.extend(der(0x02, &e));
        der(0x30, &body)
    };
    let spki_der = spki(OID_RSA, Some(vec![0x05, 0x00]), &pkcs1);
    let short = "RSA modulus is shorter than 2048 bits";
    let paths = [
        JwtKey::from_rsa_pem(pem("RSA PUBLIC KEY", &pkcs1).as_bytes()),
        JwtKey::from_rsa_pem(pem("PUBLIC KEY", &spki_der).as_bytes()),
        JwtKey::from_public_key_der(&spki_der),
        JwtKey::from_jwk(&json!({"kty": "RSA", "n": b64url(&n), "e": b64url(&e)})),
    ];
    for result in paths {
        assert_eq!(result.unwrap_err().reason(), short);
    }
    // A PEM of another type is not an RSA key.
    let ed = spki(OID_ED25519, None, &[7u8; 32]);
    assert!(JwtKey::from_rsa_pem(pem("PUBLIC KEY", &ed).as_bytes()).is_err());
    assert!(JwtKey::from_rsa_pem(pem("PRIVATE KEY", &pkcs1).as_bytes()).is_err());
}

/// A 2048-bit RSA key from PEM (`PUBLIC KEY`, and the same key as PKCS#1)
/// verifies through the layer; a kid-less configured key serves tokens
/// that name a kid.
#[tokio::test]
async fn rsa_pem_keys_verify_through_the_layer() {
    let signer = Signer::rsa("k1", RSA1);
    let pem_text = include_str!("support/rsa1.pub.pem");
    let key = JwtKey::from_rsa_pem(pem_text.as_bytes()).unwrap();
    let clock = ManualClock::at_unix(NOW);
    let layer = layer(
        JwtScheme::builder()
            .issuer(Issuer::new(ISS).audience(AUD).key(key))
            .clock(clock),
    );
    assert_eq!(call(&layer, &signer.sign(&claims(ISS))).await.status, 200);
}

#[tokio::test]
async fn ec_keys_off_the_curve_or_of_another_curve_are_refused_at_load() {
    let p256 =
        |x: &[u8], y: &[u8]| json!({"kty": "EC", "crv": "P-256", "x": b64url(x), "y": b64url(y)});
    let p384 =
        |x: &[u8], y: &[u8]| json!({"kty": "EC", "crv": "P-384", "x": b64url(x), "y": b64url(y)});
    let one = |len: usize| {
        let mut v = vec![0u8; len];
        v[len - 1] = 1;
        v
    };
    let p256_p = hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
    // The P-256 base point, and x shifted by p: the same point, not canonical.
    let gx = hex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
    let gy = hex("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
    for bad in [
        p256(&one(32), &one(32)),
        p256(&[0; 32], &[0; 32]),
        p256(&p256_p, &gy),
        p256(&gx, &one(32)),
        p384(&one(48), &one(48)),
        p384(&[0; 48], &[0; 48]),
    ] {
        let err = JwtKey::from_jwk(&bad).unwrap_err();
        assert_eq!(err.reason(), "the EC point is not on the curve", "{bad}");
    }
    assert!(JwtKey::from_jwk(&p256(&gx, &gy)).is_ok());

    // secp256k1 in PEM: its points are as long as P-256's, it used to be
    // filed as P-256. Here its base point, which is on secp256k1.
    let kx = hex("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798");
    let ky = hex("483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8");
    let point = |x: &[u8], y: &[u8]| [&[4u8][..], x, y].concat();
    let k1 = spki(OID_EC, Some(der(0x06, OID_SECP256K1)), &point(&kx, &ky));
    assert_eq!(
        JwtKey::from_ec_pem(pem("PUBLIC KEY", &k1).as_bytes())
            .unwrap_err()
            .reason(),
        "unsupported EC curve"
    );
    assert!(JwtKey::from_public_key_der(&k1).is_err());
    // The same point filed as P-256 is not on P-256.
    let lie = spki(OID_EC, Some(der(0x06, OID_P256)), &point(&kx, &ky));
    assert_eq!(
        JwtKey::from_ec_pem(pem("PUBLIC KEY", &lie).as_bytes())
            .unwrap_err()
            .reason(),
        "the EC point is not on the curve"
    );

    // A real P-256 key in PEM loads and verifies through the layer.
    let signer = Signer::ec("e1");
    let x = signer.jwk["x"].as_str().unwrap();
    let y = signer.jwk["y"].as_str().unwrap();
    let decode = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap()
    };
    let good = spki(
        OID_EC,
        Some(der(0x06, OID_P256)),
        &point(&decode(x), &decode(y)),
    );
    let key = JwtKey::from_ec_pem(pem("PUBLIC KEY", &good).as_bytes()).unwrap();
    let layer = layer(
        JwtScheme::builder()
            .issuer(Issuer::new(ISS).audience(AUD).key(key))
            .clock(ManualClock::at_unix(NOW)),
    );
    assert_eq!(call(&layer, &signer.sign(&claims(ISS))).await.status, 200);
}

/// Wycheproof's `invalid_point` key (tcId 22) is refused when loaded, not
/// only when a token fails against it.
#[test]
fn wycheproof_invalid_point_is_refused_at_load() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/vectors/wycheproof/json_web_key_test.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("notice: {} is absent; skipping", path.display());
        return;
    };
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let group = doc["testGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["comment"] == "invalid_point")
        .unwrap();
    let key = &group["public"]["keys"][0];
    assert_eq!(
        JwtKey::from_jwk(key).unwrap_err().reason(),
        "the EC point is not on the curve"
    );
}

/// RFC 7515 §4: the header is a JSON object, and its registered members
/// have their types; `crit` in any form is refused.
#[tokio::test]
async fn jose_headers_must_be_objects_with_typed_members() {
    let signer = Signer::ed("k1");
    let layer = layer(scheme_for(&signer, &ManualClock::at_unix(NOW)));
    let good = claims(ISS);
    assert_eq!(
        call(
            &layer,
            &sign_raw(&signer, &json!({"alg": "EdDSA", "kid": "k1"}), &good)
        )
        .await
        .status,
        200
    );
    let header_invalid = invalid_token("the token header is not valid");
    for header in [
        json!(["EdDSA", "k1"]),
        json!(["EdDSA", "k1", null, null]),
        json!({"alg": "EdDSA", "kid": "k1", "crit": null}),
        json!({"alg": "EdDSA", "kid": "k1", "crit": []}),
        json!({"alg": "EdDSA", "kid": "k1", "crit": "exp"}),
        json!({"alg": "EdDSA", "kid": 1}),
        json!({"alg": "EdDSA", "kid": "k1", "typ": ["JWT"]}),
        json!({"alg": "EdDSA", "kid": "k1", "cty": 1}),
        json!({"alg": "EdDSA", "kid": "k1", "jku": {}}),
        json!({"alg": "EdDSA", "kid": "k1", "x5u": 1}),
        json!({"alg": "EdDSA", "kid": "k1", "x5c": "MIIB"}),
        json!({"alg": "EdDSA", "kid": "k1", "x5t": null}),
        json!({"alg": "EdDSA", "kid": "k1", "x5t#S256": 5}),
        json!({"alg": "EdDSA", "kid": "k1", "jwk": "key"}),
        json!({"alg": "EdDSA", "kid": "k1", "b64": "false"}),
        json!({"kid": "k1"}),
        json!("EdDSA"),
    ] {
        let answer = call(&layer, &sign_raw(&signer, &header, &good)).await;
        assert_eq!(answer.status, 401, "{header}");
        assert_eq!(
            answer.www_authenticate.as_deref(),
            Some(header_invalid.as_str()),
            "{header}"
        );
    }
    // Unregistered members are ignored whatever their type.
    let extra = json!({"alg": "EdDSA", "kid": "k1", "x-custom": [1, {"a": null}]});
    assert_eq!(
        call(&layer, &sign_raw(&signer, &extra, &good)).await.status,
        200
    );
}

/// An identity provider that can move its JWKS: discovery names the
/// current location, the old one answers 404 once it moved.
#[derive(Clone, Default)]
struct MovingIdp {
    location: Arc<std::sync::Mutex<String>>,
    keys: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl MovingIdp {
    fn fetcher(&self) -> impl authgate::jwt::JwksFetcher {
        let idp = self.clone();
        move |uri: &http::Uri| {
            let path = uri.path().to_owned();
            idp.log.lock().unwrap().push(path.clone());
            let location = idp.location.lock().unwrap().clone();
            let response = if path == "/.well-known/openid-configuration" {
                let doc = json!({"issuer": "https://idp.test", "jwks_uri": format!("https://idp.test{location}")});
                http::Response::new(bytes::Bytes::from(doc.to_string()))
            } else if path == location {
                let keys = idp.keys.lock().unwrap().clone();
                http::Response::new(bytes::Bytes::from(json!({"keys": keys}).to_string()))
            } else {
                let mut res = http::Response::new(bytes::Bytes::new());
                *res.status_mut() = http::StatusCode::NOT_FOUND;
                res
            };
            async move { Ok::<_, authgate::jwt::FetchError>(response) }
        }
    }

    fn log(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

/// Discovery is not once per process: when the discovered `jwks_uri`
/// fails, discovery runs again and follows the move (it used to keep the
/// dead URL forever: 503 once `max_stale` passed, until a restart); and it
/// runs again every `rediscovery_interval`.
#[tokio::test(start_paused = true)]
async fn oidc_discovery_follows_a_moved_jwks() {
    const ISS_IDP: &str = "https://idp.test";
    const DISCOVERY: &str = "/.well-known/openid-configuration";
    let k1 = Signer::ed("k1");
    let k2 = Signer::ed("k2");
    let idp = MovingIdp::default();
    *idp.location.lock().unwrap() = "/a/jwks.json".into();
    *idp.keys.lock().unwrap() = vec![k1.jwk.clone()];
    let scheme = JwtScheme::builder()
        .issuer(Issuer::new(ISS_IDP).audience(AUD).oidc_discovery())
        .fetcher(idp.fetcher())
        .jwks_settings(
            authgate::jwt::JwksSettings::default()
                .ttl_bounds(Duration::from_secs(600), Duration::from_secs(600))
                .max_stale(Duration::from_secs(60))
                .unknown_kid_cooldown(Duration::from_secs(30))
                .rediscovery_interval(Duration::from_secs(3600)),
        )
        .token_cache_capacity(0)
        .clock(ManualClock::at_unix(NOW))
        .build()
        .unwrap();
    let layer = AuthLayer::builder().scheme(scheme).build().unwrap();
    let t1 = k1.sign(&claims(ISS_IDP));
    let t2 = k2.sign(&claims(ISS_IDP));
    assert_eq!(call(&layer, &t1).await.status, 200);
    assert_eq!(idp.log(), [DISCOVERY, "/a/jwks.json"]);

    // The IdP moves its keys to /b and starts signing with k2.
    *idp.location.lock().unwrap() = "/b/jwks.json".into();
    *idp.keys.lock().unwrap() = vec![k1.jwk.clone(), k2.jwk.clone()];
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(call(&layer, &t2).await.status, 200);
    assert_eq!(idp.log(), ["/a/jwks.json", DISCOVERY, "/b/jwks.json"]);
    assert_eq!(call(&layer, &t1).await.status, 200);

    // Well past max_stale: the keys come from the new place.
    tokio::time::advance(Duration::from_secs(700)).await;
    assert_eq!(call(&layer, &t1).await.status, 200);
    assert_eq!(idp.log(), ["/b/jwks.json"]);

    // After rediscovery_interval, the next refresh reads discovery first.
    *idp.location.lock().unwrap() = "/c/jwks.json".into();
    tokio::time::advance(Duration::from_secs(3000)).await;
    assert_eq!(call(&layer, &t1).await.status, 200);
    assert_eq!(idp.log(), [DISCOVERY, "/c/jwks.json"]);
}

/// A test-only Ed25519 key and a self-signed certificate for it
/// (`openssl req -x509 -newkey ed25519`).
const ED_CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBRjCB+aADAgECAhQ/W+UlXojNSNKi3PLqLucJmMVU8DAFBgMrZXAwGDEWMBQG
A1UEAwwNYXV0aGdhdGUgdGVzdDAgFw0yNjExMzAxNTUzMzRaGA8yMTI2MTEwNjE1
NTMzNFowGDEWMBQGA1UEAwwNYXV0aGdhdGUgdGVzdDAqMAUGAytlcAMhAFgnb2I6
wiqVPSKWcIj1voZk3XwJxf8tsRO8XUpD3O3So1MwUTAdBgNVHQ4EFgQUefbhE9Aw
UtDjv5c5ZSL1p1p2ll0wHwYDVR0jBBgwFoAUefbhE9AwUtDjv5c5ZSL1p1p2ll0w
DwYDVR0TAQH/BAUwAwEB/zAFBgMrZXADQQDeSUGeTF8Mdb3CzgIPlgFdyBQBqm61
bQ4bzcfEAo6CIoQy7vklGxPbhwrJAA/cW0Isvnq5m7hrqkT709y0dikG
-----END CERTIFICATE-----
";
const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIMRxyVp7SkZgyf9tYB6MBei19rjO77W68OJyfAZdZPSy
-----END PRIVATE KEY-----
";

/// The key of a certificate PEM is read from its SubjectPublicKeyInfo and
/// verifies what the certificate's private key signed.
#[test]
fn a_certificate_pem_yields_its_public_key() {
    let key = JwtKey::from_ed_pem(ED_CERT.as_bytes()).unwrap();
    assert!(JwtKey::from_rsa_pem(ED_CERT.as_bytes()).is_err());
    assert!(JwtKey::from_ec_pem(ED_CERT.as_bytes()).is_err());
    authgate::jwt::install_default();
    let signing = EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap();
    let token =
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &json!({"a": 1}), &signing).unwrap();
    let payload = authgate::jwt::verify_compact(&token, &[key], &[Algorithm::EdDSA]).unwrap();
    assert_eq!(payload, br#"{"a":1}"#);
}
