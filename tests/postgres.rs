//! API keys and HMAC secrets in a real PostgreSQL: issue, rotate and
//! revoke; a revocation seen by a second instance within a second; a
//! database that is down or drops the connection gives 503, never 401;
//! last-used times.
//!
//! The server is read from `AUTHGATE_TEST_POSTGRES` (default
//! `host=127.0.0.1 port=5432 user=postgres dbname=test`); each test works
//! in a schema of its own (`authgate_test_<random>`), dropped at the end.
//! Without a reachable server the tests print a notice and pass, unless
//! `CI` is set, where that is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme};
use authgate::hmac::{HmacKey, HmacScheme, Signer};
use authgate::postgres::{PgDatabase, PgKeyStore, PgSecretStore};
use authgate::{AuthLayer, Principal, Scopes};
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceExt;

fn settings() -> String {
    std::env::var("AUTHGATE_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres dbname=test".into())
}

fn random_schema() -> String {
    let mut bytes = [0u8; 6];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("authgate_test_{hex}")
}

/// A migrated database in a fresh schema, or `None` (with a notice) when
/// no server answers outside CI.
async fn database() -> Option<PgDatabase> {
    let settings = settings();
    let db = PgDatabase::builder(&settings)
        .schema(random_schema())
        .build()
        .unwrap();
    match db.migrate().await {
        Ok(()) => Some(db),
        Err(error) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but PostgreSQL is unreachable: {error}"
            );
            eprintln!("notice: no PostgreSQL at {settings:?} ({error}); skipping");
            None
        }
    }
}

/// Another instance's view of the same schema: its own connection.
fn same_schema(db: &PgDatabase) -> PgDatabase {
    PgDatabase::builder(&settings())
        .schema(db.schema())
        .build()
        .unwrap()
}

async fn drop_schema(db: &PgDatabase) {
    let (client, connection) = tokio_postgres::connect(&settings(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA \"{}\" CASCADE", db.schema()))
        .await
        .unwrap();
}

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// One instance: a scheme over `store` that listens for changes.
async fn instance(store: PgKeyStore) -> (SocketAddr, authgate::postgres::ChangeListener) {
    let scheme = ApiKeyScheme::builder(store.clone())
        .prefix("sk_live")
        .cache_ttl(Duration::from_secs(3600))
        .build()
        .unwrap();
    let listener = store.invalidate_on_change(&scheme);
    listener.listening().await;
    let auth = AuthLayer::builder().scheme(scheme).build().unwrap();
    let app = Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(auth);
    (serve(app).await, listener)
}

