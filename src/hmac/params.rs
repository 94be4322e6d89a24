//! The native scheme's `Authorization` parameters: `keyId`, `ts`, `nonce`,
//! `headers` and `signature`, parsed on bytes in one pass. Both sides
//! (verify and [`Signer`](super::Signer)) use these functions, so they
//! cannot drift apart; the canonical string they sign is built in
//! [`canonical`](super::canonical). The format is specified in the
//! [module docs](super#the-native-hmac-sha256-scheme).

use http::HeaderName;

/// Most headers a signature may list.
pub(crate) const MAX_SIGNED_HEADERS: usize = 32;
/// Longest key id and nonce.
pub(crate) const MAX_ID_LEN: usize = 128;
/// Most auth-params in the header.
const MAX_PARAMS: usize = 8;

/// The parameters of `Authorization: HMAC-SHA256 …`, borrowed from the
/// header: parsing allocates nothing.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Params<'a> {
    pub(crate) key_id: &'a str,
    pub(crate) ts_text: &'a str,
    pub(crate) ts: u64,
    pub(crate) nonce: &'a str,
    pub(crate) headers: HeaderList<'a>,
    pub(crate) signature: [u8; 32],
}

/// A checked `headers` value: distinct lowercase header names separated by
/// `;`, never `authorization`, at most [`MAX_SIGNED_HEADERS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct HeaderList<'a>(&'a str);

impl<'a> HeaderList<'a> {
    /// Checks `value`.
    pub(crate) fn parse(value: &'a str) -> Result<Self, FormatError> {
        let bad = FormatError::Params;
        if value.is_empty() {
            return Ok(Self(value));
        }
        for (index, name) in value.split(';').enumerate() {
            if index == MAX_SIGNED_HEADERS {
                return Err(bad("too many signed headers"));
            }
            if name.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(bad("signed header names must be lowercase"));
            }
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(bad("a signed header name is not a valid header name"));
            }
            if name == "authorization" {
                return Err(bad("the Authorization header cannot be signed"));
            }
            // At most 32 names: a quadratic check is cheaper than a set.
            if value.split(';').take(index).any(|earlier| earlier == name) {
                return Err(bad("a signed header is listed twice"));
            }
        }
        Ok(Self(value))
    }

    /// The value as sent: the canonical string's line 7.
    pub(crate) fn as_str(self) -> &'a str {
        self.0
    }

    /// The names, in order.
    pub(crate) fn names(self) -> impl Iterator<Item = &'a str> {
        self.0.split(';').filter(|name| !name.is_empty())
    }

    /// Whether `name` is listed.
    pub(crate) fn contains(self, name: &str) -> bool {
        self.names().any(|listed| listed == name)
    }
}

/// RFC 9110 `tchar`, the bytes of a header name.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Why the parameters or the request cannot be signed or verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormatError {
    Params(&'static str),
    MissingHeader,
    HeaderValue,
}

impl FormatError {
    pub(crate) fn description(self) -> &'static str {
        match self {
            Self::Params(why) => why,
            Self::MissingHeader => "a signed header is missing from the request",
            Self::HeaderValue => "a signed header is not visible ASCII",
        }
    }
}

/// `ALPHA / DIGIT / "-" / "." / "_" / "~"`, 1 to 128 of them.
pub(crate) fn is_id(value: &str) -> bool {
    is_id_bytes(value.as_bytes())
}

/// [`is_id`] of bytes (the check proves them ASCII).
fn is_id_bytes(value: &[u8]) -> bool {
    // A fold, not `all`: no early exit, so the compiler vectorises it.
    !value.is_empty()
        && value.len() <= MAX_ID_LEN
        && value.iter().fold(true, |all, &b| all & is_id_byte(b))
}

fn is_id_byte(b: u8) -> bool {
    matches!(b, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~')
}

/// Parses the list of signed header names: lowercase, `;`-separated, no
/// duplicates, never `authorization`.
pub(crate) fn parse_header_list(value: &str) -> Result<Vec<HeaderName>, FormatError> {
    HeaderList::parse(value)?
        .names()
        .map(|name| {
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| FormatError::Params("a signed header name is not a valid header name"))
        })
        .collect()
}

