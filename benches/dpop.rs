#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs,
    unreachable_pub
)] // benchmark set-up: a panic is a broken bench; criterion macros generate undocumented items

//! The cost of DPoP (RFC 9449) on top of a cached token:
//!
//! - `dpop/raw_es256_verify`: the floor, ring verifying the proof's ES256
//!   signature with a parsed key, nothing else;
//! - `dpop/bearer_cached`: the whole layer with a cached bearer token;
//! - `dpop/proof_cached_token`: the whole layer with the same token bound
//!   to a key and a fresh proof per request (parsing, thumbprint, `ath`,
//!   signature, `jti` insert). Proofs are signed outside the measurement;
//! - `dpop/check_proof_alone`: `DpopVerifier::check_proof` without the
//!   layer or the token;
//! - `dpop/jwk_parse`: loading the proof's JWK as a key (the EC point
//!   check), which the verifier's key cache saves on every request after a
//!   client's first.
//!
//! The target: `proof_cached_token` ≤ 1.2 × `raw_es256_verify`. Measured
//! with callgrind (below; n = 11 000 minus n = 1 000, per request):
//! 843.5k instructions against 757.4k, 1.11× (`check_proof_alone` 837.3k,
//! `bearer_cached` 5.9k).
//!
//! `cargo bench --bench dpop`
//!
//! Instruction counts, which do not depend on the machine's load:
//! `AUTHGATE_CALLGRIND=<case>:<n>` runs case `<case>` (any of the above
//! but `jwk_parse`) `<n>` times and exits; only `callgrind_measured` is
//! counted:
//!
//! ```sh
//! AUTHGATE_CALLGRIND=proof_cached_token:1000 valgrind --tool=callgrind \
//!     --collect-atstart=no --toggle-collect='*callgrind_measured*' \
//!     target/release/deps/dpop-<hash> --bench
//! ```

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use authgate::dpop::{Dpop, DpopMode, DpopProver};
use authgate::jwt::{Issuer, JwtKey, JwtScheme};
use authgate::AuthLayer;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature as sig;
use serde_json::json;
use tower::{service_fn, Layer, ServiceExt};

const ORIGIN: &str = "https://api.bench";
const SECRET: [u8; 32] = [7u8; 32];

async fn echo(_: Request<()>) -> Result<Response<()>, Infallible> {
    Ok(Response::new(()))
}

fn token(jkt: Option<&str>) -> String {
    authgate::jwt::install_default();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = json!({"iss": "https://issuer.bench", "aud": "api", "sub": "alice",
                            "exp": now + 3600, "scope": "orders:read"});
    if let Some(jkt) = jkt {
        claims["cnf"] = json!({ "jkt": jkt });
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&SECRET),
    )
    .unwrap()
}

fn request(authorization: &HeaderValue, proof: Option<HeaderValue>) -> Request<()> {
    let mut request = Request::get("/orders").body(()).unwrap();
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, authorization.clone());
    if let Some(proof) = proof {
        request.headers_mut().insert("dpop", proof);
    }
    request
}

/// The case and count asked for by `AUTHGATE_CALLGRIND=<case>:<n>`.
fn callgrind_case() -> Option<(String, usize)> {
    let spec = std::env::var("AUTHGATE_CALLGRIND").ok()?;
    let (case, n) = spec.split_once(':')?;
    Some((case.to_owned(), n.parse().ok()?))
}

/// Runs `case` `n` times under callgrind when it is the one asked for,
/// inputs built first, then exits.
fn drive<I, Fut>(
    rt: &tokio::runtime::Runtime,
    case: &str,
    mut input: impl FnMut() -> I,
    run: impl FnMut(I) -> Fut,
) where
    Fut: std::future::Future<Output = ()>,
{
    let Some((wanted, n)) = callgrind_case() else {
        return;
    };
    if wanted != case {
        return;
    }
    let inputs: Vec<I> = (0..n).map(|_| input()).collect();
    callgrind_measured(rt, inputs, run);
    std::process::exit(0);
}

#[inline(never)]
fn callgrind_measured<I, Fut>(
    rt: &tokio::runtime::Runtime,
    inputs: Vec<I>,
    mut run: impl FnMut(I) -> Fut,
) where
    Fut: std::future::Future<Output = ()>,
{
    rt.block_on(async {
        for input in inputs {
            run(input).await;
        }
    });
}

