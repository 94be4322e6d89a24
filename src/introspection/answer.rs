//! Reading an introspection answer (RFC 7662 §2.2): `active`, then the
//! checks a resource server still owes an active token — time claims with
//! leeway, issuer, audience, and that it is not a refresh token.

use serde_json::{Map, Value};

use super::client::CallError;
use crate::error::{AuthError, ErrorKind};
use crate::jwt::claims::parse_claims;
use crate::principal::{Principal, Scopes};

/// The name introspected principals carry in [`Principal::scheme`].
pub const SCHEME_NAME: &str = "introspection";

/// What every answer is checked against.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) issuer: Option<String>,
    pub(crate) audiences: Vec<String>,
    pub(crate) leeway: u64,
}

/// An active token's answer, with what the per-request checks need.
#[derive(Debug, Clone)]
pub(crate) struct Active {
    pub(crate) principal: Principal,
    pub(crate) exp: Option<f64>,
    pub(crate) nbf: Option<f64>,
    pub(crate) iat: Option<f64>,
    pub(crate) jti: Option<String>,
    pub(crate) iss: Option<String>,
}

/// The verdict on one answer.
#[derive(Debug, Clone)]
pub(crate) enum Verdict {
    /// `active: true`, and fit for this resource server.
    Active(Active),
    /// `active: true` but refused here (another audience, a refresh
    /// token): cached like an active answer, answered 401.
    Refused(AuthError, Option<f64>),
    /// `active: false`.
    Inactive,
}

/// The 401 for an inactive token.
pub(crate) fn inactive() -> AuthError {
    AuthError::new(ErrorKind::UnknownKey).with_description("the token is not active")
}

fn refused(description: &'static str) -> AuthError {
    AuthError::new(ErrorKind::InvalidFormat).with_description(description)
}

/// Parses an answer's JSON: an object in which no member name repeats.
pub(crate) fn parse(body: &[u8]) -> Result<Map<String, Value>, CallError> {
    parse_claims(body).map_err(|_| CallError::Malformed("not a JSON object"))
}

fn number(answer: &Map<String, Value>, name: &str) -> Result<Option<f64>, CallError> {
    match answer.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or(CallError::Malformed("a time member is not a number")),
    }
}

fn string(answer: &Map<String, Value>, name: &str) -> Option<String> {
    answer.get(name).and_then(Value::as_str).map(str::to_owned)
}

/// Judges one answer. A broken answer (no boolean `active`, time members
/// that are not numbers) is the endpoint's fault: a [`CallError`], 503.
pub(crate) fn judge(answer: Map<String, Value>, rules: &Rules) -> Result<Verdict, CallError> {
    match answer.get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Ok(Verdict::Inactive),
        _ => return Err(CallError::Malformed("no boolean active member")),
    }
    let exp = number(&answer, "exp")?;
    let nbf = number(&answer, "nbf")?;
    let iat = number(&answer, "iat")?;
    let iss = string(&answer, "iss");
    if let (Some(expected), Some(actual)) = (&rules.issuer, &iss) {
        if expected != actual {
            return Ok(Verdict::Refused(
                refused("the token's issuer is not trusted"),
                exp,
            ));
        }
    }
    if !rules.audiences.is_empty() {
        let fits = |aud: &str| rules.audiences.iter().any(|a| a == aud);
        let ok = match answer.get("aud") {
            Some(Value::String(aud)) => fits(aud),
            Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(fits),
            _ => false,
        };
        if !ok {
            return Ok(Verdict::Refused(
                refused("the token is not meant for this audience"),
                exp,
            ));
        }
    }
    // RFC 7662 §2.2 `token_type`; RFC 8693 names refresh tokens by URN.
    if let Some(kind) = answer.get("token_type").and_then(Value::as_str) {
        if kind.eq_ignore_ascii_case("refresh_token")
            || kind == "urn:ietf:params:oauth:token-type:refresh_token"
        {
            return Ok(Verdict::Refused(
                refused("a refresh token is not an access token"),
                exp,
            ));
        }
    }
    let subject = match (answer.get("sub"), answer.get("client_id")) {
        (Some(Value::String(sub)), _) if !sub.is_empty() => sub.clone(),
        (_, Some(Value::String(client))) if !client.is_empty() => client.clone(),
        _ => {
            return Ok(Verdict::Refused(
                refused("the introspection answer names neither sub nor client_id"),
                exp,
            ))
        }
    };
    let scopes = match answer.get("scope") {
        Some(Value::String(s)) => Scopes::parse(s),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Scopes::empty(),
    };
    let jti = string(&answer, "jti");
    let mut principal = Principal::new(subject, SCHEME_NAME).with_scopes(scopes);
    if let Some(jti) = &jti {
        principal = principal.with_credential_id(jti.clone());
    }
    Ok(Verdict::Active(Active {
        principal: principal.with_claims(answer),
        exp,
        nbf,
        iat,
        jti,
        iss,
    }))
}

