//! Why a request was not let through, and why a layer could not be built.
//!
//! [`AuthError`] is opaque: read it through [`AuthError::kind`], which the
//! [response mapping](crate::response) turns into a status code, a
//! `WWW-Authenticate` challenge or a `grpc-status`. Configuration mistakes are
//! a separate [`ConfigError`], reported when the layer is built, never on the
//! first request.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use crate::principal::Scopes;

/// The reason a request was rejected.
///
/// Every variant maps to exactly one status code in
/// [`response`](crate::response); [`ErrorKind::reason`] is the stable,
/// machine-readable name used in tracing events.
///
/// # Example
///
/// ```
/// use authgate::ErrorKind;
///
/// assert_eq!(ErrorKind::Expired.reason(), "expired");
/// assert_eq!(ErrorKind::Expired.status(), http::StatusCode::UNAUTHORIZED);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No credential was sent. 401 with bare challenges (RFC 6750 §3.1).
    Missing,
    /// The `Authorization` header or credential header is syntactically
    /// broken: no token, characters outside token68, not visible ASCII.
    /// 400 `invalid_request`.
    Malformed,
    /// More than one credential was sent. 400 `invalid_request`.
    Ambiguous,
    /// An `Authorization` scheme that no configured scheme handles. 401 with
    /// bare challenges.
    UnsupportedScheme,
    /// A well-formed credential that is not a valid token of its scheme, for
    /// example an API key whose checksum does not match. 401 `invalid_token`.
    InvalidFormat,
    /// The credential names a key that does not exist. 401 `invalid_token`.
    UnknownKey,
    /// The credential belongs to another environment (an `sk_test_` key sent
    /// to a live store). 401 `invalid_token`.
    WrongEnvironment,
    /// The secret or signature does not match. 401 `invalid_token`.
    BadSignature,
    /// The credential has expired. 401 `invalid_token`.
    Expired,
    /// The credential is not valid yet. 401 `invalid_token`.
    NotYetValid,
    /// The credential was replaced by a newer one and its grace period is
    /// over. 401 `invalid_token`.
    Rotated,
    /// The credential was revoked. 401 `invalid_token`.
    Revoked,
    /// A signed request was already seen: its nonce (or signature) is in the
    /// replay cache. 401 `invalid_token`.
    Replayed,
    /// The credential is valid but lacks a scope the route needs.
    /// 403 `insufficient_scope`.
    InsufficientScope,
    /// A policy denied the request. 403.
    Forbidden,
    /// The server itself cannot verify right now: the key store is down or
    /// too slow. 503 with `Retry-After`.
    Unavailable,
    /// The request body a signature covers is larger than the layer's body
    /// limit; it was not read further. 413, gRPC 8 `RESOURCE_EXHAUSTED`.
    PayloadTooLarge,
    /// The request body a signature covers did not arrive within the
    /// layer's [body-read deadline](crate::AuthLayerBuilder::body_read_timeout).
    /// 408, gRPC 4 `DEADLINE_EXCEEDED`.
    BodyTimeout,
    /// The caller is authenticated but over its
    /// [rate limit](crate::ratelimit), or its address failed authentication
    /// too often. 429 with `Retry-After`, gRPC 8 `RESOURCE_EXHAUSTED`.
    RateLimited,
}

