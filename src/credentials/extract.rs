use http::header::AUTHORIZATION;
use http::request::Parts;
use http::{HeaderName, HeaderValue};

use super::location::{AuthorizationSyntax, Credential, CredentialLocation};
use super::query;
use crate::error::{AuthError, ConfigError, ErrorKind};

/// The routing table from credential locations to scheme indexes, built once
/// when the layer is built.
#[derive(Debug, Default)]
pub(crate) struct Extractor {
    authorization: Vec<AuthorizationRoute>,
    headers: Vec<(HeaderName, usize)>,
    queries: Vec<(String, usize)>,
}

#[derive(Debug)]
struct AuthorizationRoute {
    scheme: String,
    syntax: AuthorizationSyntax,
    location: CredentialLocation,
    index: usize,
}

impl Extractor {
    /// Registers that credentials at `location` belong to scheme `index`.
    pub(crate) fn add(
        &mut self,
        location: CredentialLocation,
        index: usize,
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
                    location: location.clone(),
                    index,
                });
            }
            CredentialLocation::Header(name) => {
                if name == AUTHORIZATION {
                    return Err(ConfigError::InvalidName {
                        name: name.to_string(),
                        why: "use CredentialLocation::Authorization for the Authorization header",
                    });
                }
                if self.headers.iter().any(|(h, _)| h == name) {
                    return Err(duplicate());
                }
                self.headers.push((name.clone(), index));
            }
            CredentialLocation::Query(name) => {
                if name.is_empty() || !name.bytes().all(is_tchar) {
                    return Err(ConfigError::InvalidName {
                        name: name.to_string(),
                        why: "a query parameter name must be a non-empty token",
                    });
                }
                if self.queries.iter().any(|(q, _)| q == name) {
                    return Err(duplicate());
                }
                self.queries.push((name.to_string(), index));
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

        let mut authorization = parts.headers.get_all(AUTHORIZATION).iter();
        if let Some(value) = authorization.next() {
            if authorization.next().is_some() {
                return Err(ambiguous());
            }
            count += 1;
            match self.parse_authorization(value)? {
                Some(hit) => found = Some(hit),
                None => unsupported = true,
            }
        }

        for (name, index) in &self.headers {
            let mut values = parts.headers.get_all(name).iter();
            let Some(value) = values.next() else {
                continue;
            };
            count += 1;
            if values.next().is_some() || count > 1 {
                return Err(ambiguous());
            }
            let text = visible_ascii(value)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    malformed(
                        *index,
                        "the credential header is empty or not visible ASCII",
                    )
                })?;
            found = Some((
                *index,
                Credential::new(CredentialLocation::Header(name.clone()), text),
            ));
        }

        if !self.queries.is_empty() {
            if let Some(query) = parts.uri.query() {
                for (name, index) in &self.queries {
                    let mut values = query::values(query, name);
                    let Some(value) = values.next() else {
                        continue;
                    };
                    count += 1;
                    if values.next().is_some() || count > 1 {
                        return Err(ambiguous());
                    }
                    let value = value.filter(|v| !v.is_empty()).ok_or_else(|| {
                        malformed(*index, "the credential parameter is empty or badly encoded")
                    })?;
                    found = Some((
                        *index,
                        Credential::new(CredentialLocation::Query(name.clone().into()), &value),
                    ));
                }
            }
        }

        if count > 1 {
            return Err(ambiguous());
        }
        if unsupported {
            return Err(AuthError::new(ErrorKind::UnsupportedScheme));
        }
        Ok(found)
    }

    /// `Ok(None)` for a well-formed header whose scheme nobody handles.
    fn parse_authorization(
        &self,
        value: &HeaderValue,
    ) -> Result<Option<(usize, Credential)>, AuthError> {
        let Some(text) = visible_ascii(value) else {
            return Err(AuthError::new(ErrorKind::Malformed)
                .with_description("the Authorization header is not visible ASCII"));
        };
        let text = text.trim();
        let (name, rest) = match text.split_once(' ') {
            Some((name, rest)) => (name, rest.trim_start()),
            None => (text, ""),
        };
        if name.is_empty() || !name.bytes().all(is_tchar) {
            return Err(AuthError::new(ErrorKind::Malformed)
                .with_description("the Authorization header has no valid scheme name"));
        }
        let Some(route) = self
            .authorization
            .iter()
            .find(|r| r.scheme.eq_ignore_ascii_case(name))
        else {
            return Ok(None);
        };
        if rest.is_empty() {
            return Err(malformed(
                route.index,
                "the Authorization header has no credentials",
            ));
        }
        if route.syntax == AuthorizationSyntax::Token68 && !is_token68(rest) {
            return Err(malformed(
                route.index,
                "the credentials contain characters outside token68",
            ));
        }
        Ok(Some((
            route.index,
            Credential::new(route.location.clone(), rest),
        )))
    }
}

fn ambiguous() -> AuthError {
    AuthError::new(ErrorKind::Ambiguous)
}

fn malformed(index: usize, description: &'static str) -> AuthError {
    AuthError::new(ErrorKind::Malformed)
        .with_description(description)
        .for_scheme(index)
}

/// The value as text if every byte is visible ASCII, space or tab.
fn visible_ascii(value: &HeaderValue) -> Option<&str> {
    // `to_str` accepts exactly visible ASCII plus SP and HTAB.
    value.to_str().ok()
}

/// RFC 7230 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 7235 `token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub(crate) fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extractor() -> Extractor {
        let mut e = Extractor::default();
        e.add(CredentialLocation::authorization("Bearer"), 0)
            .unwrap();
        e.add(CredentialLocation::header("x-api-key").unwrap(), 1)
            .unwrap();
        e.add(CredentialLocation::Query("api_key".into()), 1)
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
        let cases: [(&[(&str, &[u8])], &str); 4] = [
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

    #[test]
    fn duplicate_locations_are_config_errors() {
        let mut e = extractor();
        assert!(e
            .add(CredentialLocation::authorization("bearer"), 2)
            .is_err());
        assert!(e
            .add(CredentialLocation::header("X-Api-Key").unwrap(), 2)
            .is_err());
        assert!(e
            .add(CredentialLocation::header("authorization").unwrap(), 2)
            .is_err());
        assert!(e
            .add(CredentialLocation::authorization("Bad Name"), 2)
            .is_err());
    }
}
