//! The audit trail: one [`AuditRecord`] per decision, grants included.
//!
//! Records go to the tracing target [`TARGET`] (`authgate::audit`) at
//! `info`, so they can be enabled on their own, without the debug events
//! of target `authgate` (for example `RUST_LOG=authgate::audit=info`), and
//! to an [`AuditSink`] when the layer has one
//! ([`AuthLayerBuilder::audit_sink`](crate::AuthLayerBuilder::audit_sink)),
//! for deployments that must ship them somewhere reliable.
//!
//! | field | meaning |
//! |---|---|
//! | `time` | when the decision was made (Unix milliseconds in events) |
//! | `scheme` | the scheme that owned the credential, absent when none did |
//! | `outcome` | `granted`, `anonymous` or `denied` |
//! | `reason` | for denials: [`ErrorKind::reason`](crate::ErrorKind::reason) |
//! | `status` | for denials: the HTTP status answered |
//! | `subject` | the principal's subject, when known |
//! | `credential_id` | the key id, or the token's `jti`, when known |
//! | `fingerprint` | first 8 bytes of the SHA-256 of the credential, hex |
//! | `method` | the request method |
//! | `route` | axum's matched route (`/orders/{id}`) when the layer runs inside the router, else the path the client sent, without the query |
//! | `client` | the peer address: axum's `ConnectInfo<SocketAddr>` (feature `axum`) or a [`ClientAddr`] extension |
//! | `request_id` | the `x-request-id` header, when it is printable and at most 128 bytes |
//!
//! No record holds a secret, a whole credential or a query string (API keys
//! may travel in one): credentials appear only as their fingerprint.
//!
//! ```
//! use authgate::audit::{AuditRecord, AuditSink};
//! use std::sync::{Arc, Mutex};
//!
//! // A sink writing JSON lines; a real one would append to a file or queue.
//! #[derive(Default, Clone)]
//! struct JsonLines(Arc<Mutex<Vec<String>>>);
//!
//! impl AuditSink for JsonLines {
//!     fn record(&self, record: &AuditRecord) {
//!         if let Ok(mut lines) = self.0.lock() {
//!             lines.push(record.to_json().to_string());
//!         }
//!     }
//! }
//! # let _ = JsonLines::default();
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use http::request::Parts;

/// The tracing target of audit records.
///
/// ```
/// assert_eq!(authgate::audit::TARGET, "authgate::audit");
/// ```
pub const TARGET: &str = "authgate::audit";

/// The longest `x-request-id` copied into a record.
const MAX_REQUEST_ID: usize = 128;

/// The client's address, for servers other than axum's (hyper, tonic):
/// insert it in the request's extensions before the layer runs, and audit
/// records carry it.
///
/// ```
/// use authgate::audit::ClientAddr;
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(ClientAddr("192.0.2.7:5000".parse().unwrap()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// One decision, as the audit trail keeps it. See the [module](self) docs
/// for each field.
///
/// ```
/// use authgate::audit::AuditRecord;
///
/// fn ship(record: &AuditRecord) {
///     if record.outcome == "denied" {
///         println!("{}", record.to_json());
///     }
/// }
/// # let _ = ship;
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AuditRecord {
    /// When the decision was made.
    pub time: SystemTime,
    /// The scheme that owned the credential, if any did.
    pub scheme: Option<&'static str>,
    /// `granted`, `anonymous` or `denied`.
    pub outcome: &'static str,
    /// For denials: [`ErrorKind::reason`](crate::ErrorKind::reason).
    pub reason: Option<&'static str>,
    /// For denials: the HTTP status answered.
    pub status: Option<u16>,
    /// The principal's subject, when known.
    pub subject: Option<String>,
    /// The key id or the token's `jti`, when known.
    pub credential_id: Option<String>,
    /// First 8 bytes of the SHA-256 of the credential, hex.
    pub fingerprint: Option<String>,
    /// The request method.
    pub method: http::Method,
    /// The matched route, or the path the client sent (no query).
    pub route: String,
    /// The peer address, when the server provided it.
    pub client: Option<SocketAddr>,
    /// The `x-request-id` header, when present and printable.
    pub request_id: Option<String>,
}

impl AuditRecord {
    /// The record as one JSON object (`time` in Unix milliseconds), ready
    /// to be written as a JSON line.
    ///
    /// ```
    /// # fn show(record: &authgate::audit::AuditRecord) {
    /// let line = record.to_json().to_string();
    /// assert!(line.starts_with('{'));
    /// # }
    /// ```
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "time": unix_millis(self.time),
            "scheme": self.scheme,
            "outcome": self.outcome,
            "reason": self.reason,
            "status": self.status,
            "subject": self.subject,
            "credential_id": self.credential_id,
            "fingerprint": self.fingerprint,
            "method": self.method.as_str(),
            "route": self.route,
            "client": self.client.map(|c| c.to_string()),
            "request_id": self.request_id,
        })
    }
}

