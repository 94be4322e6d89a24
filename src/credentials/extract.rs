use std::sync::{Mutex, PoisonError};

use http::header::AUTHORIZATION;
use http::request::Parts;
use http::{HeaderName, HeaderValue};

use super::location::{
    configured, AuthorizationSyntax, ConfiguredLocation, Credential, CredentialLocation,
    MAX_INTERNED,
};
use super::query;
use crate::error::{AuthError, ConfigError, ErrorKind};

/// The routing table from credential locations to scheme indexes, built once
/// when the layer is built.
#[derive(Debug, Default)]
pub(crate) struct Extractor {
    authorization: Vec<AuthorizationRoute>,
    headers: Vec<HeaderRoute>,
    queries: Vec<(String, usize, ConfiguredLocation)>,
    /// The scheme that owns the connection's client certificate.
    peer_certificate: Option<usize>,
}

#[derive(Debug)]
struct AuthorizationRoute {
    scheme: String,
    syntax: AuthorizationSyntax,
    location: ConfiguredLocation,
    index: usize,
    /// The token68 check is left to the scheme (this index), which makes
    /// it only for a credential it has not seen before (see
    /// [`Credential::deferred_syntax`]).
    deferred: Option<u32>,
}

#[derive(Debug)]
struct HeaderRoute {
    name: HeaderName,
    index: usize,
    location: ConfiguredLocation,
}

/// `name`, as a value whose clones write nothing: every credential found
/// in a header carries a clone of its name, and a name made at run time
/// (`HeaderName::from_bytes`) shares one reference count between all the
/// threads that clone it, where a static name has none. Names are leaked
/// once each, however many layers use them: they come from the
/// configuration, never from requests. Past [`MAX_INTERNED`] distinct
/// names (an application making ever new ones, one per tenant), a name is
/// used as it is instead, so the list stays bounded.
fn shareable(name: &HeaderName) -> HeaderName {
    static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let text = match names.iter().find(|known| **known == name.as_str()) {
        Some(known) => *known,
        None if names.len() >= MAX_INTERNED => return name.clone(),
        None => {
            let leaked: &'static str = Box::leak(name.as_str().into());
            names.push(leaked);
            leaked
        }
    };
    // The text of a `HeaderName` is a valid lowercase name: exactly what
    // `from_static` accepts, so this never panics.
    HeaderName::from_static(text)
}

impl Extractor {
    /// Registers that credentials at `location` belong to scheme `index`.
    /// With `defer`, the token68 check of an `Authorization` credential is
    /// left to the scheme, which must call [`Credential::deferred_syntax`]
    /// before it makes anything of a credential it has not already
    /// verified.
    pub(crate) fn add(
        &mut self,
        location: CredentialLocation,
        index: usize,
        defer: bool,
    ) -> Result<(), ConfigError> {
        let duplicate = || ConfigError::DuplicateLocation(location.to_string());
        match &location {
            CredentialLocation::Authorization { scheme, syntax } => {
                if scheme.is_empty() || !scheme.bytes().all(is_tchar) {
                    return Err(ConfigError::InvalidName {
                        name: scheme.to_string(),
                        why: "an auth-scheme name must be a non-empty token",
                    });
                }
                if self
                    .authorization
                    .iter()
                    .any(|r| r.scheme.eq_ignore_ascii_case(scheme))
                {
                    return Err(duplicate());
                }
                self.authorization.push(AuthorizationRoute {
                    scheme: scheme.to_string(),
                    syntax: *syntax,
                    location: configured(&location),
                    index,
                    // An index past u32 (never) is checked here instead.
                    deferred: (defer && *syntax == AuthorizationSyntax::Token68)
                        .then(|| u32::try_from(index).ok())
                        .flatten(),
                });
            }
            CredentialLocation::Header(name) => {
                if name == AUTHORIZATION {
                    return Err(ConfigError::InvalidName {
                        name: name.to_string(),
                        why: "use CredentialLocation::Authorization for the Authorization header",
                    });
                }
                if self.headers.iter().any(|route| route.name == name) {
                    return Err(duplicate());
                }
                self.headers.push(HeaderRoute {
                    name: shareable(name),
                    index,
                    location: configured(&location),
                });
            }
            CredentialLocation::Query(name) => {
                if name.is_empty() || !name.bytes().all(is_tchar) {
                    return Err(ConfigError::InvalidName {
                        name: name.to_string(),
                        why: "a query parameter name must be a non-empty token",
                    });
                }
                if self.queries.iter().any(|(q, _, _)| q == name) {
                    return Err(duplicate());
                }
                self.queries
                    .push((name.to_string(), index, configured(&location)));
            }
            CredentialLocation::PeerCertificate => {
                if self.peer_certificate.is_some() {
                    return Err(duplicate());
                }
                self.peer_certificate = Some(index);
            }
        }
        Ok(())
    }

