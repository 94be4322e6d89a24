//! Rate limits per principal and the failed-authentication throttle, with
//! the in-process limiter, through real axum servers and a real client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::{IpAddr, SocketAddr};

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
use authgate::ratelimit::{Charge, FailedAuthLayer, InProcessLimiter, Quota, RateLimitLayer};
use authgate::{AuthLayer, Principal, Scopes};
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;

struct Keys {
    first: String,
    second: String,
}

fn keys(store: &InMemoryKeyStore) -> Keys {
    let generator = ApiKeyGenerator::new("sk_live").unwrap();
    let issue = |subject: &str| {
        let key = generator.generate(subject, Scopes::empty()).unwrap();
        store.insert(key.record().clone());
        key.plaintext().expose().to_owned()
    };
    Keys {
        first: issue("acct_1"),
        second: issue("acct_2"),
    }
}

fn app(store: InMemoryKeyStore, limits: RateLimitLayer) -> Router {
    let auth = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
        .anonymous_path("/health")
        .build()
        .unwrap();
    Router::new()
        .route(
            "/orders",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .route("/health", get(|| async { "ok" }))
        .layer(limits)
        .layer(auth)
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

async fn get_with(client: &reqwest::Client, url: &str, key: Option<&str>) -> reqwest::Response {
    let mut request = client.get(url);
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers()[name].to_str().unwrap()
}

#[tokio::test]
async fn over_the_limit_gets_429_with_retry_after_and_ratelimit_headers() {
    let store = InMemoryKeyStore::new();
    let keys = keys(&store);
    let limits = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(3));
    let addr = serve(app(store, limits)).await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/orders");

    for remaining in [2, 1, 0] {
        let response = get_with(&client, &url, Some(&keys.first)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            header(&response, "ratelimit-policy"),
            "\"default\";q=3;w=60"
        );
        let state = header(&response, "ratelimit");
        assert!(
            state.starts_with(&format!("\"default\";r={remaining};t=")),
            "{state}"
        );
    }
    let limited = get_with(&client, &url, Some(&keys.first)).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(header(&limited, "retry-after"), "20");
    assert_eq!(header(&limited, "ratelimit"), "\"default\";r=0;t=60");
    assert!(limited.headers().get("www-authenticate").is_none());
    assert_eq!(header(&limited, "content-type"), "application/problem+json");
    let body: serde_json::Value = serde_json::from_str(&limited.text().await.unwrap()).unwrap();
    assert_eq!(body["status"], 429);

    // Another key has its own budget.
    let other = get_with(&client, &url, Some(&keys.second)).await;
    assert_eq!(other.status(), 200);
    assert_eq!(other.text().await.unwrap(), "acct_2");
}

#[tokio::test]
async fn unauthenticated_requests_are_never_counted() {
    let store = InMemoryKeyStore::new();
    let keys = keys(&store);
    let limits = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(2));
    let addr = serve(app(store, limits)).await;
    let client = reqwest::Client::new();

    for _ in 0..10 {
        let health = get_with(&client, &format!("http://{addr}/health"), None).await;
        assert_eq!(health.status(), 200);
        assert!(health.headers().get("ratelimit").is_none());
        let rejected = get_with(&client, &format!("http://{addr}/orders"), None).await;
        assert_eq!(rejected.status(), 401);
        let bad = get_with(
            &client,
            &format!("http://{addr}/orders"),
            Some("sk_live_nope"),
        )
        .await;
        assert_eq!(bad.status(), 401);
    }
    let first = get_with(&client, &format!("http://{addr}/orders"), Some(&keys.first)).await;
    assert_eq!(first.status(), 200);
    assert!(header(&first, "ratelimit").starts_with("\"default\";r=1;"));
}

