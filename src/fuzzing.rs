//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`).
//!
//! Not part of the public API: no semver promise, hidden from the docs.
//! Each function feeds untrusted bytes to one of the parsers request input
//! reaches and checks the invariants the rest of the crate relies on; a
//! broken invariant panics, which is what a fuzzer reports. Nothing here is
//! compiled without the feature.
#![allow(missing_docs)]

use std::time::Duration;

use http::request::Parts;
use http::{HeaderName, HeaderValue, Request, Uri};

use crate::credentials::{AuthorizationSyntax, CredentialLocation};
use crate::error::{AuthError, ErrorKind};
use crate::principal::Scopes;
use crate::response::Rejection;
use crate::scheme::Challenge;

/// The `Authorization` schemes and headers the extractor target routes;
/// `None` only if a constant location were refused.
fn extractor() -> Option<crate::credentials::extract::Extractor> {
    let mut extractor = crate::credentials::extract::Extractor::default();
    let locations = [
        CredentialLocation::authorization("Bearer"),
        CredentialLocation::Authorization {
            scheme: "Basic".into(),
            syntax: AuthorizationSyntax::Token68,
        },
        CredentialLocation::authorization("ApiKey"),
        CredentialLocation::Authorization {
            scheme: "HMAC-SHA256".into(),
            syntax: AuthorizationSyntax::AuthParams,
        },
        CredentialLocation::Header(HeaderName::from_static("x-api-key")),
        CredentialLocation::Query("api_key".into()),
    ];
    for (index, location) in locations.into_iter().enumerate() {
        extractor.add(location, index, false).ok()?;
    }
    Some(extractor)
}

/// The head of a GET request to `uri` with `headers`, in order.
fn parts(uri: Uri, headers: &[(HeaderName, &HeaderValue)]) -> Parts {
    let mut request = Request::new(());
    *request.uri_mut() = uri;
    for (name, value) in headers {
        request.headers_mut().append(name, (*value).clone());
    }
    request.into_parts().0
}

/// `Authorization` header extraction: one value, two values, or the value
/// beside an `X-Api-Key` header, plus the value as a query string.
pub fn authorization(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let Some(extractor) = extractor() else {
        return;
    };
    let query = String::from_utf8_lossy(data).replace(['#', ' '], "");
    let uri = format!("/?{query}").parse().unwrap_or_default();
    let authorization = http::header::AUTHORIZATION;
    let api_key = HeaderName::from_static("x-api-key");
    let one = parts(uri, &[(authorization.clone(), &value)]);
    match extractor.extract(&one) {
        Ok(Some((index, credential))) => {
            assert!(index < 6);
            // The credential is the header's own bytes or a part of them.
            assert!(credential.value().len() <= data.len() + query.len());
        }
        Ok(None) => {}
        Err(error) => assert!(matches!(
            error.kind(),
            ErrorKind::Malformed | ErrorKind::Ambiguous | ErrorKind::UnsupportedScheme
        )),
    }
    let two = parts(
        Uri::default(),
        &[
            (authorization.clone(), &value),
            (authorization.clone(), &value),
        ],
    );
    assert!(
        extractor.extract(&two).is_err(),
        "two credentials are ambiguous"
    );
    let beside = parts(
        Uri::default(),
        &[(authorization, &value), (api_key, &value)],
    );
    assert!(
        extractor.extract(&beside).is_err(),
        "two credentials are ambiguous"
    );
    challenge(data);
}

/// `WWW-Authenticate` challenges: whatever a description or a scope name
/// holds, every rendered challenge is a valid header value that a strict
/// RFC 7235 parser reads back, with quoted-strings intact.
pub fn challenge(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut middle = text.len() / 2;
    while !text.is_char_boundary(middle) {
        middle -= 1;
    }
    let (param, rest) = text.split_at(middle);
    let mut challenges = vec![Challenge::new("Bearer")];
    if let Ok(with_param) = Challenge::new("Signature").param("realm", param) {
        challenges.push(with_param);
    }
    for kind in [
        ErrorKind::Missing,
        ErrorKind::Malformed,
        ErrorKind::InvalidFormat,
        ErrorKind::BadSignature,
        ErrorKind::Expired,
        ErrorKind::InsufficientScope,
        ErrorKind::Unavailable,
    ] {
        let error = if kind == ErrorKind::InsufficientScope {
            AuthError::insufficient_scope(Scopes::from_iter(rest.split(' ').map(str::to_owned)))
        } else {
            AuthError::new(kind).with_description(rest.to_owned())
        };
        let rejection = Rejection::new(&error, &challenges, false, Duration::from_secs(1));
        // The invariants under test: a broken one panics, and the fuzzer
        // reports it.
        for value in rejection.www_authenticate() {
            assert!(
                value.to_str().ok().and_then(parse_challenge).is_some(),
                "unparseable challenge {value:?}"
            );
        }
    }
}

/// A strict parser of one RFC 7235 challenge: `scheme [token68 / #auth-param]`.
/// Returns the scheme and the unescaped params.
fn parse_challenge(text: &str) -> Option<(String, Vec<(String, String)>)> {
    let is_tchar = crate::credentials::extract::is_tchar;
    let end = text
        .bytes()
        .position(|b| !is_tchar(b))
        .unwrap_or(text.len());
    let (scheme, mut rest) = text.split_at(end);
    if scheme.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    if rest.is_empty() {
        return Some((scheme.to_owned(), params));
    }
    rest = rest.strip_prefix(' ')?;
    loop {
        let end = rest.bytes().position(|b| !is_tchar(b))?;
        let (name, after) = rest.split_at(end);
        let mut after = after.strip_prefix("=\"")?;
        let mut value = String::new();
        loop {
            let mut chars = after.chars();
            match chars.next()? {
                '"' => break,
                '\\' => value.push(chars.next()?),
                c => value.push(c),
            }
            after = chars.as_str();
        }
        after = &after[1..];
        params.push((name.to_owned(), value));
        if after.is_empty() {
            return Some((scheme.to_owned(), params));
        }
        rest = after.strip_prefix(", ")?;
    }
}

