use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

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
///
/// Kept small (at most 128 bytes with the rest of a request's decision):
/// it is built and moved on every request, and a larger value is moved by
/// a `memcpy` call rather than by a few register moves.
#[derive(Clone)]
pub struct Credential {
    location: Place,
    value: Value,
    /// What the owning scheme parsed from `value`, kept so that the
    /// scheme's pre-body checks and its verification parse it once.
    parsed: OnceLock<Arc<dyn Any + Send + Sync>>,
    /// The index of the scheme whose `Authorization` token68 syntax check
    /// the extractor left to it (see [`Credential::deferred_syntax`]).
    deferred: Option<u32>,
}

/// Where a credential was found: a configured location (shared, never
/// copied per request), or one given to [`Credential::new`].
#[derive(Clone)]
enum Place {
    Configured(&'static CredentialLocation),
    /// A configured location past the interning bound (see [`configured`]).
    Shared(Arc<CredentialLocation>),
    Given(Box<CredentialLocation>),
}

/// A configured location as the extractor's routes hold it.
#[derive(Clone, Debug)]
pub(crate) enum ConfiguredLocation {
    /// Kept once for the life of the process: a credential points to it
    /// and writes nothing (the common case).
    Interned(&'static CredentialLocation),
    /// Past [`MAX_INTERNED`] distinct locations: reference-counted, one
    /// shared count per credential found there.
    Shared(Arc<CredentialLocation>),
}

impl ConfiguredLocation {
    /// The location itself.
    #[cfg(test)]
    pub(crate) fn get(&self) -> &CredentialLocation {
        match self {
            Self::Interned(location) => location,
            Self::Shared(location) => location,
        }
    }

    fn place(&self) -> Place {
        match self {
            Self::Interned(location) => Place::Configured(location),
            Self::Shared(location) => Place::Shared(Arc::clone(location)),
        }
    }
}

/// Most distinct configured locations kept for the life of the process.
/// Locations come from the configuration, never from requests; an
/// application that builds layers with ever new header or parameter names
/// (one per tenant, say) gets reference-counted ones past this bound
/// instead of an ever-growing list.
pub(crate) const MAX_INTERNED: usize = 1024;

/// `location`, as a value every credential found there can point to: one
/// copy for the life of the process per distinct location, up to
/// [`MAX_INTERNED`] of them, however many layers are built.
pub(crate) fn configured(location: &CredentialLocation) -> ConfiguredLocation {
    static LOCATIONS: Registry = Mutex::new(Vec::new());
    configured_in(&LOCATIONS, location)
}

/// The locations kept for the life of the process.
type Registry = Mutex<Vec<&'static CredentialLocation>>;

/// [`configured`], in `registry`.
fn configured_in(registry: &Registry, location: &CredentialLocation) -> ConfiguredLocation {
    let mut known = registry.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(found) = known.iter().find(|known| **known == location) {
        return ConfiguredLocation::Interned(found);
    }
    if known.len() >= MAX_INTERNED {
        return ConfiguredLocation::Shared(Arc::new(location.clone()));
    }
    let leaked: &'static CredentialLocation = Box::leak(Box::new(location.clone()));
    known.push(leaked);
    ConfiguredLocation::Interned(leaked)
}

/// Where a credential's bytes live.
#[derive(Clone)]
enum Value {
    /// A view of a header value, already checked to be visible ASCII:
    /// cloning a `HeaderValue` shares its bytes, it does not copy them.
    /// The bounds are `u32` (the extractor refuses longer values) to keep
    /// the credential small.
    Header {
        header: HeaderValue,
        start: u32,
        end: u32,
    },
    Owned(SecretString),
}

impl Value {
    /// `header[start..end]`, or `None` when a bound does not fit a `u32`.
    fn header(header: &HeaderValue, start: usize, end: usize) -> Option<Self> {
        Some(Self::Header {
            header: header.clone(),
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Header { header, start, end } => {
                let range = usize::try_from(*start).unwrap_or(usize::MAX)
                    ..usize::try_from(*end).unwrap_or(usize::MAX);
                header.as_bytes().get(range).unwrap_or_default()
            }
            Self::Owned(secret) => secret.expose().as_bytes(),
        }
    }
}

impl Credential {
    /// A credential found at `location`.
    #[must_use]
    pub fn new(location: CredentialLocation, value: &str) -> Self {
        Self {
            location: Place::Given(Box::new(location)),
            value: Value::Owned(SecretString::from(value)),
            parsed: OnceLock::new(),
            deferred: None,
        }
    }

    /// A credential that is `header[start..end]`, which the extractor has
    /// checked to be visible ASCII; `None` when a bound does not fit a
    /// `u32` (no server accepts such a header).
    pub(crate) fn from_header(
        location: &ConfiguredLocation,
        header: &HeaderValue,
        start: usize,
        end: usize,
    ) -> Option<Self> {
        Some(Self {
            location: location.place(),
            value: Value::header(header, start, end)?,
            parsed: OnceLock::new(),
            deferred: None,
        })
    }

