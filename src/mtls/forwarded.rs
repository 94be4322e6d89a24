//! [`ForwardedClientCerts`]: client certificates forwarded by a
//! TLS-terminating proxy, believed only from proxies you trust.
//!
//! Behind Envoy, nginx or a cloud load balancer, the TLS connection ends
//! at the proxy, which forwards the client's certificate in a header:
//! RFC 9440 `Client-Cert` (and `Client-Cert-Chain`), or Envoy's
//! `x-forwarded-client-cert` (XFCC). This layer turns such a header into
//! [`PeerCertificates`] for the [`ClientCertScheme`](super::ClientCertScheme)
//! further in, when the request comes from a trusted proxy. From anyone
//! else the header is removed and never believed (a client talking to the
//! service directly could write anything in it), and a warning is logged.
//!
//! Deployment pitfalls:
//! - the proxy must **remove** any copy of the header a client sent and
//!   set its own (Envoy: `forward_client_cert_details: SANITIZE_SET`, with
//!   `set_current_client_cert_details: { cert: true }`; nginx:
//!   `proxy_set_header Client-Cert :$ssl_client_escaped_cert:` is not
//!   RFC 9440's encoding, so prefer a proxy that implements RFC 9440);
//! - the service must be reachable **only** through the proxy, or at least
//!   name the proxy's addresses exactly: trust by network range is trust in
//!   everything in that range;
//! - the proxy verified the chain; this layer does not verify it again.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::request::Parts;
use http::{HeaderName, Request};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tower_layer::Layer;
use tower_service::Service;

use super::peer::PeerCertificates;
use crate::trace::TARGET;

/// RFC 9440's leaf header.
pub const CLIENT_CERT: HeaderName = HeaderName::from_static("client-cert");
/// RFC 9440's chain header.
pub const CLIENT_CERT_CHAIN: HeaderName = HeaderName::from_static("client-cert-chain");
/// Envoy's header.
pub const XFCC: HeaderName = HeaderName::from_static("x-forwarded-client-cert");

/// The longest forwarded-certificate header read, in bytes: a chain of a
/// few certificates fits, a flood does not.
const MAX_HEADER: usize = 64 * 1024;
/// The most certificates read from one header.
const MAX_CHAIN: usize = 8;

/// Which header the proxy sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Rfc9440,
    Xfcc,
}

type TrustRule = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;

/// A tower layer that believes forwarded client certificates only from
/// trusted proxies. Put it outside the [`AuthLayer`](crate::AuthLayer).
///
/// ```
/// use authgate::mtls::ForwardedClientCerts;
///
/// // axum: serve with `into_make_service_with_connect_info::<SocketAddr>()`
/// // so that the peer address is known.
/// let envoy = ForwardedClientCerts::xfcc().trusted_peers(["10.0.0.7".parse().unwrap()]);
/// let rfc = ForwardedClientCerts::rfc9440().trusted_when(|parts| {
///     // e.g. a header only your proxy's mTLS hop can set
///     parts.extensions.get::<authgate::mtls::PeerCertificates>().is_some()
/// });
/// # let _ = (envoy, rfc);
/// ```
#[derive(Clone)]
pub struct ForwardedClientCerts {
    format: Format,
    peers: Arc<[IpAddr]>,
    rule: Option<TrustRule>,
}

impl ForwardedClientCerts {
    /// RFC 9440: `Client-Cert: :<base64 DER>:` and optionally
    /// `Client-Cert-Chain: :<base64 DER>:, …`. Trusts nobody until told.
    ///
    /// ```
    /// let layer = authgate::mtls::ForwardedClientCerts::rfc9440();
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn rfc9440() -> Self {
        Self {
            format: Format::Rfc9440,
            peers: Arc::from(Vec::new()),
            rule: None,
        }
    }

