//! The JOSE protected header of a compact JWS (RFC 7515 §4): its reading,
//! strict about types and repeated names, and a per-thread memo of the
//! last header read, since an issuer signs every token with the same one.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::ops::Range;

use jsonwebtoken::Algorithm;
use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::claims::Loose;
use super::token::{decode_into, invalid, Name, Names, UniqueNames};
use crate::error::AuthError;

/// Protected headers up to this many bytes are decoded on the stack.
pub(crate) const HEADER_ON_STACK: usize = 256;

/// The longest base64url text of a header of [`HEADER_ON_STACK`] bytes.
const ENCODED_ON_STACK: usize = HEADER_ON_STACK / 3 * 4 + 2;

/// The protected header fields authgate reads; `jku`, `x5u` and `jwk` are
/// never followed (RFC 8725 §3.10).
///
/// The header must be a JSON object (a struct derive would also take an
/// array, by position), and the registered parameters authgate knows must
/// have their RFC 7515 / RFC 7797 types, even those it does not use: a
/// header other implementations would read differently is refused.
///
/// Its strings borrow from the decoded header (no allocation unless they
/// have escapes); `alg` is read into the algorithm it names.
#[derive(Debug, Default)]
#[cfg_attr(test, derive(PartialEq))]
pub(crate) struct Header<'a> {
    /// The algorithm `alg` names; `None` when it names none that
    /// jsonwebtoken knows (the header must have an `alg` string).
    pub(crate) alg: Option<Algorithm>,
    pub(crate) kid: Option<Cow<'a, str>>,
    pub(crate) typ: Option<Cow<'a, str>>,
    /// Never set on a parsed header: any `crit` is refused.
    pub(crate) crit: Option<Vec<String>>,
}

impl<'de> Deserialize<'de> for Header<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(HeaderVisitor)
    }
}

struct HeaderVisitor;

impl<'de> de::Visitor<'de> for HeaderVisitor {
    type Value = Header<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut access: A) -> Result<Header<'de>, A::Error> {
        let mut header = Header::default();
        let mut alg = None;
        // A repeated parameter means what the parser makes of it: refused,
        // here and at any depth of the values (`UniqueNames`).
        let mut names = Names::default();
        while let Some(Name(name)) = access.next_key::<Name<'de>>()? {
            // `Name` takes a JSON string and nothing else, like `String`.
            match name.as_ref() {
                "alg" => {
                    let Name(value) = access.next_value::<Name<'de>>()?;
                    alg = Some(value.parse::<Algorithm>().ok());
                }
                "kid" => header.kid = Some(access.next_value::<Name<'de>>()?.0),
                "typ" => header.typ = Some(access.next_value::<Name<'de>>()?.0),
                // RFC 7515 §4.1.11: an array of at least one name.
                "crit" => {
                    let crit: Vec<String> = access.next_value()?;
                    if crit.is_empty() {
                        return Err(de::Error::custom("crit is an empty list"));
                    }
                    header.crit = Some(crit);
                }
                "cty" | "jku" | "x5u" | "x5t" | "x5t#S256" => {
                    access.next_value::<String>()?;
                }
                "x5c" => {
                    access.next_value::<Vec<String>>()?;
                }
                "jwk" => {
                    if !access.next_value::<UniqueNames>()?.object {
                        return Err(de::Error::custom("jwk is not an object"));
                    }
                }
                "b64" => {
                    access.next_value::<bool>()?;
                }
                _ => {
                    access.next_value::<UniqueNames>()?;
                }
            }
            if !names.insert(name) {
                return Err(de::Error::custom("repeated member name"));
            }
        }
        header.alg = alg.ok_or_else(|| de::Error::missing_field("alg"))?;
        Ok(header)
    }
}

/// A header read by the [flat reader](super::flat): `None` unless it is a
/// flat object that [`HeaderVisitor`] would accept, which then reads the
/// same header from it.
pub(crate) fn flat_header(json: &[u8]) -> Option<Header<'_>> {
    let mut header = Header::default();
    let mut alg = None;
    let mut names = Names::default();
    super::flat::read_object(json, |name, value| {
        let text = match value {
            Loose::Str(Cow::Borrowed(text)) => Some(text),
            _ => None,
        };
        match name {
            "alg" => alg = Some(text?.parse::<Algorithm>().ok()),
            "kid" => header.kid = Some(Cow::Borrowed(text?)),
            "typ" => header.typ = Some(Cow::Borrowed(text?)),
            "cty" | "jku" | "x5u" | "x5t" | "x5t#S256" => {
                text?;
            }
            // Refused or checked further by the full reader.
            "crit" | "x5c" | "jwk" | "b64" => return None,
            _ => {}
        }
        names.insert(Cow::Borrowed(name)).then_some(())
    })?;
    header.alg = alg?;
    Some(header)
}