/// The API-key format: a parsed key is its input, split in three.
#[cfg(feature = "api-key")]
pub fn api_key(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(key) = crate::api_key::format::parse(text) {
        assert_eq!(format!("{}_{}_{}", key.prefix, key.id, key.secret), text);
        assert!(crate::api_key::format::is_valid_prefix(key.prefix));
    }
}

/// JWT header and claims decoding, then claim validation with every rule
/// switched on.
#[cfg(feature = "jwt")]
pub fn jwt(data: &[u8]) {
    use crate::jwt::claims::ClaimRules;
    use jsonwebtoken::Algorithm;
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let all = [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];
    let mut scratch = crate::jwt::token::Scratch::new();
    let Ok(jws) = crate::jwt::token::parse(token.as_bytes(), &mut scratch, &all) else {
        return;
    };
    assert!(all.contains(&jws.alg));
    assert!(jws.header.crit.is_none(), "crit must be refused");
    claims(&jws.payload);
    let rules = ClaimRules {
        leeway: 60,
        required: vec!["sub".to_owned(), "jti".to_owned()],
        typ: Some("at+jwt".to_owned()),
        scope_claim: Some("scope".to_owned()),
    };
    if let Ok(claims) = crate::jwt::claims::TokenClaims::parse(&jws.payload, &rules) {
        let _ = rules.validate(
            &jws.header,
            &claims,
            "https://issuer.example",
            &["api".to_owned()],
            1_700_000_000,
            "jwt",
        );
    }
}

/// JWT claims alone: the duplicate-name check agrees with a parser that
/// remembers every name.
#[cfg(feature = "jwt")]
pub fn claims(data: &[u8]) {
    let rules = crate::jwt::claims::ClaimRules {
        leeway: 0,
        required: Vec::new(),
        typ: None,
        scope_claim: None,
    };
    // The JWT scheme's one-pass reader and the introspection reader agree.
    assert_eq!(
        crate::jwt::claims::TokenClaims::parse(data, &rules).is_ok(),
        crate::jwt::claims::parse_claims(data).is_ok(),
        "the claim readers disagree"
    );
    let parsed = crate::jwt::claims::parse_claims(data);
    if let Ok(claims) = &parsed {
        assert!(crate::jwt::token::has_unique_names(data));
        assert!(serde_json::to_vec(claims).is_ok());
    } else if serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(data).is_ok() {
        assert!(
            !crate::jwt::token::has_unique_names(data),
            "an object without repeated names was refused"
        );
    }
}

/// JWKS documents, as fetched and as given to `JwtKey::parse_set`.
#[cfg(feature = "jwt")]
pub fn jwks(data: &[u8]) {
    let fetched = crate::jwt::jwks::parse_jwks(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::jwt::JwtKey::parse_set(text);
    }
    if let Ok(keys) = fetched {
        assert!(keys.len() <= crate::jwt::jwks::MAX_KEYS);
        assert!(!crate::jwt::key::has_duplicate_kid(&keys));
    }
}

/// The native `HMAC-SHA256` parameters and signed-header list.
#[cfg(feature = "hmac")]
pub fn hmac_native(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(params) = crate::hmac::params::parse_params(text) {
        assert!(crate::hmac::params::is_id(params.key_id));
        assert_eq!(params.signature.len(), 32);
        assert_eq!(params.ts_text.parse::<u64>().ok(), Some(params.ts));
    }
    let _ = crate::hmac::params::parse_header_list(text);
    let _ = crate::hmac::canonical::canonical_query(Some(text));
}

/// RFC 9421 `Signature-Input` and `Signature` (RFC 8941 dictionaries): a
/// parsed dictionary re-serializes to text that parses to the same value.
#[cfg(feature = "hmac")]
pub fn httpsig(data: &[u8]) {
    use crate::hmac::structured::{parse_dictionary, serialize_bare, serialize_params, Member};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(dictionary) = parse_dictionary(text) else {
        return;
    };
    let mut out = String::new();
    for (index, (name, member)) in dictionary.iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        match member {
            Member::Item(item) => {
                out.push('=');
                serialize_bare(&mut out, &item.value);
                serialize_params(&mut out, &item.params);
            }
            Member::InnerList(items, params) => {
                out.push('=');
                out.push_str(&crate::hmac::structured::serialize_inner_list(
                    items, params,
                ));
            }
        }
    }
    // The invariant under test: a failed assertion is the fuzzer's finding.
    assert_eq!(
        parse_dictionary(&out),
        Some(dictionary),
        "{text:?} -> {out:?}"
    );
}

/// Stripe, Slack and GitHub signature headers.
#[cfg(feature = "hmac")]
pub fn webhooks(data: &[u8]) {
    use crate::hmac::encoding::{parse_timestamp, unhex};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((ts, tags)) = crate::hmac::webhook::parse_stripe(text) {
        assert!(!tags.is_empty());
        assert!(text.contains(&ts.to_string()));
    }
    if let Some(tag) = text.strip_prefix("sha256=").and_then(unhex::<32>) {
        assert_eq!(
            crate::hmac::encoding::hex(&tag),
            text[7..].to_ascii_lowercase()
        );
    }
    let _ = text.strip_prefix("v0=").and_then(unhex::<32>);
    if let Some(ts) = parse_timestamp(text) {
        assert!(ts < 1_000_000_000_000, "at most 12 digits");
    }
}
