//! One tracing event per decision, at target `authgate`.
//!
//! | field | meaning |
//! |---|---|
//! | `scheme` | the scheme that owned the credential (`api_key`, …), absent when none did |
//! | `outcome` | `granted`, `anonymous` or `denied` |
//! | `reason` | for denials: [`ErrorKind::reason`](crate::ErrorKind::reason) |
//! | `status` | the HTTP status answered |
//! | `subject` | the principal's subject, when known |
//! | `key_id` | the key or token id, when known |
//! | `fingerprint` | first 8 bytes of the SHA-256 of the credential, hex |
//! | `latency_us` | time spent deciding, in microseconds |
//!
//! Grants and anonymous passes are `debug`, denials `info`, `unavailable`
//! is `warn`. No field ever holds a secret or a whole token: credentials
//! appear only as their fingerprint, computed only when the event is enabled.
//!
//! Each decision also feeds the layer's metrics (feature `metrics`, see
//! `docs/observability.md`) and the [audit trail](crate::audit), target
//! `authgate::audit`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::request::Parts;
use tracing::Level;

use crate::audit::{self, AuditSink};
use crate::credentials::Credential;
use crate::error::{AuthError, ErrorKind};
use crate::principal::Principal;
use crate::secret::fingerprint;
use crate::telemetry::DecisionMetrics;

pub(crate) const TARGET: &str = "authgate";

/// Where a layer reports its decisions besides this target: its metrics
/// and its audit sink. Shared by the layers derived from one another.
pub(crate) struct Observer {
    metrics: DecisionMetrics,
    sink: Option<Arc<dyn AuditSink>>,
}

impl Observer {
    pub(crate) fn new(
        schemes: impl IntoIterator<Item = &'static str>,
        sink: Option<Arc<dyn AuditSink>>,
    ) -> Self {
        Self {
            metrics: DecisionMetrics::new(schemes),
            sink,
        }
    }

    fn sink(&self) -> Option<&dyn AuditSink> {
        self.sink.as_deref()
    }

    /// Reports a grant: see [`granted`].
    pub(crate) fn granted(
        &self,
        parts: &Parts,
        scheme: &'static str,
        principal: &Principal,
        credential: &Credential,
        start: Stopwatch,
    ) {
        granted(self, parts, scheme, principal, credential, start);
    }

    /// Reports an anonymous pass: see [`anonymous`].
    pub(crate) fn anonymous(&self, parts: &Parts, start: Stopwatch) {
        anonymous(self, parts, start);
    }

    /// Reports a denial: see [`denied`].
    pub(crate) fn denied(
        &self,
        parts: &Parts,
        scheme: Option<&'static str>,
        error: &AuthError,
        principal: Option<&Principal>,
        credential: Option<&Credential>,
        start: Stopwatch,
    ) {
        denied(self, parts, scheme, error, principal, credential, start);
    }
}

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observer")
            .field("audit_sink", &self.sink.is_some())
            .finish_non_exhaustive()
    }
}

pub(crate) fn granted(
    observer: &Observer,
    parts: &Parts,
    scheme: &'static str,
    principal: &Principal,
    credential: &Credential,
    start: Stopwatch,
) {
    observer.metrics.granted(scheme, start.elapsed());
    tracing::event!(
        target: TARGET,
        Level::DEBUG,
        scheme,
        outcome = "granted",
        subject = principal.subject(),
        key_id = principal.credential_id(),
        fingerprint = fingerprint(credential.value().as_bytes()),
        latency_us = latency_us(start),
        "request authenticated"
    );
    let print = || fingerprint(credential.value().as_bytes());
    audit::emit(
        observer.sink(),
        parts,
        &audit::Decision {
            scheme: Some(scheme),
            outcome: "granted",
            reason: None,
            status: None,
            subject: Some(principal.subject()),
            credential_id: principal.credential_id(),
            fingerprint: Some(&print),
        },
    );
}

pub(crate) fn anonymous(observer: &Observer, parts: &Parts, start: Stopwatch) {
    observer.metrics.anonymous(start.elapsed());
    tracing::event!(
        target: TARGET,
        Level::DEBUG,
        outcome = "anonymous",
        latency_us = latency_us(start),
        "anonymous path, no credential"
    );
    audit::emit(
        observer.sink(),
        parts,
        &audit::Decision {
            scheme: None,
            outcome: "anonymous",
            reason: None,
            status: None,
            subject: None,
            credential_id: None,
            fingerprint: None,
        },
    );
}

