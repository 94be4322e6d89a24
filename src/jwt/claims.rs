//! Claim validation (RFC 7519 §4.1, RFC 9068, RFC 8725): time claims with
//! leeway, issuer, audience, required claims, `typ`, and the mapping of a
//! validated token to a [`Principal`].

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::token::{invalid, Header};
use crate::error::{AuthError, ErrorKind};
use crate::principal::{Principal, Scopes};

/// The claims of a token that passed every check, with what the token
/// cache and revocation need.
#[derive(Debug, Clone)]
pub(crate) struct Validated {
    pub(crate) principal: Principal,
    pub(crate) exp: f64,
    pub(crate) nbf: Option<f64>,
    pub(crate) iat: Option<f64>,
    pub(crate) jti: Option<String>,
}

/// Settings shared by every issuer of a scheme.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules {
    pub(crate) leeway: u64,
    pub(crate) required: Vec<String>,
    pub(crate) typ: Option<String>,
    pub(crate) scope_claim: Option<String>,
}

/// Parses a token's claims: a JSON object in which no object, at any depth,
/// repeats a member name.
///
/// RFC 7519 §4 lets a parser either reject duplicate claim names or keep
/// the last one. Parsers disagree on which one wins, so a token whose
/// meaning depends on the parser (two `sub`, two `exp`, two `role` in a
/// nested claim a handler reads) is refused instead.
///
/// One parse, then a count: serde_json keeps one member per name, so the
/// claims hold fewer members than the text names exactly when some object
/// repeats a name. Counting needs no allocation, unlike a second parse that
/// remembers names, and leaves the values to serde_json whatever its
/// features (e.g. `arbitrary_precision`). serde_json's recursion limit
/// bounds the nesting.
pub(crate) fn parse_claims(payload: &[u8]) -> Result<Map<String, Value>, AuthError> {
    serde_json::from_slice::<Map<String, Value>>(payload)
        .ok()
        .filter(|claims| members_in_text(payload) == members_in_map(claims))
        .ok_or_else(|| invalid("the token's claims are not a JSON object"))
}

/// The member count of every object in a valid JSON text: in JSON, a `:`
/// outside a string separates exactly one member's name from its value.
fn members_in_text(json: &[u8]) -> usize {
    let (mut count, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b':' {
            count += 1;
        }
    }
    count
}

/// The member count of every object in parsed claims, without recursion.
fn members_in_map(claims: &Map<String, Value>) -> usize {
    let mut count = claims.len();
    let mut pending: Vec<&Value> = claims.values().collect();
    while let Some(value) = pending.pop() {
        match value {
            Value::Object(object) => {
                count += object.len();
                pending.extend(object.values());
            }
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    count
}

/// Reads a NumericDate (RFC 7519 §2): a JSON number, possibly fractional.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| invalid("a time claim is not a number")),
    }
}

/// Whether a `typ` header value names the expected media type; the
/// `application/` prefix may be omitted (RFC 7515 §4.1.9) and the
/// comparison ignores case.
fn typ_matches(actual: &str, expected: &str) -> bool {
    let strip = |s: &str| -> String {
        let lower = s.to_ascii_lowercase();
        match lower.strip_prefix("application/") {
            Some(rest) => rest.to_owned(),
            None => lower,
        }
    };
    strip(actual) == strip(expected)
}

impl ClaimRules {
    /// Checks the time claims against `now` with leeway. Shared with the
    /// token cache, which re-checks on every hit.
    pub(crate) fn check_times(
        &self,
        now: u64,
        exp: f64,
        nbf: Option<f64>,
        iat: Option<f64>,
    ) -> Result<(), AuthError> {
        // Seconds fit in an f64 exactly far beyond any real date.
        #[allow(clippy::cast_precision_loss)]
        let now = now as f64;
        #[allow(clippy::cast_precision_loss)]
        let leeway = self.leeway as f64;
        // RFC 7519 §4.1.4: valid only *before* exp.
        if now >= exp + leeway {
            return Err(AuthError::new(ErrorKind::Expired));
        }
        if nbf.is_some_and(|nbf| now + leeway < nbf) {
            return Err(AuthError::new(ErrorKind::NotYetValid));
        }
        if iat.is_some_and(|iat| now + leeway < iat) {
            return Err(AuthError::new(ErrorKind::NotYetValid)
                .with_description("the token was issued in the future"));
        }
        Ok(())
    }

