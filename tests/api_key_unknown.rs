//! Unknown API-key ids: from a store that answers at once
//! (`KeyStore::find_now`) refused on the spot, from a store with only
//! `find` read once for all concurrent requests; either way remembered in a
//! bounded table of their own (not the shared cache), indistinguishable
//! from a wrong secret, and forgotten on `invalidate`.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a panic is a failed test

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore, KeyRecord, KeyStore};
use authgate::{AuthLayer, ErrorKind, Scopes, StoreError};
use bytes::Bytes;
use http::header::WWW_AUTHENTICATE;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use support::{echo, fixture, key_id};
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};

/// An in-memory store that counts the look-ups that went through `find`.
#[derive(Clone)]
struct Counting {
    inner: InMemoryKeyStore,
    finds: Arc<AtomicUsize>,
}

impl Counting {
    fn new(inner: InMemoryKeyStore) -> Self {
        Self {
            inner,
            finds: Arc::default(),
        }
    }

    fn finds(&self) -> usize {
        self.finds.load(Ordering::SeqCst)
    }
}

impl KeyStore for Counting {
    async fn find(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.finds.fetch_add(1, Ordering::SeqCst);
        self.inner.find(id).await
    }

    fn find_now(&self, id: &str) -> Option<Result<Option<KeyRecord>, StoreError>> {
        self.inner.find_now(id)
    }
}

struct Answer {
    status: StatusCode,
    challenges: Vec<String>,
    body: Bytes,
    kind: Option<ErrorKind>,
}

async fn send(layer: &AuthLayer, key: &str) -> Answer {
    let request = Request::get("/")
        .header("x-api-key", key)
        .body(Full::<Bytes>::default())
        .unwrap();
    let response = ServiceBuilder::new()
        .layer(layer.clone())
        .service(service_fn(echo))
        .oneshot(request)
        .await
        .unwrap();
    let kind = response
        .extensions()
        .get::<authgate::AuthError>()
        .map(authgate::AuthError::kind);
    let challenges = response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        challenges,
        body,
        kind,
    }
}

fn layer(scheme: &ApiKeyScheme<Counting>) -> AuthLayer {
    AuthLayer::builder()
        .scheme(scheme.clone())
        .realm("test")
        .build()
        .unwrap()
}

#[tokio::test]
async fn never_seen_ids_are_refused_without_asking_find_and_look_like_a_wrong_secret() {
    let (store, keys) = fixture();
    let store = Counting::new(store);
    let scheme = ApiKeyScheme::new(store.clone(), "sk_live").unwrap();
    let layer = layer(&scheme);
    let generator = ApiKeyGenerator::new("sk_live").unwrap();
    for _ in 0..100 {
        let key = generator.generate("nobody", Scopes::empty()).unwrap();
        let answer = send(&layer, key.plaintext().expose()).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.kind, Some(ErrorKind::UnknownKey));
    }
    assert_eq!(store.finds(), 0, "unknown ids never reach find");

    // Seen again, from the table of unknown ids; and the same answer as a
    // wrong secret, byte for byte.
    let unknown = send(&layer, &keys.unknown).await;
    let unknown_again = send(&layer, &keys.unknown).await;
    let wrong = send(&layer, &keys.wrong_secret).await;
    for answer in [&unknown_again, &wrong] {
        assert_eq!(answer.status, unknown.status);
        assert_eq!(answer.challenges, unknown.challenges);
        assert_eq!(answer.body, unknown.body);
    }
    assert_eq!(store.finds(), 1, "the wrong secret's record came from find");

    // A found record still goes through find and the shared cache.
    assert_eq!(send(&layer, &keys.admin).await.status, StatusCode::OK);
    assert_eq!(send(&layer, &keys.admin).await.status, StatusCode::OK);
    assert_eq!(store.finds(), 2);
}

