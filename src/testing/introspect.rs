//! The [`MockIssuer`](super::MockIssuer)'s token introspection endpoint
//! (RFC 7662): the opaque tokens it minted, its one client, and its
//! answers — plain JSON, or RFC 9701 signed JWTs when asked for.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderMap, StatusCode};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{json, Map, Value};
use subtle::ConstantTimeEq;

use super::issuer::{outage, Shared};
use super::signing_key::TestAlgorithm;
use super::TestKitError;

/// Where the endpoint is served.
pub(super) const INTROSPECTION_PATH: &str = "/introspect";
/// The client id the endpoint accepts.
const CLIENT_ID: &str = "test-resource-server";
/// The media type of an RFC 9701 signed answer.
const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

/// The one client the endpoint accepts.
pub(super) struct ClientCredentials {
    secret: String,
}

impl ClientCredentials {
    pub(super) fn generate() -> Result<Self, TestKitError> {
        Ok(Self {
            secret: random_string(18)?,
        })
    }

    pub(super) fn id(&self) -> &str {
        CLIENT_ID
    }

    pub(super) fn secret(&self) -> &str {
        &self.secret
    }

    fn accepts(&self, id: &str, secret: &str) -> bool {
        let id_ok = id.as_bytes().ct_eq(CLIENT_ID.as_bytes());
        let secret_ok = secret.as_bytes().ct_eq(self.secret.as_bytes());
        bool::from(id_ok & secret_ok)
    }
}

/// The opaque tokens minted so far: their claims, and which are revoked.
#[derive(Default)]
pub(super) struct OpaqueTokens {
    inner: Mutex<OpaqueInner>,
}

#[derive(Default)]
struct OpaqueInner {
    claims: HashMap<String, Map<String, Value>>,
    revoked: HashSet<String>,
}

impl OpaqueTokens {
    fn lock(&self) -> MutexGuard<'_, OpaqueInner> {
        // Every change is one insert: a panic cannot leave it half done.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores `claims` under a new random token and returns the token.
    pub(super) fn mint(&self, claims: Map<String, Value>) -> Result<String, TestKitError> {
        let token = format!("opaque-{}", random_string(32)?);
        self.lock().claims.insert(token.clone(), claims);
        Ok(token)
    }

    pub(super) fn revoke(&self, token: &str) -> bool {
        let mut inner = self.lock();
        if inner.claims.contains_key(token) {
            inner.revoked.insert(token.to_owned());
            true
        } else {
            false
        }
    }

    /// What the endpoint says about `token` (RFC 7662 §2.2): its claims
    /// with `active: true`, or only `active: false` when it was never
    /// minted, is revoked, expired or not yet valid.
    fn answer(&self, token: &str) -> Value {
        let inner = self.lock();
        let now = unix_now();
        let live = |claims: &Map<String, Value>| {
            let exp_ok = claims
                .get("exp")
                .and_then(Value::as_u64)
                .is_none_or(|exp| now < exp);
            let nbf_ok = claims
                .get("nbf")
                .and_then(Value::as_u64)
                .is_none_or(|nbf| nbf <= now);
            exp_ok && nbf_ok
        };
        match inner.claims.get(token) {
            Some(claims) if !inner.revoked.contains(token) && live(claims) => {
                let mut answer = claims.clone();
                answer.insert("active".into(), json!(true));
                answer
                    .entry("token_type")
                    .or_insert_with(|| json!(token_type(claims)));
                Value::Object(answer)
            }
            _ => json!({"active": false}),
        }
    }
}

/// `DPoP` for a token bound to a key (`cnf.jkt`), else `Bearer`.
fn token_type(claims: &Map<String, Value>) -> &'static str {
    let bound = claims.get("cnf").and_then(|cnf| cnf.get("jkt")).is_some();
    if bound {
        "DPoP"
    } else {
        "Bearer"
    }
}