#[tokio::test]
async fn quotas_come_from_the_principal_and_keys_by_subject() {
    let store = InMemoryKeyStore::new();
    let generator = ApiKeyGenerator::new("sk_live").unwrap();
    let issue = |subject: &str| {
        let key = generator.generate(subject, Scopes::empty()).unwrap();
        store.insert(key.record().clone());
        key.plaintext().expose().to_owned()
    };
    let (pro_a, pro_b, free) = (issue("acct_pro"), issue("acct_pro"), issue("acct_free"));
    let limits = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(1))
        .quota_for(|p| (p.subject() == "acct_pro").then(|| Quota::per_minute(3)))
        .key_by_subject()
        .policy_name("plan")
        .unwrap();
    let addr = serve(app(store, limits)).await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/orders");

    // Two keys of one subject share its budget of 3.
    let statuses = [
        get_with(&client, &url, Some(&pro_a)).await.status(),
        get_with(&client, &url, Some(&pro_b)).await.status(),
        get_with(&client, &url, Some(&pro_a)).await.status(),
        get_with(&client, &url, Some(&pro_b)).await.status(),
    ];
    assert_eq!(statuses.map(|s| s.as_u16()), [200, 200, 200, 429]);
    let free_first = get_with(&client, &url, Some(&free)).await;
    assert_eq!(header(&free_first, "ratelimit-policy"), "\"plan\";q=1;w=60");
    assert_eq!(get_with(&client, &url, Some(&free)).await.status(), 429);
}

#[tokio::test]
async fn grpc_calls_get_resource_exhausted_and_custom_bodies_apply() {
    let store = InMemoryKeyStore::new();
    let keys = keys(&store);
    let auth = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
        .rejection_body(|r: &authgate::Rejection<'_>| {
            authgate::response::RejectionBody::text(format!("no: {}", r.error().kind()))
        })
        .build()
        .unwrap();
    let limits = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_second(1));
    let app = Router::new()
        .route("/svc/Method", axum::routing::post(|| async { "ok" }))
        .route("/orders", get(|| async { "ok" }))
        .layer(limits)
        .layer(auth);
    let call = |path: &str, grpc: bool| {
        let mut request = http::Request::post(path).header("x-api-key", &keys.first);
        if grpc {
            request = request.header("content-type", "application/grpc");
        }
        request.body(axum::body::Body::empty()).unwrap()
    };
    assert_eq!(
        app.clone()
            .oneshot(call("/svc/Method", true))
            .await
            .unwrap()
            .status(),
        200
    );
    let limited = app
        .clone()
        .oneshot(call("/svc/Method", true))
        .await
        .unwrap();
    assert_eq!(limited.status(), 200);
    assert_eq!(limited.headers()["grpc-status"], "8");
    assert_eq!(limited.headers()["retry-after"], "1");

    let http_limited = app
        .oneshot(
            http::Request::get("/orders")
                .header("x-api-key", &keys.first)
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(http_limited.status(), 429);
    let body = axum::body::to_bytes(http_limited.into_body(), 1024)
        .await
        .unwrap();
    assert_eq!(&body[..], b"no: rate_limited");
}

#[tokio::test]
async fn failed_authentication_walls_off_the_source_only() {
    let store = InMemoryKeyStore::new();
    let keys = keys(&store);
    let auth = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(store, "sk_live").unwrap())
        .build()
        .unwrap();
    let throttle = FailedAuthLayer::new(InProcessLimiter::new(), Quota::per_minute(3));
    let app = Router::new()
        .route("/orders", get(|| async { "ok" }))
        .layer(auth)
        .layer(throttle);
    let addr = serve(app).await;
    let url = format!("http://{addr}/orders");
    let stuffer = reqwest::Client::new();
    // A second source address on the loopback interface.
    let neighbour = reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();

    // The last character changed (to another one: a key ending in `x`
    // stayed valid, one run in 62, and the test failed).
    let mut wrong = keys.first.clone();
    let last = wrong.pop();
    wrong.push(if last == Some('x') { 'y' } else { 'x' });
    assert_ne!(wrong, keys.first);
    for _ in 0..3 {
        assert_eq!(get_with(&stuffer, &url, Some(&wrong)).await.status(), 401);
    }
    // A missing credential costs nothing, and a right one does not unlock.
    let walled = get_with(&stuffer, &url, Some(&keys.first)).await;
    assert_eq!(walled.status(), 429);
    assert_eq!(header(&walled, "retry-after"), "20");
    assert!(header(&walled, "ratelimit-policy").starts_with("\"failed_auth\";q=3"));
    assert_eq!(
        get_with(&neighbour, &url, Some(&keys.first)).await.status(),
        200
    );
    assert_eq!(get_with(&neighbour, &url, None).await.status(), 401);
}

