//! The unverified look at a bearer token that routes it between a JWT
//! scheme and token introspection: is it a compact JWS, and which issuer
//! does it name?

use std::borrow::Cow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use super::token::MAX_TOKEN_LEN;

/// The `iss` of a token shaped like a compact JWS (three base64url
/// segments, a JSON object header and payload), without verifying
/// anything; `None` for anything else (an opaque token).
pub(crate) fn unverified_issuer(token: &str) -> Option<Cow<'_, str>> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let mut segments = token.split('.');
    let (header, payload, signature) = (segments.next()?, segments.next()?, segments.next()?);
    if segments.next().is_some() || signature.is_empty() {
        return None;
    }
    // `{"` in base64url: a JSON object header, checked without decoding it.
    if !header.starts_with("eyJ") || !is_base64url(header) || !is_base64url(signature) {
        return None;
    }
    let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
    #[derive(serde::Deserialize)]
    struct Iss<'a> {
        #[serde(borrow, default)]
        iss: Option<Cow<'a, str>>,
    }
    let iss = serde_json::from_slice::<Iss<'_>>(&payload).ok()?.iss?;
    Some(Cow::Owned(iss.into_owned()))
}

fn is_base64url(segment: &str) -> bool {
    segment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jws_shapes_and_opaque_tokens() {
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        let jws = format!(
            "{}.{}.c2ln",
            b64(r#"{"alg":"RS256"}"#),
            b64(r#"{"iss":"https://as"}"#)
        );
        assert_eq!(unverified_issuer(&jws).as_deref(), Some("https://as"));
        let no_iss = format!("{}.{}.c2ln", b64(r#"{"alg":"RS256"}"#), b64("{}"));
        assert_eq!(unverified_issuer(&no_iss), None);
        for opaque in [
            "2YotnFZFEjr1zCsicMWpAA",
            "a.b",
            "a.b.c.d",
            "eyJ.e30.",
            "eyJhbGciOiJub25lIn0.bm90IGpzb24.c2ln",
        ] {
            assert_eq!(unverified_issuer(opaque), None, "{opaque}");
        }
    }
}
