//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the document that
//! tells a client which authorization servers issue tokens for this API,
//! which scopes it knows and how to send a token.
//!
//! A layer built with
//! [`protected_resource`](crate::AuthLayerBuilder::protected_resource)
//! answers `GET /.well-known/oauth-protected-resource` (followed by the
//! resource's path, if any, RFC 9728 §3.1) itself, without a credential,
//! and every `Bearer` challenge it sends carries
//! `resource_metadata="<that URL>"` (RFC 9728 §5.1). MCP clients and other
//! OAuth 2.1 clients start from that parameter to find out how to get a
//! token.
//!
//! ```
//! use authgate::jwt::{Issuer, JwtKey, JwtScheme};
//! use authgate::metadata::ProtectedResource;
//! use authgate::AuthLayer;
//! use tower::{service_fn, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let jwt = JwtScheme::builder()
//!     .issuer(Issuer::new("https://as.example").audience("https://api.example")
//!         .key(JwtKey::shared_secret(&[7u8; 32])?))
//!     .build()?;
//! let auth = AuthLayer::builder()
//!     .scheme(jwt)
//!     .protected_resource(
//!         ProtectedResource::new("https://api.example")?
//!             .authorization_server("https://as.example")
//!             .scopes_supported(["orders:read", "orders:write"]),
//!     )
//!     .build()?;
//! let service = ServiceBuilder::new().layer(auth).service(service_fn(|_: http::Request<()>| async {
//!     Ok::<_, std::convert::Infallible>(http::Response::new(()))
//! }));
//!
//! let response = service.clone().oneshot(http::Request::get("/orders").body(())?).await?;
//! assert_eq!(
//!     response.headers()["www-authenticate"],
//!     r#"Bearer resource_metadata="https://api.example/.well-known/oauth-protected-resource""#
//! );
//! let document = http::Request::get("/.well-known/oauth-protected-resource").body(())?;
//! assert_eq!(service.oneshot(document).await?.status(), 200);
//! # Ok(())
//! # }
//! ```

use std::fmt;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::request::Parts;
use http::{Method, Response, StatusCode};
use serde::Serialize;

use crate::error::ConfigError;

/// The well-known path segment of RFC 9728 §3.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The metadata of one protected resource (RFC 9728 §2).
///
/// Only `resource` is required; every other member is published when set.
/// `bearer_methods_supported` defaults to `["header"]`, the one method
/// authgate's `Bearer` schemes accept.
///
/// ```
/// use authgate::metadata::ProtectedResource;
///
/// let metadata = ProtectedResource::new("https://api.example.com/v1").unwrap()
///     .authorization_server("https://login.example.com")
///     .scopes_supported(["read", "write"])
///     .resource_name("Orders API")
///     .resource_documentation("https://docs.example.com/orders");
/// assert_eq!(metadata.url(), "https://api.example.com/.well-known/oauth-protected-resource/v1");
/// assert_eq!(metadata.path(), "/.well-known/oauth-protected-resource/v1");
/// ```
#[derive(Clone, Serialize)]
pub struct ProtectedResource {
    resource: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
    bearer_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resource_signing_alg_values_supported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_documentation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_policy_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_tos_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_client_certificate_bound_access_tokens: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authorization_details_types_supported: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dpop_signing_alg_values_supported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dpop_bound_access_tokens_required: Option<bool>,
    #[serde(skip)]
    path: String,
    #[serde(skip)]
    url: String,
}

fn strings<I, S>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    items.into_iter().map(Into::into).collect()
}

impl ProtectedResource {
    /// Metadata for the resource identified by `resource`: an `https` URL
    /// (`http` for loopback development) with no query or fragment.
    ///
    /// # Errors
    ///
    /// When `resource` is not such a URL.
    pub fn new(resource: impl Into<String>) -> Result<Self, ConfigError> {
        let resource = resource.into();
        let bad = |why| ConfigError::InvalidSetting {
            setting: "resource",
            why,
        };
        let uri: http::Uri = resource.parse().map_err(|_| bad("not an absolute URL"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
            return Err(bad("not an absolute URL"));
        };
        if !matches!(scheme, "https" | "http") {
            return Err(bad("must be an https URL"));
        }
        if uri.query().is_some() || resource.contains('#') {
            return Err(bad("must have no query and no fragment (RFC 9728 §2)"));
        }
        // RFC 9728 §3.1: the well-known segment goes between the host and
        // the resource's path.
        let tail = uri.path().trim_end_matches('/');
        let path = format!("{WELL_KNOWN}{tail}");
        let url = format!("{scheme}://{authority}{path}");
        if !crate::scheme::is_quotable(&url) {
            return Err(bad("cannot be sent in a challenge"));
        }
        Ok(Self {
            resource,
            authorization_servers: Vec::new(),
            jwks_uri: None,
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".to_owned()],
            resource_signing_alg_values_supported: Vec::new(),
            resource_name: None,
            resource_documentation: None,
            resource_policy_uri: None,
            resource_tos_uri: None,
            tls_client_certificate_bound_access_tokens: None,
            authorization_details_types_supported: Vec::new(),
            dpop_signing_alg_values_supported: Vec::new(),
            dpop_bound_access_tokens_required: None,
            path,
            url,
        })
    }

    /// Adds an issuer identifier of an authorization server that issues
    /// tokens for this resource (`authorization_servers`).
    #[must_use]
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The scopes this resource knows (`scopes_supported`).
    #[must_use]
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = strings(scopes);
        self
    }

