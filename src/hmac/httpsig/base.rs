//! The RFC 9421 signature base of a request: the covered components
//! picked from the request and laid out as the RFC specifies (§2.5), the
//! `Content-Digest` check, and the `Signature` / `Signature-Input` pair a
//! request carries.

use http::request::Parts;
use http::{HeaderMap, HeaderName, Method, Request, Uri};
use subtle::ConstantTimeEq;

use super::super::encoding::sha256;
use super::super::structured::{
    parse_dictionary, serialize_inner_list, BareItem, Item, Member, Params,
};
use crate::error::{AuthError, ErrorKind};

pub(super) const SIGNATURE: HeaderName = HeaderName::from_static("signature");
pub(super) const SIGNATURE_INPUT: HeaderName = HeaderName::from_static("signature-input");
pub(super) const CONTENT_DIGEST: &str = "content-digest";

/// Most components one signature may cover.
pub(super) const MAX_COMPONENTS: usize = 32;

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
pub(super) struct Target<'a> {
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
pub(super) enum BaseError {
    Unsupported(&'static str),
    MissingHeader,
}

impl<'a> Target<'a> {
    /// The target of a request received by a server.
    pub(super) fn received(parts: &'a Parts, assumed_scheme: &'a str) -> Self {
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
    pub(super) fn outgoing<B>(request: &'a Request<B>, assumed_scheme: &'a str) -> Self {
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
    pub(super) fn authority(&self) -> Result<String, BaseError> {
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

    pub(super) fn normalize(&self, authority: &str) -> String {
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

    pub(super) fn scheme(&self) -> String {
        self.uri
            .scheme_str()
            .unwrap_or(self.assumed_scheme)
            .to_ascii_lowercase()
    }

    pub(super) fn path(&self) -> &str {
        if self.uri.path().is_empty() {
            "/"
        } else {
            self.uri.path()
        }
    }

    /// Path and query: the origin form of the target.
    pub(super) fn origin_form(&self) -> String {
        match self.uri.query() {
            Some(q) => format!("{}?{q}", self.path()),
            None => self.path().to_owned(),
        }
    }

    /// The request target as it was on the request line (RFC 9421 §2.2.5).
    pub(super) fn request_target(&self) -> String {
        if self.absolute_form {
            self.uri.to_string()
        } else {
            self.origin_form()
        }
    }

    /// The value of one covered component (RFC 9421 §2.1, §2.2).
    pub(super) fn component(&self, name: &str) -> Result<String, BaseError> {
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
    pub(super) fn signature_base(
        &self,
        components: &[Item],
        params: &Params,
    ) -> Result<String, BaseError> {
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
pub(super) fn check_content_digest(headers: &HeaderMap, body: &[u8]) -> Result<(), AuthError> {
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
pub(super) fn may_have_body(parts: &Parts) -> bool {
    let headers = &parts.headers;
    if let Some(length) = headers.get(http::header::CONTENT_LENGTH) {
        return length.as_bytes() != b"0";
    }
    headers.contains_key(http::header::TRANSFER_ENCODING) || parts.version >= http::Version::HTTP_2
}

/// One signature picked out of `Signature-Input` and `Signature`.
pub(super) struct Picked {
    pub(super) components: Vec<Item>,
    pub(super) params: Params,
    pub(super) signature: Vec<u8>,
}

impl Picked {
    pub(super) fn param(&self, name: &str) -> Option<&BareItem> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub(super) fn covers(&self, name: &str) -> bool {
        self.components
            .iter()
            .any(|i| matches!(&i.value, BareItem::String(s) if s == name))
    }
}