    /// Finds the request's one credential.
    ///
    /// `Ok(None)` when there is none; an error when there are several, when
    /// one is malformed, or when `Authorization` names a scheme nobody
    /// handles.
    pub(crate) fn extract(&self, parts: &Parts) -> Result<Option<(usize, Credential)>, AuthError> {
        let mut found: Option<(usize, Credential)> = None;
        let mut unsupported = false;
        let mut count = 0usize;

        // With header routes, a small request is read in one pass for all
        // the names wanted, rather than hashed once per name.
        let headers = &parts.headers;
        let scan = !self.headers.is_empty()
            && self.headers.len() <= SCANNED_ROUTES
            && headers.len() <= SCANNED_VALUES;
        let mut routes = [Seen::None; SCANNED_ROUTES];
        let authorization = if scan {
            let mut authorization = Seen::None;
            for (name, value) in headers {
                if *name == AUTHORIZATION {
                    authorization.add(value);
                } else if let Some(i) = self.headers.iter().position(|r| r.name == *name) {
                    if let Some(seen) = routes.get_mut(i) {
                        seen.add(value);
                    }
                }
            }
            authorization
        } else {
            Seen::of(headers, &AUTHORIZATION)
        };

        match authorization {
            Seen::None => {}
            Seen::Several => return Err(ambiguous()),
            Seen::One(value) => {
                count += 1;
                match self.parse_authorization(value)? {
                    Some(hit) => found = Some(hit),
                    None => unsupported = true,
                }
            }
        }

        for (
            i,
            HeaderRoute {
                name,
                index,
                location,
            },
        ) in self.headers.iter().enumerate()
        {
            let seen = match routes.get(i) {
                Some(seen) if scan => *seen,
                _ => Seen::of(headers, name),
            };
            let value = match seen {
                Seen::None => continue,
                Seen::Several => return Err(ambiguous()),
                Seen::One(value) => value,
            };
            count += 1;
            if count > 1 {
                return Err(ambiguous());
            }
            let bytes = value.as_bytes();
            let (start, end) = trim_ows(bytes, 0, bytes.len());
            if start == end || !all_visible(bytes.get(start..end)) {
                return Err(malformed(
                    *index,
                    "the credential header is empty or not visible ASCII",
                ));
            }
            let credential = Credential::from_header(location, value, start, end)
                .ok_or_else(|| malformed(*index, "the credential header is too long"))?;
            found = Some((*index, credential));
        }

        if !self.queries.is_empty() {
            if let Some(query) = parts.uri.query() {
                for (name, index, location) in &self.queries {
                    let mut values = query::values(query, name);
                    let Some(value) = values.next() else {
                        continue;
                    };
                    count += 1;
                    if values.next().is_some() || count > 1 {
                        return Err(ambiguous());
                    }
                    let value = value.filter(|v| !v.expose().is_empty()).ok_or_else(|| {
                        malformed(*index, "the credential parameter is empty or badly encoded")
                    })?;
                    found = Some((*index, Credential::from_configured_secret(location, value)));
                }
            }
        }

        if count > 1 {
            return Err(ambiguous());
        }
        if unsupported {
            return Err(AuthError::new(ErrorKind::UnsupportedScheme));
        }
        if found.is_none() {
            if let Some(index) = self.peer_certificate.filter(|_| peer_certificate(parts)) {
                // The scheme reads the chain from the extensions.
                static PEER: CredentialLocation = CredentialLocation::PeerCertificate;
                let credential = Credential::from_configured_secret(
                    &ConfiguredLocation::Interned(&PEER),
                    "".into(),
                );
                return Ok(Some((index, credential)));
            }
        }
        Ok(found)
    }

