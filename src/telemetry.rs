//! Metrics through the [`metrics`](https://docs.rs/metrics) facade (feature
//! `metrics`): what an operator graphs. Every series and its labels are
//! listed in `docs/observability.md`.
//!
//! Handles are registered once, when a layer, scheme or cache is built,
//! against the recorder installed at that moment (the global one, or a
//! local one in tests): a request only bumps atomics, with no label
//! allocated and no registry look-up. Install the exporter before building
//! the layer; handles built with no recorder installed stay no-ops.
//!
//! Labels are bounded by construction: scheme names, outcomes,
//! [`ErrorKind::reason`], HTTP status codes, cache kinds and JWKS sources as
//! configured. Never a subject, key id or token.
//!
//! Without the feature every type here is empty and every call compiles to
//! nothing.

use std::time::Duration;

use crate::error::ErrorKind;

/// Every [`ErrorKind`], in [`kind_index`] order: the reasons a decision
/// series is registered for.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const KINDS: [ErrorKind; 19] = [
    ErrorKind::Missing,
    ErrorKind::Malformed,
    ErrorKind::Ambiguous,
    ErrorKind::UnsupportedScheme,
    ErrorKind::InvalidFormat,
    ErrorKind::UnknownKey,
    ErrorKind::WrongEnvironment,
    ErrorKind::BadSignature,
    ErrorKind::Expired,
    ErrorKind::NotYetValid,
    ErrorKind::Rotated,
    ErrorKind::Revoked,
    ErrorKind::Replayed,
    ErrorKind::InsufficientScope,
    ErrorKind::Forbidden,
    ErrorKind::Unavailable,
    ErrorKind::PayloadTooLarge,
    ErrorKind::BodyTimeout,
    ErrorKind::RateLimited,
];

/// Where `kind` sits in [`KINDS`]. Exhaustive inside the crate: a new kind
/// does not compile until it has a slot (and a series).
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) const fn kind_index(kind: ErrorKind) -> usize {
    match kind {
        ErrorKind::Missing => 0,
        ErrorKind::Malformed => 1,
        ErrorKind::Ambiguous => 2,
        ErrorKind::UnsupportedScheme => 3,
        ErrorKind::InvalidFormat => 4,
        ErrorKind::UnknownKey => 5,
        ErrorKind::WrongEnvironment => 6,
        ErrorKind::BadSignature => 7,
        ErrorKind::Expired => 8,
        ErrorKind::NotYetValid => 9,
        ErrorKind::Rotated => 10,
        ErrorKind::Revoked => 11,
        ErrorKind::Replayed => 12,
        ErrorKind::InsufficientScope => 13,
        ErrorKind::Forbidden => 14,
        ErrorKind::Unavailable => 15,
        ErrorKind::PayloadTooLarge => 16,
        ErrorKind::BodyTimeout => 17,
        ErrorKind::RateLimited => 18,
    }
}

/// Metric names, as exported.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
pub(crate) mod names {
    pub(crate) const DECISIONS: &str = "authgate_decisions_total";
    pub(crate) const DECISION_DURATION: &str = "authgate_decision_duration_seconds";
    pub(crate) const REVOCATION_HITS: &str = "authgate_revocation_hits_total";
    pub(crate) const REPLAY_REJECTIONS: &str = "authgate_replay_rejections_total";
    pub(crate) const CACHE_HITS: &str = "authgate_cache_hits_total";
    pub(crate) const CACHE_MISSES: &str = "authgate_cache_misses_total";
    pub(crate) const CACHE_EVICTIONS: &str = "authgate_cache_evictions_total";
    pub(crate) const CACHE_ENTRIES: &str = "authgate_cache_entries";
    pub(crate) const STORE_ERRORS: &str = "authgate_store_errors_total";
    pub(crate) const JWKS_FETCHES: &str = "authgate_jwks_fetches_total";
    pub(crate) const JWKS_KEYS: &str = "authgate_jwks_keys";
    pub(crate) const JWKS_LAST_SUCCESS: &str = "authgate_jwks_last_success_timestamp_seconds";
    pub(crate) const JWKS_STALE_SERVED: &str = "authgate_jwks_stale_served_total";
}

