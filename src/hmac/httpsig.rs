//! RFC 9421 HTTP Message Signatures with `hmac-sha256`: the verifier
//! ([`HttpSignatureScheme`]) and the signer ([`HttpSigner`]).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

use super::encoding::{body_of, sha256};
use super::secrets::{match_keys, HmacKey, KeyMatch};
use super::store::{CachedStore, SecretStore};
use super::structured::{
    parse_dictionary, serialize_inner_list, BareItem, Item, Member, Params, MAX_FIELD_LEN,
};
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::credentials::{Credential, CredentialLocation};
use crate::error::{AuthError, ConfigError, ErrorKind};
use crate::principal::Principal;
use crate::replay::{self, Nonce, ReplayCache, ReplayStore, SharedReplayStore};
use crate::scheme::{Challenge, PrecheckFuture, Scheme, Verification, VerifyContext};

/// The name RFC 9421 principals carry in [`Principal::scheme`].
pub const HTTPSIG_SCHEME_NAME: &str = "http_signature";

const SIGNATURE: HeaderName = HeaderName::from_static("signature");
const SIGNATURE_INPUT: HeaderName = HeaderName::from_static("signature-input");
const CONTENT_DIGEST: &str = "content-digest";
/// The components a signature must cover unless the scheme is configured
/// otherwise: enough to bind it to one method and target.
///
/// ```
/// assert_eq!(authgate::hmac::DEFAULT_REQUIRED_COMPONENTS, ["@method", "@authority", "@path"]);
/// ```
pub const DEFAULT_REQUIRED_COMPONENTS: [&str; 3] = ["@method", "@authority", "@path"];

/// Most components one signature may cover.
const MAX_COMPONENTS: usize = 32;

/// What the signature base needs to know about the request.
///
/// The target URI (RFC 9110 §7.1) is the request's URI when it has a
/// scheme and an authority: HTTP/1.1 absolute-form, where the target's
/// authority wins over `Host` (RFC 9112 §3.2.2), and every HTTP/2 request
/// (hyper builds its URI from `:scheme`, `:authority` and `:path`).
/// Otherwise (origin form) the authority comes from `Host` and the scheme
/// is the assumed one. `@authority`, `@scheme` and `@target-uri` derive
/// from the target URI (RFC 9421 §2.2.1 to §2.2.3).
///
/// A `Host` header that names another authority than the target URI is
/// refused, not ignored: RFC 9112 lets a server ignore it, but an
/// application behind the layer may well route on `Host`, and RFC 9113
/// §8.3.1 calls the HTTP/2 case malformed. So is a repeated `Host`.
struct Target<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    assumed_scheme: &'a str,
    /// Whether the request line carried its target in absolute form: then
    /// `@request-target` is that absolute URI (RFC 9421 §2.2.5). Only
    /// HTTP/1.x has a request line; an HTTP/2 request's target is `:path`.
    absolute_form: bool,
}

/// Why a signature base cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BaseError {
    Unsupported(&'static str),
    MissingHeader,
}

impl<'a> Target<'a> {
    /// The target of a request received by a server.
    fn received(parts: &'a Parts, assumed_scheme: &'a str) -> Self {
        Self {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            assumed_scheme,
            absolute_form: parts.version < http::Version::HTTP_2
                && parts.uri.scheme().is_some()
                && parts.uri.authority().is_some(),
        }
    }

    /// The target of a request about to be sent. HTTP clients send origin
    /// form (the URI's path and query) unless they talk to a forward proxy,
    /// so that is what `@request-target` signs.
    fn outgoing<B>(request: &'a Request<B>, assumed_scheme: &'a str) -> Self {
        Self {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            assumed_scheme,
            absolute_form: false,
        }
    }

    /// The authority of the target URI, lowercase, without userinfo and
    /// without the scheme's default port (RFC 9421 §2.2.3, RFC 9110
    /// §4.2.3); from `Host` only when the URI has none.
    fn authority(&self) -> Result<String, BaseError> {
        let mut hosts = self.headers.get_all(http::header::HOST).iter();
        let host = match (hosts.next(), hosts.next()) {
            (None, _) => None,
            (Some(value), None) => Some(
                value
                    .to_str()
                    .map_err(|_| BaseError::Unsupported("the Host header is not ASCII"))?
                    .trim(),
            ),
            (Some(_), Some(_)) => {
                return Err(BaseError::Unsupported(
                    "the request has more than one Host header",
                ))
            }
        };
        let from_uri = self
            .uri
            .authority()
            .map(|a| a.as_str().rsplit('@').next().unwrap_or_default());
        match (from_uri, host) {
            (Some(target), Some(host)) => {
                let target = self.normalize(target);
                if target != self.normalize(host) {
                    return Err(BaseError::Unsupported(
                        "the Host header names another authority than the request target",
                    ));
                }
                Ok(target)
            }
            (Some(authority), None) | (None, Some(authority)) => Ok(self.normalize(authority)),
            (None, None) => Err(BaseError::MissingHeader),
        }
    }

