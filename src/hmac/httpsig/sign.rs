//! [`HttpSigner`]: the client side of RFC 9421 with `hmac-sha256`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderName, HeaderValue, Request};
use ring::rand::{SecureRandom, SystemRandom};

use super::super::encoding::sha256;
use super::super::secrets::HmacKey;
use super::super::structured::{
    parse_dictionary, serialize_inner_list, BareItem, Item, Params, MAX_FIELD_LEN,
};
use crate::error::ConfigError;

use super::base::{BaseError, Target, CONTENT_DIGEST, SIGNATURE, SIGNATURE_INPUT};

/// Why an RFC 9421 signature could not be made.
///
/// ```
/// use authgate::hmac::{HmacKey, HttpSignError, HttpSigner};
///
/// let signer = HttpSigner::new("sig1", "k1", HmacKey::new("s"))?.cover("x-missing")?;
/// let mut request = http::Request::get("/").body(Vec::new())?;
/// assert!(matches!(signer.sign_at(&mut request, 1, None), Err(HttpSignError::MissingComponent)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpSignError {
    /// A covered header (or the authority) is not on the request.
    #[error("a covered component is missing from the request")]
    MissingComponent,
    /// A covered component or value cannot be signed.
    #[error("cannot sign: {0}")]
    Unsupported(&'static str),
    /// The system random generator failed to make a nonce.
    #[error("the system random generator failed")]
    Random,
}

/// Signs requests with RFC 9421 `hmac-sha256`: sets `Signature-Input` and
/// `Signature` (and `Content-Digest: sha-256=…` when `content-digest` is
/// covered and the request has none).
///
/// # Example
///
/// Reproduces RFC 9421 Appendix B.2.5:
///
/// ```
/// use authgate::hmac::{HmacKey, HttpSigner};
///
/// let key = HmacKey::from_base64("uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==")?;
/// let signer = HttpSigner::new("sig-b25", "test-shared-secret", key)?
///     .cover("date")?
///     .cover("@authority")?
///     .cover("content-type")?;
/// let mut request = http::Request::post("/foo?param=Value&Pet=dog")
///     .header("host", "example.com")
///     .header("date", "Tue, 20 Apr 2021 02:07:55 GMT")
///     .header("content-type", "application/json")
///     .body(br#"{"hello": "world"}"#.to_vec())?;
/// signer.sign_at(&mut request, 1_618_884_473, None)?;
/// assert_eq!(request.headers()["signature"], "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HttpSigner {
    label: String,
    key_id: String,
    key: HmacKey,
    components: Vec<String>,
    expires_after: Option<Duration>,
    with_alg: bool,
    assumed_scheme: String,
    rng: SystemRandom,
}

impl HttpSigner {
    /// A signer writing signature `label` for `key_id`; it covers nothing
    /// until [`cover`](Self::cover) adds components.
    ///
    /// # Errors
    ///
    /// When `label` is not a structured-field key or `key_id` holds `"`
    /// or `\` or non-printable bytes.
    pub fn new(
        label: impl Into<String>,
        key_id: impl Into<String>,
        key: HmacKey,
    ) -> Result<Self, ConfigError> {
        let label = label.into();
        let key_id = key_id.into();
        if parse_dictionary(&format!("{label}=1")).is_none_or(|d| d.len() != 1) {
            return Err(ConfigError::InvalidName {
                name: label,
                why: "a signature label is a lowercase structured-field key",
            });
        }
        if key_id.is_empty() || !key_id.bytes().all(|b| (b' '..=b'~').contains(&b)) {
            return Err(ConfigError::InvalidName {
                name: key_id,
                why: "a key id is printable ASCII",
            });
        }
        Ok(Self {
            label,
            key_id,
            key,
            components: Vec::new(),
            expires_after: None,
            with_alg: false,
            assumed_scheme: "https".to_owned(),
            rng: SystemRandom::new(),
        })
    }