/// Reads the protected header whose base64url text is `encoded`,
/// decoding it into `array` (or `heap` past its size).
///
/// The header this thread read last is remembered, by its base64url text,
/// when the [flat reader](super::flat) read it: the same text is then
/// copied and read from the memo instead of decoded and parsed again (an
/// issuer signs all its tokens with one header, so a first-seen token
/// nearly always repeats the previous one's). The memo holds what the
/// reader made of exactly that text, so the result is the same; every
/// check made on a header (algorithm allowed, `crit`, `typ`, key choice)
/// is made after this, on every token.
///
/// A hit is faster than a miss: a caller could tell whether the previous
/// token this thread read had the same header. Headers name public things
/// (the algorithm, the key id an issuer publishes, the type), so nothing
/// that is not already public is told.
pub(crate) fn read<'a>(
    encoded: &[u8],
    array: &'a mut [u8; HEADER_ON_STACK],
    heap: &'a mut Vec<u8>,
) -> Result<Header<'a>, AuthError> {
    let Some((len, kept)) = recall(encoded, array) else {
        let not_base64url = || invalid("the token is not valid base64url");
        let decoded = decode_into(encoded, array, heap).ok_or_else(not_base64url)?;
        return match flat_header(decoded) {
            Some(header) => {
                remember(encoded, decoded, &header);
                Ok(header)
            }
            None => parse_json(decoded),
        };
    };
    let decoded: &'a [u8] = array.get(..len).unwrap_or_default();
    let text = std::str::from_utf8(decoded).ok();
    let part = |range: Option<Range<usize>>| match range {
        Some(range) => Some(Some(Cow::Borrowed(text?.get(range)?))),
        None => Some(None),
    };
    match (part(kept.kid), part(kept.typ)) {
        (Some(kid), Some(typ)) => Ok(Header {
            alg: kept.alg,
            kid,
            typ,
            crit: None,
        }),
        // Never: the memo's ranges were taken from this text. Read it
        // again rather than trust them.
        _ => flat_header(decoded).map_or_else(|| parse_json(decoded), Ok),
    }
}

fn parse_json(decoded: &[u8]) -> Result<Header<'_>, AuthError> {
    serde_json::from_slice::<Header<'_>>(decoded)
        .map_err(|_| invalid("the token header is not valid"))
}

/// Copies the memo's decoded header into `array` when its base64url text
/// is `encoded`: its length, and what was read from it.
fn recall(encoded: &[u8], array: &mut [u8; HEADER_ON_STACK]) -> Option<(usize, KeptHeader)> {
    LAST_HEADER
        .try_with(|memo| {
            let memo = memo.try_borrow().ok()?;
            let memo = memo.as_ref().filter(|m| m.encoded() == encoded)?;
            let decoded = memo.decoded();
            array.get_mut(..decoded.len())?.copy_from_slice(decoded);
            #[cfg(test)]
            tests::HITS.with(|hits| hits.set(hits.get() + 1));
            Some((decoded.len(), memo.header.clone()))
        })
        .ok()
        .flatten()
}

/// A header the flat reader read, as ranges of its decoded text.
#[derive(Clone)]
struct KeptHeader {
    alg: Option<Algorithm>,
    kid: Option<Range<usize>>,
    typ: Option<Range<usize>>,
}

/// The last header this thread's flat reader read: its base64url text,
/// its decoded text, and what was read from it.
struct HeaderMemo {
    encoded: [u8; ENCODED_ON_STACK],
    encoded_len: usize,
    decoded: [u8; HEADER_ON_STACK],
    decoded_len: usize,
    header: KeptHeader,
}

impl HeaderMemo {
    fn encoded(&self) -> &[u8] {
        self.encoded.get(..self.encoded_len).unwrap_or_default()
    }

    fn decoded(&self) -> &[u8] {
        self.decoded.get(..self.decoded_len).unwrap_or_default()
    }
}

thread_local! {
    static LAST_HEADER: RefCell<Option<Box<HeaderMemo>>> = const { RefCell::new(None) };
}

