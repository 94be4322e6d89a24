//! The verified identity that reaches handlers.
//!
//! After a scheme verifies a credential, the [`Auth`](crate::Auth) service
//! inserts a [`Principal`] into the request's extensions. axum handlers take
//! it as an argument (`principal: Principal`, with the `axum` feature, on by
//! default) or with `Extension<Principal>`; tonic handlers read
//! `request.extensions()`. It is reference-counted: cloning it is cheap.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::service::AuthContext;

mod scopes;

pub use scopes::Scopes;

/// A verified identity: who is calling, through which scheme, with which
/// scopes.
///
/// In an axum handler, take it as an argument: `principal: Principal`
/// (`Option<Principal>` on anonymous paths, [`Claims<T>`](crate::Claims)
/// for the claims as your type). That needs the `axum` feature, on by
/// default:
///
/// ```toml
/// authgate = { version = "0.1", features = ["axum"] }
/// ```
///
/// Without it the handler fails to compile with ``the trait `Handler<_, _>`
/// is not implemented``; `#[axum::debug_handler]` on the handler makes the
/// compiler name the argument instead.
///
/// # Example
///
/// ```
/// use authgate::{api_key, Principal, Scopes};
///
/// // What `ApiKeyScheme` produces for a valid key.
/// let principal = Principal::new("acct_42", api_key::SCHEME_NAME)
///     .with_scopes(Scopes::parse("orders:read"))
///     .with_credential_id("k3y1d");
/// assert_eq!(principal.subject(), "acct_42");
/// assert_eq!(principal.scheme(), "api_key");
/// assert!(principal.scopes().contains("orders:read"));
/// assert_eq!(principal.credential_id(), Some("k3y1d"));
/// ```
#[derive(Clone)]
pub struct Principal {
    inner: Arc<PrincipalData>,
    /// The layer that granted it, so that authorization layers further in
    /// (derived layers, `AuthorizeLayer`, the axum extractors) recognise an
    /// authenticated request and answer like that layer. Carried here rather
    /// than as a second extension: one insert per granted request instead
    /// of two. Not part of the identity: ignored by `==`, `Debug` and
    /// `Serialize`.
    context: Option<AuthContext>,
}

/// Equality of the identities: the granting layer is not compared.
impl PartialEq for Principal {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

#[derive(Clone, PartialEq, Serialize)]
struct PrincipalData {
    subject: String,
    scheme: &'static str,
    scopes: Scopes,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    claims: Option<ClaimSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<Box<str>>,
}

impl Principal {
    /// A copy that shares no reference count with `self`: for a value that
    /// another thread keeps cloning. It carries no granting layer.
    #[cfg(any(feature = "jwt", feature = "api-key"))]
    pub(crate) fn unshared(&self) -> Self {
        Self {
            inner: Arc::new(PrincipalData::clone(&self.inner)),
            context: None,
        }
    }

    /// A principal with a subject and the name of the scheme that verified
    /// it, with no scopes.
    #[must_use]
    pub fn new(subject: impl Into<String>, scheme: &'static str) -> Self {
        Self {
            inner: Arc::new(PrincipalData {
                subject: subject.into(),
                scheme,
                scopes: Scopes::empty(),
                credential_id: None,
                claims: None,
                plan: None,
            }),
            context: None,
        }
    }

    /// This principal as granted by the layer of `context`.
    pub(crate) fn granted_by(mut self, context: AuthContext) -> Self {
        self.context = Some(context);
        self
    }

    /// The layer that granted this principal, if one of this crate did.
    pub(crate) fn context(&self) -> Option<&AuthContext> {
        self.context.as_ref()
    }

    /// Sets the scopes.
    #[must_use]
    pub fn with_scopes(mut self, scopes: Scopes) -> Self {
        Arc::make_mut(&mut self.inner).scopes = scopes;
        self
    }

    /// Sets the id of the credential: an API key's id, a JWT's `jti`, an
    /// HMAC key id. Never a secret.
    #[must_use]
    pub fn with_credential_id(mut self, id: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner).credential_id = Some(id.into());
        self
    }