    /// Envoy's `x-forwarded-client-cert`, with the certificate in its
    /// `Cert=` field (URL-encoded PEM) and optionally `Chain=`. Exactly one
    /// element is accepted: a header listing several hops is refused.
    /// Trusts nobody until told.
    ///
    /// ```
    /// let layer = authgate::mtls::ForwardedClientCerts::xfcc();
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn xfcc() -> Self {
        Self {
            format: Format::Xfcc,
            ..Self::rfc9440()
        }
    }

    /// Trusts requests whose TCP peer (axum's `ConnectInfo<SocketAddr>`,
    /// with the `axum` feature) is one of these addresses.
    ///
    /// ```
    /// let layer = authgate::mtls::ForwardedClientCerts::rfc9440()
    ///     .trusted_peers(["127.0.0.1".parse().unwrap()]);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn trusted_peers(mut self, peers: impl IntoIterator<Item = IpAddr>) -> Self {
        self.peers = peers.into_iter().collect();
        self
    }

    /// Trusts requests for which `rule` says so (in addition to
    /// [`trusted_peers`](Self::trusted_peers)).
    ///
    /// ```
    /// let layer = authgate::mtls::ForwardedClientCerts::rfc9440().trusted_when(|_| false);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn trusted_when(mut self, rule: impl Fn(&Parts) -> bool + Send + Sync + 'static) -> Self {
        self.rule = Some(Arc::new(rule));
        self
    }

    fn headers(&self) -> &'static [HeaderName] {
        static RFC9440_HEADERS: [HeaderName; 2] = [CLIENT_CERT, CLIENT_CERT_CHAIN];
        static XFCC_HEADERS: [HeaderName; 1] = [XFCC];
        match self.format {
            Format::Rfc9440 => &RFC9440_HEADERS,
            Format::Xfcc => &XFCC_HEADERS,
        }
    }

    fn trusted(&self, parts: &Parts) -> bool {
        self.rule.as_ref().is_some_and(|rule| rule(parts))
            || peer_address(parts).is_some_and(|ip| self.peers.contains(&ip))
    }

    /// Replaces the forwarded headers by what they prove, if anything.
    fn apply(&self, parts: &mut Parts) {
        let present = self
            .headers()
            .iter()
            .any(|name| parts.headers.contains_key(name));
        if !present {
            return;
        }
        let chain = if self.trusted(parts) {
            let chain = match self.format {
                Format::Rfc9440 => parse_rfc9440(parts),
                Format::Xfcc => parse_xfcc(parts),
            };
            if chain.is_none() {
                tracing::warn!(
                    target: TARGET,
                    reason = "malformed_forwarded_certificate",
                    "a trusted proxy forwarded a client certificate that cannot be read; ignored"
                );
            }
            chain
        } else {
            tracing::warn!(
                target: TARGET,
                reason = "untrusted_forwarded_certificate",
                "a forwarded client certificate came from a peer that is not a trusted proxy; removed"
            );
            None
        };
        for name in self.headers() {
            parts.headers.remove(name);
        }
        match chain {
            Some(chain) => {
                parts.extensions.insert(PeerCertificates::new(chain));
            }
            None => {
                parts.extensions.remove::<PeerCertificates>();
            }
        }
    }
}

impl fmt::Debug for ForwardedClientCerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForwardedClientCerts")
            .field("format", &self.format)
            .field("peers", &self.peers)
            .field("rule", &self.rule.is_some())
            .finish()
    }
}

fn peer_address(parts: &Parts) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(info.0.ip());
    }
    parts.extensions.get::<SocketAddr>().map(SocketAddr::ip)
}

/// One header value, if it is there exactly once and not too long.
fn single<'a>(parts: &'a Parts, name: &HeaderName) -> Option<Option<&'a str>> {
    let mut values = parts.headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Some(None),
        (Some(value), None) if value.len() <= MAX_HEADER => value.to_str().ok().map(Some),
        _ => None,
    }
}

/// An RFC 8941 byte sequence: `:base64:`.
fn byte_sequence(item: &str) -> Option<Vec<u8>> {
    let inner = item.trim().strip_prefix(':')?.strip_suffix(':')?;
    STANDARD.decode(inner).ok().filter(|der| !der.is_empty())
}