    fn normalize(&self, authority: &str) -> String {
        let mut host = authority.to_ascii_lowercase();
        let default_port = match self.scheme().as_str() {
            "https" => ":443",
            "http" => ":80",
            _ => return host,
        };
        if let Some(len) = host.strip_suffix(default_port).map(str::len) {
            host.truncate(len);
        }
        host
    }

    fn scheme(&self) -> String {
        self.uri
            .scheme_str()
            .unwrap_or(self.assumed_scheme)
            .to_ascii_lowercase()
    }

    fn path(&self) -> &str {
        if self.uri.path().is_empty() {
            "/"
        } else {
            self.uri.path()
        }
    }

    /// Path and query: the origin form of the target.
    fn origin_form(&self) -> String {
        match self.uri.query() {
            Some(q) => format!("{}?{q}", self.path()),
            None => self.path().to_owned(),
        }
    }

    /// The request target as it was on the request line (RFC 9421 §2.2.5).
    fn request_target(&self) -> String {
        if self.absolute_form {
            self.uri.to_string()
        } else {
            self.origin_form()
        }
    }

    /// The value of one covered component (RFC 9421 §2.1, §2.2).
    fn component(&self, name: &str) -> Result<String, BaseError> {
        Ok(match name {
            "@method" => self.method.as_str().to_owned(),
            "@authority" => self.authority()?,
            "@scheme" => self.scheme(),
            "@target-uri" => format!(
                "{}://{}{}",
                self.scheme(),
                self.authority()?,
                self.origin_form()
            ),
            "@request-target" => self.request_target(),
            "@path" => self.path().to_owned(),
            "@query" => format!("?{}", self.uri.query().unwrap_or("")),
            "@signature-params" => {
                return Err(BaseError::Unsupported(
                    "@signature-params cannot be a covered component",
                ))
            }
            derived if derived.starts_with('@') => {
                return Err(BaseError::Unsupported(
                    "a derived component is not supported",
                ))
            }
            field => {
                let name = HeaderName::from_bytes(field.as_bytes())
                    .map_err(|_| BaseError::Unsupported("a covered field name is invalid"))?;
                let mut values = Vec::new();
                for value in self.headers.get_all(name) {
                    let text = value
                        .to_str()
                        .map_err(|_| BaseError::Unsupported("a covered field is not ASCII"))?;
                    values.push(text.trim_matches([' ', '\t']));
                }
                if values.is_empty() {
                    return Err(BaseError::MissingHeader);
                }
                values.join(", ")
            }
        })
    }

    /// The signature base (RFC 9421 §2.5).
    fn signature_base(&self, components: &[Item], params: &Params) -> Result<String, BaseError> {
        if components.len() > MAX_COMPONENTS {
            return Err(BaseError::Unsupported("too many covered components"));
        }
        let mut base = String::new();
        let mut seen: Vec<&str> = Vec::new();
        for item in components {
            let BareItem::String(name) = &item.value else {
                return Err(BaseError::Unsupported(
                    "a covered component is not a string",
                ));
            };
            if !item.params.is_empty() {
                return Err(BaseError::Unsupported(
                    "component parameters (sf, key, bs, req, name) are not supported",
                ));
            }
            if name.bytes().any(|b| b.is_ascii_uppercase()) || seen.contains(&name.as_str()) {
                return Err(BaseError::Unsupported(
                    "covered components must be lowercase and distinct",
                ));
            }
            seen.push(name);
            let value = self.component(name)?;
            base.push('"');
            base.push_str(name);
            base.push_str("\": ");
            base.push_str(&value);
            base.push('\n');
        }
        base.push_str("\"@signature-params\": ");
        base.push_str(&serialize_inner_list(components, params));
        Ok(base)
    }
}

/// Checks a `Content-Digest` header (RFC 9530) against the body: every
/// `sha-256` / `sha-512` member must match, and at least one must be there.
fn check_content_digest(headers: &HeaderMap, body: &[u8]) -> Result<(), AuthError> {
    let bad_format = |why| AuthError::new(ErrorKind::InvalidFormat).with_description(why);
    let mut values = headers.get_all(CONTENT_DIGEST).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(bad_format("Content-Digest is missing or repeated"));
    };
    let dict = value
        .to_str()
        .ok()
        .and_then(parse_dictionary)
        .ok_or_else(|| bad_format("Content-Digest is not a structured dictionary"))?;
    let mut checked = false;
    let mut ok = true;
    for (alg, member) in &dict {
        let Member::Item(Item {
            value: BareItem::Bytes(digest),
            ..
        }) = member
        else {
            continue;
        };
        let actual = match alg.as_str() {
            "sha-256" => sha256(body).to_vec(),
            "sha-512" => ring::digest::digest(&ring::digest::SHA512, body)
                .as_ref()
                .to_vec(),
            _ => continue,
        };
        checked = true;
        ok &= bool::from(actual.ct_eq(digest));
    }
    if !checked {
        return Err(bad_format(
            "Content-Digest has no sha-256 or sha-512 digest",
        ));
    }
    if !ok {
        return Err(AuthError::new(ErrorKind::BadSignature)
            .with_description("Content-Digest does not match the body"));
    }
    Ok(())
}

