//! Verify: the contract every authentication scheme implements.
//!
//! A [`Scheme`] says where its credentials live, how it challenges a client
//! that sent none, and how it turns one credential into a [`Principal`]. The
//! layer calls exactly one scheme per request: the owner of the location the
//! credential was found in.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::request::Parts;

use crate::credentials::{Credential, CredentialLocation};
use crate::error::{AuthError, ConfigError};
use crate::principal::Principal;

/// A boxed verification future.
pub type VerifyFuture = Pin<Box<dyn Future<Output = Result<Principal, AuthError>> + Send>>;

/// A boxed check made before a body is read: see
/// [`Scheme::check_before_body`].
///
/// ```
/// use authgate::{AuthError, ErrorKind, PrecheckFuture};
///
/// let unknown: PrecheckFuture = Box::pin(async { Err(AuthError::new(ErrorKind::UnknownKey)) });
/// # let _ = unknown;
/// ```
pub type PrecheckFuture = Pin<Box<dyn Future<Output = Result<(), AuthError>> + Send>>;

/// The outcome of [`Scheme::verify`]: decided on the spot (a cache hit, a
/// malformed token) or after an asynchronous look-up.
///
/// Answering synchronously when possible keeps the hot path free of
/// allocations.
///
/// # Example
///
/// ```
/// use authgate::{Principal, Verification};
///
/// let now = Verification::ready(Ok(Principal::new("alice", "custom")));
/// let later = Verification::pending(async { Ok(Principal::new("bob", "custom")) });
/// # let _ = (now, later);
/// ```
pub struct Verification(pub(crate) VerificationState);

pub(crate) enum VerificationState {
    Ready(Result<Principal, AuthError>),
    Pending(VerifyFuture),
}

impl Verification {
    /// A decision made without waiting.
    #[must_use]
    pub fn ready(result: Result<Principal, AuthError>) -> Self {
        Self(VerificationState::Ready(result))
    }

    /// A decision that needs I/O: a key store, a JWKS fetch.
    #[must_use]
    pub fn pending<F>(future: F) -> Self
    where
        F: Future<Output = Result<Principal, AuthError>> + Send + 'static,
    {
        Self(VerificationState::Pending(Box::pin(future)))
    }

    /// A decision that may need I/O, polled once on the spot (inside a
    /// Tokio runtime): when it answers at once, as a key store with an
    /// in-memory tier does, the request is decided inside `call`, with no
    /// continuation and no clone of the inner service. Otherwise it is
    /// polled again, with the caller's waker, by the response future.
    ///
    /// Only for futures whose first poll is safe to make inside `call`:
    /// it runs on the caller's task, before the response future exists,
    /// and whatever it starts (a store read others wait for) must not
    /// depend on that response future being polled soon (see the bounded
    /// follower wait of the API-key scheme's single flight). Outside a
    /// runtime it is not polled here, as a store's I/O may need one.
    #[cfg(feature = "api-key")]
    pub(crate) fn pending_polled<F>(future: F) -> Self
    where
        F: Future<Output = Result<Principal, AuthError>> + Send + 'static,
    {
        let mut future: VerifyFuture = Box::pin(future);
        if tokio::runtime::Handle::try_current().is_ok() {
            if let Some(result) = poll_once(future.as_mut()) {
                return Self::ready(result);
            }
        }
        Self(VerificationState::Pending(future))
    }
}

impl From<Result<Principal, AuthError>> for Verification {
    fn from(result: Result<Principal, AuthError>) -> Self {
        Self::ready(result)
    }
}

impl fmt::Debug for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            VerificationState::Ready(r) => f.debug_tuple("Ready").field(r).finish(),
            VerificationState::Pending(_) => f.write_str("Pending"),
        }
    }
}

/// What a scheme may read of the request besides its credential.
///
/// ```
/// # use authgate::VerifyContext;
/// fn method_of<'a>(ctx: &VerifyContext<'a>) -> &'a http::Method {
///     &ctx.parts().method
/// }
/// ```
#[derive(Debug)]
pub struct VerifyContext<'a> {
    parts: &'a Parts,
    body: Option<&'a Bytes>,
}

