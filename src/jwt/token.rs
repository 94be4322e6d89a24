//! Compact JWS parsing (RFC 7515 §7.1) and signature verification over a
//! set of keys: the part of validation that does not look at claims.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use jsonwebtoken::Algorithm;
use serde::de::{self, Deserializer};
use serde::Deserialize;

pub(crate) use super::header::Header;
use super::header::HEADER_ON_STACK;
use super::key::JwtKey;
use super::{b64, crypto, header};
use crate::error::{AuthError, ErrorKind};

/// Tokens longer than this are refused before any decoding.
pub(crate) const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Signatures up to this many bytes (RSA-4096, and every shorter
/// algorithm) are decoded on the stack.
const SIGNATURE_ON_STACK: usize = 512;

/// A compact JWS split into its parts, base64url-decoded: the payload
/// into a vector (a principal keeps it), the header and the signature into
/// the caller's [`Scratch`].
#[derive(Debug)]
pub(crate) struct Jws<'a> {
    pub(crate) header: Header<'a>,
    pub(crate) alg: Algorithm,
    pub(crate) signing_input: &'a [u8],
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: &'a [u8],
}

/// Room for the parts of a compact JWS that are read only while it is
/// checked, its header and its signature: arrays on the caller's stack
/// for the usual sizes, vectors past them.
pub(crate) struct Scratch {
    header: [u8; HEADER_ON_STACK],
    signature: [u8; SIGNATURE_ON_STACK],
    header_heap: Vec<u8>,
    signature_heap: Vec<u8>,
}

impl Scratch {
    pub(crate) fn new() -> Self {
        Self {
            header: [0; HEADER_ON_STACK],
            signature: [0; SIGNATURE_ON_STACK],
            header_heap: Vec::new(),
            signature_heap: Vec::new(),
        }
    }
}

/// Decodes `part` into `array` when it fits, else into `heap`.
pub(crate) fn decode_into<'a>(
    part: &[u8],
    array: &'a mut [u8],
    heap: &'a mut Vec<u8>,
) -> Option<&'a [u8]> {
    let len = b64::decoded_len(part)?;
    let out: &'a mut [u8] = if len <= array.len() {
        array
    } else {
        *heap = vec![0; len];
        heap
    };
    let written = b64::decode_slice(part, &mut *out)?;
    let out: &'a [u8] = out;
    out.get(..written)
}

/// The index of the first `.` in `bytes`, eight bytes per step.
fn find_dot(bytes: &[u8]) -> Option<usize> {
    const DOTS: u64 = u64::from_ne_bytes([b'.'; 8]);
    const LOW: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut start = 0;
    for word in &mut words {
        let w = <[u8; 8]>::try_from(word).map_or(0, u64::from_ne_bytes) ^ DOTS;
        // Nonzero exactly when some byte of `w` is zero (a `.` in `word`).
        if w.wrapping_sub(LOW) & !w & HIGH != 0 {
            break;
        }
        start += 8;
    }
    let rest = bytes.get(start..).unwrap_or_default();
    rest.iter().position(|&b| b == b'.').map(|i| start + i)
}

pub(crate) fn invalid(description: &'static str) -> AuthError {
    AuthError::new(ErrorKind::InvalidFormat).with_description(description)
}

/// Splits and decodes a compact JWS, and checks what the header alone can
/// tell: a known, allowed algorithm and no `crit`.
///
/// Every part is strict base64url (RFC 7515 §7.1), so a token that parses
/// holds only `A-Z a-z 0-9 - _ .`: it is token68 (RFC 7235 §2.1).
pub(crate) fn parse<'a>(
    token: &'a [u8],
    scratch: &'a mut Scratch,
    allowed: &[Algorithm],
) -> Result<Jws<'a>, AuthError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(invalid("the token is too long"));
    }
    let not_compact = || invalid("the token is not a compact JWS");
    let h_len = find_dot(token).ok_or_else(not_compact)?;
    let after = token.get(h_len + 1..).unwrap_or_default();
    let p_len = find_dot(after).ok_or_else(not_compact)?;
    let (Some(h), Some(p), Some(s), Some(signing_input)) = (
        token.get(..h_len),
        after.get(..p_len),
        after.get(p_len + 1..),
        token.get(..h_len + 1 + p_len),
    ) else {
        return Err(not_compact());
    };
    // The signature is not searched for a third `.`: the base64url decoder
    // refuses one, and only then is the token told apart from one that is
    // merely not base64url, as a JWS of more than three parts.
    parse_parts(h, p, s, signing_input, scratch, allowed).map_err(|e| {
        if s.contains(&b'.') {
            not_compact()
        } else {
            e
        }
    })
}