/// Whether the request may carry a body: not when `Content-Length: 0`,
/// nor for HTTP/1.x without `Content-Length` and `Transfer-Encoding`
/// (RFC 9112 §6.3). An HTTP/2 request may send DATA without either.
fn may_have_body(parts: &Parts) -> bool {
    let headers = &parts.headers;
    if let Some(length) = headers.get(http::header::CONTENT_LENGTH) {
        return length.as_bytes() != b"0";
    }
    headers.contains_key(http::header::TRANSFER_ENCODING) || parts.version >= http::Version::HTTP_2
}

/// One signature picked out of `Signature-Input` and `Signature`.
struct Picked {
    components: Vec<Item>,
    params: Params,
    signature: Vec<u8>,
}

impl Picked {
    fn param(&self, name: &str) -> Option<&BareItem> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    fn covers(&self, name: &str) -> bool {
        self.components
            .iter()
            .any(|i| matches!(&i.value, BareItem::String(s) if s == name))
    }
}

/// RFC 9421 HTTP Message Signatures, algorithm `hmac-sha256`:
/// `Signature-Input` and `Signature` headers, keys by `keyid` from a
/// [`SecretStore`](super::SecretStore).
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
        HttpSignatureSchemeBuilder {
            store,
            window: Duration::from_secs(300),
            label: None,
            tag: None,
            require_created: true,
            require_nonce: false,
            strict: false,
            required_components: DEFAULT_REQUIRED_COMPONENTS
                .iter()
                .map(|c| (*c).to_owned())
                .collect(),
            assumed_scheme: "https".to_owned(),
            replay: None,
            replay_capacity: 100_000,
            cache_capacity: 10_000,
            cache_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(60),
            store_timeout: Duration::from_secs(2),
            clock: Arc::new(SystemClock),
        }
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

/// Configures an [`HttpSignatureScheme`].
#[must_use]
pub struct HttpSignatureSchemeBuilder<S> {
    store: S,
    window: Duration,
    label: Option<String>,
    tag: Option<String>,
    require_created: bool,
    require_nonce: bool,
    strict: bool,
    required_components: Vec<String>,
    assumed_scheme: String,
    replay: Option<SharedReplayStore>,
    replay_capacity: u64,
    cache_capacity: u64,
    cache_ttl: Duration,
    negative_ttl: Duration,
    store_timeout: Duration,
    clock: SharedClock,
}

impl<S: SecretStore> HttpSignatureSchemeBuilder<S> {
    /// How far `created` may be from now, either way. Defaults to 300
    /// seconds.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Checks only the signature with this label. Defaults to the first
    /// signature in `Signature-Input`.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Requires the `tag` parameter to be this value (an application
    /// profile). Defaults to not checked.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Whether `created` must be present. Defaults to `true`: without it a
    /// signature never ages.
    pub fn require_created(mut self, required: bool) -> Self {
        self.require_created = required;
        self
    }

    /// Whether `nonce` must be present. Defaults to `false`; a nonce that is
    /// present is always checked against the replay cache.
    pub fn require_nonce(mut self, required: bool) -> Self {
        self.require_nonce = required;
        self
    }

    /// Binds every signature to the whole request, on top of the required
    /// components: a request with a query must have `@query` covered, a
    /// request with a body must have `content-digest` covered (the body is
    /// then read and checked), and `nonce` is required, so a captured
    /// signature cannot be replayed at all, nor with another query or body
    /// within the `created` window. Defaults to `false`: the default
    /// components (`@method`, `@authority`, `@path`) leave the query and the
    /// body to the signer, as RFC 9421 does.
    ///
    /// The cost: clients must sign those components and send a fresh nonce
    /// each time, every nonce is kept in the replay cache for twice the
    /// window, and bodies of strictly verified requests are buffered up to
    /// the layer's limit.
    ///
    /// ```
    /// use authgate::hmac::{HttpSignatureScheme, InMemorySecretStore};
    ///
    /// let scheme = HttpSignatureScheme::builder(InMemorySecretStore::new())
    ///     .strict(true)
    ///     .build()
    ///     .unwrap();
    /// # let _ = scheme;
    /// ```
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// The components every signature must cover, replacing the default
    /// [`DEFAULT_REQUIRED_COMPONENTS`] (`@method`, `@authority`, `@path`),
    /// which binds a signature to one request target so that a captured
    /// signature cannot be replayed against another. Add `content-digest`
    /// to bind the body too. Pass an empty list only to verify signatures
    /// made by others over fewer components (the RFC 9421 Appendix B
    /// examples, say): a signature must still cover at least one.
    pub fn require_components<I, C>(mut self, components: I) -> Self
    where
        I: IntoIterator<Item = C>,
        C: Into<String>,
    {
        self.required_components = components.into_iter().map(Into::into).collect();
        self
    }

