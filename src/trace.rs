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

use std::time::Instant;

use tracing::Level;

use crate::credentials::Credential;
use crate::error::{AuthError, ErrorKind};
use crate::principal::Principal;
use crate::secret::fingerprint;

pub(crate) const TARGET: &str = "authgate";

pub(crate) fn granted(
    scheme: &'static str,
    principal: &Principal,
    credential: &Credential,
    start: Stopwatch,
) {
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
}

pub(crate) fn anonymous(start: Stopwatch) {
    tracing::event!(
        target: TARGET,
        Level::DEBUG,
        outcome = "anonymous",
        latency_us = latency_us(start),
        "anonymous path, no credential"
    );
}

pub(crate) fn denied(
    scheme: Option<&'static str>,
    error: &AuthError,
    principal: Option<&Principal>,
    credential: Option<&Credential>,
    start: Stopwatch,
) {
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
                key_id = principal
                    .and_then(Principal::credential_id)
                    .or(error.credential_id()),
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
}

/// When a decision started, read only if an `authgate` event can be
/// recorded: with no subscriber listening, a request costs no clock reads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stopwatch(Option<Instant>);

impl Stopwatch {
    pub(crate) fn start() -> Self {
        // Every decision event is at least `debug`; grants are `debug`,
        // denials `info` or `warn`. Whether any of them is wanted:
        let wanted = tracing::enabled!(target: TARGET, Level::WARN)
            || tracing::enabled!(target: TARGET, Level::DEBUG);
        Self(wanted.then(Instant::now))
    }
}

fn latency_us(start: Stopwatch) -> Option<u64> {
    start
        .0
        .map(|start| u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX))
}