/// Keeps `header`, read from `decoded`, itself decoded from `encoded`, as
/// this thread's last header, when both texts fit the memo.
fn remember(encoded: &[u8], decoded: &[u8], header: &Header<'_>) {
    // Where a borrowed string of the header sits in `decoded`.
    let range = |value: &Option<Cow<'_, str>>| -> Option<Option<Range<usize>>> {
        match value {
            None => Some(None),
            Some(Cow::Borrowed(s)) => {
                let start = s.as_ptr().addr().checked_sub(decoded.as_ptr().addr())?;
                let end = start.checked_add(s.len())?;
                (end <= decoded.len()).then_some(Some(start..end))
            }
            Some(Cow::Owned(_)) => None,
        }
    };
    let (Some(kid), Some(typ)) = (range(&header.kid), range(&header.typ)) else {
        return;
    };
    if header.crit.is_some() || encoded.len() > ENCODED_ON_STACK || decoded.len() > HEADER_ON_STACK
    {
        return;
    }
    let _ = LAST_HEADER.try_with(|memo| {
        let Ok(mut memo) = memo.try_borrow_mut() else {
            return;
        };
        let memo = memo.get_or_insert_with(|| {
            Box::new(HeaderMemo {
                encoded: [0; ENCODED_ON_STACK],
                encoded_len: 0,
                decoded: [0; HEADER_ON_STACK],
                decoded_len: 0,
                header: KeptHeader {
                    alg: None,
                    kid: None,
                    typ: None,
                },
            })
        });
        let (Some(e), Some(d)) = (
            memo.encoded.get_mut(..encoded.len()),
            memo.decoded.get_mut(..decoded.len()),
        ) else {
            return;
        };
        e.copy_from_slice(encoded);
        d.copy_from_slice(decoded);
        memo.encoded_len = encoded.len();
        memo.decoded_len = decoded.len();
        memo.header = KeptHeader {
            alg: header.alg,
            kid,
            typ,
        };
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn the_flat_reader_reads_headers_as_serde_json_does(json in crate::jwt::flat::json_objects()) {
            if let Some(flat) = flat_header(json.as_bytes()) {
                let full = serde_json::from_slice::<Header<'_>>(json.as_bytes());
                prop_assert_eq!(Some(flat), full.ok(), "{}", json);
            }
        }

        /// As above, over objects that have an `alg` member (first or
        /// last, maybe repeated by the generator): without one the flat
        /// reader declines, and the test above compares the two readers on
        /// a few dozen of its 4,096 objects only.
        #[test]
        fn the_flat_reader_reads_headers_with_alg_as_serde_json_does(json in headers_with_alg()) {
            if let Some(flat) = flat_header(json.as_bytes()) {
                let full = serde_json::from_slice::<Header<'_>>(json.as_bytes());
                prop_assert_eq!(Some(flat), full.ok(), "{}", json);
            }
        }
    }

    /// [`json_objects`](crate::jwt::flat::json_objects) with an `alg`
    /// member added as the first or the last one.
    fn headers_with_alg() -> impl Strategy<Value = String> {
        let algs = prop::sample::select(vec!["RS256", "HS256", "ES256", "none", "XS1", ""]);
        (crate::jwt::flat::json_objects(), algs, any::<bool>()).prop_map(|(json, alg, first)| {
            if first {
                json.replacen('{', &format!("{{\"alg\":\"{alg}\","), 1)
            } else {
                json.replacen('}', &format!(",\"alg\":\"{alg}\"}}"), 1)
            }
        })
    }

    #[test]
    fn usual_headers_take_the_flat_reader() {
        let json = br#"{"alg":"RS256","typ":"at+jwt","kid":"k1","x5t#S256":"abc","ext":7}"#;
        let flat = flat_header(json).unwrap();
        assert_eq!(flat.alg, Some(Algorithm::RS256));
        assert_eq!(flat.kid.as_deref(), Some("k1"));
        assert_eq!(Some(flat), serde_json::from_slice::<Header<'_>>(json).ok());
        // An algorithm jsonwebtoken does not know is read as none.
        assert_eq!(flat_header(br#"{"alg":"XS1"}"#).unwrap().alg, None);
    }

    thread_local! {
        /// The memo's hits on this thread.
        pub(super) static HITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    fn hits() -> usize {
        HITS.with(std::cell::Cell::get)
    }

    fn encode(json: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// A header's algorithm, `kid` and `typ`, owned.
    type Owned = (Option<Algorithm>, Option<String>, Option<String>);

    /// Reads `json` through [`read`] as a token's header would be.
    fn read_owned(json: &str) -> Result<Owned, String> {
        let mut array = [0; HEADER_ON_STACK];
        let mut heap = Vec::new();
        read(encode(json).as_bytes(), &mut array, &mut heap)
            .map(|h| {
                (
                    h.alg,
                    h.kid.map(Cow::into_owned),
                    h.typ.map(Cow::into_owned),
                )
            })
            .map_err(|e| e.to_string())
    }

    fn remembered() -> Option<Vec<u8>> {
        LAST_HEADER.with(|m| m.borrow().as_ref().map(|m| m.encoded().to_vec()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// A header read from the memo is the one read from its text,
        /// whatever the header before it was.
        #[test]
        fn the_memo_answers_what_reading_answers(
            first in headers_with_alg(),
            second in headers_with_alg(),
        ) {
            let expected = |json: &str| {
                serde_json::from_slice::<Header<'_>>(json.as_bytes())
                    .map(|h| (h.alg, h.kid.map(Cow::into_owned), h.typ.map(Cow::into_owned)))
                    .ok()
            };
            for json in [&first, &second, &first, &first, &second, &second] {
                let read = read_owned(json).ok();
                prop_assert_eq!(read, expected(json), "{}", json);
                // Remembered exactly when the flat reader read it; recalled
                // the second time in a row.
                let flat = flat_header(json.as_bytes()).is_some();
                prop_assert_eq!(remembered() == Some(encode(json).into_bytes()), flat, "{}", json);
                let before = hits();
                let again = read_owned(json).ok();
                prop_assert_eq!(&again, &expected(json));
                prop_assert_eq!(hits(), before + usize::from(flat), "{}", json);
            }
        }
    }

    #[test]
    fn the_last_flat_header_is_remembered_and_only_its_exact_text_recalls_it() {
        let usual = r#"{"alg":"RS256","typ":"at+jwt","kid":"key-1"}"#;
        let expected = (
            Some(Algorithm::RS256),
            Some("key-1".to_owned()),
            Some("at+jwt".to_owned()),
        );
        assert_eq!(read_owned(usual), Ok(expected.clone()));
        assert_eq!(remembered(), Some(encode(usual).into_bytes()));
        // From the memo: the same answer.
        assert_eq!(read_owned(usual), Ok(expected));
        // One character apart: read, and remembered instead.
        let other = r#"{"alg":"RS256","typ":"at+jwt","kid":"key-2"}"#;
        assert_eq!(read_owned(other).unwrap().1.as_deref(), Some("key-2"));
        assert_eq!(remembered(), Some(encode(other).into_bytes()));
        // A header the flat reader leaves to serde_json (an escape) is read
        // correctly and not remembered; nor is one that is refused.
        let escaped = r#"{"alg":"ES256","kid":"a\u0062"}"#;
        let before = hits();
        assert_eq!(read_owned(escaped).unwrap().1.as_deref(), Some("ab"));
        assert!(read_owned(r#"{"alg":"RS256","crit":["exp"],"exp":1}"#)
            .is_ok_and(|h| h.0 == Some(Algorithm::RS256)));
        assert!(read_owned(r#"{"alg":"RS256","kid":1}"#).is_err());
        assert_eq!(remembered(), Some(encode(other).into_bytes()));
        assert_eq!(hits(), before);
        // Empty strings, at either end of the text, and headers that
        // differ only in `typ`.
        for json in [
            r#"{"kid":"","alg":"RS256","typ":""}"#,
            r#"{"typ":"JWT","alg":"RS256"}"#,
            r#"{"typ":"at+jwt","alg":"RS256"}"#,
        ] {
            let first = read_owned(json);
            let before = hits();
            assert_eq!(read_owned(json), first, "{json}");
            assert_eq!(hits(), before + 1, "{json}");
        }
        assert_eq!(
            read_owned(r#"{"typ":"JWT","alg":"RS256"}"#)
                .unwrap()
                .2
                .as_deref(),
            Some("JWT")
        );
        // The remembered text with unused bits set in its last character
        // is another text: decoded, and refused as not canonical.
        let json = r#"{"alg":"RS256","kid":"k"}"#;
        let canonical = encode(json);
        assert_eq!(canonical.len() % 4, 2, "the last character has unused bits");
        read_owned(json).unwrap();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut near = canonical.into_bytes();
        let last = near.last_mut().unwrap();
        let value = alphabet.iter().position(|c| c == last).unwrap();
        *last = alphabet[value | 1];
        let mut array = [0; HEADER_ON_STACK];
        assert!(read(&near, &mut array, &mut Vec::new()).is_err());
        assert_eq!(read_owned(json).unwrap().1.as_deref(), Some("k"));
    }

    /// The memo holds what was read, never what was allowed: the
    /// algorithm allow-list and `crit` are judged on every token.
    #[test]
    fn a_remembered_header_is_judged_again() {
        use super::super::token::{parse, Scratch};
        let token = format!(
            "{}.{}.AA",
            encode(r#"{"alg":"HS256","kid":"k"}"#),
            encode("{}")
        );
        let mut scratch = Scratch::new();
        assert!(parse(token.as_bytes(), &mut scratch, &[Algorithm::HS256]).is_ok());
        let refused = parse(token.as_bytes(), &mut scratch, &[Algorithm::RS256]).unwrap_err();
        assert_eq!(
            refused.to_string(),
            invalid("the token's algorithm is not accepted").to_string()
        );
        let critical = format!(
            "{}.{}.AA",
            encode(r#"{"alg":"HS256","crit":["b64"],"b64":false}"#),
            encode("{}")
        );
        let remembered_before = remembered();
        for _ in 0..2 {
            assert!(parse(critical.as_bytes(), &mut scratch, &[Algorithm::HS256]).is_err());
        }
        assert_eq!(
            remembered(),
            remembered_before,
            "a crit header is not remembered"
        );
    }
}