impl ErrorKind {
    /// The stable name of this kind, as written in the `reason` field of
    /// tracing events.
    ///
    /// ```
    /// assert_eq!(authgate::ErrorKind::UnknownKey.reason(), "unknown_key");
    /// ```
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Ambiguous => "ambiguous",
            Self::UnsupportedScheme => "unsupported_scheme",
            Self::InvalidFormat => "invalid_format",
            Self::UnknownKey => "unknown_key",
            Self::WrongEnvironment => "wrong_environment",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Rotated => "rotated",
            Self::Revoked => "revoked",
            Self::Replayed => "replayed",
            Self::InsufficientScope => "insufficient_scope",
            Self::Forbidden => "forbidden",
            Self::Unavailable => "unavailable",
            Self::PayloadTooLarge => "payload_too_large",
            Self::BodyTimeout => "body_timeout",
            Self::RateLimited => "rate_limited",
        }
    }

    /// The HTTP status this kind is answered with.
    ///
    /// ```
    /// use http::StatusCode;
    /// assert_eq!(authgate::ErrorKind::Ambiguous.status(), StatusCode::BAD_REQUEST);
    /// ```
    #[must_use]
    pub const fn status(self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            Self::Malformed | Self::Ambiguous => StatusCode::BAD_REQUEST,
            Self::InsufficientScope | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Missing
            | Self::UnsupportedScheme
            | Self::InvalidFormat
            | Self::UnknownKey
            | Self::WrongEnvironment
            | Self::BadSignature
            | Self::Expired
            | Self::NotYetValid
            | Self::Rotated
            | Self::Revoked
            | Self::Replayed => StatusCode::UNAUTHORIZED,
        }
    }

    /// The RFC 6750 `error` code of the challenge, if this kind has one.
    ///
    /// A request that sent no credential gets no error code (RFC 6750 §3.1).
    ///
    /// ```
    /// use authgate::ErrorKind;
    /// assert_eq!(ErrorKind::Missing.challenge_error(), None);
    /// assert_eq!(ErrorKind::Revoked.challenge_error(), Some("invalid_token"));
    /// ```
    #[must_use]
    pub const fn challenge_error(self) -> Option<&'static str> {
        match self {
            Self::Missing
            | Self::UnsupportedScheme
            | Self::Unavailable
            | Self::Forbidden
            | Self::PayloadTooLarge
            | Self::BodyTimeout
            | Self::RateLimited => None,
            Self::Malformed | Self::Ambiguous => Some("invalid_request"),
            Self::InsufficientScope => Some("insufficient_scope"),
            Self::InvalidFormat
            | Self::UnknownKey
            | Self::WrongEnvironment
            | Self::BadSignature
            | Self::Expired
            | Self::NotYetValid
            | Self::Rotated
            | Self::Revoked
            | Self::Replayed => Some("invalid_token"),
        }
    }

    /// The client-facing description used when none more precise is given.
    ///
    /// Deliberately coarse: a client learns that its key is wrong, never
    /// whether the key id exists.
    #[must_use]
    pub const fn default_description(self) -> &'static str {
        match self {
            Self::Missing => "authentication is required",
            Self::Malformed => "the credential is malformed",
            Self::Ambiguous => "more than one credential was sent",
            Self::UnsupportedScheme => "the authentication scheme is not supported",
            Self::InvalidFormat
            | Self::UnknownKey
            | Self::WrongEnvironment
            | Self::BadSignature => "the credential is invalid",
            Self::Expired => "the credential has expired",
            Self::NotYetValid => "the credential is not valid yet",
            Self::Rotated => "the credential was rotated and its grace period is over",
            Self::Revoked => "the credential was revoked",
            Self::Replayed => "the signed request was already received",
            Self::InsufficientScope => "the credential lacks a required scope",
            Self::Forbidden => "access to this resource is denied",
            Self::Unavailable => "credentials cannot be verified right now",
            Self::PayloadTooLarge => "the request body is too large to verify",
            Self::BodyTimeout => "the request body did not arrive in time",
            Self::RateLimited => "too many requests",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// Why a request was rejected: a kind, a client-safe description, and the
/// underlying cause where there is one.
///
/// Rejections are responses, not errors: the [`Auth`](crate::Auth) service
/// answers them itself and puts a clone of the `AuthError` in the response's
/// extensions, so outer layers can see why.
///
/// # Example
///
/// ```
/// use authgate::{AuthError, ErrorKind};
///
/// let err = AuthError::new(ErrorKind::Expired);
/// assert_eq!(err.kind(), ErrorKind::Expired);
/// assert_eq!(err.description(), "the credential has expired");
/// ```
#[derive(Clone)]
pub struct AuthError {
    kind: ErrorKind,
    description: Cow<'static, str>,
    required_scopes: Option<Scopes>,
    scheme: Option<usize>,
    credential_id: Option<Box<str>>,
    source: Option<std::sync::Arc<dyn StdError + Send + Sync>>,
    /// What a scheme adds to the challenge: boxed, since almost no error
    /// has any.
    challenge: Option<Box<ChallengeDetail>>,
}

/// A scheme's additions to the challenge of one error: a more precise
/// `error` code than the kind's (RFC 9449's `invalid_dpop_proof`,
/// `use_dpop_nonce`), the auth-scheme whose challenge carries it when the
/// scheme answers with several (`Bearer` and `DPoP`), and one response
/// header (`DPoP-Nonce`).
#[derive(Clone, Debug, Default)]
pub(crate) struct ChallengeDetail {
    pub(crate) code: Option<&'static str>,
    pub(crate) auth_scheme: Option<&'static str>,
    pub(crate) header: Option<(http::HeaderName, http::HeaderValue)>,
}

impl AuthError {
    /// An error of this kind with its default description.
    #[must_use]
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            description: Cow::Borrowed(kind.default_description()),
            required_scopes: None,
            scheme: None,
            credential_id: None,
            source: None,
            challenge: None,
        }
    }

    /// A 403 `insufficient_scope` naming the scopes the route needs.
    ///
    /// ```
    /// use authgate::{AuthError, ErrorKind, Scopes};
    ///
    /// let err = AuthError::insufficient_scope(Scopes::from_iter(["orders:write"]));
    /// assert_eq!(err.kind(), ErrorKind::InsufficientScope);
    /// assert!(err.required_scopes().unwrap().contains("orders:write"));
    /// ```
    #[must_use]
    pub fn insufficient_scope(required: Scopes) -> Self {
        let mut err = Self::new(ErrorKind::InsufficientScope);
        err.required_scopes = Some(required);
        err
    }

    /// A 403 from a policy, with a reason the client may read.
    ///
    /// The reason is sent to the client and logged: it must not contain
    /// secrets.
    ///
    /// ```
    /// let err = authgate::AuthError::forbidden("tenant mismatch");
    /// assert_eq!(err.description(), "tenant mismatch");
    /// ```
    #[must_use]
    pub fn forbidden(reason: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Forbidden).with_description(reason)
    }

    /// A 503: the server cannot verify credentials right now.
    ///
    /// ```
    /// let io = std::io::Error::other("connection refused");
    /// let err = authgate::AuthError::unavailable(io);
    /// assert_eq!(err.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    /// ```
    #[must_use]
    pub fn unavailable(source: impl StdError + Send + Sync + 'static) -> Self {
        Self::new(ErrorKind::Unavailable).with_source(source)
    }

    /// Replaces the client-facing description.
    ///
    /// The description is sent to the client (`error_description`, `detail`)
    /// and logged: it must not contain secrets.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = description.into();
        self
    }

    /// Attaches the underlying cause, kept for [`std::error::Error::source`]
    /// and never sent to the client.
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(std::sync::Arc::new(source));
        self
    }

    /// Records the id (never the secret) of the credential that failed, for
    /// the `key_id` field of the tracing event. Not sent to the client.
    ///
    /// ```
    /// let err = authgate::AuthError::new(authgate::ErrorKind::Revoked).with_credential_id("k1");
    /// assert_eq!(err.credential_id(), Some("k1"));
    /// ```
    #[must_use]
    pub fn with_credential_id(mut self, id: impl Into<Box<str>>) -> Self {
        self.credential_id = Some(id.into());
        self
    }

    /// The id of the credential that failed, if the scheme knew it.
    #[must_use]
    pub fn credential_id(&self) -> Option<&str> {
        self.credential_id.as_deref()
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The HTTP status the error is answered with.
    #[must_use]
    pub fn status(&self) -> http::StatusCode {
        self.kind.status()
    }

    /// The client-facing description.
    #[must_use]
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The scopes a 403 `insufficient_scope` needed.
    #[must_use]
    pub fn required_scopes(&self) -> Option<&Scopes> {
        self.required_scopes.as_ref()
    }

    /// Index of the configured scheme the failing credential belonged to.
    pub(crate) fn scheme_index(&self) -> Option<usize> {
        self.scheme
    }

    pub(crate) fn for_scheme(mut self, index: usize) -> Self {
        self.scheme.get_or_insert(index);
        self
    }

    /// The `error` code of the challenge: the kind's
    /// ([`ErrorKind::challenge_error`]) unless the scheme named a more
    /// precise one, such as RFC 9449's `invalid_dpop_proof`.
    ///
    /// ```
    /// use authgate::{AuthError, ErrorKind};
    /// assert_eq!(AuthError::new(ErrorKind::Expired).challenge_error(), Some("invalid_token"));
    /// ```
    #[must_use]
    pub fn challenge_error(&self) -> Option<&'static str> {
        self.challenge
            .as_ref()
            .and_then(|c| c.code)
            .or_else(|| self.kind.challenge_error())
    }

    /// The scheme's additions to the challenge, if any.
    pub(crate) fn challenge_detail(&self) -> Option<&ChallengeDetail> {
        self.challenge.as_deref()
    }

    /// Changes the scheme's additions to the challenge.
    #[cfg(feature = "jwt")]
    pub(crate) fn with_challenge_detail(
        mut self,
        change: impl FnOnce(&mut ChallengeDetail),
    ) -> Self {
        change(self.challenge.get_or_insert_with(Default::default));
        self
    }
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthError")
            .field("kind", &self.kind)
            .field("description", &self.description)
            .field("required_scopes", &self.required_scopes)
            .field("credential_id", &self.credential_id)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.description)
    }
}

