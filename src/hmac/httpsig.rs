//! RFC 9421 HTTP Message Signatures with `hmac-sha256`: the verifier
//! ([`HttpSignatureScheme`]) and the signer ([`HttpSigner`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::request::Parts;

use super::encoding::body_of;
use super::secrets::{match_keys, KeyMatch};
use super::store::{CachedStore, SecretStore};
use super::structured::{parse_dictionary, BareItem, Item, Member};
use crate::clock::SharedClock;
use crate::credentials::{Credential, CredentialLocation};
use crate::error::{AuthError, ErrorKind};
use crate::principal::Principal;
use crate::replay::{self, Nonce, ReplayStore, SharedReplayStore};
use crate::scheme::{Challenge, PrecheckFuture, Scheme, Verification, VerifyContext};

/// The name RFC 9421 principals carry in [`Principal::scheme`].
pub const HTTPSIG_SCHEME_NAME: &str = "http_signature";

mod base;
mod builder;
mod sign;

use base::{
    check_content_digest, may_have_body, BaseError, Picked, Target, CONTENT_DIGEST, SIGNATURE,
    SIGNATURE_INPUT,
};

pub use builder::HttpSignatureSchemeBuilder;
pub use sign::{HttpSignError, HttpSigner};

/// The components a signature must cover unless the scheme is configured
/// otherwise: enough to bind it to one method and target.
///
/// ```
/// assert_eq!(authgate::hmac::DEFAULT_REQUIRED_COMPONENTS, ["@method", "@authority", "@path"]);
/// ```
pub const DEFAULT_REQUIRED_COMPONENTS: [&str; 3] = ["@method", "@authority", "@path"];

/// RFC 9421 HTTP Message Signatures, algorithm `hmac-sha256`:
/// `Signature-Input` and `Signature` headers, keys by `keyid` from a
/// [`SecretStore`].
///
/// Supported covered components: `@method`, `@authority`, `@scheme`,
/// `@target-uri`, `@request-target`, `@path`, `@query`, and header fields by
/// lowercase name (without component parameters). When `content-digest` is
/// covered, the body is read and its `sha-256` / `sha-512` digest checked.
/// Signature parameters: `alg` (must be `hmac-sha256` when present),
/// `keyid` (required), `created` (required by default; within the window
/// of now), `expires` (not passed), `nonce` (recorded in the replay cache;
/// optional by default), `tag` (checked when configured).
///
/// `@authority`, `@scheme` and `@target-uri` derive from the request's
/// target URI: with an absolute-form target (and in HTTP/2, from
/// `:authority`), its authority wins over `Host`, and a `Host` header that
/// names another authority is refused (401 `invalid_format`), as is a
/// repeated `Host`. `@request-target` is the target as sent: the absolute
/// URI for an HTTP/1.1 absolute-form request, else path and query.
/// [`strict`](HttpSignatureSchemeBuilder::strict) also requires `@query`,
/// `content-digest` and a nonce when the request has a query or a body.
///
/// The signature checked is the one labelled as configured with
/// [`label`](HttpSignatureSchemeBuilder::label), or else the first one in
/// `Signature-Input`.
///
/// # Example
///
/// RFC 9421 Appendix B.2.5, verified byte for byte:
///
/// ```
/// use authgate::clock::ManualClock;
/// use authgate::hmac::{HmacKey, HttpSignatureScheme, InMemorySecretStore, SecretRecord};
/// use authgate::AuthLayer;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let key = HmacKey::from_base64("uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==")?;
/// let store = InMemorySecretStore::new();
/// store.insert(SecretRecord::new("test-shared-secret", key, "rfc-example"));
/// let scheme = HttpSignatureScheme::builder(store)
///     .clock(ManualClock::at_unix(1_618_884_473))
///     .require_components(Vec::<String>::new()) // B.2.5 covers neither @method nor @path
///     .build()?;
/// let layer = AuthLayer::builder().scheme(scheme).with_request_bodies().build()?;
/// let service = ServiceBuilder::new().layer(layer).service(service_fn(|_req: http::Request<http_body_util::Full<bytes::Bytes>>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// }));
///
/// let request = http::Request::post("/foo?param=Value&Pet=dog")
///     .header("host", "example.com")
///     .header("date", "Tue, 20 Apr 2021 02:07:55 GMT")
///     .header("content-type", "application/json")
///     .header("signature-input", r#"sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret""#)
///     .header("signature", "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:")
///     .body(http_body_util::Full::new(bytes::Bytes::from_static(br#"{"hello": "world"}"#)))?;
/// assert_eq!(service.oneshot(request).await?.status(), 200);
/// # Ok(())
/// # }
/// ```
pub struct HttpSignatureScheme<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    secrets: CachedStore<S>,
    replay: SharedReplayStore,
    /// How long a nonce is remembered: as long as its signature can pass.
    replay_ttl: Duration,
    window: Duration,
    label: Option<String>,
    tag: Option<String>,
    require_created: bool,
    require_nonce: bool,
    strict: bool,
    required_components: Vec<String>,
    assumed_scheme: String,
    clock: SharedClock,
}

