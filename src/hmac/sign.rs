//! [`Signer`]: the client side of the native `HMAC-SHA256` scheme.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue, Request};
use ring::rand::{SecureRandom, SystemRandom};

use super::canonical::{canonical_string, Signed, SCHEME};
use super::encoding::b64;
use super::params::{self, FormatError, HeaderList};
use super::secrets::HmacKey;
use crate::error::ConfigError;

/// Why a request could not be signed.
///
/// ```
/// use authgate::hmac::{HmacKey, SignError, Signer};
///
/// let signer = Signer::new("k1", HmacKey::new("s"))?.sign_header("x-request-id")?;
/// let mut request = http::Request::get("/").body(Vec::new())?;
/// assert!(matches!(signer.sign(&mut request), Err(SignError::MissingHeader(_))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// A header the signer covers is not on the request.
    #[error("the request has no {0} header to sign")]
    MissingHeader(HeaderName),
    /// A header the signer covers is not visible ASCII.
    #[error("a signed header is not visible ASCII")]
    HeaderValue,
    /// The nonce is not 1 to 128 of `A-Z a-z 0-9 - . _ ~`.
    #[error("the nonce must be 1 to 128 characters of A-Z a-z 0-9 - . _ ~")]
    InvalidNonce,
    /// The system random generator failed to make a nonce.
    #[error("the system random generator failed")]
    Random,
}

/// Signs requests for the native `HMAC-SHA256` scheme: computes the
/// canonical string (see the [module docs](super#the-native-hmac-sha256-scheme))
/// and sets the `Authorization` header.
///
/// # Example
///
/// ```
/// use authgate::hmac::{HmacKey, Signer};
///
/// let signer = Signer::new("partner-1", HmacKey::new("s3cr3t"))?
///     .sign_header("host")?
///     .sign_header("content-type")?;
/// let mut request = http::Request::post("/orders")
///     .header("host", "api.example.com")
///     .header("content-type", "application/json")
///     .body(br#"{"sku":"A-1"}"#.to_vec())?;
/// signer.sign_at(&mut request, 1_700_000_000, "4f2a9c")?;
///
/// let auth = request.headers()["authorization"].to_str()?;
/// assert!(auth.starts_with(r#"HMAC-SHA256 keyId="partner-1", ts="1700000000", nonce="4f2a9c", headers="host;content-type", signature=""#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Signer {
    key_id: String,
    key: HmacKey,
    /// The `headers` parameter: checked names joined with `;`.
    headers: String,
    rng: SystemRandom,
}

impl Signer {
    /// A signer for `key_id` with its secret; it covers no header until
    /// [`sign_header`](Self::sign_header) adds some.
    ///
    /// # Errors
    ///
    /// When `key_id` is not 1 to 128 of `A-Z a-z 0-9 - . _ ~`.
    pub fn new(key_id: impl Into<String>, key: HmacKey) -> Result<Self, ConfigError> {
        let key_id = key_id.into();
        if !params::is_id(&key_id) {
            return Err(ConfigError::InvalidName {
                name: key_id,
                why: "a key id is 1 to 128 characters of A-Z a-z 0-9 - . _ ~",
            });
        }
        Ok(Self {
            key_id,
            key,
            headers: String::new(),
            rng: SystemRandom::new(),
        })
    }

    /// Also covers header `name` (lowercase), in the order added.
    ///
    /// ```
    /// # use authgate::hmac::{HmacKey, Signer};
    /// let signer = Signer::new("k1", HmacKey::new("s")).unwrap().sign_header("host").unwrap();
    /// # let _ = signer;
    /// ```
    ///
    /// # Errors
    ///
    /// When `name` is not a lowercase header name, is `authorization`, or is
    /// already covered.
    pub fn sign_header(mut self, name: &str) -> Result<Self, ConfigError> {
        let list = if self.headers.is_empty() {
            name.to_owned()
        } else {
            format!("{};{name}", self.headers)
        };
        // An empty name would vanish into an empty list: refuse it here.
        let checked = if name.is_empty() {
            Err(FormatError::Params(
                "a signed header name is not a valid header name",
            ))
        } else {
            HeaderList::parse(&list).map(|_| ())
        };
        checked.map_err(|e| ConfigError::InvalidName {
            name: name.to_owned(),
            why: e.description(),
        })?;
        self.headers = list;
        Ok(self)
    }

