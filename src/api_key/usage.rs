//! Last-used tracking: tells the [`KeyStore`](super::KeyStore) a key was
//! used, at most once per key per interval, off the request path.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use moka::sync::Cache;

/// How often one key's use is reported at most.
pub(crate) const USAGE_INTERVAL: Duration = Duration::from_secs(60);
/// Keys whose last report is remembered; beyond that a key may be reported
/// again sooner, never more often than it is used.
const REMEMBERED: u64 = 100_000;
/// Reports waiting on the store at once; more are skipped (and made on a
/// later use), so that a slow store never piles up tasks.
const MAX_IN_FLIGHT: usize = 64;

type Report =
    dyn Fn(Box<str>, SystemTime) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync;

pub(crate) struct UsageTracker {
    reported: Cache<String, ()>,
    report: Arc<Report>,
    in_flight: Arc<AtomicUsize>,
}

impl UsageTracker {
    pub(crate) fn new(
        report: impl Fn(Box<str>, SystemTime) -> Pin<Box<dyn Future<Output = ()> + Send>>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        Self {
            reported: Cache::builder()
                .max_capacity(REMEMBERED)
                .time_to_live(USAGE_INTERVAL)
                .build(),
            report: Arc::new(report),
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Notes a granted use of `id`; reports it unless it was reported in
    /// the last interval.
    pub(crate) fn touch(&self, id: &str, now: SystemTime) {
        if self.reported.contains_key(id) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_IN_FLIGHT {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let entry = self.reported.entry_by_ref(id).or_insert(());
        if !entry.is_fresh() {
            // Another request reported it a moment ago.
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        let report = (self.report)(id.into(), now);
        let in_flight = Arc::clone(&self.in_flight);
        runtime.spawn(async move {
            report.await;
            in_flight.fetch_sub(1, Ordering::AcqRel);
        });
    }
}
