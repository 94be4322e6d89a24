//! The call to the introspection endpoint (RFC 7662 §2.1): where it is,
//! how the resource server authenticates to it, and how its answer is read
//! — bounded in time and size, never following redirects.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::ConfigError;
use crate::jwt::http::{https_connector, is_loopback};
use crate::jwt::JwksFetcher;
use crate::secret::SecretString;

/// The media type of an RFC 9701 signed introspection answer.
pub(crate) const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

/// How the resource server authenticates to the introspection endpoint
/// (RFC 6749 §2.3.1).
///
/// ```
/// use authgate::introspection::ClientAuth;
///
/// assert_eq!(ClientAuth::default(), ClientAuth::SecretBasic);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the client id and secret,
    /// each form-urlencoded first. The default.
    #[default]
    SecretBasic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form
    /// body.
    SecretPost,
}

/// Why a call to the endpoint gave no usable answer: always a 503 for the
/// request, never a 401.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum CallError {
    #[error("the introspection endpoint could not be reached: {0}")]
    Transport(String),
    #[error("the introspection endpoint did not answer in time")]
    Timeout,
    #[error("the introspection endpoint answered {0}")]
    Status(StatusCode),
    #[error("the introspection answer is larger than allowed")]
    TooLarge,
    #[error("the introspection answer is malformed: {0}")]
    Malformed(&'static str),
    #[error("the introspection endpoint is not known: {0}")]
    Discovery(String),
}

impl CallError {
    /// Whether this is a timeout (for the store metrics).
    pub(crate) fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout)
    }
}

/// Where the endpoint is.
pub(crate) enum Endpoint {
    Fixed(Uri),
    /// `introspection_endpoint` of `<issuer>/.well-known/openid-configuration`,
    /// read on first use and kept.
    Discovered {
        issuer: String,
        document: Uri,
        fetcher: Arc<dyn JwksFetcher>,
        found: tokio::sync::OnceCell<Uri>,
    },
}

/// The client side of the introspection call.
pub(crate) struct IntrospectionClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    pub(crate) endpoint: Endpoint,
    auth: ClientAuth,
    pub(crate) client_id: String,
    secret: SecretString,
    /// `Basic base64(urlencode(id):urlencode(secret))`, marked sensitive.
    basic: Option<HeaderValue>,
    timeout: Duration,
    max_bytes: usize,
    /// Ask for RFC 9701 signed answers.
    pub(crate) signed: bool,
}

/// What the endpoint answered, still unverified.
pub(crate) enum Reply {
    Json(Bytes),
    Jwt(Bytes),
}

/// Whether `uri` may be called: `https`, or `http` on loopback.
pub(crate) fn is_secure(uri: &Uri) -> bool {
    match (uri.scheme_str(), uri.host()) {
        (Some("https"), Some(_)) => true,
        (Some("http"), Some(host)) => is_loopback(host),
        _ => false,
    }
}

/// `application/x-www-form-urlencoded` (the WHATWG serializer, as RFC 6749
/// Appendix B asks): unreserved bytes as they are, space as `+`, every
/// other byte percent-encoded.
pub(crate) fn form_urlencode(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in value.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                let hex =
                    |nibble: u8| char::from(HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'));
                out.push('%');
                out.push(hex(b >> 4));
                out.push(hex(b & 0x0f));
            }
        }
    }
}