impl<S> Clone for HttpSignatureScheme<S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<S: SecretStore> HttpSignatureScheme<S> {
    /// Starts configuring a scheme over `store`.
    ///
    /// ```
    /// use authgate::hmac::{HttpSignatureScheme, InMemorySecretStore};
    ///
    /// let scheme = HttpSignatureScheme::builder(InMemorySecretStore::new())
    ///     .label("sig1")
    ///     .require_components(["@method", "@path", "content-digest"])
    ///     .require_nonce(true)
    ///     .build()
    ///     .unwrap();
    /// # let _ = scheme;
    /// ```
    pub fn builder(store: S) -> HttpSignatureSchemeBuilder<S> {
        HttpSignatureSchemeBuilder::new(store)
    }

    /// Drops the cached record for `key_id`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let scheme = authgate::hmac::HttpSignatureScheme::builder(authgate::hmac::InMemorySecretStore::new()).build().unwrap();
    /// scheme.invalidate("test-shared-secret").await;
    /// # }
    /// ```
    pub async fn invalidate(&self, key_id: &str) {
        self.inner.secrets.invalidate(key_id).await;
    }

    /// The number of cached look-ups (records and unknown key ids), after
    /// pending cache maintenance: never more than
    /// [`cache_capacity`](HttpSignatureSchemeBuilder::cache_capacity).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use authgate::hmac::{HttpSignatureScheme, InMemorySecretStore};
    /// let scheme = HttpSignatureScheme::builder(InMemorySecretStore::new()).build().unwrap();
    /// assert_eq!(scheme.cached_entries().await, 0);
    /// # }
    /// ```
    pub async fn cached_entries(&self) -> u64 {
        self.inner.secrets.entry_count().await
    }
}

impl<S> Inner<S> {
    /// Finds the signature to check in the two headers.
    fn pick(&self, signature: &str, parts: &Parts) -> Result<Picked, AuthError> {
        let invalid = |why| AuthError::new(ErrorKind::InvalidFormat).with_description(why);
        let mut inputs = parts.headers.get_all(SIGNATURE_INPUT).iter();
        let input = match (inputs.next(), inputs.next()) {
            (Some(v), None) => v.to_str().ok(),
            _ => None,
        }
        .ok_or_else(|| invalid("Signature-Input is missing, repeated or not ASCII"))?;
        let inputs = parse_dictionary(input)
            .ok_or_else(|| invalid("Signature-Input is not a structured dictionary"))?;
        let signatures = parse_dictionary(signature)
            .ok_or_else(|| invalid("Signature is not a structured dictionary"))?;
        let (label, member) = match &self.label {
            Some(wanted) => inputs.into_iter().find(|(l, _)| l == wanted),
            None => inputs.into_iter().next(),
        }
        .ok_or_else(|| invalid("Signature-Input has no signature with the expected label"))?;
        let Member::InnerList(components, params) = member else {
            return Err(invalid("a Signature-Input member is not an inner list"));
        };
        let signature = signatures
            .into_iter()
            .find(|(l, _)| *l == label)
            .and_then(|(_, m)| match m {
                Member::Item(Item {
                    value: BareItem::Bytes(b),
                    ..
                }) => Some(b),
                _ => None,
            })
            .ok_or_else(|| invalid("Signature has no byte sequence for the label"))?;
        Ok(Picked {
            components,
            params,
            signature,
        })
    }