    /// `Ok(None)` for a well-formed header whose scheme nobody handles.
    ///
    /// Works on bytes and looks at each byte of the credential once: this
    /// runs on every request, and tokens are often a kilobyte long.
    fn parse_authorization(
        &self,
        value: &HeaderValue,
    ) -> Result<Option<(usize, Credential)>, AuthError> {
        let bytes = value.as_bytes();
        let (start, end) = trim_ows(bytes, 0, bytes.len());
        let text = bytes.get(start..end).unwrap_or_default();
        let name_len = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
        let name = text.get(..name_len).unwrap_or_default();
        if name.is_empty() || !all_in(Some(name), &TCHAR) {
            return Err(if all_visible(Some(bytes)) {
                AuthError::new(ErrorKind::Malformed)
                    .with_description("the Authorization header has no valid scheme name")
            } else {
                not_visible()
            });
        }
        let Some(route) = self
            .authorization
            .iter()
            .find(|r| r.scheme.as_bytes().eq_ignore_ascii_case(name))
        else {
            // Nobody handles this scheme; its credentials must still be text.
            return if all_visible(Some(bytes)) {
                Ok(None)
            } else {
                Err(not_visible())
            };
        };
        let (rest_start, rest_end) = trim_ows(bytes, start + name_len, end);
        let rest = bytes.get(rest_start..rest_end);
        if rest_start == rest_end {
            return Err(if all_visible(Some(bytes)) {
                malformed(route.index, "the Authorization header has no credentials")
            } else {
                not_visible()
            });
        }
        let too_long = || malformed(route.index, "the Authorization header is too long");
        if let Some(deferred) = route.deferred {
            let span = (rest_start, rest_end);
            let credential =
                Credential::from_header_unchecked(&route.location, value, span, deferred);
            return Ok(Some((route.index, credential.ok_or_else(too_long)?)));
        }
        match route.syntax {
            AuthorizationSyntax::Token68 => {
                check_token68(bytes, (rest_start, rest_end), route.index)?;
            }
            _ => {
                if !all_visible(rest) {
                    return Err(not_visible());
                }
            }
        }
        let credential = Credential::from_header(&route.location, value, rest_start, rest_end);
        Ok(Some((route.index, credential.ok_or_else(too_long)?)))
    }
}

/// Whether `header[start..end]`, the credentials of an `Authorization`
/// header of scheme `index`, is token68; the error is the extraction's.
pub(crate) fn check_token68(
    header: &[u8],
    (start, end): (usize, usize),
    index: usize,
) -> Result<(), AuthError> {
    if is_token68_bytes(header.get(start..end)) {
        return Ok(());
    }
    Err(if !all_visible(Some(header)) {
        not_visible()
    } else {
        malformed(index, "the credentials contain characters outside token68")
    })
}

/// At most this many header routes are looked for in one pass.
const SCANNED_ROUTES: usize = 4;

/// A request with at most this many header values is read in one pass
/// (when header routes are configured): about 25 instructions a value
/// (the step and two name compares), where hashing and probing for two
/// names costs about 250 (callgrind); a larger request is looked up by
/// name, so that the cost stays bounded.
const SCANNED_VALUES: usize = 8;

/// What a request holds of one header name.
#[derive(Clone, Copy)]
enum Seen<'a> {
    None,
    One(&'a HeaderValue),
    /// Two values or more: ambiguous.
    Several,
}

impl<'a> Seen<'a> {
    /// One more value of the name.
    fn add(&mut self, value: &'a HeaderValue) {
        *self = match self {
            Self::None => Self::One(value),
            _ => Self::Several,
        };
    }

    /// The values of `name`, looked up.
    fn of(headers: &'a http::HeaderMap, name: &HeaderName) -> Self {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (None, _) => Self::None,
            (Some(value), None) => Self::One(value),
            (Some(_), Some(_)) => Self::Several,
        }
    }
}

/// Whether the request's connection presented a client certificate.
fn peer_certificate(parts: &Parts) -> bool {
    #[cfg(feature = "mtls")]
    {
        crate::mtls::has_peer_certificate(parts)
    }
    #[cfg(not(feature = "mtls"))]
    {
        let _ = parts;
        false
    }
}

fn not_visible() -> AuthError {
    AuthError::new(ErrorKind::Malformed)
        .with_description("the Authorization header is not visible ASCII")
}

fn ambiguous() -> AuthError {
    AuthError::new(ErrorKind::Ambiguous)
}

fn malformed(index: usize, description: &'static str) -> AuthError {
    AuthError::new(ErrorKind::Malformed)
        .with_description(description)
        .for_scheme(index)
}