fn parse_rfc9440(parts: &Parts) -> Option<Vec<Vec<u8>>> {
    let leaf = byte_sequence(single(parts, &CLIENT_CERT)??)?;
    let mut chain = vec![leaf];
    if let Some(rest) = single(parts, &CLIENT_CERT_CHAIN)? {
        for item in rest.split(',') {
            if chain.len() >= MAX_CHAIN {
                return None;
            }
            chain.push(byte_sequence(item)?);
        }
    }
    Some(chain)
}

fn parse_xfcc(parts: &Parts) -> Option<Vec<Vec<u8>>> {
    let value = single(parts, &XFCC)??;
    let elements = split_outside_quotes(value, ',');
    let [element] = elements.as_slice() else {
        return None;
    };
    let mut cert = None;
    let mut chain = None;
    for pair in split_outside_quotes(element, ';') {
        let (key, raw) = pair.split_once('=')?;
        let value = unquote(raw.trim())?;
        match key.trim().to_ascii_lowercase().as_str() {
            "cert" if cert.is_none() => cert = Some(percent_decode(&value)?),
            "chain" if chain.is_none() => chain = Some(percent_decode(&value)?),
            "cert" | "chain" => return None,
            _ => {}
        }
    }
    let leaf = pem_certificates(&cert?)?;
    let [leaf] = leaf.as_slice() else {
        return None;
    };
    let mut out = vec![leaf.clone()];
    if let Some(chain) = chain {
        let rest = pem_certificates(&chain)?;
        // Envoy's Chain= starts with the leaf itself.
        let rest = rest
            .strip_prefix(std::slice::from_ref(leaf))
            .unwrap_or(&rest);
        out.extend(rest.iter().cloned());
    }
    (out.len() <= MAX_CHAIN).then_some(out)
}

fn pem_certificates(pem: &[u8]) -> Option<Vec<Vec<u8>>> {
    let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(pem)
        .take(MAX_CHAIN + 1)
        .map(|c| c.ok().map(|c| c.as_ref().to_vec()))
        .collect::<Option<_>>()?;
    (!certs.is_empty()).then_some(certs)
}

/// Splits on `separator` outside double-quoted strings.
fn split_outside_quotes(value: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(value.get(start..i).unwrap_or_default());
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(value.get(start..).unwrap_or_default());
    parts
}

/// A bare value, or a double-quoted one with `\"` and `\\` escapes.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return Some(value.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        out.push(if c == '\\' { chars.next()? } else { c });
    }
    Some(out)
}

fn percent_decode(value: &str) -> Option<Vec<u8>> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

impl<S> Layer<S> for ForwardedClientCerts {
    type Service = Forwarded<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Forwarded {
            inner,
            config: self.clone(),
        }
    }
}

/// The service [`ForwardedClientCerts`] builds.
#[derive(Clone, Debug)]
pub struct Forwarded<S> {
    inner: S,
    config: ForwardedClientCerts,
}

impl<S, B> Service<Request<B>> for Forwarded<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        self.config.apply(&mut parts);
        self.inner.call(Request::from_parts(parts, body))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn xfcc_syntax() {
        assert_eq!(
            split_outside_quotes(r#"By=a;Subject="x,y;z";URI=u"#, ';'),
            ["By=a", r#"Subject="x,y;z""#, "URI=u"]
        );
        assert_eq!(
            split_outside_quotes(r#"a="1,2",b"#, ','),
            [r#"a="1,2""#, "b"]
        );
        assert_eq!(unquote(r#""a\"b""#).as_deref(), Some(r#"a"b"#));
        assert_eq!(unquote(r#""open"#), None);
        assert_eq!(percent_decode("a%20b%0A").unwrap(), b"a b\n");
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(byte_sequence(" :AQID: ").unwrap(), [1, 2, 3]);
        assert_eq!(byte_sequence("AQID"), None);
    }
}