/// Parses `keyId=…, ts=…, nonce=…, headers=…, signature=…`, in one pass
/// over the bytes, allocating nothing. The signer's own parse of what it
/// sends, the fuzz target's, and the verifier's (through
/// [`ParsedParams::parse`]) are this one function.
pub(crate) fn parse_params(input: &str) -> Result<Params<'_>, FormatError> {
    let parsed = ParsedParams::parse(input.as_bytes())?;
    // Every span was checked to be ASCII and lies inside `input`.
    parsed
        .params(input)
        .ok_or(FormatError::Params("keyId is missing or invalid"))
}

/// Where one parameter's value sits in the header value: `from..to`.
type Span = (usize, usize);

/// [`Params`] as positions in the header value they came from, so that
/// they can be kept with the credential (which owns the value) and
/// borrowed again: parsed once per request, not once per check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParsedParams {
    key_id: Span,
    ts_text: Span,
    ts: u64,
    nonce: Span,
    headers: Span,
    signature: [u8; 32],
}

impl ParsedParams {
    /// Parses the bytes of a header value. Works on bytes, with no UTF-8
    /// pass over the whole value: each value is checked against its own
    /// alphabet (all ASCII), so every span it keeps is valid text.
    pub(crate) fn parse(input: &[u8]) -> Result<Self, FormatError> {
        match Self::parse_signer_layout(input) {
            Some(parsed) => Ok(parsed),
            None => Self::parse_any_layout(input),
        }
    }

    /// The layout the [`Signer`](super::Signer) writes, read by comparing
    /// literals: `keyId="…", ts="…", nonce="…", headers="…", signature="…"`
    /// with every value valid. `None` for anything else (another order,
    /// case or spacing, bare values, an invalid value), which
    /// [`parse_any_layout`](Self::parse_any_layout) then reads, errors
    /// included. Where this accepts, it finds exactly what that finds
    /// (a test compares the two on mutated headers): no value it accepts
    /// has white space at either end for that one to trim.
    fn parse_signer_layout(input: &[u8]) -> Option<Self> {
        let mut at = 0;
        let mut quoted = |prefix: &[u8]| -> Option<Span> {
            let from = at + prefix.len();
            if input.get(at..from)? != prefix {
                return None;
            }
            let rest = input.get(from..)?;
            let length = find_quote_or_backslash(rest)?;
            if rest.get(length) != Some(&b'"') {
                return None;
            }
            at = from + length + 1;
            Some((from, from + length))
        };
        let key_id = quoted(b"keyId=\"")?;
        let ts_text = quoted(b", ts=\"")?;
        let nonce = quoted(b", nonce=\"")?;
        let headers = quoted(b", headers=\"")?;
        let signature = quoted(b", signature=\"")?;
        if !input.get(at..)?.iter().all(|&b| is_ows(b)) {
            return None;
        }
        let text = |span: Span| input.get(span.0..span.1).unwrap_or_default();
        if !is_id_bytes(text(key_id)) || !is_id_bytes(text(nonce)) {
            return None;
        }
        let ts = super::encoding::parse_timestamp_bytes(text(ts_text))?;
        let list = text(headers);
        if list.first().is_some_and(|&b| is_ows(b)) || list.last().is_some_and(|&b| is_ows(b)) {
            return None;
        }
        HeaderList::parse(std::str::from_utf8(list).ok()?).ok()?;
        let headers = if list.is_empty() { (0, 0) } else { headers };
        let signature = super::encoding::unb64_32_bytes(text(signature))?;
        Some(Self {
            key_id,
            ts_text,
            ts,
            nonce,
            headers,
            signature,
        })
    }