#[tokio::test]
async fn a_key_issued_for_a_probed_id_works_once_invalidated() {
    let store = Counting::new(InMemoryKeyStore::new());
    let scheme = ApiKeyScheme::new(store.clone(), "sk_live").unwrap();
    let layer = layer(&scheme);
    let key = ApiKeyGenerator::new("sk_live")
        .unwrap()
        .generate("acct", Scopes::empty())
        .unwrap();
    let plaintext = key.plaintext().expose();
    assert_eq!(
        send(&layer, plaintext).await.kind,
        Some(ErrorKind::UnknownKey)
    );
    assert_eq!(scheme.cached_entries().await, 1);
    store.inner.insert(key.record().clone());
    // Remembered as unknown for the cache's time-to-live...
    assert_eq!(
        send(&layer, plaintext).await.kind,
        Some(ErrorKind::UnknownKey)
    );
    // ...and forgotten at once on invalidate.
    scheme.invalidate(key_id(plaintext)).await;
    assert_eq!(send(&layer, plaintext).await.status, StatusCode::OK);
}

/// Unknown ids are kept apart from found records: a flood of never-seen
/// keys many times the cache capacity neither grows the cache past its
/// bound nor sends a known key back to the store.
#[tokio::test]
async fn a_flood_of_unknown_ids_does_not_evict_found_records() {
    const CAPACITY: u64 = 64;
    let (store, keys) = fixture();
    let store = Counting::new(store);
    let scheme = ApiKeyScheme::builder(store.clone())
        .prefix("sk_live")
        .cache_capacity(CAPACITY)
        .build()
        .unwrap();
    let layer = layer(&scheme);
    assert_eq!(send(&layer, &keys.admin).await.status, StatusCode::OK);
    assert_eq!(store.finds(), 1);
    let generator = ApiKeyGenerator::new("sk_live").unwrap();
    for _ in 0..2_000 {
        let key = generator.generate("nobody", Scopes::empty()).unwrap();
        assert_eq!(
            send(&layer, key.plaintext().expose()).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert!(scheme.cached_entries().await <= CAPACITY + 1);
    // Past the per-thread table's second: the shared cache answers.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(send(&layer, &keys.admin).await.status, StatusCode::OK);
    assert_eq!(store.finds(), 1, "the known key was read again");
}

/// Many found records, more than a thread's table holds, each read from
/// the store once: the shared cache answers for all of them afterwards
/// (the filter asked before it never hides an id it holds), also amid a
/// flood of unknown ids.
#[tokio::test]
async fn every_found_record_is_read_once_however_many_and_amid_a_flood() {
    const KEYS: usize = 300;
    let generator = ApiKeyGenerator::new("sk_live").unwrap();
    let inner = InMemoryKeyStore::new();
    let keys: Vec<String> = (0..KEYS)
        .map(|n| {
            let key = generator
                .generate(format!("acct_{n}"), Scopes::parse("read"))
                .unwrap();
            inner.insert(key.record().clone());
            key.plaintext().expose().to_owned()
        })
        .collect();
    let store = Counting::new(inner);
    let scheme = ApiKeyScheme::builder(store.clone())
        .prefix("sk_live")
        .cache_capacity(1_000)
        .build()
        .unwrap();
    let layer = layer(&scheme);
    for round in 0..3 {
        for key in &keys {
            assert_eq!(send(&layer, key).await.status, StatusCode::OK, "{round}");
            let unknown = generator.generate("nobody", Scopes::empty()).unwrap();
            let answer = send(&layer, unknown.plaintext().expose()).await;
            assert_eq!(answer.kind, Some(ErrorKind::UnknownKey));
        }
        assert_eq!(
            store.finds(),
            KEYS,
            "round {round}: a found record was read again"
        );
    }
}

/// A store that only has `find`, as one doing I/O: the in-memory store
/// read at once (a snapshot), answered after `delay`, each read counted.
#[derive(Clone)]
struct FindOnly {
    inner: InMemoryKeyStore,
    finds: Arc<AtomicUsize>,
    delay: Duration,
    /// Each read's id, and when it was asked and answered.
    reads: Arc<std::sync::Mutex<Vec<(String, Instant, Instant)>>>,
}

impl FindOnly {
    fn new(inner: InMemoryKeyStore, delay: Duration) -> Self {
        Self {
            inner,
            finds: Arc::default(),
            delay,
            reads: Arc::default(),
        }
    }

    fn finds(&self) -> usize {
        self.finds.load(Ordering::SeqCst)
    }

    /// When the reads of `id` were asked and answered, in order.
    fn reads_of(&self, id: &str) -> Vec<(Instant, Instant)> {
        let reads = self.reads.lock().unwrap();
        reads
            .iter()
            .filter(|(read, ..)| read == id)
            .map(|(_, asked, answered)| (*asked, *answered))
            .collect()
    }
}

impl KeyStore for FindOnly {
    async fn find(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.finds.fetch_add(1, Ordering::SeqCst);
        let asked = Instant::now();
        let snapshot = self.inner.get(id);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let answered = Instant::now();
        self.reads
            .lock()
            .unwrap()
            .push((id.to_owned(), asked, answered));
        Ok(snapshot)
    }
}

fn find_only_layer(scheme: &ApiKeyScheme<FindOnly>) -> AuthLayer {
    AuthLayer::builder().scheme(scheme.clone()).build().unwrap()
}

/// Through `find` alone, an unknown id is read once for all concurrent
/// requests, then refused from the table of unknown ids (no shared-cache
/// insert), with the same answer as a wrong secret.
#[tokio::test]
async fn a_find_only_store_is_asked_once_per_unknown_id_even_concurrently() {
    let (store, keys) = fixture();
    let store = FindOnly::new(store, Duration::from_millis(50));
    let scheme = ApiKeyScheme::new(store.clone(), "sk_live").unwrap();
    let layer = find_only_layer(&scheme);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (layer, key) = (layer.clone(), keys.unknown.clone());
            tokio::spawn(async move { send(&layer, &key).await.kind })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), Some(ErrorKind::UnknownKey));
    }
    assert_eq!(store.finds(), 1, "one read for 50 concurrent misses");
    assert_eq!(scheme.cached_entries().await, 1, "kept as unknown");
    let unknown = send(&layer, &keys.unknown).await;
    assert_eq!(store.finds(), 1, "remembered");
    let wrong = send(&layer, &keys.wrong_secret).await;
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
}