fn parse_parts<'a>(
    h: &[u8],
    p: &[u8],
    s: &[u8],
    signing_input: &'a [u8],
    scratch: &'a mut Scratch,
    allowed: &[Algorithm],
) -> Result<Jws<'a>, AuthError> {
    let not_base64url = || invalid("the token is not valid base64url");
    let Scratch {
        header,
        signature,
        header_heap,
        signature_heap,
    } = scratch;
    // The header is read once, where it was decoded, and checked for
    // repeated names by the same pass that reads it; its strings borrow
    // from it.
    let header = header::read(h, header, header_heap)?;
    if header.crit.is_some() {
        // RFC 7515 §4.1.11: we understand no extension, so none may be critical.
        return Err(invalid("the token has critical header parameters"));
    }
    let alg = header
        .alg
        .filter(|a| allowed.contains(a))
        .ok_or_else(|| invalid("the token's algorithm is not accepted"))?;
    let payload = b64::decode(p).ok_or_else(not_base64url)?;
    let signature = decode_into(s, signature, signature_heap).ok_or_else(not_base64url)?;
    if signature.is_empty() {
        return Err(invalid("the token is not signed"));
    }
    Ok(Jws {
        header,
        alg,
        signing_input,
        payload,
        signature,
    })
}

/// Whether `json` is one JSON value in which no object repeats a member
/// name: checked on DPoP proofs and introspection answers (the JWT header
/// and claims check it in the pass that reads them).
pub(crate) fn has_unique_names(json: &[u8]) -> bool {
    serde_json::from_slice::<UniqueNames>(json).is_ok()
}

/// A member name, borrowed from the JSON text unless it has escapes.
/// (serde's own `Cow<str>` always allocates.)
pub(crate) struct Name<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> de::Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Name<'de>, E> {
        Ok(Name(Cow::Owned(v)))
    }
}

/// The member names already seen in one object: a short list on the
/// stack (no allocation, no hashing), a set past [`Names::LIST`] names, so
/// that a hostile object of thousands of members costs linear time.
#[derive(Default)]
pub(crate) struct Names<'de> {
    list: [Cow<'de, str>; Names::LIST],
    len: usize,
    set: Option<HashSet<Cow<'de, str>>>,
}

impl<'de> Names<'de> {
    const LIST: usize = 8;

    /// Adds `name`; false when it was already there.
    pub(crate) fn insert(&mut self, name: Cow<'de, str>) -> bool {
        if let Some(set) = &mut self.set {
            return set.insert(name);
        }
        let seen = self.list.get(..self.len).unwrap_or_default();
        if seen.contains(&name) {
            return false;
        }
        if let Some(slot) = self.list.get_mut(self.len) {
            *slot = name;
            self.len += 1;
            return true;
        }
        let mut set: HashSet<Cow<'de, str>> = std::mem::take(&mut self.list).into_iter().collect();
        let new = set.insert(name);
        self.set = Some(set);
        new
    }
}

/// The member name under which serde_json's `arbitrary_precision` feature
/// hands a number to `deserialize_any` (as a one-member map).
pub(crate) const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Whether serde_json hands numbers to `deserialize_any` as a one-member
/// map under [`NUMBER_TOKEN`]: only under its `arbitrary_precision`
/// feature, which any crate of the build may turn on. Without it, a
/// member of that name is one a token spelled out, an ordinary name whose
/// value is read like any other. Asked of serde_json once.
pub(crate) fn numbers_are_maps() -> bool {
    static MAPS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MAPS.get_or_init(|| serde_json::from_slice::<NumberProbe>(b"0").is_ok_and(|p| p.0))
}

/// Whether serde_json gave the number `0` as a map.
struct NumberProbe(bool);

impl<'de> Deserialize<'de> for NumberProbe {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NumberProbeVisitor)
    }
}

struct NumberProbeVisitor;

impl<'de> de::Visitor<'de> for NumberProbeVisitor {
    type Value = NumberProbe;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }

    fn visit_u64<E>(self, _: u64) -> Result<NumberProbe, E> {
        Ok(NumberProbe(false))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut access: A) -> Result<NumberProbe, A::Error> {
        while access
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(NumberProbe(true))
    }
}