    /// Covers one more component: a derived one (`@method`, `@authority`,
    /// `@path`, …) or a lowercase header name.
    ///
    /// ```
    /// # use authgate::hmac::{HmacKey, HttpSigner};
    /// let signer = HttpSigner::new("sig1", "k1", HmacKey::new("s")).unwrap()
    ///     .cover("@method").unwrap()
    ///     .cover("content-digest").unwrap();
    /// # let _ = signer;
    /// ```
    ///
    /// # Errors
    ///
    /// When `name` is empty, not lowercase, or already covered.
    pub fn cover(mut self, name: &str) -> Result<Self, ConfigError> {
        if name.is_empty()
            || name.bytes().any(|b| {
                b.is_ascii_uppercase() || !(b'!'..=b'~').contains(&b) || b == b'"' || b == b'\\'
            })
            || self.components.iter().any(|c| c == name)
        {
            return Err(ConfigError::InvalidName {
                name: name.to_owned(),
                why: "components are distinct, lowercase, printable names",
            });
        }
        self.components.push(name.to_owned());
        Ok(self)
    }

    /// Adds `expires = created + after`. Defaults to no `expires`.
    ///
    /// ```
    /// # use authgate::hmac::{HmacKey, HttpSigner};
    /// let signer = HttpSigner::new("sig1", "k1", HmacKey::new("s")).unwrap()
    ///     .expires_after(std::time::Duration::from_secs(60));
    /// # let _ = signer;
    /// ```
    #[must_use]
    pub fn expires_after(mut self, after: Duration) -> Self {
        self.expires_after = Some(after);
        self
    }

    /// Adds `alg="hmac-sha256"`. Defaults to off, as in RFC 9421 B.2.5.
    ///
    /// ```
    /// # use authgate::hmac::{HmacKey, HttpSigner};
    /// let signer = HttpSigner::new("sig1", "k1", HmacKey::new("s")).unwrap().with_alg();
    /// # let _ = signer;
    /// ```
    #[must_use]
    pub fn with_alg(mut self) -> Self {
        self.with_alg = true;
        self
    }

    /// Signs `request` now with a random nonce.
    ///
    /// ```
    /// # use authgate::hmac::{HmacKey, HttpSigner};
    /// let signer = HttpSigner::new("sig1", "k1", HmacKey::new("s"))?.cover("@method")?;
    /// let mut request = http::Request::get("/").body(Vec::new())?;
    /// signer.sign(&mut request)?;
    /// assert!(request.headers().contains_key("signature-input"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When a covered component is missing or the random generator fails.
    pub fn sign<B: AsRef<[u8]>>(&self, request: &mut Request<B>) -> Result<(), HttpSignError> {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut raw = [0u8; 16];
        self.rng.fill(&mut raw).map_err(|_| HttpSignError::Random)?;
        let nonce = super::super::encoding::hex(&raw);
        self.sign_at(request, created, Some(&nonce))
    }