pub(crate) fn denied(
    observer: &Observer,
    parts: &Parts,
    scheme: Option<&'static str>,
    error: &AuthError,
    principal: Option<&Principal>,
    credential: Option<&Credential>,
    start: Stopwatch,
) {
    observer
        .metrics
        .denied(scheme, error.kind(), start.elapsed());
    report_denial(
        Some(observer),
        parts,
        scheme,
        error,
        principal,
        credential,
        start,
    );
}

/// A denial further in than the layer that authenticated (an extractor):
/// reported to that layer's metrics and sink when the request carries it.
#[cfg_attr(not(feature = "axum"), allow(dead_code))]
pub(crate) fn denied_after_layer(
    parts: &Parts,
    scheme: Option<&'static str>,
    error: &AuthError,
    principal: &Principal,
    start: Stopwatch,
) {
    match crate::service::context_of(&parts.extensions) {
        Some(context) => {
            let observer = &context.config.schemes.observer;
            observer.denied(parts, scheme, error, Some(principal), None, start);
        }
        None => denied_outside_layer(parts, scheme, error, Some(principal), start),
    }
}

/// A denial by an [`AuthorizeLayer`](crate::AuthorizeLayer) that no
/// `AuthLayer` runs outside of: no layer's metrics or sink to report to.
pub(crate) fn denied_outside_layer(
    parts: &Parts,
    scheme: Option<&'static str>,
    error: &AuthError,
    principal: Option<&Principal>,
    start: Stopwatch,
) {
    report_denial(None, parts, scheme, error, principal, None, start);
}

fn report_denial(
    observer: Option<&Observer>,
    parts: &Parts,
    scheme: Option<&'static str>,
    error: &AuthError,
    principal: Option<&Principal>,
    credential: Option<&Credential>,
    start: Stopwatch,
) {
    let key_id = principal
        .and_then(Principal::credential_id)
        .or(error.credential_id());
    macro_rules! denied_at {
        ($level:expr) => {
            tracing::event!(
                target: TARGET,
                $level,
                scheme,
                outcome = "denied",
                reason = error.kind().reason(),
                status = error.status().as_u16(),
                subject = principal.map(Principal::subject),
                key_id,
                fingerprint = credential.map(|c| fingerprint(c.value().as_bytes())),
                latency_us = latency_us(start),
                detail = error.description(),
                "request denied"
            )
        };
    }
    if error.kind() == ErrorKind::Unavailable {
        denied_at!(Level::WARN);
    } else {
        denied_at!(Level::INFO);
    }
    let print = || {
        credential
            .map(|c| fingerprint(c.value().as_bytes()))
            .unwrap_or_default()
    };
    let print: &dyn Fn() -> String = &print;
    audit::emit(
        observer.and_then(Observer::sink),
        parts,
        &audit::Decision {
            scheme,
            outcome: "denied",
            reason: Some(error.kind().reason()),
            status: Some(error.status().as_u16()),
            subject: principal.map(Principal::subject),
            credential_id: key_id,
            fingerprint: credential.is_some().then_some(print),
        },
    );
}

/// When a decision started, read only if an `authgate` event can be
/// recorded: with no subscriber listening, a request costs no clock reads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stopwatch(Option<Instant>);

impl Stopwatch {
    pub(crate) fn start() -> Self {
        // With the `metrics` feature every decision is timed (the duration
        // histogram); without it, only when an event will be recorded.
        // Every decision event is at least `debug`; grants are `debug`,
        // denials `info` or `warn`. Whether any of them is wanted:
        let wanted = cfg!(feature = "metrics")
            || tracing::enabled!(target: TARGET, Level::WARN)
            || tracing::enabled!(target: TARGET, Level::DEBUG);
        Self(wanted.then(Instant::now))
    }

    fn elapsed(self) -> Option<Duration> {
        self.0.map(|start| start.elapsed())
    }
}

fn latency_us(start: Stopwatch) -> Option<u64> {
    start
        .elapsed()
        .map(|elapsed| u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX))
}