/// A set of bytes, as a table: one load and one test per byte.
type ByteSet = [bool; 256];

// Runs at compile time, where an index out of bounds is a build error.
#[allow(clippy::indexing_slicing)]
const fn byte_set(ranges: &[(u8, u8)], extra: &[u8]) -> ByteSet {
    let mut set = [false; 256];
    let mut i = 0;
    while i < ranges.len() {
        let (mut b, last) = ranges[i];
        while b <= last {
            set[b as usize] = true;
            if b == u8::MAX {
                break;
            }
            b += 1;
        }
        i += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        set[extra[i] as usize] = true;
        i += 1;
    }
    set
}

const ALPHANUMERIC: [(u8, u8); 3] = [(b'0', b'9'), (b'A', b'Z'), (b'a', b'z')];

/// What `HeaderValue::to_str` accepts: visible ASCII, space and tab.
/// RFC 9110 `tchar`.
const TCHAR: ByteSet = byte_set(&ALPHANUMERIC, b"!#$%&'*+-.^_`|~");

fn in_set(set: &ByteSet, b: u8) -> bool {
    set.get(usize::from(b)).copied().unwrap_or(false)
}

/// Whether every byte is visible ASCII (`%x20-7E`, with SP) or HTAB;
/// `None` (out of bounds) is not. Range compares rather than a table: the
/// compiler makes vector code of them, and credentials (JWTs, signed-request
/// parameters) are often hundreds of bytes.
fn all_visible(bytes: Option<&[u8]>) -> bool {
    bytes.is_some_and(|bytes| {
        bytes.iter().fold(true, |all, &b| {
            all & ((b.wrapping_sub(0x20) < 0x5f) | (b == b'\t'))
        })
    })
}

/// Whether every byte is in `set`; `None` (out of bounds) is not.
fn all_in(bytes: Option<&[u8]>, set: &ByteSet) -> bool {
    bytes.is_some_and(|bytes| bytes.iter().fold(true, |all, &b| all & in_set(set, b)))
}

/// `bytes[start..end]` without optional white space (SP, HTAB) at either end.
fn trim_ows(bytes: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    let ows = |i: usize| matches!(bytes.get(i), Some(b' ' | b'\t'));
    while start < end && ows(start) {
        start += 1;
    }
    while end > start && ows(end - 1) {
        end -= 1;
    }
    (start, end)
}

/// RFC 7230 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    in_set(&TCHAR, b)
}

/// RFC 7235 `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
#[cfg(test)]
fn is_token68(s: &str) -> bool {
    is_token68_bytes(Some(s.as_bytes()))
}

