//! Rate-limit series through the `metrics` facade (feature `metrics`), in
//! the pattern of [`crate::telemetry`]: handles registered when a layer or
//! backend is built, atomics bumped per request, labels bounded (policy
//! names as configured, outcomes, backend names). Listed in
//! `docs/observability.md`.

#[cfg(feature = "metrics")]
mod enabled {
    use metrics::Counter;

    /// `authgate_rate_limit_decisions_total{policy, backend, outcome}`.
    pub(crate) const DECISIONS: &str = "authgate_rate_limit_decisions_total";
    /// `authgate_rate_limit_backend_errors_total{backend, error}`.
    pub(crate) const BACKEND_ERRORS: &str = "authgate_rate_limit_backend_errors_total";

    #[derive(Clone)]
    pub(crate) struct LimitMetrics {
        allowed: Counter,
        limited: Counter,
        unavailable: Counter,
    }

    impl LimitMetrics {
        pub(crate) fn new(policy: &str, backend: &'static str) -> Self {
            let counter = |outcome: &'static str| metrics::counter!(DECISIONS, "policy" => policy.to_owned(), "backend" => backend, "outcome" => outcome);
            Self {
                allowed: counter("allowed"),
                limited: counter("limited"),
                unavailable: counter("unavailable"),
            }
        }

        pub(crate) fn allowed(&self) {
            self.allowed.increment(1);
        }

        pub(crate) fn limited(&self) {
            self.limited.increment(1);
        }

        pub(crate) fn unavailable(&self) {
            self.unavailable.increment(1);
        }
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    #[derive(Clone)]
    pub(crate) struct BackendMetrics {
        errors: Counter,
        timeouts: Counter,
        fallbacks: Counter,
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    impl BackendMetrics {
        pub(crate) fn new(backend: &'static str) -> Self {
            let counter = |error: &'static str| metrics::counter!(BACKEND_ERRORS, "backend" => backend, "error" => error);
            Self {
                errors: counter("error"),
                timeouts: counter("timeout"),
                fallbacks: metrics::counter!(
                    "authgate_rate_limit_fallbacks_total",
                    "backend" => backend
                ),
            }
        }

        pub(crate) fn error(&self) {
            self.errors.increment(1);
        }

        pub(crate) fn timeout(&self) {
            self.timeouts.increment(1);
        }

        pub(crate) fn fallback(&self) {
            self.fallbacks.increment(1);
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod enabled {
    #[derive(Clone)]
    pub(crate) struct LimitMetrics;

    impl LimitMetrics {
        pub(crate) fn new(_: &str, _: &'static str) -> Self {
            Self
        }
        pub(crate) fn allowed(&self) {}
        pub(crate) fn limited(&self) {}
        pub(crate) fn unavailable(&self) {}
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    #[derive(Clone)]
    pub(crate) struct BackendMetrics;

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    impl BackendMetrics {
        pub(crate) fn new(_: &'static str) -> Self {
            Self
        }
        pub(crate) fn error(&self) {}
        pub(crate) fn timeout(&self) {}
        pub(crate) fn fallback(&self) {}
    }
}

#[cfg(feature = "redis")]
pub(crate) use enabled::BackendMetrics;
pub(crate) use enabled::LimitMetrics;