/// An unknown-id read that began before the key was issued and
/// `invalidate` was called ends after it: no request that begins after
/// `invalidate` returned is refused from it, even one that joined it.
#[tokio::test]
async fn a_find_only_unknown_read_in_flight_across_invalidate_is_never_served_afterwards() {
    let store = FindOnly::new(InMemoryKeyStore::new(), Duration::from_millis(300));
    let scheme = ApiKeyScheme::new(store.clone(), "sk_live").unwrap();
    let layer = find_only_layer(&scheme);
    let key = ApiKeyGenerator::new("sk_live")
        .unwrap()
        .generate("acct", Scopes::empty())
        .unwrap();
    let plaintext = key.plaintext().expose().to_owned();
    let in_flight = {
        let (layer, plaintext) = (layer.clone(), plaintext.clone());
        tokio::spawn(async move { send(&layer, &plaintext).await.kind })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    store.inner.insert(key.record().clone());
    scheme.invalidate(key_id(&plaintext)).await;
    // Joins the read under way, whose answer predates the invalidation.
    let joined = {
        let (layer, plaintext) = (layer.clone(), plaintext.clone());
        tokio::spawn(async move { send(&layer, &plaintext).await.status })
    };
    let _ = in_flight.await.unwrap();
    assert_eq!(joined.await.unwrap(), StatusCode::OK);
    assert_eq!(send(&layer, &plaintext).await.status, StatusCode::OK);
}

/// A request that leads a read and goes away before it ends does not
/// leave the requests that joined it waiting.
#[tokio::test]
async fn a_dropped_request_does_not_strand_the_ones_waiting_on_its_read() {
    let (store, keys) = fixture();
    let store = FindOnly::new(store, Duration::from_millis(200));
    let scheme = ApiKeyScheme::new(store.clone(), "sk_live").unwrap();
    let layer = find_only_layer(&scheme);
    let leader = {
        let (layer, key) = (layer.clone(), keys.admin.clone());
        tokio::spawn(async move { send(&layer, &key).await.status })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let follower = {
        let (layer, key) = (layer.clone(), keys.admin.clone());
        tokio::spawn(async move { send(&layer, &key).await.status })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    leader.abort();
    let status = tokio::time::timeout(Duration::from_secs(5), follower)
        .await
        .expect("the follower was left waiting")
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(store.finds(), 2, "the follower read again");
}

/// A store doing I/O whose reads take 0 to 2 ms (a read taken at once
/// answers on the first poll): concurrent reads overlap every step of an
/// invalidation.
#[derive(Clone)]
struct Jittery {
    inner: InMemoryKeyStore,
    reads: Arc<AtomicUsize>,
}

impl KeyStore for Jittery {
    async fn find(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let n = self.reads.fetch_add(1, Ordering::SeqCst);
        let snapshot = self.inner.get(id);
        let delay = u64::try_from(n % 3).unwrap();
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        Ok(snapshot)
    }
}

/// Many requests on two threads while a key is invalidated again and
/// again, then revoked and invalidated:
/// none that begins after `invalidate` returned is granted, whichever
/// table (per-thread, shared, a read in flight) it is answered from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_begun_after_invalidate_is_granted_a_revoked_key() {
    use std::sync::atomic::AtomicBool;
    for round in 0..100u64 {
        let store = Jittery {
            inner: InMemoryKeyStore::new(),
            reads: Arc::default(),
        };
        let key = ApiKeyGenerator::new("sk_live")
            .unwrap()
            .generate("acct", Scopes::empty())
            .unwrap();
        store.inner.insert(key.record().clone());
        let scheme = ApiKeyScheme::new(store.clone(), "sk_live").unwrap();
        let layer = AuthLayer::builder().scheme(scheme.clone()).build().unwrap();
        let plaintext = key.plaintext().expose().to_owned();
        let (revoked, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let workers: Vec<_> = (0..6)
            .map(|_| {
                let (layer, plaintext) = (layer.clone(), plaintext.clone());
                let (revoked, stop) = (Arc::clone(&revoked), Arc::clone(&stop));
                tokio::spawn(async move {
                    let mut late_grants = 0usize;
                    while !stop.load(Ordering::SeqCst) {
                        let after = revoked.load(Ordering::SeqCst);
                        let status = send(&layer, &plaintext).await.status;
                        if after && status == StatusCode::OK {
                            late_grants += 1;
                        }
                        tokio::task::yield_now().await;
                    }
                    late_grants
                })
            })
            .collect();
        // Invalidations before the revocation keep reads in flight, so
        // that the one after it finds some under way.
        for _ in 0..(2 + round % 5) {
            scheme.invalidate(&key.record().id).await;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(store.inner.revoke(&key.record().id));
        scheme.invalidate(&key.record().id).await;
        revoked.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(15)).await;
        stop.store(true, Ordering::SeqCst);
        for worker in workers {
            assert_eq!(
                worker.await.unwrap(),
                0,
                "round {round}: granted after invalidate"
            );
        }
    }
}

/// A found record's read that began before the key was revoked and
/// `invalidate` was called ends after it: a request that begins after
/// `invalidate` returned and joins that read is not granted from it.
#[tokio::test]
async fn a_found_record_read_in_flight_across_invalidate_grants_no_later_request() {
    let store = FindOnly::new(InMemoryKeyStore::new(), Duration::from_millis(300));
    let key = ApiKeyGenerator::new("sk_live")
        .unwrap()
        .generate("acct", Scopes::empty())
        .unwrap();
    store.inner.insert(key.record().clone());
    let scheme = ApiKeyScheme::new(store.clone(), "sk_live").unwrap();
    let layer = find_only_layer(&scheme);
    let plaintext = key.plaintext().expose().to_owned();
    let in_flight = {
        let (layer, plaintext) = (layer.clone(), plaintext.clone());
        tokio::spawn(async move { send(&layer, &plaintext).await.status })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(store.inner.revoke(&key.record().id));
    scheme.invalidate(&key.record().id).await;
    // Joins the read under way, whose answer predates the revocation.
    let joined = {
        let (layer, plaintext) = (layer.clone(), plaintext.clone());
        tokio::spawn(async move { send(&layer, &plaintext).await.kind })
    };
    let _ = in_flight.await.unwrap();
    assert_eq!(joined.await.unwrap(), Some(ErrorKind::Revoked));
    assert_eq!(
        send(&layer, &plaintext).await.kind,
        Some(ErrorKind::Revoked)
    );
}

/// An inner service that counts its clones: the layer clones it only to
/// finish a request whose verification had to wait.
struct CountingClones {
    clones: Arc<AtomicUsize>,
}

impl Clone for CountingClones {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Ordering::SeqCst);
        Self {
            clones: Arc::clone(&self.clones),
        }
    }
}

impl tower::Service<Request<Full<Bytes>>> for CountingClones {
    type Response = http::Response<Full<Bytes>>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
        std::future::ready(Ok(http::Response::new(Full::default())))
    }
}

fn with_key(key: &str) -> Request<Full<Bytes>> {
    Request::get("/")
        .header("x-api-key", key)
        .body(Full::<Bytes>::default())
        .unwrap()
}

/// A store with only `find` that answers on its first poll (an in-memory
/// tier, a local replica) is decided inside `call`, inside a runtime: no
/// continuation, so the inner service is not cloned to finish the request.
/// (Before, every such miss took the waiting path: one clone each.)
#[tokio::test]
async fn a_store_answering_on_its_first_poll_is_decided_inside_call() {
    let (base, keys) = fixture();
    let store = FindOnly::new(base.clone(), Duration::ZERO);
    let scheme = ApiKeyScheme::new(store.clone(), "sk_live").unwrap();
    let clones = Arc::new(AtomicUsize::new(0));
    let mut service = find_only_layer(&scheme).layer(CountingClones {
        clones: Arc::clone(&clones),
    });
    for (n, (key, kind)) in [
        (&keys.unknown, ErrorKind::UnknownKey),
        (&keys.wrong_secret, ErrorKind::BadSignature),
    ]
    .into_iter()
    .enumerate()
    {
        let pending = service.ready().await.unwrap().call(with_key(key));
        // Asked inside `call`, before the response future is polled.
        assert_eq!(store.finds(), n + 1);
        let response = tokio::time::timeout(Duration::from_secs(5), pending)
            .await
            .expect("answered")
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response
                .extensions()
                .get::<authgate::AuthError>()
                .map(authgate::AuthError::kind),
            Some(kind)
        );
    }
    assert_eq!(store.finds(), 2);
    assert_eq!(clones.load(Ordering::SeqCst), 0);
    // A store that has to wait is still waited for, and answers.
    let slow = FindOnly::new(base, Duration::from_millis(20));
    let scheme = ApiKeyScheme::new(slow.clone(), "sk_live").unwrap();
    let mut service = find_only_layer(&scheme).layer(CountingClones {
        clones: Arc::clone(&clones),
    });
    let pending = service.ready().await.unwrap().call(with_key(&keys.reader));
    let response = tokio::time::timeout(Duration::from_secs(5), pending)
        .await
        .expect("answered")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(slow.finds(), 1);
    assert_eq!(clones.load(Ordering::SeqCst), 1);
}