/// How a store or endpoint call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // not every store is compiled in every feature set
pub(crate) enum Failure {
    /// The store answered with an error.
    Error,
    /// The store did not answer in time.
    Timeout,
}

/// The outcome of one JWKS (or discovery) fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // JWKS sources exist only with feature `jwt`
pub(crate) enum FetchResult {
    /// A usable key set was stored.
    Success,
    /// The fetch failed: transport error, a status other than 200, or a
    /// document that does not parse.
    Error,
    /// The fetch did not finish within the fetch timeout.
    Timeout,
}

#[allow(dead_code)]
impl FetchResult {
    /// The result of a timed fetch, and the number of keys it brought.
    pub(crate) fn of<T, E, X>(
        outcome: &Result<Result<T, E>, X>,
        keys: impl FnOnce(&T) -> usize,
    ) -> (Self, usize) {
        match outcome {
            Ok(Ok(fetched)) => (Self::Success, keys(fetched)),
            Ok(Err(_)) => (Self::Error, 0),
            Err(_) => (Self::Timeout, 0),
        }
    }
}

#[cfg(feature = "metrics")]
pub(crate) use on::*;

#[cfg(not(feature = "metrics"))]
pub(crate) use off::*;

/// Seconds, as histograms take them.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
fn seconds(elapsed: Option<Duration>) -> f64 {
    elapsed.map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(feature = "metrics")]
// Not every cache, store or JWKS source is compiled in every feature set.
#[allow(dead_code)]
mod on {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use metrics::{Counter, Gauge, Histogram, Unit};

    use super::{kind_index, names, seconds, Failure, FetchResult, KINDS};
    use crate::error::ErrorKind;

    const NONE: &str = "none";

    fn describe() {
        metrics::describe_counter!(
            names::DECISIONS,
            Unit::Count,
            "Authentication decisions by scheme, outcome, reason and status answered"
        );
        metrics::describe_histogram!(
            names::DECISION_DURATION,
            Unit::Seconds,
            "Time spent deciding, from extraction to grant or rejection"
        );
        metrics::describe_counter!(
            names::REVOCATION_HITS,
            Unit::Count,
            "Credentials refused because they were revoked"
        );
        metrics::describe_counter!(
            names::REPLAY_REJECTIONS,
            Unit::Count,
            "Signed requests refused as replays"
        );
    }

    /// One scheme's pre-registered decision series.
    #[derive(Debug)]
    struct Row {
        name: &'static str,
        granted: Counter,
        granted_time: Histogram,
        denied: Vec<Counter>,
        denied_time: Histogram,
        revoked: Counter,
        replayed: Counter,
    }

    impl Row {
        fn new(name: &'static str) -> Self {
            let denied = KINDS
                .iter()
                .map(|kind| {
                    metrics::counter!(
                        names::DECISIONS,
                        "scheme" => name,
                        "outcome" => "denied",
                        "reason" => kind.reason(),
                        "status" => kind.status().as_u16().to_string(),
                    )
                })
                .collect();
            Self {
                name,
                granted: metrics::counter!(
                    names::DECISIONS,
                    "scheme" => name,
                    "outcome" => "granted",
                    "reason" => NONE,
                    "status" => NONE,
                ),
                granted_time: metrics::histogram!(
                    names::DECISION_DURATION, "scheme" => name, "outcome" => "granted"
                ),
                denied,
                denied_time: metrics::histogram!(
                    names::DECISION_DURATION, "scheme" => name, "outcome" => "denied"
                ),
                revoked: metrics::counter!(names::REVOCATION_HITS, "scheme" => name),
                replayed: metrics::counter!(names::REPLAY_REJECTIONS, "scheme" => name),
            }
        }
    }

    /// A layer's decision series: one row per distinct scheme name, and one
    /// (`scheme="none"`) for decisions made before any scheme owned the
    /// request.
    #[derive(Debug)]
    pub(crate) struct DecisionMetrics {
        rows: Vec<Row>,
        anonymous: Counter,
        anonymous_time: Histogram,
    }