    /// Sets the claims (for token schemes).
    #[must_use]
    pub fn with_claims(mut self, claims: Map<String, Value>) -> Self {
        Arc::make_mut(&mut self.inner).claims = Some(ClaimSet {
            map: OnceLock::from(claims),
            json: Vec::new(),
            iss: None,
            has_cnf: true,
        });
        self
    }

    /// Sets the claims of a JWT from its decoded claims, a JSON object
    /// that [`TokenClaims`](crate::jwt::claims::TokenClaims) already read
    /// (no repeated names), with what the layer itself reads from them:
    /// `iss` (the issuer's, shared) and whether there is a `cnf`. The map
    /// handlers see is built the first time they ask for it.
    #[cfg(feature = "jwt")]
    pub(crate) fn with_token_claims(mut self, json: Vec<u8>, iss: Arc<Value>, cnf: bool) -> Self {
        Arc::make_mut(&mut self.inner).claims = Some(ClaimSet {
            map: OnceLock::new(),
            json,
            iss: Some(iss),
            has_cnf: cnf,
        });
        self
    }

    /// Sets the plan the credential was issued under (an API key record's
    /// [`plan`](crate::api_key::KeyRecord::plan)): what a
    /// [`RateLimitLayer`](crate::ratelimit::RateLimitLayer) with
    /// [`plan`](crate::ratelimit::RateLimitLayer::plan)s picks a quota by.
    ///
    /// ```
    /// use authgate::Principal;
    /// let principal = Principal::new("acct_42", "api_key").with_plan("pro");
    /// assert_eq!(principal.plan(), Some("pro"));
    /// ```
    #[must_use]
    pub fn with_plan(mut self, plan: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.inner).plan = Some(plan.into().into_boxed_str());
        self
    }

    /// The plan set with [`with_plan`](Self::with_plan), if any. A token's
    /// plan claim is read with [`claim`](Self::claim).
    #[must_use]
    pub fn plan(&self) -> Option<&str> {
        self.inner.plan.as_deref()
    }

    /// Who is calling: an account id, a JWT `sub`.
    #[must_use]
    pub fn subject(&self) -> &str {
        &self.inner.subject
    }

    /// The scheme that verified the credential: its `SCHEME_NAME` constant,
    /// e.g. [`api_key::SCHEME_NAME`](crate::api_key::SCHEME_NAME) (`"api_key"`)
    /// or [`jwt::SCHEME_NAME`](crate::jwt::SCHEME_NAME) (`"jwt"`). Compare
    /// against the constants, not string literals.
    ///
    /// ```
    /// use authgate::{jwt, Principal};
    /// let principal = Principal::new("u1", jwt::SCHEME_NAME);
    /// assert_eq!(principal.scheme(), jwt::SCHEME_NAME);
    /// assert_eq!(jwt::SCHEME_NAME, "jwt"); // not "bearer", the HTTP auth scheme
    /// ```
    #[must_use]
    pub fn scheme(&self) -> &'static str {
        self.inner.scheme
    }

    /// The granted scopes.
    #[must_use]
    pub fn scopes(&self) -> &Scopes {
        &self.inner.scopes
    }

    /// The credential's id (key id, `jti`), if it has one.
    #[must_use]
    pub fn credential_id(&self) -> Option<&str> {
        self.inner.credential_id.as_deref()
    }

    /// All claims, for token schemes.
    #[must_use]
    pub fn claims(&self) -> Option<&Map<String, Value>> {
        self.inner.claims.as_ref().map(ClaimSet::map)
    }

    /// One claim by name.
    ///
    /// ```
    /// use authgate::Principal;
    /// use serde_json::{json, Map};
    ///
    /// let mut claims = Map::new();
    /// claims.insert("tenant".into(), json!("acme"));
    /// let p = Principal::new("u1", authgate::jwt::SCHEME_NAME).with_claims(claims);
    /// assert_eq!(p.claim("tenant"), Some(&json!("acme")));
    /// ```
    #[must_use]
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.inner.claims.as_ref().and_then(|c| c.get(name))
    }

    /// The claims deserialized into your own type. In an axum handler,
    /// the [`Claims<T>`](crate::Claims) extractor does this and answers 401
    /// when they do not fit.
    ///
    /// ```
    /// use authgate::Principal;
    /// use serde_json::{json, Map};
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Tenant { tenant: String }
    ///
    /// let mut claims = Map::new();
    /// claims.insert("tenant".into(), json!("acme"));
    /// let p = Principal::new("u1", authgate::jwt::SCHEME_NAME).with_claims(claims);
    /// let t: Tenant = p.deserialize_claims().unwrap();
    /// assert_eq!(t.tenant, "acme");
    /// ```
    ///
    /// # Errors
    ///
    /// When the claims do not fit `T`, or there are none and `T` needs some.
    pub fn deserialize_claims<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        match &self.inner.claims {
            Some(claims) => T::deserialize(claims.map()),
            None => T::deserialize(&Map::new()),
        }
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("subject", &self.inner.subject)
            .field("scheme", &self.inner.scheme)
            .field("scopes", &self.inner.scopes)
            .field("credential_id", &self.inner.credential_id)
            .field("claims", &self.claims().map(Map::len))
            .field("plan", &self.inner.plan)
            .finish()
    }
}

