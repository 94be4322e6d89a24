//! [`HttpFetcher`]: the default [`JwksFetcher`] (feature `jwks-http`).

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::jwks::{FetchError, FetchFuture, JwksFetcher, MAX_DOCUMENT_BYTES};
use crate::error::ConfigError;

/// Fetches JWKS and discovery documents over HTTPS (hyper, rustls with
/// ring, Mozilla's roots). Plain `http` is allowed only for loopback hosts
/// (`localhost`, `127.0.0.0/8`, `::1`), for local development. Redirects
/// are not followed. Each fetch is bounded in time and size.
///
/// # Example
///
/// ```
/// use authgate::jwt::HttpFetcher;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let fetcher = HttpFetcher::new().unwrap()
///     .timeout(Duration::from_secs(2))
///     .max_body_bytes(64 * 1024);
/// # let _ = fetcher;
/// # }
/// ```
#[derive(Clone)]
pub struct HttpFetcher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
    max_bytes: usize,
}

impl HttpFetcher {
    /// A fetcher with a 5 second timeout and a 512 KiB size cap.
    ///
    /// # Errors
    ///
    /// When rustls cannot be set up with ring's safe defaults.
    pub fn new() -> Result<Self, ConfigError> {
        let client = Client::builder(TokioExecutor::new()).build(https_connector(None)?);
        Ok(Self {
            client,
            timeout: Duration::from_secs(5),
            max_bytes: MAX_DOCUMENT_BYTES,
        })
    }

    /// How long one fetch may take, connection included. Defaults to 5
    /// seconds.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest body accepted. Defaults to (and is capped at) 512 KiB.
    #[must_use]
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max.min(MAX_DOCUMENT_BYTES);
        self
    }
}

/// The HTTPS connector every outgoing call of the crate uses (JWKS,
/// discovery, token introspection): rustls with ring and Mozilla's roots,
/// HTTP/1, plain `http` left to the caller's loopback check.
pub(crate) fn https_connector(
    connect_timeout: Option<Duration>,
) -> Result<HttpsConnector<HttpConnector>, ConfigError> {
    let provider = rustls::crypto::ring::default_provider();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(connect_timeout);
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)
        .map_err(|_| ConfigError::InvalidSetting {
            setting: "tls",
            why: "rustls rejected ring's default protocol versions",
        })?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}

/// Whether `host` is `localhost` or a loopback address, where plain
/// `http` is allowed.
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl JwksFetcher for HttpFetcher {
    fn fetch(&self, uri: &http::Uri) -> FetchFuture {
        let uri = uri.clone();
        let this = self.clone();
        Box::pin(async move {
            let secure = match (uri.scheme_str(), uri.host()) {
                (Some("https"), Some(_)) => true,
                (Some("http"), Some(host)) => is_loopback(host),
                _ => false,
            };
            if !secure {
                return Err(FetchError::new(
                    "JWKS URLs must use https (http only on loopback)",
                ));
            }
            let request = http::Request::get(uri)
                .header(http::header::ACCEPT, "application/json")
                .body(Empty::new())
                .map_err(FetchError::new)?;
            let work = async {
                let response = this
                    .client
                    .request(request)
                    .await
                    .map_err(FetchError::new)?;
                let (parts, body) = response.into_parts();
                let body = Limited::new(body, this.max_bytes)
                    .collect()
                    .await
                    .map_err(|_| FetchError::new("the key server's answer is too large or broken"))?
                    .to_bytes();
                Ok(http::Response::from_parts(parts, body))
            };
            tokio::time::timeout(this.timeout, work)
                .await
                .unwrap_or_else(|_| Err(FetchError::new("the key server did not answer in time")))
        })
    }
}

impl fmt::Debug for HttpFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFetcher")
            .field("timeout", &self.timeout)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("localhost"));
        assert!(is_loopback("127.0.0.1"));
        assert!(is_loopback("[::1]"));
        assert!(!is_loopback("example.com"));
        assert!(!is_loopback("10.0.0.1"));
    }

    #[tokio::test]
    async fn refuses_plain_http_to_remote_hosts() {
        let fetcher = HttpFetcher::new().unwrap();
        let err = fetcher
            .fetch(&"http://example.com/jwks".parse().unwrap())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("https"));
    }
}