    impl DecisionMetrics {
        /// Registers the series of a layer whose schemes have these names
        /// ([`Scheme::name`](crate::Scheme::name)).
        pub(crate) fn new(schemes: impl IntoIterator<Item = &'static str>) -> Self {
            describe();
            let mut rows = vec![Row::new(NONE)];
            for name in schemes {
                if !rows.iter().any(|r| r.name == name) {
                    rows.push(Row::new(name));
                }
            }
            Self {
                rows,
                anonymous: metrics::counter!(
                    names::DECISIONS,
                    "scheme" => NONE,
                    "outcome" => "anonymous",
                    "reason" => NONE,
                    "status" => NONE,
                ),
                anonymous_time: metrics::histogram!(
                    names::DECISION_DURATION, "scheme" => NONE, "outcome" => "anonymous"
                ),
            }
        }

        fn row(&self, scheme: Option<&str>) -> Option<&Row> {
            let name = scheme.unwrap_or(NONE);
            self.rows.iter().find(|r| r.name == name)
        }

        pub(crate) fn granted(&self, scheme: &str, elapsed: Option<Duration>) {
            if let Some(row) = self.row(Some(scheme)) {
                row.granted.increment(1);
                row.granted_time.record(seconds(elapsed));
            }
        }

        pub(crate) fn denied(
            &self,
            scheme: Option<&str>,
            kind: ErrorKind,
            elapsed: Option<Duration>,
        ) {
            let Some(row) = self.row(scheme) else { return };
            if let Some(counter) = row.denied.get(kind_index(kind)) {
                counter.increment(1);
            }
            row.denied_time.record(seconds(elapsed));
            match kind {
                ErrorKind::Revoked => row.revoked.increment(1),
                ErrorKind::Replayed => row.replayed.increment(1),
                _ => {}
            }
        }

        pub(crate) fn anonymous(&self, elapsed: Option<Duration>) {
            self.anonymous.increment(1);
            self.anonymous_time.record(seconds(elapsed));
        }
    }

    /// Hits, misses, evictions and entries of one kind of cache
    /// (`cache` label).
    #[derive(Clone, Debug)]
    pub(crate) struct CacheMetrics {
        hits: Counter,
        misses: Counter,
        evictions: Counter,
        entries: Gauge,
    }

    impl CacheMetrics {
        pub(crate) fn new(cache: &'static str) -> Self {
            metrics::describe_counter!(
                names::CACHE_HITS,
                Unit::Count,
                "Cache look-ups answered from the cache"
            );
            metrics::describe_counter!(
                names::CACHE_MISSES,
                Unit::Count,
                "Cache look-ups that had to verify or ask the store"
            );
            metrics::describe_counter!(
                names::CACHE_EVICTIONS,
                Unit::Count,
                "Entries dropped for size or age"
            );
            metrics::describe_gauge!(
                names::CACHE_ENTRIES,
                Unit::Count,
                "Entries held (approximate, updated on misses)"
            );
            Self {
                hits: metrics::counter!(names::CACHE_HITS, "cache" => cache),
                misses: metrics::counter!(names::CACHE_MISSES, "cache" => cache),
                evictions: metrics::counter!(names::CACHE_EVICTIONS, "cache" => cache),
                entries: metrics::gauge!(names::CACHE_ENTRIES, "cache" => cache),
            }
        }

        pub(crate) fn lookup(&self, hit: bool) {
            if hit {
                self.hits.increment(1);
            } else {
                self.misses.increment(1);
            }
        }

        pub(crate) fn entries(&self, entries: u64) {
            #[allow(clippy::cast_precision_loss)] // a gauge; exact below 2^53
            self.entries.set(entries as f64);
        }

        /// For a moka eviction listener: counts removals for size or age.
        pub(crate) fn removed(&self, cause: moka::notification::RemovalCause) {
            if cause.was_evicted() {
                self.evictions.increment(1);
            }
        }