impl<'a> VerifyContext<'a> {
    pub(crate) fn new(parts: &'a Parts, body: Option<&'a Bytes>) -> Self {
        Self { parts, body }
    }

    /// The request's method, URI, headers and extensions.
    #[must_use]
    pub fn parts(&self) -> &'a Parts {
        self.parts
    }

    /// The whole request body, when the scheme asked for it with
    /// [`Scheme::needs_body`] and the layer was built
    /// [`with_request_bodies`](crate::AuthLayerBuilder::with_request_bodies);
    /// `None` otherwise. An empty body is `Some` of no bytes.
    ///
    /// ```
    /// # use authgate::VerifyContext;
    /// fn body_len(ctx: &VerifyContext<'_>) -> Option<usize> {
    ///     ctx.body().map(|b| b.len())
    /// }
    /// ```
    #[must_use]
    pub fn body(&self) -> Option<&'a Bytes> {
        self.body
    }
}

/// A `WWW-Authenticate` challenge (RFC 7235 §4.1) for one scheme, without
/// the error attributes that the response mapping adds per request.
///
/// ```
/// use authgate::Challenge;
///
/// let c = Challenge::new("Bearer").param("realm", "api").unwrap();
/// assert_eq!(c.to_string(), r#"Bearer realm="api""#);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    scheme: Cow<'static, str>,
    params: Vec<(Cow<'static, str>, String)>,
    alternatives: Vec<Challenge>,
}

impl Challenge {
    /// A challenge for `scheme` with no parameters.
    #[must_use]
    pub fn new(scheme: impl Into<Cow<'static, str>>) -> Self {
        Self {
            scheme: scheme.into(),
            params: Vec::new(),
            alternatives: Vec::new(),
        }
    }

    /// Adds another challenge the same scheme answers with, sent as a
    /// `WWW-Authenticate` header of its own after this one: a scheme that
    /// takes tokens as `Bearer` or `DPoP` challenges with both.
    ///
    /// ```
    /// use authgate::Challenge;
    ///
    /// let c = Challenge::new("Bearer").or(Challenge::new("DPoP").param("algs", "ES256").unwrap());
    /// assert_eq!(c.to_string(), "Bearer");
    /// assert_eq!(c.alternatives()[0].to_string(), r#"DPoP algs="ES256""#);
    /// ```
    #[must_use]
    pub fn or(mut self, other: Challenge) -> Self {
        self.alternatives.push(other);
        self
    }

    /// The other challenges added with [`or`](Self::or), in order.
    #[must_use]
    pub fn alternatives(&self) -> &[Challenge] {
        &self.alternatives
    }

    /// Adds `realm` to this challenge and its alternatives where they have
    /// none.
    pub(crate) fn with_realm(mut self, realm: &str) -> Result<Self, ConfigError> {
        if !self.params().any(|(name, _)| name == "realm") {
            self = self.param("realm", realm.to_owned())?;
        }
        self.alternatives = std::mem::take(&mut self.alternatives)
            .into_iter()
            .map(|c| c.with_realm(realm))
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// Adds an auth-param; the value is sent as a quoted-string.
    ///
    /// # Errors
    ///
    /// When the value holds `"`, `\` or bytes that are not printable ASCII,
    /// which a header cannot carry safely.
    pub fn param(
        mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
    ) -> Result<Self, ConfigError> {
        let value = value.into();
        if !is_quotable(&value) {
            return Err(ConfigError::InvalidChallengeParam(value));
        }
        self.params.push((name.into(), value));
        Ok(self)
    }

    /// The auth-scheme name.
    #[must_use]
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The auth-params, in order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (&**n, v.as_str()))
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        for (i, (name, value)) in self.params.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            write!(f, "{sep}{name}=\"{value}\"")?;
        }
        Ok(())
    }
}

/// Polls a future once: its output if it is ready without waiting.
///
/// For cache reads that are asynchronous in signature but almost always
/// answer at once; a `None` means "take the slow path", never an error.
pub(crate) fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