    /// Checks the signature parameters; returns the key id and nonce.
    fn check_params(&self, picked: &Picked) -> Result<(String, Option<String>), AuthError> {
        let invalid = |why| AuthError::new(ErrorKind::InvalidFormat).with_description(why);
        let string = |name| match picked.param(name) {
            None => Ok(None),
            Some(BareItem::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid("a signature parameter has the wrong type")),
        };
        let integer = |name| match picked.param(name) {
            None => Ok(None),
            Some(BareItem::Integer(n)) => Ok(Some(*n)),
            Some(_) => Err(invalid("a signature parameter has the wrong type")),
        };
        if string("alg")?.is_some_and(|alg| alg != "hmac-sha256") {
            return Err(invalid("only alg=\"hmac-sha256\" is supported"));
        }
        let key_id = string("keyid")?.ok_or_else(|| invalid("keyid is missing"))?;
        let with_id = |e: AuthError| e.with_credential_id(key_id.as_str());
        if let Some(tag) = &self.tag {
            if string("tag")?.as_ref() != Some(tag) {
                return Err(with_id(invalid(
                    "the signature tag is not the expected one",
                )));
            }
        }
        if picked.components.is_empty() {
            // An empty list signs nothing about the request: a captured
            // signature would authenticate any request until it expires.
            return Err(with_id(invalid("the signature covers no component")));
        }
        for component in &self.required_components {
            if !picked.covers(component) {
                return Err(with_id(invalid(
                    "a component this server requires is not covered",
                )));
            }
        }
        let now = i64::try_from(self.clock.unix_now()).unwrap_or(i64::MAX);
        let window = i64::try_from(self.window.as_secs()).unwrap_or(i64::MAX);
        match integer("created")? {
            Some(created) if created > now.saturating_add(window) => {
                return Err(with_id(
                    AuthError::new(ErrorKind::NotYetValid)
                        .with_description("the signature was created in the future"),
                ));
            }
            Some(created) if created.saturating_add(window) < now => {
                return Err(with_id(
                    AuthError::new(ErrorKind::Expired).with_description("the signature is too old"),
                ));
            }
            Some(_) => {}
            None if self.require_created => return Err(with_id(invalid("created is missing"))),
            None => {}
        }
        if integer("expires")?.is_some_and(|expires| now > expires) {
            return Err(with_id(
                AuthError::new(ErrorKind::Expired).with_description("the signature has expired"),
            ));
        }
        let nonce = string("nonce")?;
        if (self.require_nonce || self.strict) && nonce.is_none() {
            return Err(with_id(invalid("nonce is missing")));
        }
        if nonce
            .as_ref()
            .is_some_and(|n| n.is_empty() || n.len() > 256)
        {
            return Err(with_id(invalid("nonce must be 1 to 256 characters")));
        }
        Ok((key_id, nonce))
    }
}

impl<S: SecretStore> Inner<S> {
    async fn check(
        &self,
        key_id: String,
        nonce: Option<String>,
        base: String,
        signature: Vec<u8>,
    ) -> Result<Principal, AuthError> {
        let record = self.secrets.find(&key_id).await?;
        let denied = |kind| Err(AuthError::new(kind).with_credential_id(key_id.as_str()));
        let matched = match_keys(record.keys(), self.clock.now(), |key| {
            ring::hmac::verify(key.ring_key(), base.as_bytes(), &signature).is_ok()
        });
        match matched {
            KeyMatch::Current => {}
            KeyMatch::Retired => return denied(ErrorKind::Rotated),
            KeyMatch::None => return denied(ErrorKind::BadSignature),
        }
        if record.revoked {
            return denied(ErrorKind::Revoked);
        }
        if let Some(nonce) = nonce {
            let nonce = Nonce::new(HTTPSIG_SCHEME_NAME, &key_id, &nonce, self.replay_ttl);
            if let Err(e) = self.replay.admit_nonce(&nonce).await {
                return Err(replay::refused(e, &key_id));
            }
        }
        Ok(Principal::new(record.subject.clone(), HTTPSIG_SCHEME_NAME)
            .with_scopes(record.scopes.clone())
            .with_credential_id(record.key_id.clone()))
    }
}