    /// The scheme used for `@scheme` and `@target-uri` when the request URI
    /// has none (the usual case behind a server: requests arrive in origin
    /// form). Defaults to `https`.
    pub fn assume_scheme(mut self, scheme: impl Into<String>) -> Self {
        self.assumed_scheme = scheme.into();
        self
    }

    /// Shares a replay cache with other schemes. Its TTL must be at least
    /// twice the window. Defaults to a cache of this scheme's own.
    pub fn replay_cache(self, cache: ReplayCache) -> Self {
        self.replay_store(cache)
    }

    /// Records nonces in `store` instead of an in-process cache: a
    /// `RedisReplayStore` (feature `redis`) shared by every instance of
    /// the service refuses a signature replayed to any of them. Each nonce
    /// is kept `2 × window + 1 s`. Defaults to a [`ReplayCache`] of this
    /// scheme's own.
    ///
    /// ```
    /// use authgate::hmac::{HttpSignatureScheme, InMemorySecretStore, ReplayCache};
    /// use std::time::Duration;
    ///
    /// let scheme = HttpSignatureScheme::builder(InMemorySecretStore::new())
    ///     .replay_store(ReplayCache::new(100_000, Duration::from_secs(601)))
    ///     .build()
    ///     .unwrap();
    /// # let _ = scheme;
    /// ```
    pub fn replay_store(mut self, store: impl ReplayStore) -> Self {
        self.replay = Some(std::sync::Arc::new(store));
        self
    }

    /// How many nonces the replay cache holds. Defaults to 100 000.
    pub fn replay_capacity(mut self, capacity: u64) -> Self {
        self.replay_capacity = capacity;
        self
    }

    /// Maximum number of cached secret look-ups. Defaults to 10 000.
    pub fn cache_capacity(mut self, capacity: u64) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// How long a found record is cached. Defaults to 60 seconds.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// How long a store look-up may take before a 503. Defaults to 2
    /// seconds.
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// The clock `created`, `expires` and rotation deadlines are checked
    /// against. Defaults to the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the settings and builds the scheme.
    ///
    /// # Errors
    ///
    /// With a zero window or store timeout, or a required component that is
    /// not lowercase.
    pub fn build(self) -> Result<HttpSignatureScheme<S>, ConfigError> {
        if self.window.is_zero() || self.store_timeout.is_zero() {
            return Err(ConfigError::InvalidSetting {
                setting: "window / store_timeout",
                why: "must be greater than zero",
            });
        }
        if let Some(bad) = self
            .required_components
            .iter()
            .find(|c| c.is_empty() || c.bytes().any(|b| b.is_ascii_uppercase()))
        {
            return Err(ConfigError::InvalidName {
                name: bad.clone(),
                why: "component names are lowercase",
            });
        }
        let replay_ttl = self.window.saturating_mul(2) + Duration::from_secs(1);
        let replay = self.replay.unwrap_or_else(|| {
            std::sync::Arc::new(ReplayCache::new(self.replay_capacity, replay_ttl))
        });
        Ok(HttpSignatureScheme {
            inner: Arc::new(Inner {
                secrets: CachedStore::new(
                    self.store,
                    self.cache_capacity,
                    self.cache_ttl,
                    self.negative_ttl,
                    self.store_timeout,
                ),
                replay,
                replay_ttl,
                window: self.window,
                label: self.label,
                tag: self.tag,
                require_created: self.require_created,
                require_nonce: self.require_nonce,
                strict: self.strict,
                required_components: self.required_components,
                assumed_scheme: self.assumed_scheme,
                clock: self.clock,
            }),
        })
    }
}

impl<S> fmt::Debug for HttpSignatureSchemeBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSignatureSchemeBuilder")
            .field("window", &self.window)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

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
        let nonce = super::encoding::hex(&raw);
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
                super::encoding::b64(&sha256(request.body().as_ref()))
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
        let signature = format!("{}=:{}:", self.label, super::encoding::b64(tag.as_ref()));
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