    /// A credential found at a configured location, already held as a
    /// secret (decoded from the query string).
    pub(crate) fn from_configured_secret(
        location: &ConfiguredLocation,
        value: SecretString,
    ) -> Self {
        Self {
            location: location.place(),
            value: Value::Owned(value),
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
        location: &ConfiguredLocation,
        header: &HeaderValue,
        (start, end): (usize, usize),
        index: u32,
    ) -> Option<Self> {
        let mut credential = Self::from_header(location, header, start, end)?;
        credential.deferred = Some(index);
        Some(credential)
    }

    /// The check the extractor left to the scheme: `Err` with exactly the
    /// error extraction would have answered (a malformed `Authorization`
    /// header) when the credential is not token68; `Ok` when it is, or was
    /// checked at extraction.
    pub(crate) fn deferred_syntax(&self) -> Result<(), AuthError> {
        match (&self.value, self.deferred) {
            (Value::Header { header, start, end }, Some(index)) => {
                let wide = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
                super::extract::check_token68(
                    header.as_bytes(),
                    (wide(*start), wide(*end)),
                    wide(index),
                )
            }
            _ => Ok(()),
        }
    }

    /// A credential found at `location`, already held as a secret.
    #[must_use]
    pub fn from_secret(location: CredentialLocation, value: SecretString) -> Self {
        Self {
            location: Place::Given(Box::new(location)),
            value: Value::Owned(value),
            parsed: OnceLock::new(),
            deferred: None,
        }
    }

    /// Where it was found.
    #[must_use]
    pub fn location(&self) -> &CredentialLocation {
        match &self.location {
            Place::Configured(location) => location,
            Place::Shared(location) => location,
            Place::Given(location) => location,
        }
    }

    /// The credential itself (for `Authorization`, the part after the scheme
    /// name). Never log it; see [`fingerprint`](crate::fingerprint).
    #[must_use]
    pub fn value(&self) -> &str {
        match &self.value {
            // ASCII, so this check is one fast pass and never fails.
            value @ Value::Header { .. } => std::str::from_utf8(value.bytes()).unwrap_or_default(),
            Value::Owned(secret) => secret.expose(),
        }
    }

    /// The credential's bytes, without the UTF-8 check of
    /// [`value`](Self::value): what a cache look-up compares, or a parser
    /// re-borrowing spans it has already checked.
    #[cfg_attr(not(any(feature = "jwt", feature = "hmac")), allow(dead_code))]
    pub(crate) fn value_bytes(&self) -> &[u8] {
        self.value.bytes()
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
            .field("location", self.location())
            .field("value", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_locations_are_kept_once_and_found_again() {
        static REGISTRY: Registry = Mutex::new(Vec::new());
        let location = CredentialLocation::header("x-tenant-key-interned").unwrap();
        let one = configured_in(&REGISTRY, &location);
        let two = configured_in(&REGISTRY, &location.clone());
        let (ConfiguredLocation::Interned(a), ConfiguredLocation::Interned(b)) = (&one, &two)
        else {
            panic!("the first locations are interned");
        };
        assert!(std::ptr::eq(*a, *b));
        assert_eq!(one.get(), &location);
        let header = HeaderValue::from_static("  abc  ");
        let credential = Credential::from_header(&one, &header, 2, 5).unwrap();
        assert_eq!(credential.location(), &location);
        assert_eq!(credential.value(), "abc");
        assert_eq!(credential.clone().value_bytes(), b"abc");
        if usize::BITS > 32 {
            assert!(Credential::from_header(&one, &header, 2, usize::MAX).is_none());
        }
    }

    /// Regression: every distinct configured location was kept for the
    /// life of the process, so an application building layers with ever
    /// new header names (one per tenant) grew an unbounded list. Past
    /// `MAX_INTERNED` they are reference-counted instead, and still work.
    #[test]
    fn configured_locations_are_interned_up_to_a_bound() {
        static REGISTRY: Registry = Mutex::new(Vec::new());
        for i in 0..MAX_INTERNED {
            let location = CredentialLocation::header(&format!("x-bound-test-{i}")).unwrap();
            let kept = configured_in(&REGISTRY, &location);
            assert!(matches!(kept, ConfiguredLocation::Interned(_)), "{i}");
        }
        let location = CredentialLocation::header("x-bound-test-past").unwrap();
        assert!(matches!(
            configured_in(&REGISTRY, &location),
            ConfiguredLocation::Shared(_)
        ));
        // One already kept is still found.
        let first = CredentialLocation::header("x-bound-test-0").unwrap();
        assert!(matches!(
            configured_in(&REGISTRY, &first),
            ConfiguredLocation::Interned(_)
        ));
        let again = configured_in(&REGISTRY, &location);
        assert!(matches!(again, ConfiguredLocation::Shared(_)));
        let header = HeaderValue::from_static("key");
        let credential = Credential::from_header(&again, &header, 0, 3).unwrap();
        assert_eq!(credential.location(), &location);
        assert_eq!(credential.value(), "key");
    }
}