/// Deserializes any JSON value, keeping only whether it is an object, and
/// fails on an object that repeats a member name (`serde_json::Value`
/// silently keeps the last).
pub(crate) struct UniqueNames {
    pub(crate) object: bool,
}

impl<'de> Deserialize<'de> for UniqueNames {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueNamesVisitor)
    }
}

struct UniqueNamesVisitor;

const SCALAR: UniqueNames = UniqueNames { object: false };

impl<'de> de::Visitor<'de> for UniqueNamesVisitor {
    type Value = UniqueNames;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON without repeated member names")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueNames, E> {
        Ok(SCALAR)
    }

    fn visit_i64<E>(self, _: i64) -> Result<UniqueNames, E> {
        Ok(SCALAR)
    }

    fn visit_u64<E>(self, _: u64) -> Result<UniqueNames, E> {
        Ok(SCALAR)
    }

    fn visit_f64<E>(self, _: f64) -> Result<UniqueNames, E> {
        Ok(SCALAR)
    }

    fn visit_str<E>(self, _: &str) -> Result<UniqueNames, E> {
        Ok(SCALAR)
    }

    fn visit_unit<E>(self) -> Result<UniqueNames, E> {
        Ok(SCALAR)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut access: A) -> Result<UniqueNames, A::Error> {
        while access.next_element::<UniqueNames>()?.is_some() {}
        Ok(SCALAR)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut access: A) -> Result<UniqueNames, A::Error> {
        let mut names = Names::default();
        let mut first = true;
        while let Some(Name(name)) = access.next_key::<Name<'de>>()? {
            if first && name == NUMBER_TOKEN && numbers_are_maps() {
                // A number, under serde_json's `arbitrary_precision`: its
                // text, as a string (read, not skipped: a value skipped
                // unread could hide anything).
                access.next_value::<Cow<'de, str>>()?;
                return Ok(SCALAR);
            }
            first = false;
            access.next_value::<UniqueNames>()?;
            if !names.insert(name) {
                return Err(de::Error::custom("repeated member name"));
            }
        }
        Ok(UniqueNames { object: true })
    }
}

/// Which key a token selects.
pub(crate) enum Selection<'k> {
    Found(&'k JwtKey),
    /// No key has the token's `kid` (or, without `kid`, none fits): a JWKS
    /// may have rotated.
    Unknown,
    /// The selected key cannot verify this `alg`, or several keys fit a
    /// token without `kid`.
    Mismatch,
}

/// Whether a key without `kid` may verify a token that names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KidlessKeys {
    /// Configured keys: a key loaded from a PEM file usually has no `kid`
    /// while the issuer's tokens name one, and nothing will ever refresh
    /// the set, so the one kid-less key that fits stands in.
    StandIn,
    /// A fetched JWKS: a token naming a `kid` the set lacks must count as
    /// unknown, so that it triggers a refresh. Were a kid-less key to stand
    /// in, an issuer publishing one would stall key rotation: tokens signed
    /// with a new key would fail against the kid-less one until the cache
    /// expires.
    NamedOnly,
}

/// Picks the key for a token: by `kid` when it has one (a key without
/// `kid` stands in only under [`KidlessKeys::StandIn`], when it is the only
/// one that fits), otherwise the one key that fits its `alg`.
pub(crate) fn select<'k>(
    keys: &'k [JwtKey],
    kid: Option<&str>,
    alg: Algorithm,
    kidless: KidlessKeys,
) -> Selection<'k> {
    if let Some(kid) = kid {
        let mut named = keys.iter().filter(|k| k.kid() == Some(kid)).peekable();
        if named.peek().is_some() {
            let mut fitting = named.filter(|k| k.fits(alg));
            return match (fitting.next(), fitting.next()) {
                (Some(key), None) => Selection::Found(key),
                _ => Selection::Mismatch,
            };
        }
        if kidless == KidlessKeys::NamedOnly {
            return Selection::Unknown;
        }
        let mut anonymous = keys.iter().filter(|k| k.kid().is_none() && k.fits(alg));
        return match (anonymous.next(), anonymous.next()) {
            (Some(key), None) => Selection::Found(key),
            _ => Selection::Unknown,
        };
    }
    let mut fitting = keys.iter().filter(|k| k.fits(alg));
    match (fitting.next(), fitting.next()) {
        (Some(key), None) => Selection::Found(key),
        (None, _) => Selection::Unknown,
        (Some(_), Some(_)) => Selection::Mismatch,
    }
}