impl IntrospectionClient {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        endpoint: Endpoint,
        auth: ClientAuth,
        client_id: String,
        secret: SecretString,
        connect_timeout: Duration,
        timeout: Duration,
        max_bytes: usize,
        signed: bool,
    ) -> Result<Self, ConfigError> {
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https_connector(Some(connect_timeout))?);
        let basic = match auth {
            ClientAuth::SecretBasic => {
                use base64::Engine as _;
                let mut pair = Zeroizing::new(String::new());
                form_urlencode(&mut pair, &client_id);
                pair.push(':');
                form_urlencode(&mut pair, secret.expose());
                let encoded = Zeroizing::new(
                    base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()),
                );
                let mut value =
                    HeaderValue::try_from(format!("Basic {}", &*encoded)).map_err(|_| {
                        ConfigError::InvalidSetting {
                            setting: "client",
                            why: "the client credentials cannot be sent in a header",
                        }
                    })?;
                value.set_sensitive(true);
                Some(value)
            }
            ClientAuth::SecretPost => None,
        };
        Ok(Self {
            http,
            endpoint,
            auth,
            client_id,
            secret,
            basic,
            timeout,
            max_bytes,
            signed,
        })
    }

    /// The endpoint, discovered on first use when it was not configured.
    async fn uri(&self) -> Result<Uri, CallError> {
        match &self.endpoint {
            Endpoint::Fixed(uri) => Ok(uri.clone()),
            Endpoint::Discovered {
                issuer,
                document,
                fetcher,
                found,
            } => found
                .get_or_try_init(|| discover(fetcher.as_ref(), issuer, document))
                .await
                .cloned(),
        }
    }

    /// The endpoint as configured or found so far, for logs.
    pub(crate) fn endpoint_name(&self) -> String {
        match &self.endpoint {
            Endpoint::Fixed(uri) => uri.to_string(),
            Endpoint::Discovered {
                found, document, ..
            } => found
                .get()
                .map_or_else(|| document.to_string(), ToString::to_string),
        }
    }

    /// One introspection call: `token=…&token_type_hint=access_token`.
    pub(crate) async fn introspect(&self, token: &str) -> Result<Reply, CallError> {
        let work = async {
            let uri = self.uri().await?;
            let mut form = Zeroizing::new(String::with_capacity(token.len() + 64));
            form.push_str("token=");
            form_urlencode(&mut form, token);
            form.push_str("&token_type_hint=access_token");
            if self.auth == ClientAuth::SecretPost {
                form.push_str("&client_id=");
                form_urlencode(&mut form, &self.client_id);
                form.push_str("&client_secret=");
                form_urlencode(&mut form, self.secret.expose());
            }
            let accept = if self.signed {
                JWT_MEDIA_TYPE
            } else {
                "application/json"
            };
            let mut request = http::Request::post(uri)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(ACCEPT, accept);
            if let Some(basic) = &self.basic {
                request = request.header(AUTHORIZATION, basic.clone());
            }
            let request = request
                .body(Full::new(Bytes::copy_from_slice(form.as_bytes())))
                .map_err(|e| CallError::Transport(e.to_string()))?;
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| CallError::Transport(e.to_string()))?;
            if response.status() != StatusCode::OK {
                // Redirects are not followed: a 3xx is an error too.
                return Err(CallError::Status(response.status()));
            }
            let announced = response
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            if announced.is_some_and(|n| n > self.max_bytes) {
                return Err(CallError::TooLarge);
            }
            let is_jwt = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    v.split(';')
                        .next()
                        .is_some_and(|t| t.trim().eq_ignore_ascii_case(JWT_MEDIA_TYPE))
                });
            let body = Limited::new(response.into_body(), self.max_bytes)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        CallError::TooLarge
                    } else {
                        CallError::Transport(e.to_string())
                    }
                })?
                .to_bytes();
            match (self.signed, is_jwt) {
                (true, true) => Ok(Reply::Jwt(body)),
                // A signed answer was asked for: a plain one is refused,
                // not trusted (RFC 9701 §4).
                (true, false) => Err(CallError::Malformed("not a signed introspection answer")),
                (false, _) => Ok(Reply::Json(body)),
            }
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or(Err(CallError::Timeout))
    }
}

/// Reads `introspection_endpoint` from the issuer's discovery document.
async fn discover(
    fetcher: &dyn JwksFetcher,
    issuer: &str,
    document: &Uri,
) -> Result<Uri, CallError> {
    let failed = |why: String| CallError::Discovery(why);
    let response = fetcher
        .fetch(document)
        .await
        .map_err(|e| failed(e.to_string()))?;
    if response.status() != StatusCode::OK {
        return Err(failed(format!("discovery answered {}", response.status())));
    }
    let doc: Value = serde_json::from_slice(response.body())
        .map_err(|_| failed("the discovery document is not JSON".into()))?;
    if doc.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err(failed("the discovery document names another issuer".into()));
    }
    let uri = doc
        .get("introspection_endpoint")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Uri>().ok())
        .ok_or_else(|| failed("the discovery document has no introspection_endpoint".into()))?;
    if !is_secure(&uri) {
        return Err(failed(
            "the introspection endpoint must use https (http only on loopback)".into(),
        ));
    }
    Ok(uri)
}

impl fmt::Debug for IntrospectionClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionClient")
            .field("endpoint", &self.endpoint_name())
            .field("auth", &self.auth)
            .field("client_id", &self.client_id)
            .field("secret", &self.secret)
            .field("timeout", &self.timeout)
            .field("max_bytes", &self.max_bytes)
            .field("signed", &self.signed)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_follows_rfc_6749_appendix_b() {
        let mut out = String::new();
        form_urlencode(&mut out, "s6BhdRkqt3:p@ss wörd+/~");
        assert_eq!(out, "s6BhdRkqt3%3Ap%40ss+w%C3%B6rd%2B%2F%7E");
    }

    #[test]
    fn only_https_or_loopback_http() {
        assert!(is_secure(&"https://as.example/introspect".parse().unwrap()));
        assert!(is_secure(&"http://127.0.0.1:8080/i".parse().unwrap()));
        assert!(!is_secure(&"http://as.example/i".parse().unwrap()));
        assert!(!is_secure(&"/relative".parse().unwrap()));
    }
}