/// Receives every audit record of a layer, in the request's task: keep it
/// fast (hand the record to a channel or buffered writer). Closures
/// `Fn(&AuditRecord)` implement it.
///
/// ```
/// use authgate::api_key::{ApiKeyScheme, InMemoryKeyStore};
/// use authgate::audit::AuditRecord;
/// use authgate::AuthLayer;
///
/// let layer = AuthLayer::builder()
///     .scheme(ApiKeyScheme::new(InMemoryKeyStore::new(), "sk_live").unwrap())
///     .audit_sink(|record: &AuditRecord| println!("{}", record.to_json()))
///     .build()
///     .unwrap();
/// # let _ = layer;
/// ```
pub trait AuditSink: Send + Sync + 'static {
    /// Takes one record.
    fn record(&self, record: &AuditRecord);
}

impl<F> AuditSink for F
where
    F: Fn(&AuditRecord) + Send + Sync + 'static,
{
    fn record(&self, record: &AuditRecord) {
        self(record);
    }
}

/// A decision, as `trace` reports it: what the record is built from.
pub(crate) struct Decision<'a> {
    pub(crate) scheme: Option<&'static str>,
    pub(crate) outcome: &'static str,
    pub(crate) reason: Option<&'static str>,
    pub(crate) status: Option<u16>,
    pub(crate) subject: Option<&'a str>,
    pub(crate) credential_id: Option<&'a str>,
    pub(crate) fingerprint: Option<&'a dyn Fn() -> String>,
}

/// Whether records are wanted at all: a sink, or a subscriber for the
/// target. Checked before anything is built.
pub(crate) fn wanted(sink: Option<&dyn AuditSink>) -> bool {
    sink.is_some() || tracing::enabled!(target: TARGET, tracing::Level::INFO)
}

/// Builds the record and sends it to the subscriber and the sink.
pub(crate) fn emit(sink: Option<&dyn AuditSink>, parts: &Parts, decision: &Decision<'_>) {
    if !wanted(sink) {
        return;
    }
    let record = AuditRecord {
        time: SystemTime::now(),
        scheme: decision.scheme,
        outcome: decision.outcome,
        reason: decision.reason,
        status: decision.status,
        subject: decision.subject.map(str::to_owned),
        credential_id: decision.credential_id.map(str::to_owned),
        fingerprint: decision.fingerprint.map(|f| f()),
        method: parts.method.clone(),
        route: route(parts).to_owned(),
        client: client(parts),
        request_id: request_id(parts),
    };
    tracing::event!(
        target: TARGET,
        tracing::Level::INFO,
        time = unix_millis(record.time),
        scheme = record.scheme,
        outcome = record.outcome,
        reason = record.reason,
        status = record.status,
        subject = record.subject.as_deref(),
        credential_id = record.credential_id.as_deref(),
        fingerprint = record.fingerprint.as_deref(),
        method = record.method.as_str(),
        route = record.route.as_str(),
        client = record.client.map(tracing::field::display),
        request_id = record.request_id.as_deref(),
        "audit"
    );
    if let Some(sink) = sink {
        sink.record(&record);
    }
}

fn unix_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn route(parts: &Parts) -> &str {
    #[cfg(feature = "axum")]
    if let Some(matched) = parts.extensions.get::<axum::extract::MatchedPath>() {
        return matched.as_str();
    }
    // The path the client sent: inside a nested axum router the URI has
    // lost its prefix, and axum keeps the original.
    #[cfg(feature = "axum")]
    if let Some(original) = parts.extensions.get::<axum::extract::OriginalUri>() {
        return original.0.path();
    }
    parts.uri.path()
}

pub(crate) fn client(parts: &Parts) -> Option<SocketAddr> {
    if let Some(ClientAddr(addr)) = parts.extensions.get::<ClientAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(info.0);
    }
    None
}

/// The request id, when it is short and printable ASCII: a header the
/// client controls never forges a log line.
fn request_id(parts: &Parts) -> Option<String> {
    let value = parts.headers.get("x-request-id")?.as_bytes();
    let printable = value.iter().all(|b| b.is_ascii_graphic());
    (printable && !value.is_empty() && value.len() <= MAX_REQUEST_ID)
        .then(|| String::from_utf8_lossy(value).into_owned())
}

impl fmt::Debug for dyn AuditSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditSink")
    }
}