/// The time members of an active answer at `now`, with leeway: checked on
/// every request, cached or not.
pub(crate) fn check_times(active: &Active, now: u64, leeway: u64) -> Result<(), AuthError> {
    // Seconds fit in an f64 exactly far beyond any real date.
    #[allow(clippy::cast_precision_loss)]
    let (now, leeway) = (now as f64, leeway as f64);
    if active.exp.is_some_and(|exp| now >= exp + leeway) {
        return Err(AuthError::new(ErrorKind::Expired));
    }
    if active.nbf.is_some_and(|nbf| now + leeway < nbf) {
        return Err(AuthError::new(ErrorKind::NotYetValid));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules() -> Rules {
        Rules {
            issuer: Some("https://as".into()),
            audiences: vec!["api".into()],
            leeway: 0,
        }
    }

    fn judge_json(v: Value) -> Result<Verdict, CallError> {
        judge(v.as_object().cloned().unwrap_or_default(), &rules())
    }

    #[test]
    fn active_answers_become_principals() {
        let Ok(Verdict::Active(a)) = judge_json(json!({
            "active": true, "sub": "alice", "client_id": "app", "scope": "read write",
            "aud": ["other", "api"], "iss": "https://as", "exp": 2000, "jti": "t1",
            "cnf": {"jkt": "abc"}
        })) else {
            unreachable!("an active answer")
        };
        assert_eq!(a.principal.subject(), "alice");
        assert!(a.principal.scopes().contains("write"));
        assert_eq!(a.principal.claim("cnf"), Some(&json!({"jkt": "abc"})));
        assert_eq!(a.principal.credential_id(), Some("t1"));
        assert!(check_times(&a, 1999, 0).is_ok());
        assert_eq!(
            check_times(&a, 2000, 0).map_err(|e| e.kind()),
            Err(ErrorKind::Expired)
        );
    }

    #[test]
    fn refusals_and_broken_answers() {
        assert!(matches!(
            judge_json(json!({"active": false})),
            Ok(Verdict::Inactive)
        ));
        for broken in [
            json!({}),
            json!({"active": "true"}),
            json!({"active": true, "exp": "soon"}),
        ] {
            assert!(judge_json(broken).is_err());
        }
        for refused in [
            json!({"active": true, "sub": "a", "aud": "api", "iss": "https://evil"}),
            json!({"active": true, "sub": "a", "aud": "other"}),
            json!({"active": true, "sub": "a"}),
            json!({"active": true, "sub": "a", "aud": "api", "token_type": "refresh_token"}),
            json!({"active": true, "aud": "api"}),
        ] {
            assert!(
                matches!(judge_json(refused.clone()), Ok(Verdict::Refused(..))),
                "{refused}"
            );
        }
        assert!(parse(br#"{"active":true,"active":false}"#).is_err());
    }
}