#[test]
fn a_million_distinct_keys_stay_within_the_memory_bound() {
    let capacity = 10_000;
    let limiter = InProcessLimiter::new().with_capacity(capacity);
    let quota = Quota::per_second(10);
    let mut key = String::with_capacity(32);
    for i in 0..1_000_000u32 {
        key.clear();
        key.push_str("flood:");
        key.push_str(&i.to_string());
        assert!(limiter.decide(&key, &quota, Charge::Acquire).is_allowed());
    }
    let held = limiter.entry_count();
    assert!(held <= capacity, "{held} entries held, bound {capacity}");
    // A caller that was evicted starts again with a full burst; one that is
    // still held is still counted.
    let hot = "flood:hot";
    for _ in 0..10 {
        assert!(limiter.decide(hot, &quota, Charge::Acquire).is_allowed());
    }
    assert!(!limiter.decide(hot, &quota, Charge::Acquire).is_allowed());
}

/// A scheme on `Authorization: Guess` whose every verification fails after
/// 200 ms, as a slow password hash or store would.
struct SlowFailure;

impl authgate::Scheme for SlowFailure {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn locations(&self) -> Vec<authgate::CredentialLocation> {
        vec![authgate::CredentialLocation::authorization("Guess")]
    }
    fn challenge(&self) -> authgate::Challenge {
        authgate::Challenge::new("Guess")
    }
    fn verify(
        &self,
        _: &authgate::Credential,
        _: &authgate::VerifyContext<'_>,
    ) -> authgate::Verification {
        authgate::Verification::pending(async {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            Err(authgate::AuthError::new(authgate::ErrorKind::BadSignature))
        })
    }
}

/// Regression (review7): the throttle peeks before a request and charges a
/// failure once the answer is known, and a charge past the limit recorded
/// nothing, so a client sending N guesses at once got N verifications per
/// refill instead of the quota. Every failure is now charged even past the
/// limit ([`Charge::Penalize`]): the guesses that passed the peek together
/// are paid for afterwards, one interval each, so over time a source gets
/// no more verified guesses than its quota (legitimate requests, never
/// charged, are not held back by their concurrency).
#[tokio::test]
async fn concurrent_guesses_are_paid_for_in_full_afterwards() {
    let auth = AuthLayer::builder().scheme(SlowFailure).build().unwrap();
    let throttle = FailedAuthLayer::new(InProcessLimiter::new(), Quota::per_hour(2));
    let app = Router::new()
        .route("/orders", get(|| async { "ok" }))
        .layer(auth)
        .layer(throttle);
    let addr = serve(app).await;
    let url = format!("http://{addr}/orders");
    let client = reqwest::Client::new();
    let guesses: Vec<_> = (0..20)
        .map(|i| {
            let request = client
                .get(&url)
                .header("authorization", format!("Guess {i}"));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut verified = 0u64;
    for guess in guesses {
        if guess.await.unwrap() == 401 {
            verified += 1;
        }
    }
    assert!(verified > 2, "the guesses did not overlap: {verified}");
    let next = client
        .get(&url)
        .header("authorization", "Guess again")
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 429);
    let retry_after: u64 = next.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Two failures an hour: every guess past the first two costs half an
    // hour more of waiting (30 minutes of slack for the burst's rounding).
    let owed = (verified - 2) * 1800;
    assert!(
        retry_after + 1800 >= owed,
        "{verified} guesses verified, Retry-After {retry_after} s, owed {owed} s"
    );
}

/// Regression (review7): token principals (`jwt`, `introspection`) were
/// counted by `scheme:subject`, and a subject is unique only within its
/// issuer (OpenID Connect Core §2): with several issuers on one scheme, a
/// token from one issuer spent the quota of the same `sub` at another. The
/// key now carries the issuer; the same subject at the same issuer still
/// shares one budget.
#[tokio::test]
async fn one_subject_at_two_issuers_has_two_budgets() {
    let service = tower::ServiceBuilder::new()
        .layer(RateLimitLayer::new(
            InProcessLimiter::new(),
            Quota::per_hour(1),
        ))
        .service(tower::service_fn(|_: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
        }));
    let from = |iss: &str| {
        let mut claims = serde_json::Map::new();
        claims.insert("iss".into(), serde_json::json!(iss));
        claims.insert("sub".into(), serde_json::json!("alice"));
        let mut request = http::Request::get("/orders").body(()).unwrap();
        request
            .extensions_mut()
            .insert(Principal::new("alice", "jwt").with_claims(claims));
        request
    };
    let first = service
        .clone()
        .oneshot(from("https://a.example"))
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let other = service
        .clone()
        .oneshot(from("https://b.example"))
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        200,
        "alice at b.example is not alice at a.example"
    );
    let again = service.oneshot(from("https://a.example")).await.unwrap();
    assert_eq!(again.status(), 429, "alice at a.example has one budget");
}