    pub(crate) fn validate(
        &self,
        header: &Header,
        claims: Map<String, Value>,
        issuer: &str,
        audiences: &[String],
        now: u64,
        scheme: &'static str,
    ) -> Result<Validated, AuthError> {
        // Time first (after the signature), then who the token is for.
        let exp =
            numeric_date(&claims, "exp")?.ok_or_else(|| invalid("the token has no expiry"))?;
        let nbf = numeric_date(&claims, "nbf")?;
        let iat = numeric_date(&claims, "iat")?;
        self.check_times(now, exp, nbf, iat)?;
        if let Some(expected) = &self.typ {
            if !header
                .typ
                .as_deref()
                .is_some_and(|t| typ_matches(t, expected))
            {
                return Err(invalid("the token is not of the expected type"));
            }
        }
        if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
            return Err(invalid("the token's issuer is not trusted"));
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => audiences.iter().any(|a| a == aud),
            Some(Value::Array(auds)) => auds
                .iter()
                .filter_map(Value::as_str)
                .any(|aud| audiences.iter().any(|a| a == aud)),
            _ => false,
        };
        if !audience_ok {
            return Err(invalid("the token is not meant for this audience"));
        }
        if let Some(missing) = self
            .required
            .iter()
            .find(|c| !claims.contains_key(c.as_str()))
        {
            let _ = missing;
            return Err(invalid("the token lacks a required claim"));
        }
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            _ => return Err(invalid("the token has no subject")),
        };
        let scopes = self.scopes(&claims);
        let jti = claims.get("jti").and_then(Value::as_str).map(str::to_owned);
        let mut principal = Principal::new(subject, scheme).with_scopes(scopes);
        if let Some(jti) = &jti {
            principal = principal.with_credential_id(jti.clone());
        }
        Ok(Validated {
            principal: principal.with_claims(claims),
            exp,
            nbf,
            iat,
            jti,
        })
    }

    fn scopes(&self, claims: &Map<String, Value>) -> Scopes {
        let from = |v: &Value| match v {
            Value::String(s) => Scopes::parse(s),
            Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
            _ => Scopes::empty(),
        };
        match &self.scope_claim {
            Some(name) => claims.get(name).map(from).unwrap_or_default(),
            None => claims
                .get("scope")
                .or_else(|| claims.get("scp"))
                .map(from)
                .unwrap_or_default(),
        }
    }
}

/// Every algorithm jsonwebtoken knows: what the header parser accepts
/// before the issuer's own allow-list is applied.
pub(crate) const ALL_ALGORITHMS: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_member_names_are_refused_however_they_are_spelled() {
        for json in [
            r#"{"sub":"a","sub":"b"}"#,
            r#"{"x":{"role":"user","role":"admin"}}"#,
            r#"{"x":[1,{"a":1,"a":2}]}"#,
            r#"{"x":[[{"k":{"a":1,"a":1}}]]}"#,
            r#"{"s\"t":1,"s\"t":2}"#,
            r#"{"a\\":1,"a\\":2}"#,
            r#"{"a":1,"\u0061":2}"#,
        ] {
            assert!(parse_claims(json.as_bytes()).is_err(), "{json}");
        }
    }

    #[test]
    fn colons_and_quotes_inside_strings_are_not_members() {
        for json in [
            r#"{"sub":"a:b","url":"https://x:1/"}"#,
            r#"{"q":"say \"a:b\"","k\":":"v"}"#,
            r#"{"back":"\\","after":":"}"#,
            r#"{"x":[{"a":1},{"a":2}],"y":{"a":{"a":{}}}}"#,
            "{\"a\" : 1 , \"b\"\t:\t\"c\" }",
            r#"{}"#,
        ] {
            assert!(parse_claims(json.as_bytes()).is_ok(), "{json}");
        }
        assert!(parse_claims(b"[1,2]").is_err());
        assert!(parse_claims(br#"{"a":1} x"#).is_err());
    }

    fn rules(leeway: u64) -> ClaimRules {
        ClaimRules {
            leeway,
            required: Vec::new(),
            typ: None,
            scope_claim: None,
        }
    }

    #[test]
    fn time_boundaries_to_the_second() {
        let r = rules(0);
        assert!(r.check_times(99, 100.0, None, None).is_ok());
        assert_eq!(
            r.check_times(100, 100.0, None, None).unwrap_err().kind(),
            ErrorKind::Expired
        );
        let r = rules(60);
        assert!(r.check_times(159, 100.0, None, None).is_ok());
        assert!(r.check_times(160, 100.0, None, None).is_err());
        assert!(r.check_times(40, 1000.0, Some(100.0), None).is_ok());
        assert_eq!(
            r.check_times(39, 1000.0, Some(100.0), None)
                .unwrap_err()
                .kind(),
            ErrorKind::NotYetValid
        );
        assert!(r.check_times(40, 1000.0, None, Some(100.0)).is_ok());
        assert!(r.check_times(39, 1000.0, None, Some(100.0)).is_err());
    }

    #[test]
    fn repeated_member_names_are_refused_at_any_depth() {
        // What this guards against: serde_json's map keeps the last value.
        let twice = br#"{"sub":"alice","sub":"admin"}"#;
        let kept: Map<String, Value> = serde_json::from_slice(twice).unwrap();
        assert_eq!(kept["sub"], "admin");
        assert!(parse_claims(twice).is_err());
        assert!(parse_claims(br#"{"org":{"role":"user","role":"admin"}}"#).is_err());
        assert!(parse_claims(br#"{"orgs":[{"id":1,"id":2}]}"#).is_err());
        assert!(parse_claims(b"[]").is_err());
        assert!(parse_claims(b"{} {}").is_err());
        let claims =
            parse_claims(br#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"b":{"a":1}}"#).unwrap();
        assert_eq!(
            Value::Object(claims),
            serde_json::json!({"a":[1,-2,3.5,"x",null,true,{"b":{}}],"b":{"a":1}})
        );
    }

    #[test]
    fn typ_comparison() {
        assert!(typ_matches("at+jwt", "at+JWT"));
        assert!(typ_matches("application/at+jwt", "at+jwt"));
        assert!(!typ_matches("JWT", "at+jwt"));
    }
}