async fn status(client: &reqwest::Client, addr: SocketAddr, key: &str) -> u16 {
    client
        .get(format!("http://{addr}/me"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Polls until `addr` answers `expected` for `key`; the time it took.
async fn until_status(addr: SocketAddr, key: &str, expected: u16, within: Duration) -> Duration {
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if status(&client, addr, key).await == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "no {expected} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn issue_rotate_and_revoke_through_the_database() {
    let Some(db) = database().await else { return };
    let store = PgKeyStore::new(db.clone());
    let generator = ApiKeyGenerator::new("sk_live").unwrap();
    let expires = SystemTime::now() + Duration::from_secs(86_400);
    let old = store
        .issue(
            &generator,
            "acct_42",
            Scopes::parse("orders:read"),
            Some(expires),
        )
        .await
        .unwrap();
    let found = authgate::api_key::KeyStore::find(&store, &old.record().id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&found.subject, "acct_42");
    assert!(found.scopes.contains("orders:read"));
    assert_eq!(found.secret_hash, old.record().secret_hash);

    let (addr, _listener) = instance(store.clone()).await;
    let client = reqwest::Client::new();
    let old_key = old.plaintext().expose();
    assert_eq!(status(&client, addr, old_key).await, 200);

    // Rotation with a grace period: both keys work, the new one for the
    // same owner, scopes and expiry.
    let new = store
        .rotate(
            &old.record().id,
            Duration::from_secs(3600),
            SystemTime::now(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(new.record().subject, "acct_42");
    assert!(new.record().expires_at.is_some());
    let new_key = new.plaintext().expose();
    assert_eq!(status(&client, addr, new_key).await, 200);
    assert_eq!(status(&client, addr, old_key).await, 200);

    // Rotating again with no grace retires the first key at once (the
    // cached record is dropped through the change channel).
    let newest = store
        .rotate(&new.record().id, Duration::ZERO, SystemTime::now())
        .await
        .unwrap()
        .unwrap();
    until_status(addr, new_key, 401, Duration::from_secs(1)).await;
    assert_eq!(
        status(&client, addr, newest.plaintext().expose()).await,
        200
    );

    // Revocation: refused within a second; a revoked key never rotates.
    assert!(store.revoke(&newest.record().id).await.unwrap());
    until_status(
        addr,
        newest.plaintext().expose(),
        401,
        Duration::from_secs(1),
    )
    .await;
    assert!(store
        .rotate(&newest.record().id, Duration::ZERO, SystemTime::now())
        .await
        .unwrap()
        .is_none());
    assert!(!store.revoke("no_such_key").await.unwrap());
    drop_schema(&db).await;
}

#[tokio::test]
async fn a_revocation_reaches_a_second_instance_within_a_second() {
    let Some(db) = database().await else { return };
    let store_a = PgKeyStore::new(db.clone());
    let store_b = PgKeyStore::new(same_schema(&db));
    let key = store_a
        .issue(
            &ApiKeyGenerator::new("sk_live").unwrap(),
            "acct_7",
            Scopes::empty(),
            None,
        )
        .await
        .unwrap();
    let plaintext = key.plaintext().expose();
    let (a, _listener_a) = instance(store_a.clone()).await;
    let (b, _listener_b) = instance(store_b).await;
    let client = reqwest::Client::new();
    // Both instances have the key cached (for an hour).
    assert_eq!(status(&client, a, plaintext).await, 200);
    assert_eq!(status(&client, b, plaintext).await, 200);

    // Revoked through instance A's store: B refuses it within a second.
    store_a.revoke(&key.record().id).await.unwrap();
    let took = until_status(b, plaintext, 401, Duration::from_secs(1)).await;
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert_eq!(status(&client, a, plaintext).await, 401);

    // A change made with plain SQL (an operator in psql) is announced too.
    let other = store_a
        .issue(
            &ApiKeyGenerator::new("sk_live").unwrap(),
            "acct_8",
            Scopes::empty(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(status(&client, b, other.plaintext().expose()).await, 200);
    let (sql, connection) = tokio_postgres::connect(&settings(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    sql.execute(
        &format!(
            "UPDATE \"{}\".authgate_api_keys SET revoked = true WHERE id = $1",
            db.schema()
        ),
        &[&other.record().id],
    )
    .await
    .unwrap();
    until_status(b, other.plaintext().expose(), 401, Duration::from_secs(1)).await;
    drop_schema(&db).await;
}

#[tokio::test]
async fn a_database_that_is_down_gives_503_never_401() {
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = PgDatabase::builder(&format!(
        "host=127.0.0.1 port={port} user=postgres dbname=test"
    ))
    .connect_timeout(Duration::from_millis(500))
    .build()
    .unwrap();
    let auth = AuthLayer::builder()
        .scheme(ApiKeyScheme::new(PgKeyStore::new(db), "sk_live").unwrap())
        .build()
        .unwrap();
    let key = ApiKeyGenerator::new("sk_live")
        .unwrap()
        .generate("acct_1", Scopes::empty())
        .unwrap();
    let app = Router::new()
        .route("/me", get(|| async { "me" }))
        .layer(auth);
    let response = app
        .oneshot(
            http::Request::get("/me")
                .header("x-api-key", key.plaintext().expose())
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_dropped_connection_gives_503_then_recovers() {
    let Some(db) = database().await else { return };
    let application = format!("{}_store", db.schema());
    let store_db = PgDatabase::builder(&format!("{} application_name={application}", settings()))
        .schema(db.schema())
        .build()
        .unwrap();
    let store = PgKeyStore::new(store_db);
    let generator = ApiKeyGenerator::new("sk_live").unwrap();
    let first = store
        .issue(&generator, "acct_1", Scopes::empty(), None)
        .await
        .unwrap();
    let second = store
        .issue(&generator, "acct_2", Scopes::empty(), None)
        .await
        .unwrap();
    let (addr, _listener) = instance(store).await;
    let client = reqwest::Client::new();
    assert_eq!(status(&client, addr, first.plaintext().expose()).await, 200);

    // The server ends the store's connection (a failover, a restart).
    let (admin, connection) = tokio_postgres::connect(&settings(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let ended = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&application],
        )
        .await
        .unwrap();
    assert!(ended.get::<_, i64>(0) >= 1);
    // A key not cached yet: its look-up fails (503, never 401) or already
    // reconnects; within a few seconds it passes, with no restart.
    let mut seen = Vec::new();
    let started = Instant::now();
    loop {
        let answer = status(&client, addr, second.plaintext().expose()).await;
        seen.push(answer);
        if answer == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen.iter().all(|s| *s == 200 || *s == 503), "{seen:?}");
    drop_schema(&db).await;
}

#[tokio::test]
async fn last_used_is_recorded_off_the_request_path() {
    let Some(db) = database().await else { return };
    let store = PgKeyStore::new(db.clone());
    let key = store
        .issue(
            &ApiKeyGenerator::new("sk_live").unwrap(),
            "acct_1",
            Scopes::empty(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(store.last_used(&key.record().id).await.unwrap(), None);
    let scheme = ApiKeyScheme::builder(store.clone())
        .prefix("sk_live")
        .track_usage()
        .build()
        .unwrap();
    let app = Router::new()
        .route("/me", get(|| async { "me" }))
        .layer(AuthLayer::builder().scheme(scheme).build().unwrap());
    let addr = serve(app).await;
    let client = reqwest::Client::new();
    let before = SystemTime::now() - Duration::from_secs(1);
    for _ in 0..5 {
        assert_eq!(status(&client, addr, key.plaintext().expose()).await, 200);
    }
    let started = Instant::now();
    let used = loop {
        if let Some(at) = store.last_used(&key.record().id).await.unwrap() {
            break at;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "last_used_at never set"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(used >= before);
    drop_schema(&db).await;
}

#[tokio::test]
async fn hmac_secrets_live_in_the_database_too() {
    let Some(db) = database().await else { return };
    let secrets = PgSecretStore::new(db.clone());
    secrets
        .create(
            "partner-1",
            "acct_42",
            Scopes::parse("orders:write"),
            b"s3cr3t",
        )
        .await
        .unwrap();
    let scheme = HmacScheme::new(secrets.clone());
    let listener = secrets.on_change({
        let scheme = scheme.clone();
        move |key_id| {
            let scheme = scheme.clone();
            async move { scheme.invalidate(&key_id).await }
        }
    });
    listener.listening().await;
    let auth = AuthLayer::builder()
        .scheme(scheme)
        .with_request_bodies()
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/orders",
            post(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(auth);
    let signed = |secret: &str| {
        let signer = Signer::new("partner-1", HmacKey::new(secret))
            .unwrap()
            .sign_header("host")
            .unwrap();
        let mut request = http::Request::post("/orders")
            .header("host", "api.example.com")
            .body(bytes::Bytes::from_static(b"{}"))
            .unwrap();
        signer.sign(&mut request).unwrap();
        request.map(axum::body::Body::from)
    };
    let call = |request: http::Request<axum::body::Body>| {
        let app = app.clone();
        async move { app.oneshot(request).await.unwrap().status().as_u16() }
    };
    assert_eq!(call(signed("s3cr3t")).await, 200);
    assert_eq!(call(signed("guess")).await, 401);

    // Rotation: old and new secrets both verify during the grace period.
    assert!(secrets
        .rotate(
            "partner-1",
            b"n3w",
            Duration::from_secs(3600),
            SystemTime::now()
        )
        .await
        .unwrap());
    let started = Instant::now();
    while call(signed("n3w")).await != 200 {
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(call(signed("s3cr3t")).await, 200);

    assert!(secrets.revoke("partner-1").await.unwrap());
    let started = Instant::now();
    while call(signed("n3w")).await != 401 {
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop_schema(&db).await;
}

/// The statuses of `n` calls to `/me` with `key`.
async fn statuses(client: &reqwest::Client, addr: SocketAddr, key: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(status(client, addr, key).await);
    }
    out
}

#[tokio::test]
async fn the_plan_column_picks_the_rate_limit_and_changes_reach_the_layer() {
    use authgate::ratelimit::{InProcessLimiter, Quota, RateLimitLayer};

    let Some(db) = database().await else { return };
    let store = PgKeyStore::new(db.clone());
    let generator = ApiKeyGenerator::new("sk_live").unwrap();
    let (pro_key, record) = generator
        .generate("acct_pro", Scopes::empty())
        .unwrap()
        .into_parts();
    store.insert(&record.with_plan("pro")).await.unwrap();
    let free = store
        .issue(&generator, "acct_free", Scopes::empty(), None)
        .await
        .unwrap();
    let found = authgate::api_key::KeyStore::find(&store, &free.record().id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.plan, None);

    let scheme = ApiKeyScheme::builder(store.clone())
        .prefix("sk_live")
        .cache_ttl(Duration::from_secs(3600))
        .build()
        .unwrap();
    let listener = store.invalidate_on_change(&scheme);
    listener.listening().await;
    let auth = AuthLayer::builder().scheme(scheme).build().unwrap();
    let limits = RateLimitLayer::new(InProcessLimiter::new(), Quota::per_minute(1))
        .plan("pro", Quota::per_minute(3))
        .plan("team", Quota::per_minute(60));
    let app = Router::new()
        .route(
            "/me",
            get(|p: Principal| async move { p.subject().to_owned() }),
        )
        .layer(limits)
        .layer(auth);
    let addr = serve(app).await;
    let client = reqwest::Client::new();

    assert_eq!(
        statuses(&client, addr, pro_key.expose(), 4).await,
        [200, 200, 200, 429]
    );
    let free_key = free.plaintext().expose();
    let first = client
        .get(format!("http://{addr}/me"))
        .header("x-api-key", free_key)
        .send()
        .await
        .unwrap();
    assert_eq!(first.headers()["ratelimit-policy"], "\"default\";q=1;w=60");
    assert_eq!(status(&client, addr, free_key).await, 429);

    // An upgrade in the database reaches the cached record at once.
    assert!(store
        .set_plan(&free.record().id, Some("team"))
        .await
        .unwrap());
    until_status(addr, free_key, 200, Duration::from_secs(1)).await;
    let upgraded = client
        .get(format!("http://{addr}/me"))
        .header("x-api-key", free_key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        upgraded.headers()["ratelimit-policy"],
        "\"default\";q=60;w=60"
    );
    assert!(!store.set_plan("no_such_key", Some("pro")).await.unwrap());
    drop_schema(&db).await;
}

#[tokio::test]
async fn the_plan_column_is_added_to_an_existing_table() {
    let Some(db) = database().await else { return };
    // The table as the first release created it, with a key in it.
    let (client, connection) = tokio_postgres::connect(&settings(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let schema = format!("{}_old", db.schema());
    client
        .batch_execute(&format!(
            "CREATE SCHEMA \"{schema}\";
             CREATE TABLE \"{schema}\".authgate_api_keys (
                 id text PRIMARY KEY, prefix text NOT NULL,
                 secret_sha256 bytea NOT NULL CHECK (octet_length(secret_sha256) = 32),
                 owner text NOT NULL, scopes text NOT NULL DEFAULT '',
                 created_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz,
                 revoked boolean NOT NULL DEFAULT false, retires_at timestamptz,
                 last_used_at timestamptz);
             INSERT INTO \"{schema}\".authgate_api_keys (id, prefix, secret_sha256, owner)
                 VALUES ('k1', 'sk_live', decode(repeat('00', 32), 'hex'), 'acct_old');"
        ))
        .await
        .unwrap();
    let old = PgDatabase::builder(&settings())
        .schema(&schema)
        .build()
        .unwrap();
    old.migrate().await.unwrap();
    old.migrate().await.unwrap();
    let store = PgKeyStore::new(old.clone());
    let found = authgate::api_key::KeyStore::find(&store, "k1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.subject, "acct_old");
    assert_eq!(found.plan, None);
    assert!(store.set_plan("k1", Some("pro")).await.unwrap());
    let found = authgate::api_key::KeyStore::find(&store, "k1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.plan.as_deref(), Some("pro"));
    drop_schema(&old).await;
    drop_schema(&db).await;
}