/// `POST /introspect`: client authentication, then the answer for the
/// `token` form parameter.
pub(super) async fn introspect(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    shared.introspection_calls.fetch_add(1, Ordering::SeqCst);
    if let Some(failure) = outage(&shared).await {
        return failure;
    }
    let form = parse_form(&body);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(basic_credentials);
    let authenticated = match (&basic, field("client_id"), field("client_secret")) {
        (Some((id, secret)), None, None) => shared.client.accepts(id, secret),
        (None, Some(id), Some(secret)) => shared.client.accepts(id, secret),
        _ => false,
    };
    if !authenticated {
        return (
            StatusCode::UNAUTHORIZED,
            [(WWW_AUTHENTICATE, "Basic realm=\"mock-issuer\"")],
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let Some(token) = field("token") else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request"})),
        )
            .into_response();
    };
    let answer = shared.opaque.answer(token);
    let wants_jwt = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(JWT_MEDIA_TYPE));
    if wants_jwt {
        signed_answer(&shared, answer)
    } else {
        Json(answer).into_response()
    }
}

/// An RFC 9701 answer: the answer in `token_introspection`, signed with
/// the issuer's current RS256 key (in its JWKS), for the client.
fn signed_answer(shared: &Shared, answer: Value) -> Response {
    let key = shared.keys().signing.get(&TestAlgorithm::RS256).cloned();
    let claims = json!({
        "iss": shared.base,
        "aud": CLIENT_ID,
        "iat": unix_now(),
        "token_introspection": answer,
    });
    let signed = key.ok_or(TestKitError::Sign).and_then(|key| {
        let mut header = key.header();
        header.typ = Some("token-introspection+jwt".into());
        key.sign_with(&header, &claims)
    });
    match signed {
        Ok(jwt) => ([(CONTENT_TYPE, JWT_MEDIA_TYPE)], jwt).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// The pairs of an `application/x-www-form-urlencoded` body; pairs that
/// do not decode are left out.
fn parse_form(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((form_decode(name)?, form_decode(value)?))
        })
        .collect()
}

/// One form-urlencoded value: `+` is a space, `%XX` a byte; `None` when
/// an escape is broken or the bytes are not UTF-8.
fn form_decode(value: &str) -> Option<String> {
    let mut out = Vec::with_capacity(value.len());
    let mut bytes = value.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = char::from(bytes.next()?).to_digit(16)?;
                let lo = char::from(bytes.next()?).to_digit(16)?;
                out.push(u8::try_from(hi * 16 + lo).ok()?);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

/// `bytes` random bytes, base64url.
fn random_string(bytes: usize) -> Result<String, TestKitError> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| TestKitError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_decode_as_rfc_6749_appendix_b_encodes_them() {
        assert_eq!(
            form_decode("s6BhdRkqt3%3Ap%40ss+w%C3%B6rd%2B%2F%7E").as_deref(),
            Some("s6BhdRkqt3:p@ss wörd+/~")
        );
        assert_eq!(form_decode("%4"), None);
        assert_eq!(form_decode("%zz"), None);
        assert_eq!(form_decode("%ff"), None);
    }

    #[test]
    fn basic_client_credentials_are_read() {
        let header = format!("Basic {}", STANDARD.encode("a%3Ab:s+1"));
        assert_eq!(
            basic_credentials(&header),
            Some(("a:b".to_owned(), "s 1".to_owned()))
        );
        assert_eq!(basic_credentials("Bearer x"), None);
        assert_eq!(basic_credentials("Basic !!"), None);
    }

    #[test]
    fn only_live_minted_tokens_are_active() {
        let tokens = OpaqueTokens::default();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!("alice"));
        claims.insert("exp".into(), json!(unix_now() + 60));
        let live = tokens.mint(claims.clone()).unwrap_or_default();
        claims.insert("exp".into(), json!(unix_now() - 1));
        let expired = tokens.mint(claims).unwrap_or_default();
        assert_eq!(tokens.answer(&live)["active"], true);
        assert_eq!(tokens.answer(&live)["token_type"], "Bearer");
        assert_eq!(tokens.answer(&expired), json!({"active": false}));
        assert_eq!(tokens.answer("never"), json!({"active": false}));
        assert!(tokens.revoke(&live));
        assert!(!tokens.revoke("never"));
        assert_eq!(tokens.answer(&live), json!({"active": false}));
    }
}
