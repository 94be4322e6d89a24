use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, OnceLock};

use http::{HeaderName, HeaderValue};

use crate::error::AuthError;
use crate::secret::SecretString;

/// How the part after the scheme name in `Authorization` is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthorizationSyntax {
    /// A single token68 (RFC 7235 §2.1): Bearer, Basic, ApiKey.
    Token68,
    /// A comma-separated list of `name=value` auth-params, parsed by the
    /// scheme itself (signature schemes).
    AuthParams,
}

/// A place where a scheme's credentials are found.
///
/// # Example
///
/// ```
/// use authgate::CredentialLocation;
///
/// let bearer = CredentialLocation::authorization("Bearer");
/// let header = CredentialLocation::header("x-api-key").unwrap();
/// assert_eq!(bearer.to_string(), "Authorization: Bearer");
/// assert_eq!(header.to_string(), "x-api-key header");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialLocation {
    /// `Authorization: <scheme> <credentials>`; the scheme name is matched
    /// case-insensitively.
    Authorization {
        /// The auth-scheme name, e.g. `Bearer`.
        scheme: Cow<'static, str>,
        /// How the credentials after the name are shaped.
        syntax: AuthorizationSyntax,
    },
    /// The whole value of a header, e.g. `X-Api-Key`.
    Header(HeaderName),
    /// A query parameter. Credentials in URLs end up in access logs and
    /// browser history: only for clients that cannot send headers.
    Query(Cow<'static, str>),
    /// The TLS client certificate of the request's connection, as
    /// `mtls::PeerCertificates` in the request
    /// extensions (`mtls` feature). It is the credential only when the
    /// request presents no other: a certificate and a bearer token are not
    /// two credentials, the token authenticates.
    PeerCertificate,
}

impl CredentialLocation {
    /// `Authorization: <scheme> <token68>`.
    #[must_use]
    pub fn authorization(scheme: impl Into<Cow<'static, str>>) -> Self {
        Self::Authorization {
            scheme: scheme.into(),
            syntax: AuthorizationSyntax::Token68,
        }
    }

    /// A header carrying the credential as its whole value.
    ///
    /// # Errors
    ///
    /// When `name` is not a valid header name.
    pub fn header(name: &str) -> Result<Self, crate::ConfigError> {
        HeaderName::from_bytes(name.as_bytes())
            .map(Self::Header)
            .map_err(|_| crate::ConfigError::InvalidName {
                name: name.to_owned(),
                why: "not a valid header name",
            })
    }
}

impl fmt::Display for CredentialLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Authorization { scheme, .. } => write!(f, "Authorization: {scheme}"),
            Self::Header(name) => write!(f, "{name} header"),
            Self::Query(name) => write!(f, "query parameter {name}"),
            Self::PeerCertificate => f.write_str("TLS client certificate"),
        }
    }
}

/// A credential found in a request, handed to the scheme that owns its
/// location.
///
/// The value is secret: it is redacted in `Debug`. A credential taken from
/// a header shares that header's bytes (they stay in the request for the
/// inner service anyway, so a copy would only add work); one decoded from a
/// query string, or made with [`Credential::new`], is its own copy and is
/// wiped on drop.
///
/// ```
/// use authgate::{Credential, CredentialLocation};
///
/// let cred = Credential::new(CredentialLocation::authorization("Bearer"), "abc.def");
/// assert_eq!(cred.value(), "abc.def");
/// assert!(!format!("{cred:?}").contains("abc.def"));
/// ```
#[derive(Clone)]
pub struct Credential {
    location: CredentialLocation,
    value: Value,
    /// What the owning scheme parsed from `value`, kept so that the
    /// scheme's pre-body checks and its verification parse it once.
    parsed: OnceLock<Arc<dyn Any + Send + Sync>>,
    /// The index of the scheme whose `Authorization` token68 syntax check
    /// the extractor left to it (see [`Credential::deferred_syntax`]).
    deferred: Option<usize>,
}

/// Where a credential's bytes live.
#[derive(Clone)]
enum Value {
    /// A view of a header value, already checked to be visible ASCII:
    /// cloning a `HeaderValue` shares its bytes, it does not copy them.
    Header {
        header: HeaderValue,
        start: usize,
        end: usize,
    },
    Owned(SecretString),
}

