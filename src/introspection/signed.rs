//! RFC 9701: introspection answers as signed JWTs
//! (`application/token-introspection+jwt`), verified with the
//! authorization server's keys before a member is read.

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::client::CallError;
use crate::jwt::claims::parse_claims;
use crate::jwt::jwks::JwksCache;
use crate::jwt::token;

/// How signed answers are checked.
pub(crate) struct SignedAnswers {
    /// The authorization server: the answer's `iss`.
    pub(crate) issuer: String,
    /// Our client id: the answer's `aud`.
    pub(crate) audience: String,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) keys: Arc<JwksCache>,
}

impl SignedAnswers {
    /// Verifies a signed answer and returns its `token_introspection`
    /// member. Any failure is the endpoint's (a 503), never the client's.
    pub(crate) async fn open(&self, body: &[u8]) -> Result<Map<String, Value>, CallError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| CallError::Malformed("the signed answer is not text"))?
            .trim();
        let mut scratch = token::Scratch::new();
        let jws = token::parse(text.as_bytes(), &mut scratch, &self.algorithms)
            .map_err(|_| CallError::Malformed("the signed answer is not a JWS"))?;
        // RFC 9701 §5: `typ` is `token-introspection+jwt`.
        let typ_ok = jws.header.typ.as_deref().is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            t == "token-introspection+jwt" || t == "application/token-introspection+jwt"
        });
        if !typ_ok {
            return Err(CallError::Malformed("the signed answer's typ is wrong"));
        }
        let key = self
            .keys
            .key_for(jws.header.kid.as_deref(), jws.alg)
            .await
            .map_err(|_| CallError::Malformed("no key of the authorization server fits"))?;
        token::check_signature(&jws, &key)
            .map_err(|_| CallError::Malformed("the signed answer's signature is bad"))?;
        let mut claims = parse_claims(&jws.payload)
            .map_err(|_| CallError::Malformed("the signed answer's claims are not JSON"))?;
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(CallError::Malformed("the signed answer's iss is wrong"));
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(aud)) => *aud == self.audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(&self.audience)),
            _ => false,
        };
        if !aud_ok {
            return Err(CallError::Malformed(
                "the signed answer is for another client",
            ));
        }
        if !claims.get("iat").is_some_and(Value::is_number) {
            return Err(CallError::Malformed("the signed answer has no iat"));
        }
        match claims.remove("token_introspection") {
            Some(Value::Object(answer)) => Ok(answer),
            _ => Err(CallError::Malformed(
                "the signed answer has no token_introspection object",
            )),
        }
    }
}