/// Statuses of `n` calls with `key`, and the `RateLimit-Policy` of the first.
async fn burst(client: &reqwest::Client, url: &str, key: &str, n: usize) -> (Vec<u16>, String) {
    let mut statuses = Vec::new();
    let mut policy = String::new();
    for i in 0..n {
        let response = get_with(client, url, Some(key)).await;
        if i == 0 {
            policy = header(&response, "ratelimit-policy").to_owned();
        }
        statuses.push(response.status().as_u16());
    }
    (statuses, policy)
}

#[tokio::test]
async fn a_plan_on_the_key_record_picks_its_limit() {
    let store = InMemoryKeyStore::new();
    let generator = ApiKeyGenerator::new("sk_live").unwrap();
    let issue = |subject: &str, plan: Option<&str>| {
        let (plaintext, mut record) = generator
            .generate(subject, Scopes::empty())
            .unwrap()
            .into_parts();
        if let Some(plan) = plan {
            record = record.with_plan(plan);
        }
        store.insert(record);
        plaintext.expose().to_owned()
    };
    let pro = issue("acct_pro", Some("pro"));
    let free = issue("acct_free", Some("free"));
    let none = issue("acct_none", None);
    let unknown = issue("acct_unknown", Some("platinum"));
    let limits = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(1))
        .plan("pro", Quota::per_minute(4))
        .plan("free", Quota::per_minute(2));
    let addr = serve(app(store, limits)).await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/orders");

    let (statuses, policy) = burst(&client, &url, &pro, 5).await;
    assert_eq!(statuses, [200, 200, 200, 200, 429]);
    assert_eq!(policy, "\"default\";q=4;w=60");
    let (statuses, policy) = burst(&client, &url, &free, 3).await;
    assert_eq!(statuses, [200, 200, 429]);
    assert_eq!(policy, "\"default\";q=2;w=60");
    // No plan, or one the layer does not know: the layer's quota.
    for key in [&none, &unknown] {
        let (statuses, policy) = burst(&client, &url, key, 2).await;
        assert_eq!(statuses, [200, 429]);
        assert_eq!(policy, "\"default\";q=1;w=60");
    }
    // The 429 names the plan's quota too.
    let limited = get_with(&client, &url, Some(&pro)).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(header(&limited, "ratelimit-policy"), "\"default\";q=4;w=60");
    assert_eq!(header(&limited, "ratelimit"), "\"default\";r=0;t=60");
}

/// A token's plan claim (here a custom claim name) picks its limit, through
/// a real JWT scheme.
#[cfg(feature = "testing")]
#[tokio::test]
async fn a_plan_claim_in_a_token_picks_its_limit() {
    use authgate::jwt::{Issuer, JwtScheme};
    use authgate::testing::{TestAlgorithm, TestSigningKey};
    use serde_json::json;

    let key = TestSigningKey::generate(TestAlgorithm::HS256, "hs-1").unwrap();
    let jwt = JwtScheme::builder()
        .issuer(
            Issuer::new("https://login.test")
                .audience("api")
                .key(key.verifying_key().unwrap()),
        )
        .build()
        .unwrap();
    let auth = AuthLayer::builder().scheme(jwt).build().unwrap();
    let limits = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(1))
        .plan("pro", Quota::per_minute(3))
        .plan_claim("tier")
        .policy_name("api")
        .unwrap();
    let app = Router::new()
        .route("/orders", get(|| async { "orders" }))
        .layer(limits)
        .layer(auth);
    let addr = serve(app).await;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let token = |sub: &str, tier: &str| {
        key.sign(&json!({"iss": "https://login.test", "aud": "api", "exp": exp, "sub": sub, "tier": tier}))
            .unwrap()
    };
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/orders");
    let call = |token: String| {
        let request = client.get(&url).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let first = call(token("u_pro", "pro")).await;
    assert_eq!(header(&first, "ratelimit-policy"), "\"api\";q=3;w=60");
    assert_eq!(call(token("u_pro", "pro")).await.status(), 200);
    assert_eq!(call(token("u_pro", "pro")).await.status(), 200);
    assert_eq!(call(token("u_pro", "pro")).await.status(), 429);

    let basic = call(token("u_basic", "basic")).await;
    assert_eq!(header(&basic, "ratelimit-policy"), "\"api\";q=1;w=60");
    assert_eq!(call(token("u_basic", "basic")).await.status(), 429);
}