        /// Counts this cache's evictions (a moka `sync` cache).
        pub(crate) fn watch_sync<K, V, C>(
            &self,
            builder: moka::sync::CacheBuilder<K, V, C>,
        ) -> moka::sync::CacheBuilder<K, V, C>
        where
            K: Eq + std::hash::Hash + Send + Sync + 'static,
            V: Clone + Send + Sync + 'static,
        {
            let metrics = self.clone();
            builder.eviction_listener(move |_, _, cause| metrics.removed(cause))
        }

        /// Counts this cache's evictions (a moka `future` cache).
        pub(crate) fn watch_future<K, V, C>(
            &self,
            builder: moka::future::CacheBuilder<K, V, C>,
        ) -> moka::future::CacheBuilder<K, V, C>
        where
            K: Eq + std::hash::Hash + Send + Sync + 'static,
            V: Clone + Send + Sync + 'static,
        {
            let metrics = self.clone();
            builder.eviction_listener(move |_, _, cause| metrics.removed(cause))
        }
    }

    /// Errors and timeouts of one store (`store` label).
    #[derive(Clone, Debug)]
    pub(crate) struct StoreMetrics {
        errors: Counter,
        timeouts: Counter,
    }

    impl StoreMetrics {
        pub(crate) fn new(store: &'static str) -> Self {
            metrics::describe_counter!(
                names::STORE_ERRORS,
                Unit::Count,
                "Key and secret store look-ups that failed or timed out"
            );
            Self {
                errors: metrics::counter!(names::STORE_ERRORS, "store" => store, "error" => "error"),
                timeouts: metrics::counter!(names::STORE_ERRORS, "store" => store, "error" => "timeout"),
            }
        }

        pub(crate) fn failed(&self, failure: Failure) {
            match failure {
                Failure::Error => self.errors.increment(1),
                Failure::Timeout => self.timeouts.increment(1),
            }
        }
    }

    /// One JWKS source's fetches, keys and freshness (`source` label: the
    /// JWKS URL, or the issuer for discovery, as configured).
    #[derive(Debug)]
    pub(crate) struct JwksMetrics {
        success: Counter,
        error: Counter,
        timeout: Counter,
        keys: Gauge,
        last_success: Gauge,
        stale_served: Counter,
    }

    impl JwksMetrics {
        pub(crate) fn new(source: &str) -> Self {
            metrics::describe_counter!(
                names::JWKS_FETCHES,
                Unit::Count,
                "JWKS and discovery fetches by result"
            );
            metrics::describe_gauge!(
                names::JWKS_KEYS,
                Unit::Count,
                "Usable keys held from the last successful fetch"
            );
            metrics::describe_gauge!(
                names::JWKS_LAST_SUCCESS,
                Unit::Seconds,
                "Unix time of the last successful fetch (key set age: time() minus this)"
            );
            metrics::describe_counter!(
                names::JWKS_STALE_SERVED,
                Unit::Count,
                "Key look-ups answered from a set past its freshness (stale-if-error)"
            );
            let source = source.to_owned();
            let fetches = |result: &'static str| metrics::counter!(names::JWKS_FETCHES, "source" => source.clone(), "result" => result);
            Self {
                success: fetches("success"),
                error: fetches("error"),
                timeout: fetches("timeout"),
                keys: metrics::gauge!(names::JWKS_KEYS, "source" => source.clone()),
                last_success: metrics::gauge!(names::JWKS_LAST_SUCCESS, "source" => source.clone()),
                stale_served: metrics::counter!(names::JWKS_STALE_SERVED, "source" => source),
            }
        }

        /// A fetch finished; `keys` is the size of the stored set on success.
        pub(crate) fn fetched(&self, (result, keys): (FetchResult, usize)) {
            match result {
                FetchResult::Success => {
                    self.success.increment(1);
                    #[allow(clippy::cast_precision_loss)] // at most MAX_KEYS
                    self.keys.set(keys as f64);
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64());
                    self.last_success.set(now);
                }
                FetchResult::Error => self.error.increment(1),
                FetchResult::Timeout => self.timeout.increment(1),
            }
        }