impl<S: SecretStore> Scheme for HttpSignatureScheme<S> {
    fn name(&self) -> &'static str {
        HTTPSIG_SCHEME_NAME
    }

    fn locations(&self) -> Vec<CredentialLocation> {
        vec![CredentialLocation::Header(SIGNATURE)]
    }

    fn challenge(&self) -> Challenge {
        Challenge::new("Signature")
    }

    fn reads_body(&self) -> bool {
        true
    }

    fn needs_body(&self, credential: &Credential, parts: &Parts) -> bool {
        // Only a covered Content-Digest ties the signature to the body; in
        // strict mode, the body must be seen to be empty otherwise.
        self.inner
            .pick(credential.value(), parts)
            .is_ok_and(|picked| {
                picked.covers(CONTENT_DIGEST) || (self.inner.strict && may_have_body(parts))
            })
    }

    /// Before a covered body is read: the signature's parameters (window,
    /// nonce, required components) and whether its `keyid` exists.
    fn check_before_body(&self, credential: &Credential, parts: &Parts) -> Option<PrecheckFuture> {
        let checked = self
            .inner
            .pick(credential.value(), parts)
            .and_then(|picked| self.inner.check_params(&picked));
        let key_id = match checked {
            Ok((key_id, _)) => key_id,
            Err(error) => return Some(Box::pin(std::future::ready(Err(error)))),
        };
        match self.inner.secrets.cached(&key_id) {
            Some(Ok(_)) => None,
            Some(Err(error)) => Some(Box::pin(std::future::ready(Err(error)))),
            None => {
                let inner = Arc::clone(&self.inner);
                Some(Box::pin(async move {
                    inner.secrets.find(&key_id).await.map(|_| ())
                }))
            }
        }
    }

    fn verify(&self, credential: &Credential, ctx: &VerifyContext<'_>) -> Verification {
        let inner = &self.inner;
        let parts = ctx.parts();
        let prepared = (|| {
            let picked = inner.pick(credential.value(), parts)?;
            let (key_id, nonce) = inner.check_params(&picked)?;
            let with_id = |e: AuthError| e.with_credential_id(key_id.as_str());
            if picked.covers(CONTENT_DIGEST) {
                check_content_digest(&parts.headers, body_of(ctx)?).map_err(with_id)?;
            } else if inner.strict && may_have_body(parts) && !body_of(ctx)?.is_empty() {
                return Err(with_id(
                    AuthError::new(ErrorKind::InvalidFormat).with_description(
                        "the request has a body and the signature does not cover content-digest",
                    ),
                ));
            }
            if inner.strict && parts.uri.query().is_some() && !picked.covers("@query") {
                return Err(with_id(
                    AuthError::new(ErrorKind::InvalidFormat).with_description(
                        "the request has a query and the signature does not cover @query",
                    ),
                ));
            }
            let target = Target::received(parts, &inner.assumed_scheme);
            let base = target
                .signature_base(&picked.components, &picked.params)
                .map_err(|e| {
                    let why = match e {
                        BaseError::Unsupported(why) => why,
                        BaseError::MissingHeader => "a covered header is missing from the request",
                    };
                    with_id(AuthError::new(ErrorKind::InvalidFormat).with_description(why))
                })?;
            Ok((key_id, nonce, base, picked.signature))
        })();
        match prepared {
            Err(error) => Verification::ready(Err(error)),
            Ok((key_id, nonce, base, signature)) => {
                let inner = Arc::clone(&self.inner);
                Verification::pending(
                    async move { inner.check(key_id, nonce, base, signature).await },
                )
            }
        }
    }
}

impl<S> fmt::Debug for HttpSignatureScheme<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSignatureScheme")
            .field("window", &self.inner.window)
            .field("label", &self.inner.label)
            .field("required_components", &self.inner.required_components)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9421 B.2.5: the signature base, byte for byte.
    #[test]
    fn b25_signature_base() {
        let request = http::Request::post("/foo?param=Value&Pet=dog")
            .header("host", "example.com")
            .header("date", "Tue, 20 Apr 2021 02:07:55 GMT")
            .header("content-type", "application/json")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let dict = parse_dictionary(r#"sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret""#).unwrap();
        let Member::InnerList(items, params) = &dict[0].1 else {
            panic!()
        };
        let target = Target::received(&parts, "https");
        assert_eq!(
            target.signature_base(items, params).unwrap(),
            "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@authority\": example.com\n\"content-type\": application/json\n\"@signature-params\": (\"date\" \"@authority\" \"content-type\");created=1618884473;keyid=\"test-shared-secret\""
        );
    }

    #[test]
    fn derived_components() {
        let request = http::Request::post("/a%20b/c?x=1&y=")
            .header("host", "Example.COM:8443")
            .body(())
            .unwrap();
        let (parts, ()) = request.into_parts();
        let t = Target::received(&parts, "https");
        assert_eq!(t.component("@method").unwrap(), "POST");
        assert_eq!(t.component("@authority").unwrap(), "example.com:8443");
        assert_eq!(t.component("@scheme").unwrap(), "https");
        assert_eq!(t.component("@path").unwrap(), "/a%20b/c");
        assert_eq!(t.component("@query").unwrap(), "?x=1&y=");
        assert_eq!(t.component("@request-target").unwrap(), "/a%20b/c?x=1&y=");
        assert_eq!(
            t.component("@target-uri").unwrap(),
            "https://example.com:8443/a%20b/c?x=1&y="
        );
        assert!(t.component("@query-param").is_err());
        let default_port = http::Request::get("/")
            .header("host", "example.com:443")
            .body(())
            .unwrap()
            .into_parts()
            .0;
        let t = Target::received(&default_port, "https");
        assert_eq!(t.component("@authority").unwrap(), "example.com");
        assert_eq!(t.component("x-missing"), Err(BaseError::MissingHeader));
    }
}