impl StdError for AuthError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<ErrorKind> for AuthError {
    fn from(kind: ErrorKind) -> Self {
        Self::new(kind)
    }
}

/// A mistake in how a layer or scheme was configured, reported by the
/// builder so that it never surfaces on a request.
///
/// ```
/// use authgate::{AuthLayer, ConfigError};
///
/// let err = AuthLayer::builder().build().unwrap_err();
/// assert!(matches!(err, ConfigError::NoScheme));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The layer has no scheme, so no request could ever pass.
    #[error("an AuthLayer needs at least one scheme")]
    NoScheme,
    /// Two schemes claim the same credential location.
    #[error("two schemes read credentials from the same place: {0}")]
    DuplicateLocation(String),
    /// A name (scheme, header, query parameter) is not a valid token.
    #[error("invalid name {name:?}: {why}")]
    InvalidName {
        /// The offending name.
        name: String,
        /// Why it is rejected.
        why: &'static str,
    },
    /// A realm or other challenge parameter cannot be sent in a header.
    #[error("invalid challenge parameter {0:?}: must be printable ASCII without '\"' or '\\\\'")]
    InvalidChallengeParam(String),
    /// A setting is out of its allowed range.
    #[error("invalid setting {setting}: {why}")]
    InvalidSetting {
        /// The setting's name.
        setting: &'static str,
        /// Why the value is rejected.
        why: &'static str,
    },
    /// A line of a password file (htpasswd) cannot be used: a malformed
    /// line, or a hash too weak to accept (MD5-crypt, SHA-1, plain text).
    #[error("password file, line {line}: {why}")]
    PasswordFile {
        /// The line's number, from 1.
        line: usize,
        /// Why it is refused.
        why: &'static str,
    },
}

/// A key or secret store could not answer. The request gets a 503, never a
/// 401: the store's failure says nothing about the credential.
///
/// ```
/// let err = authgate::StoreError::new(std::io::Error::other("db down"));
/// assert_eq!(err.to_string(), "store error: db down");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("store error: {0}")]
pub struct StoreError(#[source] Box<dyn StdError + Send + Sync>);

impl StoreError {
    /// Wraps the cause.
    pub fn new(cause: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self(cause.into())
    }
}