        pub(crate) fn stale_served(&self) {
            self.stale_served.increment(1);
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod off {
    use std::time::Duration;

    use super::{Failure, FetchResult};
    use crate::error::ErrorKind;

    #[derive(Debug)]
    pub(crate) struct DecisionMetrics;

    impl DecisionMetrics {
        pub(crate) fn new(_: impl IntoIterator<Item = &'static str>) -> Self {
            Self
        }
        #[inline(always)]
        pub(crate) fn granted(&self, _: &str, _: Option<Duration>) {}
        #[inline(always)]
        pub(crate) fn denied(&self, _: Option<&str>, _: ErrorKind, _: Option<Duration>) {}
        #[inline(always)]
        pub(crate) fn anonymous(&self, _: Option<Duration>) {}
    }

    #[derive(Clone, Debug)]
    #[allow(dead_code)]
    pub(crate) struct CacheMetrics;

    #[allow(dead_code)] // not every cache is compiled in every feature set
    impl CacheMetrics {
        pub(crate) fn new(_: &'static str) -> Self {
            Self
        }
        #[inline(always)]
        pub(crate) fn lookup(&self, _: bool) {}
        #[inline(always)]
        pub(crate) fn entries(&self, _: u64) {}
        #[inline(always)]
        pub(crate) fn removed(&self, _: moka::notification::RemovalCause) {}
        #[inline(always)]
        pub(crate) fn watch_sync<K, V, C>(
            &self,
            builder: moka::sync::CacheBuilder<K, V, C>,
        ) -> moka::sync::CacheBuilder<K, V, C> {
            builder
        }
        #[inline(always)]
        pub(crate) fn watch_future<K, V, C>(
            &self,
            builder: moka::future::CacheBuilder<K, V, C>,
        ) -> moka::future::CacheBuilder<K, V, C> {
            builder
        }
    }

    #[derive(Clone, Debug)]
    #[allow(dead_code)]
    pub(crate) struct StoreMetrics;

    #[allow(dead_code)]
    impl StoreMetrics {
        pub(crate) fn new(_: &'static str) -> Self {
            Self
        }
        #[inline(always)]
        pub(crate) fn failed(&self, _: Failure) {}
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    pub(crate) struct JwksMetrics;

    #[allow(dead_code)]
    impl JwksMetrics {
        pub(crate) fn new(_: &str) -> Self {
            Self
        }
        #[inline(always)]
        pub(crate) fn fetched(&self, _: (FetchResult, usize)) {}
        #[inline(always)]
        pub(crate) fn stale_served(&self) {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn every_kind_has_its_own_slot() {
        for (i, kind) in KINDS.iter().enumerate() {
            assert_eq!(kind_index(*kind), i, "{kind:?}");
        }
    }

    /// The docs table lists every series.
    #[test]
    fn every_metric_is_documented() {
        let docs = include_str!("../docs/observability.md");
        for name in [
            names::DECISIONS,
            names::DECISION_DURATION,
            names::REVOCATION_HITS,
            names::REPLAY_REJECTIONS,
            names::CACHE_HITS,
            names::CACHE_MISSES,
            names::CACHE_EVICTIONS,
            names::CACHE_ENTRIES,
            names::STORE_ERRORS,
            names::JWKS_FETCHES,
            names::JWKS_KEYS,
            names::JWKS_LAST_SUCCESS,
            names::JWKS_STALE_SERVED,
        ] {
            assert!(
                docs.contains(&format!("| `{name}` |")),
                "{name} is not in the table"
            );
        }
    }

    /// The Grafana dashboard is valid JSON and queries only series that
    /// exist.
    #[test]
    fn the_dashboard_parses_and_queries_real_series() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../docs/grafana-dashboard.json")).unwrap();
        let known = [
            names::DECISIONS,
            names::DECISION_DURATION,
            names::REVOCATION_HITS,
            names::REPLAY_REJECTIONS,
            names::CACHE_HITS,
            names::CACHE_MISSES,
            names::CACHE_EVICTIONS,
            names::CACHE_ENTRIES,
            names::STORE_ERRORS,
            names::JWKS_FETCHES,
            names::JWKS_KEYS,
            names::JWKS_LAST_SUCCESS,
            names::JWKS_STALE_SERVED,
        ];
        let panels = dashboard["panels"].as_array().unwrap();
        assert!(panels.len() >= 10);
        let mut queries = 0;
        for panel in panels {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                queries += 1;
                for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                    if let Some(name) = word.strip_prefix("authgate_") {
                        let name = format!("authgate_{name}");
                        let base = name.trim_end_matches("_bucket");
                        assert!(known.contains(&base), "{name} in {expr}");
                    }
                }
            }
        }
        assert!(queries >= panels.len());
    }

    /// Every reason, on every scheme of a layer, moves its own series once
    /// and nothing else of the decision series.
    #[cfg(feature = "metrics")]
    #[test]
    fn every_denial_moves_exactly_its_series() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};

        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let decisions = metrics::with_local_recorder(&recorder, || {
            DecisionMetrics::new(["api_key", "jwt", "api_key"])
        });
        let moved = || {
            snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .filter_map(|(key, _, _, value)| match value {
                    DebugValue::Counter(n) if n > 0 => {
                        let labels: Vec<String> = key
                            .key()
                            .labels()
                            .map(|l| format!("{}={}", l.key(), l.value()))
                            .collect();
                        Some((key.key().name().to_owned(), labels, n))
                    }
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        let all = snapshotter.snapshot().into_vec();
        let series = all
            .iter()
            .filter(|(k, _, _, _)| k.key().name() == names::DECISIONS)
            .count();
        // none + api_key + jwt (the duplicate name shares a row), each
        // with every reason and `granted`, plus `anonymous`.
        assert_eq!(series, 3 * (KINDS.len() + 1) + 1);
        for scheme in [None, Some("api_key"), Some("jwt")] {
            for kind in KINDS {
                decisions.denied(scheme, kind, Some(Duration::from_micros(3)));
                let moved = moved();
                let decision: Vec<_> = moved.iter().filter(|m| m.0 == names::DECISIONS).collect();
                assert_eq!(decision.len(), 1, "{scheme:?} {kind:?}: {moved:?}");
                let (_, labels, n) = decision[0];
                assert_eq!(*n, 1);
                let status = kind.status().as_u16().to_string();
                let want = [
                    format!("scheme={}", scheme.unwrap_or("none")),
                    "outcome=denied".to_owned(),
                    format!("reason={}", kind.reason()),
                    format!("status={status}"),
                ];
                assert_eq!(labels, &want);
                let extra: Vec<_> = moved.iter().filter(|m| m.0 != names::DECISIONS).collect();
                match kind {
                    ErrorKind::Revoked => {
                        assert_eq!(extra.len(), 1);
                        assert_eq!(extra[0].0, names::REVOCATION_HITS);
                    }
                    ErrorKind::Replayed => {
                        assert_eq!(extra.len(), 1);
                        assert_eq!(extra[0].0, names::REPLAY_REJECTIONS);
                    }
                    _ => assert!(extra.is_empty(), "{kind:?}: {extra:?}"),
                }
            }
        }
        decisions.granted("jwt", None);
        decisions.anonymous(None);
        let moved = moved();
        assert_eq!(moved.len(), 2, "{moved:?}");
        // A scheme the layer does not have records nothing (and never
        // creates a series).
        decisions.granted("other", None);
        assert!(moved_is_empty(&snapshotter));
    }

    #[cfg(feature = "metrics")]
    fn moved_is_empty(snapshotter: &metrics_util::debugging::Snapshotter) -> bool {
        use metrics_util::debugging::DebugValue;
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .all(|(_, _, _, v)| {
                matches!(v, DebugValue::Counter(0) | DebugValue::Gauge(_))
                    || matches!(&v, DebugValue::Histogram(h) if h.is_empty())
            })
    }
}