    /// Signs `request` with a given `created` time and optional nonce.
    ///
    /// # Errors
    ///
    /// When a covered component is missing or the nonce cannot be sent.
    pub fn sign_at<B: AsRef<[u8]>>(
        &self,
        request: &mut Request<B>,
        created: u64,
        nonce: Option<&str>,
    ) -> Result<(), HttpSignError> {
        if self.components.iter().any(|c| c == CONTENT_DIGEST)
            && !request.headers().contains_key(CONTENT_DIGEST)
        {
            let digest = format!(
                ":{}:",
                super::super::encoding::b64(&sha256(request.body().as_ref()))
            );
            let value = HeaderValue::try_from(format!("sha-256={digest}"))
                .map_err(|_| HttpSignError::Unsupported("content digest"))?;
            request
                .headers_mut()
                .insert(HeaderName::from_static(CONTENT_DIGEST), value);
        }
        let created = i64::try_from(created).map_err(|_| HttpSignError::Unsupported("created"))?;
        let mut params: Params = vec![("created".to_owned(), BareItem::Integer(created))];
        if let Some(after) = self.expires_after {
            let after = i64::try_from(after.as_secs()).unwrap_or(i64::MAX);
            params.push((
                "expires".to_owned(),
                BareItem::Integer(created.saturating_add(after)),
            ));
        }
        params.push(("keyid".to_owned(), BareItem::String(self.key_id.clone())));
        if let Some(nonce) = nonce {
            if nonce.is_empty() || !nonce.bytes().all(|b| (b' '..=b'~').contains(&b)) {
                return Err(HttpSignError::Unsupported(
                    "the nonce must be printable ASCII",
                ));
            }
            params.push(("nonce".to_owned(), BareItem::String(nonce.to_owned())));
        }
        if self.with_alg {
            params.push(("alg".to_owned(), BareItem::String("hmac-sha256".to_owned())));
        }
        let components: Vec<Item> = self
            .components
            .iter()
            .map(|c| Item {
                value: BareItem::String(c.clone()),
                params: Vec::new(),
            })
            .collect();
        let target = Target::outgoing(request, &self.assumed_scheme);
        let base = target
            .signature_base(&components, &params)
            .map_err(|e| match e {
                BaseError::MissingHeader => HttpSignError::MissingComponent,
                BaseError::Unsupported(why) => HttpSignError::Unsupported(why),
            })?;
        let tag = ring::hmac::sign(self.key.ring_key(), base.as_bytes());
        let input = format!(
            "{}={}",
            self.label,
            serialize_inner_list(&components, &params)
        );
        let signature = format!(
            "{}=:{}:",
            self.label,
            super::super::encoding::b64(tag.as_ref())
        );
        if input.len() > MAX_FIELD_LEN {
            return Err(HttpSignError::Unsupported("Signature-Input too long"));
        }
        let input = HeaderValue::try_from(input)
            .map_err(|_| HttpSignError::Unsupported("Signature-Input is not a header value"))?;
        let signature = HeaderValue::try_from(signature)
            .map_err(|_| HttpSignError::Unsupported("Signature is not a header value"))?;
        request.headers_mut().insert(SIGNATURE_INPUT, input);
        request.headers_mut().insert(SIGNATURE, signature);
        Ok(())
    }

    /// The signature base [`sign_at`](Self::sign_at) would sign, for
    /// debugging a peer.
    ///
    /// ```
    /// # use authgate::hmac::{HmacKey, HttpSigner};
    /// let signer = HttpSigner::new("sig1", "k1", HmacKey::new("s"))?.cover("@method")?;
    /// let request = http::Request::get("/").body(())?;
    /// assert_eq!(
    ///     signer.signature_base(&request, 1)?,
    ///     "\"@method\": GET\n\"@signature-params\": (\"@method\");created=1;keyid=\"k1\""
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// When a covered component is missing.
    pub fn signature_base<B>(
        &self,
        request: &Request<B>,
        created: u64,
    ) -> Result<String, HttpSignError> {
        let created = i64::try_from(created).map_err(|_| HttpSignError::Unsupported("created"))?;
        let params: Params = vec![
            ("created".to_owned(), BareItem::Integer(created)),
            ("keyid".to_owned(), BareItem::String(self.key_id.clone())),
        ];
        let components: Vec<Item> = self
            .components
            .iter()
            .map(|c| Item {
                value: BareItem::String(c.clone()),
                params: Vec::new(),
            })
            .collect();
        Target::outgoing(request, &self.assumed_scheme)
            .signature_base(&components, &params)
            .map_err(|e| match e {
                BaseError::MissingHeader => HttpSignError::MissingComponent,
                BaseError::Unsupported(why) => HttpSignError::Unsupported(why),
            })
    }
}

impl fmt::Debug for HttpSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSigner")
            .field("label", &self.label)
            .field("key_id", &self.key_id)
            .field("key", &self.key)
            .field("components", &self.components)
            .finish_non_exhaustive()
    }
}