fn per_request(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let scheme = JwtScheme::builder()
        .issuer(
            Issuer::new("https://issuer.bench")
                .audience("api")
                .key(JwtKey::shared_secret(&SECRET).unwrap()),
        )
        .dpop(
            Dpop::new(DpopMode::Allowed)
                .public_origin(ORIGIN)
                // Proofs are signed before the measured loop, which takes
                // minutes under callgrind: they must stay fresh. The window
                // costs nothing per request.
                .proof_window(std::time::Duration::from_secs(86_400))
                // Every measured proof is new: room for all of them.
                .replay_capacity(50_000_000),
        )
        .build()
        .unwrap();
    let layer = AuthLayer::builder().scheme(scheme).build().unwrap();
    let service = layer.layer(service_fn(echo));

    let prover = DpopProver::es256().unwrap();
    let bound = token(Some(prover.jkt()));
    let plain = token(None);
    let bearer = HeaderValue::from_str(&format!("Bearer {plain}")).unwrap();
    let dpop = HeaderValue::from_str(&format!("DPoP {bound}")).unwrap();
    let url = format!("{ORIGIN}/orders");
    let fresh_proof = || {
        let proof = prover.proof(&Method::GET, &url, Some(&bound)).unwrap();
        HeaderValue::from_str(&proof).unwrap()
    };

    // The floor: one ES256 verification of a proof, key already parsed.
    let proof = prover.proof(&Method::GET, &url, Some(&bound)).unwrap();
    let (input, signature) = proof.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let jwk = prover.public_jwk();
    let mut point = vec![4u8];
    point.extend(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap());
    point.extend(URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap());
    let key = sig::UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point);

    // Warm the token cache.
    rt.block_on(async {
        let response = service
            .clone()
            .oneshot(request(&dpop, Some(fresh_proof())))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let response = service
            .clone()
            .oneshot(request(&bearer, None))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    });

    drive(
        &rt,
        "raw_es256_verify",
        || (),
        |()| {
            assert!(key
                .verify(black_box(input.as_bytes()), black_box(&signature))
                .is_ok());
            async {}
        },
    );
    drive(
        &rt,
        "bearer_cached",
        || request(&bearer, None),
        |request| {
            let service = service.clone();
            async move {
                let response = service.oneshot(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
            }
        },
    );
    drive(
        &rt,
        "proof_cached_token",
        || request(&dpop, Some(fresh_proof())),
        |request| {
            let service = service.clone();
            async move {
                let response = service.oneshot(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
            }
        },
    );

    let verifier = Dpop::new(DpopMode::Allowed)
        .public_origin(ORIGIN)
        .proof_window(std::time::Duration::from_secs(86_400))
        .replay_capacity(50_000_000)
        .build()
        .unwrap();
    drive(
        &rt,
        "check_proof_alone",
        || request(&dpop, Some(fresh_proof())).into_parts().0,
        |parts| {
            let answer = verifier.check_proof(&parts, &bound, prover.jkt());
            assert!(answer.into_ready().unwrap().is_ok());
            async {}
        },
    );

    let mut group = c.benchmark_group("dpop");
    group.bench_function("raw_es256_verify", |b| {
        b.iter(|| key.verify(black_box(input.as_bytes()), black_box(&signature)))
    });
    group.bench_function("bearer_cached", |b| {
        b.to_async(&rt).iter(|| async {
            let response = service
                .clone()
                .oneshot(request(&bearer, None))
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            black_box(response)
        })
    });
    group.bench_function("proof_cached_token", |b| {
        b.to_async(&rt).iter_batched(
            || request(&dpop, Some(fresh_proof())),
            |request| async {
                let response = service.clone().oneshot(request).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                black_box(response)
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("check_proof_alone", |b| {
        b.iter_batched(
            || request(&dpop, Some(fresh_proof())).into_parts().0,
            |parts| {
                let answer = verifier.check_proof(&parts, &bound, prover.jkt());
                assert!(answer.into_ready().unwrap().is_ok());
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("jwk_parse", |b| {
        b.iter(|| authgate::jwt::JwtKey::from_jwk(black_box(jwk)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, per_request);
criterion_main!(benches);