    /// Any layout the format allows: parameters in any order and case,
    /// quoted or bare, with optional white space around `=` and `,`.
    fn parse_any_layout(input: &[u8]) -> Result<Self, FormatError> {
        let bad = FormatError::Params;
        let end = input
            .iter()
            .rposition(|&b| !is_ows(b))
            .map_or(0, |last| last + 1);
        // Everything after `end` is white space: scan only up to it, so
        // that running off the end of `input` is the end of the value.
        let input = input.get(..end).unwrap_or_default();
        let mut at = skip_ows(input, 0);
        let mut found: [Option<Span>; 5] = [None; 5];
        let mut count = 0;
        while at < end {
            count += 1;
            if count > MAX_PARAMS {
                return Err(bad("too many parameters"));
            }
            let name_from = at;
            while input
                .get(at)
                .is_some_and(|&b| !matches!(b, b'=' | b',' | b' ' | b'\t'))
            {
                at += 1;
            }
            let name = input.get(name_from..at).unwrap_or_default();
            at = skip_ows(input, at);
            if input.get(at) != Some(&b'=') {
                return Err(bad("a parameter has no value"));
            }
            at = skip_ows(input, at + 1);
            let value = if input.get(at) == Some(&b'"') {
                // No escapes: no value of this scheme contains `"` or `\`.
                let from = at + 1;
                let rest = input.get(from..).unwrap_or_default();
                at = from + find_quote_or_backslash(rest).unwrap_or(rest.len());
                match input.get(at) {
                    Some(b'\\') => return Err(bad("a quoted value contains a backslash")),
                    Some(b'"') => at += 1,
                    _ => return Err(bad("a quoted value is not closed")),
                }
                trim_span(input, from, at - 1)
            } else {
                let from = at;
                let rest = input.get(from..).unwrap_or_default();
                at = from + rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
                trim_span(input, from, at)
            };
            at = skip_ows(input, at);
            if input.get(at) == Some(&b',') {
                at = skip_ows(input, at + 1);
                if at >= end {
                    return Err(bad("a trailing comma"));
                }
            } else if at < end {
                return Err(bad("parameters must be separated by commas"));
            }
            let slot = match name.len() {
                5 if name.eq_ignore_ascii_case(b"keyid") => 0,
                2 if name.eq_ignore_ascii_case(b"ts") => 1,
                5 if name.eq_ignore_ascii_case(b"nonce") => 2,
                7 if name.eq_ignore_ascii_case(b"headers") => 3,
                9 if name.eq_ignore_ascii_case(b"signature") => 4,
                _ => return Err(bad("an unknown parameter")),
            };
            if let Some(place) = found.get_mut(slot) {
                if place.replace(value).is_some() {
                    return Err(bad("a parameter is repeated"));
                }
            }
        }
        let [key_id, ts, nonce, headers, signature] = found;
        let text = |span: Span| input.get(span.0..span.1).unwrap_or_default();
        let key_id = key_id
            .filter(|&span| is_id_bytes(text(span)))
            .ok_or(bad("keyId is missing or invalid"))?;
        let ts_text = ts.ok_or(bad("ts is missing"))?;
        let ts = super::encoding::parse_timestamp_bytes(text(ts_text))
            .ok_or(bad("ts is not a Unix timestamp"))?;
        let nonce = nonce
            .filter(|&span| is_id_bytes(text(span)))
            .ok_or(bad("nonce is missing or invalid"))?;
        let headers = match headers {
            Some(span) => {
                // Header names are ASCII (`tchar`): checked as text by
                // `HeaderList::parse` once they are known to be ASCII.
                let list = std::str::from_utf8(text(span))
                    .map_err(|_| bad("a signed header name is not a valid header name"))?;
                HeaderList::parse(list)?;
                if list.is_empty() {
                    (0, 0)
                } else {
                    span
                }
            }
            None => (0, 0),
        };
        let signature = signature
            .and_then(|span| super::encoding::unb64_32_bytes(text(span)))
            .ok_or(bad("signature is missing or not base64 of 32 bytes"))?;
        Ok(Self {
            key_id,
            ts_text,
            ts,
            nonce,
            headers,
            signature,
        })
    }

    /// The parameters, borrowed from `value`, the text [`parse`](Self::parse)
    /// was given; `None` if it is not (a span out of range).
    pub(crate) fn params<'a>(&self, value: &'a str) -> Option<Params<'a>> {
        let at = |(from, to): Span| value.get(from..to);
        Some(Params {
            key_id: at(self.key_id)?,
            ts_text: at(self.ts_text)?,
            ts: self.ts,
            nonce: at(self.nonce)?,
            headers: HeaderList(at(self.headers)?),
            signature: self.signature,
        })
    }

    /// The signed timestamp.
    pub(crate) fn ts(&self) -> u64 {
        self.ts
    }

    /// The key id's bytes (checked ASCII), borrowed from `value`, the
    /// bytes [`parse`](Self::parse) was given; empty if it is not.
    pub(crate) fn key_id_bytes<'a>(&self, value: &'a [u8]) -> &'a [u8] {
        let (from, to) = self.key_id;
        value.get(from..to).unwrap_or_default()
    }
}