/// A principal's claims: a map, or (for a JWT) the decoded JSON the map
/// is built from the first time it is asked for, so that a token no
/// handler reads the claims of never pays for the map.
#[derive(Clone)]
struct ClaimSet {
    map: OnceLock<Map<String, Value>>,
    /// The decoded claims, when `map` is to be built from them.
    json: Vec<u8>,
    /// `iss`, which the layer reads (DPoP modes, rate-limit keys), as a
    /// value ready to lend before the map is built.
    iss: Option<Arc<Value>>,
    /// Whether there is a `cnf` (or may be: true when unknown).
    has_cnf: bool,
}

impl ClaimSet {
    fn map(&self) -> &Map<String, Value> {
        // The JSON was read once already: an object without repeated
        // names, so this parse succeeds.
        self.map
            .get_or_init(|| serde_json::from_slice(&self.json).unwrap_or_default())
    }

    fn get(&self, name: &str) -> Option<&Value> {
        if let Some(map) = self.map.get() {
            return map.get(name);
        }
        match name {
            "iss" => self.iss.as_deref(),
            "cnf" if !self.has_cnf => None,
            _ => self.map().get(name),
        }
    }
}

impl PartialEq for ClaimSet {
    fn eq(&self, other: &Self) -> bool {
        self.map() == other.map()
    }
}

impl Serialize for ClaimSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.map().serialize(serializer)
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.inner.serialize(serializer)
    }
}

#[cfg(all(test, feature = "jwt"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn token_claims_read_before_and_after_their_map_is_built() {
        let json = br#"{"iss":"https://i","sub":"alice","tenant":"acme","n":[1,2.5]}"#;
        let iss = Arc::new(json!("https://i"));
        let token = || {
            Principal::new("alice", "jwt").with_token_claims(json.to_vec(), Arc::clone(&iss), false)
        };
        let expected: Map<String, Value> = serde_json::from_slice(json).unwrap();
        let from_map = Principal::new("alice", "jwt").with_claims(expected.clone());

        // What the layer reads needs no map.
        let p = token();
        assert_eq!(p.claim("iss"), Some(&json!("https://i")));
        assert_eq!(p.claim("cnf"), None);
        assert!(p.inner.claims.as_ref().unwrap().map.get().is_none());
        // Anything else builds it, once; clones share it.
        assert_eq!(p.claim("tenant"), Some(&json!("acme")));
        assert_eq!(p.claims(), Some(&expected));
        assert_eq!(p.claim("iss"), Some(&json!("https://i")));
        assert_eq!(p.clone().claim("n"), Some(&json!([1, 2.5])));

        let p = token();
        #[derive(serde::Deserialize)]
        struct Tenant {
            tenant: String,
        }
        assert_eq!(p.deserialize_claims::<Tenant>().unwrap().tenant, "acme");
        assert!(token() == from_map);
        assert_eq!(
            serde_json::to_value(token()).unwrap(),
            serde_json::to_value(&from_map).unwrap()
        );
        assert!(format!("{:?}", token()).contains("claims: Some(4)"));
    }
}