/// RFC 7235 `token68`; `None` (out of bounds) is not.
fn is_token68_bytes(bytes: Option<&[u8]>) -> bool {
    let Some(bytes) = bytes else {
        return false;
    };
    let body_len = bytes.len() - bytes.iter().rev().take_while(|&&b| b == b'=').count();
    // Branch-free over the whole token, so that the compiler can check
    // sixteen bytes per step: this loop sees every byte of every token.
    bytes.get(..body_len).is_some_and(|body| {
        !body.is_empty()
            && body.iter().fold(true, |all, &b| {
                let letter = (b | 0x20).wrapping_sub(b'a') < 26;
                let digit = b.wrapping_sub(b'0') < 10;
                let mark = (b == b'-') | (b == b'.') | (b == b'_') | (b == b'~');
                all & (letter | digit | mark | (b == b'+') | (b == b'/'))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extractor() -> Extractor {
        let mut e = Extractor::default();
        e.add(CredentialLocation::authorization("Bearer"), 0, false)
            .unwrap();
        e.add(CredentialLocation::header("x-api-key").unwrap(), 1, false)
            .unwrap();
        e.add(CredentialLocation::Query("api_key".into()), 1, false)
            .unwrap();
        e
    }

    fn parts(headers: &[(&str, &[u8])], uri: &str) -> Parts {
        let mut req = http::Request::builder().uri(uri);
        for (name, value) in headers {
            req = req.header(*name, HeaderValue::from_bytes(value).unwrap());
        }
        req.body(()).unwrap().into_parts().0
    }

    fn kind(r: Result<Option<(usize, Credential)>, AuthError>) -> ErrorKind {
        r.unwrap_err().kind()
    }

    #[test]
    fn byte_classes_match_their_grammar() {
        for b in 0..=u8::MAX {
            let token68 = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            assert_eq!(is_token68_bytes(Some(&[b, b'='][..])), token68, "{b}");
            assert_eq!(is_token68_bytes(Some(&[b'a', b, b'a'][..])), token68, "{b}");
            let tchar = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), tchar, "{b}");
            let visible = (0x20..0x7f).contains(&b) || b == b'\t';
            assert_eq!(all_visible(Some(&[b][..])), visible, "{b}");
            assert_eq!(
                all_visible(Some(
                    &[b'a'; 40].iter().chain([&b]).copied().collect::<Vec<_>>()[..]
                )),
                visible,
                "{b}"
            );
        }
    }

    #[test]
    fn header_names_are_kept_static_and_once() {
        let name = HeaderName::from_bytes(b"X-Tenant-Key").unwrap();
        let (one, two) = (shareable(&name), shareable(&name));
        assert_eq!(one, name);
        assert_eq!(one.as_str(), "x-tenant-key");
        // The second layer with this name reuses the first one's text.
        assert!(std::ptr::eq(one.as_str(), two.as_str()));
        assert_eq!(shareable(&http::header::COOKIE), http::header::COOKIE);
    }

    #[test]
    fn token68() {
        assert!(is_token68("abc"));
        assert!(is_token68("a.b-c_d~e+f/g=="));
        assert!(!is_token68("=="));
        assert!(!is_token68("a=b"));
        assert!(!is_token68("a b"));
        assert!(!is_token68("a,b"));
        assert!(!is_token68(""));
    }

    #[test]
    fn finds_bearer_case_insensitively() {
        let e = extractor();
        let (index, cred) = e
            .extract(&parts(&[("authorization", b"bEaReR   tok.en")], "/"))
            .unwrap()
            .unwrap();
        assert_eq!(index, 0);
        assert_eq!(cred.value(), "tok.en");
    }

    /// A small request is read in one pass, a large one looked up by name:
    /// both find the same credential and the same ambiguities.
    #[test]
    fn one_pass_and_look_ups_agree() {
        let e = extractor();
        type Case<'a> = (&'a [(&'a str, &'a [u8])], Result<Option<usize>, ErrorKind>);
        let cases: [Case<'_>; 7] = [
            (&[], Ok(None)),
            (&[("x-api-key", b" k ")], Ok(Some(1))),
            (&[("authorization", b"Bearer a")], Ok(Some(0))),
            (
                &[("x-api-key", b"k"), ("x-api-key", b"k")],
                Err(ErrorKind::Ambiguous),
            ),
            (
                &[
                    ("authorization", b"Bearer a"),
                    ("authorization", b"Bearer a"),
                ],
                Err(ErrorKind::Ambiguous),
            ),
            (
                &[("x-api-key", b"k"), ("authorization", b"Bearer a")],
                Err(ErrorKind::Ambiguous),
            ),
            (&[("x-api-key", b"k\xff")], Err(ErrorKind::Malformed)),
        ];
        for filler in [0, 3, SCANNED_VALUES, SCANNED_VALUES + 8] {
            for (headers, expected) in &cases {
                let padding: Vec<(String, &[u8])> = (0..filler)
                    .map(|i| (format!("x-filler-{i}"), &b"v"[..]))
                    .collect();
                let mut all: Vec<(&str, &[u8])> =
                    padding.iter().map(|(n, v)| (n.as_str(), *v)).collect();
                all.splice(filler / 2..filler / 2, headers.iter().copied());
                let got = e.extract(&parts(&all, "/"));
                match (got, expected) {
                    (Ok(found), Ok(index)) => {
                        assert_eq!(found.as_ref().map(|f| f.0), *index, "{filler} {headers:?}");
                        if let Some((_, credential)) = found {
                            assert_eq!(
                                credential.value(),
                                if *index == Some(1) { "k" } else { "a" }
                            );
                        }
                    }
                    (Err(error), Err(kind)) => {
                        assert_eq!(error.kind(), *kind, "{filler} {headers:?}")
                    }
                    (got, _) => panic!("{filler} {headers:?}: {:?}", got.map(|f| f.map(|f| f.0))),
                }
            }
        }
    }

    #[test]
    fn nothing_is_none() {
        assert!(extractor().extract(&parts(&[], "/?x=1")).unwrap().is_none());
    }

    #[test]
    fn malformed_authorization_is_400() {
        let e = extractor();
        for bad in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Bearer a b",
            b"Bearer a,b",
            b"Bearer \xff",
            b"(x) y",
        ] {
            let r = e.extract(&parts(&[("authorization", bad)], "/"));
            assert_eq!(kind(r), ErrorKind::Malformed, "{bad:?}");
        }
    }

    #[test]
    fn two_credentials_are_ambiguous() {
        let e = extractor();
        type Case<'a> = (&'a [(&'a str, &'a [u8])], &'a str);
        let cases: [Case<'_>; 4] = [
            (
                &[
                    ("authorization", b"Bearer a"),
                    ("authorization", b"Bearer a"),
                ],
                "/",
            ),
            (&[("authorization", b"Bearer a"), ("x-api-key", b"k")], "/"),
            (&[("x-api-key", b"k"), ("x-api-key", b"k")], "/"),
            (&[("x-api-key", b"k")], "/?api_key=k"),
        ];
        for (headers, uri) in cases {
            assert_eq!(kind(e.extract(&parts(headers, uri))), ErrorKind::Ambiguous);
        }
        assert_eq!(
            kind(e.extract(&parts(&[], "/?api_key=a&api_key=b"))),
            ErrorKind::Ambiguous
        );
    }

    #[test]
    fn unknown_scheme_alone_is_unsupported_and_with_another_is_ambiguous() {
        let e = extractor();
        assert_eq!(
            kind(e.extract(&parts(&[("authorization", b"Digest x=1")], "/"))),
            ErrorKind::UnsupportedScheme
        );
        assert_eq!(
            kind(e.extract(&parts(
                &[("authorization", b"Digest x=1"), ("x-api-key", b"k")],
                "/"
            ))),
            ErrorKind::Ambiguous
        );
    }

    #[test]
    fn query_value_is_percent_decoded() {
        let (index, cred) = extractor()
            .extract(&parts(&[], "/?a=1&api_key=sk%5Ftest&b=2"))
            .unwrap()
            .unwrap();
        assert_eq!(index, 1);
        assert_eq!(cred.value(), "sk_test");
    }

    /// A client certificate is the credential only when nothing else is:
    /// with a bearer token or an API key, that one authenticates (and the
    /// certificate may bind it).
    #[cfg(feature = "mtls")]
    #[test]
    fn a_peer_certificate_is_the_credential_only_alone() {
        let mut e = extractor();
        e.add(CredentialLocation::PeerCertificate, 2, false)
            .unwrap();
        assert!(e
            .add(CredentialLocation::PeerCertificate, 3, false)
            .is_err());
        let with_cert = |headers: &[(&str, &[u8])]| {
            let mut parts = parts(headers, "/");
            parts
                .extensions
                .insert(crate::mtls::PeerCertificates::new(vec![b"leaf".to_vec()]));
            parts
        };
        let (index, credential) = e.extract(&with_cert(&[])).unwrap().unwrap();
        assert_eq!(index, 2);
        assert_eq!(credential.location(), &CredentialLocation::PeerCertificate);
        let (index, _) = e
            .extract(&with_cert(&[("authorization", b"Bearer abc")]))
            .unwrap()
            .unwrap();
        assert_eq!(index, 0);
        let (index, _) = e
            .extract(&with_cert(&[("x-api-key", b"k")]))
            .unwrap()
            .unwrap();
        assert_eq!(index, 1);
        assert!(e.extract(&parts(&[], "/")).unwrap().is_none());
        let empty_chain = {
            let mut parts = parts(&[], "/");
            parts
                .extensions
                .insert(crate::mtls::PeerCertificates::new(Vec::new()));
            parts
        };
        assert!(e.extract(&empty_chain).unwrap().is_none());
    }

    #[test]
    fn duplicate_locations_are_config_errors() {
        let mut e = extractor();
        assert!(e
            .add(CredentialLocation::authorization("bearer"), 2, false)
            .is_err());
        assert!(e
            .add(CredentialLocation::header("X-Api-Key").unwrap(), 2, false)
            .is_err());
        assert!(e
            .add(
                CredentialLocation::header("authorization").unwrap(),
                2,
                false
            )
            .is_err());
        assert!(e
            .add(CredentialLocation::authorization("Bad Name"), 2, false)
            .is_err());
    }
}