    /// Signs `request` now, with a random 128-bit nonce.
    ///
    /// ```
    /// # use authgate::hmac::{HmacKey, Signer};
    /// let signer = Signer::new("k1", HmacKey::new("s"))?;
    /// let mut request = http::Request::get("/orders").body(bytes::Bytes::new())?;
    /// signer.sign(&mut request)?;
    /// assert!(request.headers().contains_key("authorization"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When a covered header is missing, or the random generator fails.
    pub fn sign<B: AsRef<[u8]>>(&self, request: &mut Request<B>) -> Result<(), SignError> {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut raw = [0u8; 16];
        self.rng.fill(&mut raw).map_err(|_| SignError::Random)?;
        let nonce = super::encoding::hex(&raw);
        self.sign_at(request, ts, &nonce)
    }

    /// Signs `request` with a given timestamp and nonce: for tests, and for
    /// clients that bring their own nonces. Never reuse a nonce.
    ///
    /// # Errors
    ///
    /// When a covered header is missing or the nonce is invalid.
    pub fn sign_at<B: AsRef<[u8]>>(
        &self,
        request: &mut Request<B>,
        ts: u64,
        nonce: &str,
    ) -> Result<(), SignError> {
        let canonical = self.string_to_sign(request, ts, nonce)?;
        let tag = ring::hmac::sign(self.key.ring_key(), canonical.as_bytes());
        let value = format!(
            r#"{SCHEME} keyId="{}", ts="{ts}", nonce="{nonce}", headers="{}", signature="{}""#,
            self.key_id,
            self.headers,
            b64(tag.as_ref()),
        );
        // Every part is visible ASCII: checked key id, digits, checked
        // nonce, header names, base64.
        let value = HeaderValue::try_from(value).map_err(|_| SignError::HeaderValue)?;
        request.headers_mut().insert(AUTHORIZATION, value);
        Ok(())
    }

    /// The canonical string [`sign_at`](Self::sign_at) would sign: for
    /// comparing with a client in another language.
    ///
    /// ```
    /// # use authgate::hmac::{HmacKey, Signer};
    /// let signer = Signer::new("partner-1", HmacKey::new("s"))?.sign_header("host")?;
    /// let request = http::Request::post("/orders?b=2&a=1")
    ///     .header("host", "api.example.com")
    ///     .body("hello")?;
    /// assert_eq!(
    ///     signer.string_to_sign(&request, 1_700_000_000, "n1")?,
    ///     "HMAC-SHA256\npartner-1\nPOST\n/orders\nb=2&a=1\nhost:api.example.com\nhost\n\
    ///      1700000000\nn1\n2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When a covered header is missing or the nonce is invalid.
    pub fn string_to_sign<B: AsRef<[u8]>>(
        &self,
        request: &Request<B>,
        ts: u64,
        nonce: &str,
    ) -> Result<String, SignError> {
        if !params::is_id(nonce) {
            return Err(SignError::InvalidNonce);
        }
        // Checked in `sign_header`.
        let headers = HeaderList::parse(&self.headers).map_err(|_| SignError::HeaderValue)?;
        let signed = Signed {
            key_id: &self.key_id,
            headers,
            ts: &ts.to_string(),
            nonce,
        };
        canonical_string(
            request.method(),
            request.uri(),
            request.headers(),
            signed,
            request.body().as_ref(),
        )
        .map_err(|e| match e {
            FormatError::MissingHeader => SignError::MissingHeader(
                headers
                    .names()
                    .find(|h| !request.headers().contains_key(*h))
                    .and_then(|h| HeaderName::from_bytes(h.as_bytes()).ok())
                    .unwrap_or(AUTHORIZATION),
            ),
            FormatError::HeaderValue | FormatError::Params(_) => SignError::HeaderValue,
        })
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.key_id)
            .field("key", &self.key)
            .field("headers", &self.headers)
            .finish()
    }
}