/// Whether `value` can be written inside a quoted-string as is.
pub(crate) fn is_quotable(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\')
}

/// An authentication scheme: API keys, JWT bearer tokens, signed requests,
/// or your own.
///
/// # Example
///
/// A scheme that accepts one fixed token (for illustration: compare secrets
/// in constant time, as the built-in schemes do).
///
/// ```
/// use authgate::{Challenge, Credential, CredentialLocation, ErrorKind, AuthError,
///                Principal, Scheme, Verification, VerifyContext};
///
/// struct Fixed;
///
/// impl Scheme for Fixed {
///     fn name(&self) -> &'static str { "fixed" }
///     fn locations(&self) -> Vec<CredentialLocation> {
///         vec![CredentialLocation::authorization("Token")]
///     }
///     fn challenge(&self) -> Challenge { Challenge::new("Token") }
///     fn verify(&self, credential: &Credential, _: &VerifyContext<'_>) -> Verification {
///         use subtle::ConstantTimeEq;
///         if bool::from(credential.value().as_bytes().ct_eq(b"let-me-in")) {
///             Verification::ready(Ok(Principal::new("robot", "fixed")))
///         } else {
///             Verification::ready(Err(AuthError::new(ErrorKind::BadSignature)))
///         }
///     }
/// }
///
/// let layer = authgate::AuthLayer::builder().scheme(Fixed).build().unwrap();
/// # let _ = layer;
/// ```
pub trait Scheme: Send + Sync + 'static {
    /// A short lowercase name for logs and [`Principal::scheme`], e.g.
    /// `"api_key"`.
    fn name(&self) -> &'static str;

    /// Where this scheme's credentials are found.
    fn locations(&self) -> Vec<CredentialLocation>;

    /// The challenge sent in `WWW-Authenticate` on a 401.
    fn challenge(&self) -> Challenge;

    /// Whether this scheme ever verifies request bodies (webhook and
    /// request signatures). A layer refuses to build with such a scheme
    /// unless it was built
    /// [`with_request_bodies`](crate::AuthLayerBuilder::with_request_bodies).
    /// Defaults to `false`.
    fn reads_body(&self) -> bool {
        false
    }

    /// Whether verifying this credential needs the body: asked after
    /// extraction, before [`verify`](Self::verify), and only when
    /// [`reads_body`](Self::reads_body) is `true`. The layer then reads the
    /// body up to its limit, hands it to `verify` through
    /// [`VerifyContext::body`], and passes the same bytes on. Defaults to
    /// [`reads_body`](Self::reads_body).
    fn needs_body(&self, credential: &Credential, parts: &Parts) -> bool {
        let _ = (credential, parts);
        self.reads_body()
    }

    /// Checks that need no body but may need I/O, made after
    /// [`needs_body`](Self::needs_body) said `true` and before the layer
    /// reads the body: typically, that the key id the credential names
    /// exists. An error is the request's answer, and the body is never
    /// read, so that a client without a valid key id cannot make the layer
    /// buffer bodies. Checks that need no I/O (syntax, a timestamp window)
    /// belong in `needs_body`'s caller, [`verify`](Self::verify), or here
    /// as a ready future. Defaults to none.
    fn check_before_body(&self, credential: &Credential, parts: &Parts) -> Option<PrecheckFuture> {
        let _ = (credential, parts);
        None
    }

    /// Verifies one credential.
    ///
    /// Clone out of `credential` and `ctx` whatever a pending future needs:
    /// it must be `'static`.
    fn verify(&self, credential: &Credential, ctx: &VerifyContext<'_>) -> Verification;

    /// Headers added to the response of a request this scheme let through,
    /// asked once the request is granted: the next DPoP nonce (RFC 9449
    /// §8.2), for instance. Defaults to none.
    fn response_headers(&self, credential: &Credential, parts: &Parts) -> Option<http::HeaderMap> {
        let _ = (credential, parts);
        None
    }
}