/// The first position at or after `at` that is not optional white space.
fn skip_ows(input: &[u8], mut at: usize) -> usize {
    while input.get(at).is_some_and(|&b| is_ows(b)) {
        at += 1;
    }
    at
}

/// `from..to` without optional white space at either end.
fn trim_span(input: &[u8], from: usize, to: usize) -> Span {
    let part = input.get(from..to).unwrap_or_default();
    let start = part.iter().position(|&b| !is_ows(b)).unwrap_or(part.len());
    let end = part
        .iter()
        .rposition(|&b| !is_ows(b))
        .map_or(start, |last| last + 1);
    (from + start, from + end)
}

/// The position of the first `"` or `\` in `bytes`, eight bytes at a
/// time (quoted values are mostly the 44 characters of a signature).
fn find_quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A high bit in each byte of `word` equal to `byte`, exact in its
    // lowest such byte (the borrow of the classic test only reaches the
    // bytes above the first match, and only the lowest match is used).
    let matches = |word: u64, byte: u8| {
        let x = word ^ (ONES * u64::from(byte));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
        let hits = matches(word, b'"') | matches(word, b'\\');
        if hits != 0 {
            // The lowest flagged byte: below 8, so the cast is exact.
            return Some(offset + (hits.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|i| offset + i)
}

/// Whether `b` is optional white space (RFC 9110 `OWS`: space or tab).
pub(super) fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast reading of the signer's layout never disagrees with the
    /// general parse: over headers the signer writes and every one-byte
    /// change, deletion and insertion of them, it either declines or finds
    /// exactly what the general parse finds.
    #[test]
    fn the_signer_layout_reading_agrees_with_the_general_parse() {
        let signature = "q83vEjRWeJASNFZ4kBI0VniQEjRWeJASNFZ4kBI0Vng=";
        let headers = [
            format!(
                r#"keyId="partner", ts="1700000000", nonce="n-1", headers="", signature="{signature}""#
            ),
            format!(
                r#"keyId="a.b_c~d", ts="17", nonce="N0", headers="host;x-a", signature="{signature}"  "#
            ),
            format!(
                r#"keyId="k", ts="1", nonce="n", headers="content-type", signature="{signature}""#
            ),
        ];
        let replacements = b" \t\",=;\\aZ0-_.~\x00\x7f\xff";
        let mut checked = 0;
        let mut fast = 0;
        for header in &headers {
            let original = header.as_bytes().to_vec();
            let mut variants = vec![original.clone()];
            for i in 0..original.len() {
                let mut deleted = original.clone();
                deleted.remove(i);
                variants.push(deleted);
                for &b in replacements {
                    let mut changed = original.clone();
                    changed[i] = b;
                    variants.push(changed);
                    let mut inserted = original.clone();
                    inserted.insert(i, b);
                    variants.push(inserted);
                }
            }
            for variant in &variants {
                checked += 1;
                if let Some(quick) = ParsedParams::parse_signer_layout(variant) {
                    fast += 1;
                    let general = ParsedParams::parse_any_layout(variant);
                    assert_eq!(Ok(quick), general, "{:?}", String::from_utf8_lossy(variant));
                }
            }
        }
        // The fast reading did take most of the valid ones.
        assert!(fast > 3 && checked > 3 * 1000, "{fast} of {checked}");
        for header in &headers {
            assert!(ParsedParams::parse_signer_layout(header.as_bytes()).is_some());
        }
    }

    #[test]
    fn parsed_params_borrow_again_exactly_what_parse_params_finds() {
        let sig = super::super::encoding::b64(&[7u8; 32]);
        for text in [
            format!(
                r#"signature="{sig}",KEYID=k1 , ts=1700000000, nonce="n-1", headers="host;x-a""#
            ),
            format!("keyId=k2,ts=1700000001,nonce=n2,signature={sig}"),
            format!(r#" keyId="k3", ts="1700000002" , nonce=n3, headers="", signature="{sig}" "#),
        ] {
            let parsed = ParsedParams::parse(text.as_bytes()).unwrap();
            assert_eq!(parsed.params(&text), Some(parse_params(&text).unwrap()));
            assert_eq!(parsed.ts(), parse_params(&text).unwrap().ts);
            assert_eq!(
                parsed.key_id_bytes(text.as_bytes()),
                parse_params(&text).unwrap().key_id.as_bytes()
            );
        }
        assert_eq!(
            ParsedParams::parse(b"keyId=k1").unwrap_err(),
            parse_params("keyId=k1").unwrap_err()
        );
        // Spans taken from one text never read past another, shorter one.
        let long = format!("keyId=a-long-key-id,ts=1700000000,nonce=n,signature={sig}");
        let parsed = ParsedParams::parse(long.as_bytes()).unwrap();
        assert_eq!(parsed.params("keyId=k"), None);
        assert_eq!(parsed.key_id_bytes(b"keyId=k"), b"");
    }

    #[test]
    fn params_parse_quoted_or_bare_in_any_order_and_case() {
        let sig = super::super::encoding::b64(&[7u8; 32]);
        let text = format!(
            r#"signature="{sig}",KEYID=k1 , ts=1700000000, nonce="n-1", headers="host;x-a""#
        );
        let p = parse_params(&text).unwrap();
        assert_eq!(p.key_id, "k1");
        assert_eq!(p.ts, 1_700_000_000);
        assert_eq!(p.nonce, "n-1");
        assert_eq!(p.headers.names().collect::<Vec<_>>(), ["host", "x-a"]);
        assert!(p.headers.contains("x-a") && !p.headers.contains("x"));
        assert_eq!(p.signature, [7u8; 32]);
    }

    #[test]
    fn bad_params_are_rejected() {
        let sig = super::super::encoding::b64(&[7u8; 32]);
        let ok = format!("keyId=k1, ts=1, nonce=n, signature={sig}");
        assert!(parse_params(&ok).is_ok());
        let many = (0..=MAX_SIGNED_HEADERS)
            .map(|i| format!("x-{i}"))
            .collect::<Vec<_>>()
            .join(";");
        for bad in [
            format!("{ok},"),
            format!("{ok}, ts=2"),
            format!("{ok}, extra=1"),
            format!("{ok}, headers=Host"),
            format!("{ok}, headers=authorization"),
            format!("{ok}, headers=a;a"),
            format!("{ok}, headers=a;;b"),
            format!("{ok}, headers=a;"),
            format!("{ok}, headers=\"a b\""),
            format!("{ok}, headers=\"x:y\""),
            format!("{ok}, headers=\"{many}\""),
            format!("keyId=k1 ts=1, nonce=n, signature={sig}"),
            format!("keyId=\"k1, ts=1, nonce=n, signature={sig}"),
            format!("keyId=k/1, ts=1, nonce=n, signature={sig}"),
            format!("keyId=k1, ts=-1, nonce=n, signature={sig}"),
            "keyId=k1, ts=1, nonce=n, signature=AAAA".to_owned(),
            String::new(),
        ] {
            assert!(parse_params(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn white_space_and_quotes_around_values() {
        let sig = super::super::encoding::b64(&[7u8; 32]);
        for text in [
            format!(" \tkeyId = k1 ,\tts= 12 , nonce =\"n\",signature = \" {sig} \" \t"),
            format!("keyId=\"k1\",ts=\"12\",nonce=n,headers=\"\",signature={sig}"),
            format!("KeyId=k1, TS=12, Nonce=n, Headers=, SIGNATURE={sig}"),
        ] {
            let p = parse_params(&text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert_eq!((p.key_id, p.ts_text, p.nonce), ("k1", "12", "n"), "{text}");
            assert_eq!(p.headers.as_str(), "", "{text}");
        }
        for bad in [
            format!("keyId=k1, ts=12, nonce=n, signature={sig}, "),
            format!("keyId=k1,, ts=12, nonce=n, signature={sig}"),
            format!("keyId=k1, ts=12 13, nonce=n, signature={sig}"),
            format!("keyId=\"k1\" x, ts=12, nonce=n, signature={sig}"),
            format!("keyId=\"k\\1\", ts=12, nonce=n, signature={sig}"),
            format!("keyId=k1, ts=12, nonce=n, signature={sig}, keyid=k2"),
            format!("=k1, ts=12, nonce=n, signature={sig}"),
            format!("keyId=k1, ts=, nonce=n, signature={sig}"),
            format!("keyId=k1, ts=12, nonce=n, signature=\"{sig}"),
            format!("keyId=k1, ts=12, nonce=é, signature={sig}"),
            "keyId".to_owned(),
            ",".to_owned(),
        ] {
            assert!(parse_params(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_lists_agree_with_header_names() {
        let names = parse_header_list("host;content-type;x-a!#$%&'*+-.^_`|~0").unwrap();
        assert_eq!(names.len(), 3);
        assert_eq!(parse_header_list("").unwrap(), Vec::<HeaderName>::new());
        let full = (0..MAX_SIGNED_HEADERS)
            .map(|i| format!("x-{i}"))
            .collect::<Vec<_>>()
            .join(";");
        assert_eq!(parse_header_list(&full).unwrap().len(), MAX_SIGNED_HEADERS);
    }

    /// The parser before it worked on bytes (`af13736`), kept as the
    /// reference the byte parser must agree with.
    mod reference {
        use super::super::{is_id, is_ows, FormatError, HeaderList, MAX_PARAMS};
        use crate::hmac::canonical::trim_ows;

        pub(super) type Parsed<'a> = (&'a str, &'a str, u64, &'a str, &'a str, [u8; 32]);

        struct Scan<'a> {
            text: &'a str,
            at: usize,
        }

        impl<'a> Scan<'a> {
            fn rest(&self) -> &'a [u8] {
                self.text.as_bytes().get(self.at..).unwrap_or_default()
            }
            fn done(&self) -> bool {
                self.at >= self.text.len()
            }
            fn skip_ows(&mut self) {
                self.at += self.rest().iter().take_while(|&&b| is_ows(b)).count();
            }
            fn eat(&mut self, byte: u8) -> bool {
                let next = self.rest().first() == Some(&byte);
                self.at += usize::from(next);
                next
            }
            fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a str {
                let from = self.at;
                self.at += self.rest().iter().take_while(|&&b| keep(b)).count();
                self.text.get(from..self.at).unwrap_or_default()
            }
        }

        pub(super) fn parse(input: &str) -> Result<Parsed<'_>, FormatError> {
            let bad = FormatError::Params;
            let mut scan = Scan {
                text: trim_ows(input),
                at: 0,
            };
            let mut slots: [Option<&str>; 5] = [None; 5];
            let mut count = 0;
            while !scan.done() {
                count += 1;
                if count > MAX_PARAMS {
                    return Err(bad("too many parameters"));
                }
                let name = scan.take_while(|b| b != b'=' && b != b',' && !is_ows(b));
                scan.skip_ows();
                if !scan.eat(b'=') {
                    return Err(bad("a parameter has no value"));
                }
                scan.skip_ows();
                let value = if scan.eat(b'"') {
                    let value = scan.take_while(|b| b != b'"' && b != b'\\');
                    if scan.eat(b'\\') {
                        return Err(bad("a quoted value contains a backslash"));
                    }
                    if !scan.eat(b'"') {
                        return Err(bad("a quoted value is not closed"));
                    }
                    trim_ows(value)
                } else {
                    trim_ows(scan.take_while(|b| b != b','))
                };
                scan.skip_ows();
                if scan.eat(b',') {
                    scan.skip_ows();
                    if scan.done() {
                        return Err(bad("a trailing comma"));
                    }
                } else if !scan.done() {
                    return Err(bad("parameters must be separated by commas"));
                }
                let names = ["keyid", "ts", "nonce", "headers", "signature"];
                let Some(i) = names.iter().position(|n| name.eq_ignore_ascii_case(n)) else {
                    return Err(bad("an unknown parameter"));
                };
                if slots[i].replace(value).is_some() {
                    return Err(bad("a parameter is repeated"));
                }
            }
            let [key_id, ts, nonce, headers, signature] = slots;
            let key_id = key_id.filter(|v| is_id(v)).ok_or(bad("keyId"))?;
            let ts_text = ts.ok_or(bad("ts"))?;
            let ts = super::super::super::encoding::parse_timestamp(ts_text).ok_or(bad("ts"))?;
            let nonce = nonce.filter(|v| is_id(v)).ok_or(bad("nonce"))?;
            let headers = HeaderList::parse(headers.unwrap_or(""))?.as_str();
            let signature = signature
                .and_then(|s| super::super::super::encoding::unb64_32_bytes(s.as_bytes()))
                .ok_or(bad("signature"))?;
            Ok((key_id, ts_text, ts, nonce, headers, signature))
        }
    }

    /// Differential: the byte parser accepts exactly what the reference
    /// accepts, with the same values, over inputs built from the pieces
    /// that matter (names in any case, separators, white space, quotes,
    /// backslashes, non-ASCII, repeated and missing parameters).
    #[test]
    fn the_byte_parser_agrees_with_the_reference_parser() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};

        let sig = super::super::encoding::b64(&[7u8; 32]);
        let sig2 = super::super::encoding::b64(&[9u8; 32]);
        let pieces: Vec<String> = [
            "keyId",
            "KEYID",
            "ts",
            "Ts",
            "nonce",
            "headers",
            "signature",
            "extra",
            "=",
            "=",
            ",",
            ",",
            ", ",
            " ",
            "\t",
            "\"",
            "\"",
            "\\",
            "k1",
            "k/1",
            "1700000000",
            "12",
            "-1",
            "n-1",
            "host;x-a",
            "host",
            "Host",
            ";",
            "",
            "é",
            "\u{80}",
            "x",
            "a b",
            sig.as_str(),
            sig2.as_str(),
            "AAAA",
            "keyId=k1",
            "ts=1",
            "nonce=n",
            "headers=\"\"",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .chain([format!("signature={sig}"), format!("signature=\"{sig}\"")])
        .collect();
        let strategy = proptest::collection::vec(proptest::sample::select(pieces), 0..24)
            .prop_map(|parts| parts.concat());
        let mut runner = TestRunner::new(Config {
            cases: 4_000,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&strategy, |text| {
                let new = ParsedParams::parse(text.as_bytes()).map(|p| {
                    let p = p.params(&text).expect("spans inside the text");
                    (
                        p.key_id,
                        p.ts_text,
                        p.ts,
                        p.nonce,
                        p.headers.as_str(),
                        p.signature,
                    )
                });
                let old = reference::parse(&text);
                prop_assert_eq!(new.is_ok(), old.is_ok(), "{:?}: {:?} {:?}", text, new, old);
                if let (Ok(new), Ok(old)) = (new, old) {
                    prop_assert_eq!(new, old, "{:?}", text);
                }
                Ok(())
            })
            .unwrap();
        // And well-formed headers with every parameter, in any order.
        let params = [
            "keyId=k1".to_owned(),
            "ts=\"1700000000\"".to_owned(),
            "nonce=n-1".to_owned(),
            "headers=\"host;x-a\"".to_owned(),
            format!("signature=\"{sig}\""),
        ];
        let orders = Just(params.to_vec()).prop_shuffle();
        runner
            .run(&(orders, " ?\t?", " ?"), |(order, before, after)| {
                let text = order.join(&format!("{before},{after}"));
                let new = ParsedParams::parse(text.as_bytes()).map(|p| p.ts());
                prop_assert_eq!(new.ok(), reference::parse(&text).ok().map(|p| p.2));
                prop_assert!(reference::parse(&text).is_ok(), "{:?}", text);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn the_quote_search_finds_the_first_quote_or_backslash() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let bytes = proptest::collection::vec(
            prop_oneof![
                Just(b'"'),
                Just(b'\\'),
                Just(0u8),
                Just(0x80u8),
                Just(0xa2u8),
                Just(0xdcu8),
                any::<u8>()
            ],
            0..40,
        );
        let mut runner = TestRunner::new(Config {
            cases: 4_000,
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&bytes, |bytes| {
                let naive = bytes.iter().position(|&b| b == b'"' || b == b'\\');
                prop_assert_eq!(find_quote_or_backslash(&bytes), naive, "{:?}", bytes);
                Ok(())
            })
            .unwrap();
    }
}