    /// How tokens may be sent (`bearer_methods_supported`: `header`,
    /// `body`, `query`). Defaults to `["header"]`.
    #[must_use]
    pub fn bearer_methods_supported<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.bearer_methods_supported = strings(methods);
        self
    }

    /// The resource's own public keys (`jwks_uri`).
    #[must_use]
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self
    }

    /// Algorithms the resource signs responses with
    /// (`resource_signing_alg_values_supported`).
    #[must_use]
    pub fn resource_signing_algs<I, S>(mut self, algs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.resource_signing_alg_values_supported = strings(algs);
        self
    }

    /// A human-readable name (`resource_name`).
    #[must_use]
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Developer documentation (`resource_documentation`).
    #[must_use]
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// The data-use policy (`resource_policy_uri`).
    #[must_use]
    pub fn resource_policy_uri(mut self, url: impl Into<String>) -> Self {
        self.resource_policy_uri = Some(url.into());
        self
    }

    /// The terms of service (`resource_tos_uri`).
    #[must_use]
    pub fn resource_tos_uri(mut self, url: impl Into<String>) -> Self {
        self.resource_tos_uri = Some(url.into());
        self
    }

    /// Whether tokens are bound to client certificates (RFC 8705,
    /// `tls_client_certificate_bound_access_tokens`).
    #[must_use]
    pub fn certificate_bound_tokens(mut self, bound: bool) -> Self {
        self.tls_client_certificate_bound_access_tokens = Some(bound);
        self
    }

    /// The RFC 9396 `authorization_details` types the resource knows.
    #[must_use]
    pub fn authorization_details_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authorization_details_types_supported = strings(types);
        self
    }

    /// DPoP proof algorithms accepted (`dpop_signing_alg_values_supported`).
    #[must_use]
    pub fn dpop_signing_algs<I, S>(mut self, algs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.dpop_signing_alg_values_supported = strings(algs);
        self
    }

    /// Whether every token must be DPoP-bound
    /// (`dpop_bound_access_tokens_required`).
    #[must_use]
    pub fn dpop_bound_tokens_required(mut self, required: bool) -> Self {
        self.dpop_bound_access_tokens_required = Some(required);
        self
    }

    /// The document's URL: what `resource_metadata` names.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The path the layer answers the document on.
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The document as JSON.
    ///
    /// ```
    /// let m = authgate::metadata::ProtectedResource::new("https://api.example").unwrap();
    /// assert_eq!(m.to_json()["bearer_methods_supported"], serde_json::json!(["header"]));
    /// ```
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl fmt::Debug for ProtectedResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtectedResource")
            .field("resource", &self.resource)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The document, ready to serve.
#[derive(Debug)]
pub(crate) struct Published {
    path: String,
    body: Bytes,
}

impl Published {
    pub(crate) fn new(metadata: &ProtectedResource) -> Result<Self, ConfigError> {
        let body = serde_json::to_vec(metadata).map_err(|_| ConfigError::InvalidSetting {
            setting: "protected_resource",
            why: "the metadata cannot be serialized",
        })?;
        Ok(Self {
            path: metadata.path.clone(),
            body: Bytes::from(body),
        })
    }

    /// The document's response, when `parts` asks for it.
    pub(crate) fn answer(&self, parts: &Parts) -> Option<Response<Bytes>> {
        if parts.uri.path() != self.path || !matches!(parts.method, Method::GET | Method::HEAD) {
            return None;
        }
        let body = if parts.method == Method::HEAD {
            Bytes::new()
        } else {
            self.body.clone()
        };
        let mut response = Response::new(body);
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        headers.insert(
            CACHE_CONTROL,
            http::HeaderValue::from_static("max-age=3600"),
        );
        Some(response)
    }
}