pub(crate) fn check_signature(jws: &Jws<'_>, key: &JwtKey) -> Result<(), AuthError> {
    if !key.fits(jws.alg) {
        return Err(AuthError::new(ErrorKind::BadSignature));
    }
    if crypto::verify(jws.alg, key.decoding(), jws.signing_input, jws.signature) {
        Ok(())
    } else {
        Err(AuthError::new(ErrorKind::BadSignature))
    }
}

/// Verifies a compact JWS against a set of keys and returns its payload,
/// without looking at claims: for raw JWS (RFC 8037 A.4 signs plain text)
/// and for tests against published vectors. Tokens on requests go through
/// [`JwtScheme`](super::JwtScheme), which also validates the claims.
///
/// ```
/// use authgate::jwt::{verify_compact, JwtKey};
/// use jsonwebtoken::Algorithm;
///
/// let key = JwtKey::from_jwk_str(r#"{"kty":"OKP","crv":"Ed25519",
///     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#).unwrap();
/// let jws = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
/// let payload = verify_compact(jws, &[key], &[Algorithm::EdDSA]).unwrap();
/// assert_eq!(payload, b"Example of Ed25519 signing");
/// ```
///
/// # Errors
///
/// When the JWS is malformed, uses an algorithm outside `algorithms`, has a
/// `crit` header, selects no key, or its signature does not verify.
pub fn verify_compact(
    jws: &str,
    keys: &[JwtKey],
    algorithms: &[Algorithm],
) -> Result<Vec<u8>, AuthError> {
    let mut scratch = Scratch::new();
    let parsed = parse(jws.as_bytes(), &mut scratch, algorithms)?;
    match select(
        keys,
        parsed.header.kid.as_deref(),
        parsed.alg,
        KidlessKeys::StandIn,
    ) {
        Selection::Found(key) => check_signature(&parsed, key)?,
        Selection::Unknown | Selection::Mismatch => {
            return Err(AuthError::new(ErrorKind::UnknownKey))
        }
    }
    Ok(parsed.payload)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    #[test]
    fn a_jws_of_more_than_three_parts_is_not_compact() {
        let mut scratch = Scratch::new();
        for token in [
            &b"e30.e30.AA.AA"[..],
            b"e30.e30.AA.",
            b"e30.e30..",
            b"!.e30.AA.AA",
        ] {
            let error = parse(token, &mut scratch, &ALL).unwrap_err();
            assert_eq!(
                error.to_string(),
                invalid("the token is not a compact JWS").to_string()
            );
        }
    }

    #[test]
    fn dots_are_found_past_a_word() {
        for len in 0..40 {
            let mut bytes = vec![b'a'; len];
            assert_eq!(find_dot(&bytes), None);
            for at in 0..len {
                bytes.fill(b'a');
                bytes[at] = b'.';
                assert_eq!(find_dot(&bytes), Some(at), "{len} {at}");
                // A byte one below or above `.` is not one.
                bytes[at] = b'-';
                assert_eq!(find_dot(&bytes), None);
                bytes[at] = b'/';
                assert_eq!(find_dot(&bytes), None);
            }
        }
    }

    const ALL: [Algorithm; 1] = [Algorithm::HS256];

    fn token(header: &str) -> String {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"s"}"#);
        format!("{}.{payload}.AA", URL_SAFE_NO_PAD.encode(header))
    }

    /// Regression: a header member named after serde_json's private number
    /// token had its value skipped unread, so repeated names and values
    /// serde_json refuses hid inside it.
    #[test]
    fn the_private_number_token_hides_nothing_in_a_header() {
        assert!(!numbers_are_maps(), "serde_json has arbitrary_precision");
        let mut scratch = Scratch::new();
        assert!(parse(
            token(r#"{"alg":"HS256","x":{"a":1}}"#).as_bytes(),
            &mut scratch,
            &[Algorithm::HS256]
        )
        .is_ok());
        for header in [
            r#"{"alg":"HS256","x":{"a":1,"a":2}}"#,
            r#"{"alg":"HS256","x":{"$serde_json::private::Number":{"a":1,"a":2}}}"#,
            r#"{"alg":"HS256","x":{"$serde_json::private::Number":"\ud800"}}"#,
            r#"{"alg":"HS256","jwk":{"$serde_json::private::Number":{"kty":"a","kty":"b"}}}"#,
        ] {
            assert!(
                parse(token(header).as_bytes(), &mut scratch, &[Algorithm::HS256]).is_err(),
                "{header}"
            );
        }
    }
}