/// Outside a Tokio runtime, `call` does not poll the store (its I/O may
/// need the runtime): the response future does, when it is awaited.
#[test]
fn outside_a_runtime_the_store_is_asked_only_when_the_response_is_awaited() {
    let (store, keys) = fixture();
    let store = FindOnly::new(store, Duration::ZERO);
    let scheme = ApiKeyScheme::new(store.clone(), "sk_live").unwrap();
    let mut service = find_only_layer(&scheme).layer(service_fn(echo));
    let pending = tower::Service::call(&mut service, with_key(&keys.unknown));
    assert_eq!(store.finds(), 0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = runtime.block_on(pending).unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(store.finds(), 1);
}

/// A request that missed the caches before another request's read of the
/// same id ended, and claims the id only after, takes the answer that read
/// kept rather than asking the store again: for an unknown id (the table
/// of unknown ids) and a found one (the shared cache). Outside a runtime
/// `call` does not claim, so the two requests can be made to overlap so.
#[test]
fn a_request_that_missed_before_a_read_ended_takes_its_answer() {
    let (store, keys) = fixture();
    let store = FindOnly::new(store, Duration::ZERO);
    let scheme = ApiKeyScheme::new(store.clone(), "sk_live").unwrap();
    let mut service = find_only_layer(&scheme).layer(service_fn(echo));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (key, status) in [
        (&keys.unknown, StatusCode::UNAUTHORIZED),
        (&keys.reader, StatusCode::OK),
    ] {
        let before = store.finds();
        let first = tower::Service::call(&mut service, with_key(key));
        let second = tower::Service::call(&mut service, with_key(key));
        assert_eq!(runtime.block_on(second).unwrap().status(), status);
        assert_eq!(store.finds(), before + 1);
        assert_eq!(runtime.block_on(first).unwrap().status(), status);
        assert_eq!(
            store.finds(),
            before + 1,
            "{status}: the kept answer was not taken"
        );
    }
}

/// Regression (review): an unknown id's entry was stamped with the instant
/// its request missed, a found record's with when it was cached, after the
/// store answered; the unknown id was therefore forgotten sooner by the
/// store's latency, and a client probing both just past the time-to-live
/// could tell an existing id from an unknown one by which one the store
/// was asked for again. Both are now kept from the store's answer: the
/// store is asked again for neither before its answer is a time-to-live
/// old, and for both once it is.
#[test]
fn unknown_and_found_ids_are_forgotten_at_the_same_time() {
    const TTL: Duration = Duration::from_secs(1);
    let (store, keys) = fixture();
    let store = FindOnly::new(store, Duration::from_millis(500));
    let scheme = ApiKeyScheme::builder(store.clone())
        .prefix("sk_live")
        .cache_ttl(TTL)
        .build()
        .unwrap();
    let layer = find_only_layer(&scheme);
    // Both ids probed at once, each from a thread of its own: no
    // per-thread table helps.
    let probe_both = || {
        let probes: Vec<_> = [
            (keys.unknown.clone(), ErrorKind::UnknownKey),
            (keys.wrong_secret.clone(), ErrorKind::BadSignature),
        ]
        .into_iter()
        .map(|(key, kind)| {
            let layer = layer.clone();
            std::thread::spawn(move || {
                let answered = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async { send(&layer, &key).await.kind });
                assert_eq!(answered, Some(kind));
            })
        })
        .collect();
        probes.into_iter().for_each(|p| p.join().unwrap());
    };
    let ids = [key_id(&keys.unknown), key_id(&keys.wrong_secret)];
    probe_both();
    assert_eq!(store.finds(), 2);
    // Past the time-to-live from the misses, within it from the answers.
    let first_asked = ids.map(|id| store.reads_of(id)[0].0);
    let latest = first_asked.into_iter().max().unwrap();
    std::thread::sleep(
        (latest + TTL + Duration::from_millis(250)).saturating_duration_since(Instant::now()),
    );
    probe_both();
    // Then past it from the answers too.
    let answered = ids.map(|id| store.reads_of(id)[0].1);
    let latest = answered.into_iter().max().unwrap();
    std::thread::sleep(
        (latest + TTL + Duration::from_millis(200)).saturating_duration_since(Instant::now()),
    );
    probe_both();
    for id in ids {
        let reads = store.reads_of(id);
        let (_, first_answer) = reads[0];
        // However late the threads ran, no read came before the answer
        // it would replace had lived its time-to-live (10 ms of slack
        // for the clocks of the table and of this test).
        for (asked, _) in &reads[1..] {
            assert!(
                *asked + Duration::from_millis(10) >= first_answer + TTL,
                "{id} was asked for again {:?} after its answer",
                asked.saturating_duration_since(first_answer)
            );
        }
        assert!(reads.len() >= 2, "{id} was kept past its time-to-live");
    }
}

/// Regression (review): the read of an id claimed inside `call` belongs to
/// a response future the caller may hold without polling, while it awaits
/// another request's. That request, a follower of the read, used to wait
/// for it forever; it now waits at most the store timeout, then reads
/// alone.
#[tokio::test]
async fn a_follower_does_not_wait_forever_for_a_leader_nobody_polls() {
    let (base, keys) = fixture();
    let store = FindOnly::new(base, Duration::from_millis(20));
    let scheme = ApiKeyScheme::builder(store.clone())
        .prefix("sk_live")
        .store_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let mut service = find_only_layer(&scheme).layer(service_fn(echo));
    let held = service.ready().await.unwrap().call(with_key(&keys.reader));
    let awaited = service.ready().await.unwrap().call(with_key(&keys.reader));
    let response = tokio::time::timeout(Duration::from_secs(5), awaited)
        .await
        .expect("the follower answers without the leader being polled")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(store.finds(), 2, "the follower read alone");
    // The held request still answers when it is awaited.
    let response = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .expect("answered")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