impl Credential {
    /// A credential found at `location`.
    #[must_use]
    pub fn new(location: CredentialLocation, value: &str) -> Self {
        Self {
            location,
            value: Value::Owned(SecretString::from(value)),
            parsed: OnceLock::new(),
            deferred: None,
        }
    }

    /// A credential that is `header[start..end]`, which the extractor has
    /// checked to be visible ASCII.
    pub(crate) fn from_header(
        location: CredentialLocation,
        header: &HeaderValue,
        start: usize,
        end: usize,
    ) -> Self {
        Self {
            location,
            value: Value::Header {
                header: header.clone(),
                start,
                end,
            },
            parsed: OnceLock::new(),
            deferred: None,
        }
    }

    /// A credential that is `header[start..end]` of `Authorization`, whose
    /// token68 syntax the extractor has not checked: scheme `index` checks
    /// it with [`deferred_syntax`](Self::deferred_syntax) before it makes
    /// anything of a credential it has not seen before (a credential equal
    /// to one it verified before is token68, as that one was).
    pub(crate) fn from_header_unchecked(
        location: CredentialLocation,
        header: &HeaderValue,
        (start, end): (usize, usize),
        index: usize,
    ) -> Self {
        let mut credential = Self::from_header(location, header, start, end);
        credential.deferred = Some(index);
        credential
    }

    /// The check the extractor left to the scheme: `Err` with exactly the
    /// error extraction would have answered (a malformed `Authorization`
    /// header) when the credential is not token68; `Ok` when it is, or was
    /// checked at extraction.
    pub(crate) fn deferred_syntax(&self) -> Result<(), AuthError> {
        match (&self.value, self.deferred) {
            (Value::Header { header, start, end }, Some(index)) => {
                super::extract::check_token68(header.as_bytes(), (*start, *end), index)
            }
            _ => Ok(()),
        }
    }

    /// A credential found at `location`, already held as a secret.
    #[must_use]
    pub fn from_secret(location: CredentialLocation, value: SecretString) -> Self {
        Self {
            location,
            value: Value::Owned(value),
            parsed: OnceLock::new(),
            deferred: None,
        }
    }

    /// Where it was found.
    #[must_use]
    pub fn location(&self) -> &CredentialLocation {
        &self.location
    }

    /// The credential itself (for `Authorization`, the part after the scheme
    /// name). Never log it; see [`fingerprint`](crate::fingerprint).
    #[must_use]
    pub fn value(&self) -> &str {
        match &self.value {
            // ASCII, so this check is one fast pass and never fails.
            Value::Header { header, start, end } => header
                .as_bytes()
                .get(*start..*end)
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
                .unwrap_or_default(),
            Value::Owned(secret) => secret.expose(),
        }
    }

    /// The credential's bytes, without the UTF-8 check of
    /// [`value`](Self::value): what a cache look-up compares, or a parser
    /// re-borrowing spans it has already checked.
    #[cfg_attr(not(any(feature = "jwt", feature = "hmac")), allow(dead_code))]
    pub(crate) fn value_bytes(&self) -> &[u8] {
        match &self.value {
            Value::Header { header, start, end } => {
                header.as_bytes().get(*start..*end).unwrap_or_default()
            }
            Value::Owned(secret) => secret.expose().as_bytes(),
        }
    }
}

impl Credential {
    /// What `parse` makes of the value's bytes ([`value`](Self::value)
    /// without the UTF-8 check: the parser checks what it keeps), parsed on the first
    /// call and remembered with the credential (its value never changes).
    /// `None` when another type was remembered first: the caller parses
    /// again.
    #[cfg_attr(not(feature = "hmac"), allow(dead_code))]
    pub(crate) fn parsed<T: Any + Send + Sync>(
        &self,
        parse: impl FnOnce(&[u8]) -> T,
    ) -> Option<&T> {
        self.parsed
            .get_or_init(|| Arc::new(parse(self.value_bytes())))
            .downcast_ref::<T>()
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("location", &self.location)
            .field("value", &"<redacted>")
            .finish()
    }
}
