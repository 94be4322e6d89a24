//! `authgate_dpop_proofs_total{outcome}` (feature `metrics`): what became
//! of each DPoP proof, and of each bound token presented as a bearer one.
//! Registered once per verifier, as the series in
//! [`telemetry`](crate::telemetry) are; a no-op without the feature.

/// What became of a proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Checked and remembered: the request goes on.
    Accepted,
    /// Refused: malformed, wrong key, method, URI, time, token or signature.
    Invalid,
    /// Refused: its `jti` was already used for this `htu`.
    Replayed,
    /// Refused for want of a current nonce; a fresh one was sent.
    NonceRequired,
    /// A DPoP-bound token presented as `Bearer`, refused.
    Downgrade,
}

#[cfg(feature = "metrics")]
mod on {
    use metrics::{Counter, Unit};

    use super::Outcome;

    /// The series name.
    pub(crate) const PROOFS: &str = "authgate_dpop_proofs_total";

    /// One counter per outcome.
    #[derive(Debug)]
    pub(crate) struct DpopMetrics {
        counters: [Counter; 5],
    }

    impl DpopMetrics {
        pub(crate) fn new() -> Self {
            metrics::describe_counter!(
                PROOFS,
                Unit::Count,
                "DPoP proofs by outcome, and bound tokens refused as bearer tokens"
            );
            let counter = |outcome: &'static str| metrics::counter!(PROOFS, "outcome" => outcome);
            Self {
                counters: [
                    counter("accepted"),
                    counter("invalid"),
                    counter("replayed"),
                    counter("nonce_required"),
                    counter("downgrade"),
                ],
            }
        }

        pub(crate) fn record(&self, outcome: Outcome) {
            let index = match outcome {
                Outcome::Accepted => 0,
                Outcome::Invalid => 1,
                Outcome::Replayed => 2,
                Outcome::NonceRequired => 3,
                Outcome::Downgrade => 4,
            };
            if let Some(counter) = self.counters.get(index) {
                counter.increment(1);
            }
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod off {
    use super::Outcome;

    /// Nothing to record without the `metrics` feature.
    #[derive(Debug)]
    pub(crate) struct DpopMetrics;

    impl DpopMetrics {
        pub(crate) fn new() -> Self {
            Self
        }

        pub(crate) fn record(&self, _: Outcome) {}
    }
}

#[cfg(feature = "metrics")]
pub(crate) use on::DpopMetrics;

#[cfg(not(feature = "metrics"))]
pub(crate) use off::DpopMetrics;
