//! The native scheme's wire format: the `Authorization` parameters and the
//! canonical string. Both sides (verify and [`Signer`](super::Signer)) use
//! these functions, so they cannot drift apart. The format is specified in
//! the [module docs](super#the-native-hmac-sha256-scheme).

use http::{HeaderMap, HeaderName, Method, Uri};

use super::encoding::sha256;

/// The `Authorization` scheme name.
pub(crate) const SCHEME: &str = "HMAC-SHA256";
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
    !value.is_empty() && value.len() <= MAX_ID_LEN && value.bytes().all(is_id_byte)
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
/// over the bytes, allocating nothing: it runs twice per request (once to
/// decide whether the body is worth reading, once to verify).
pub(crate) fn parse_params(input: &str) -> Result<Params<'_>, FormatError> {
    let bad = FormatError::Params;
    let mut scan = Scan {
        text: trim_ows(input),
        at: 0,
    };
    let mut key_id = None;
    let mut ts = None;
    let mut nonce = None;
    let mut headers = None;
    let mut signature = None;
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
            // No escapes: no value of this scheme contains `"` or `\`.
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
        let slot = if name.eq_ignore_ascii_case("keyid") {
            &mut key_id
        } else if name.eq_ignore_ascii_case("ts") {
            &mut ts
        } else if name.eq_ignore_ascii_case("nonce") {
            &mut nonce
        } else if name.eq_ignore_ascii_case("headers") {
            &mut headers
        } else if name.eq_ignore_ascii_case("signature") {
            &mut signature
        } else {
            return Err(bad("an unknown parameter"));
        };
        if slot.replace(value).is_some() {
            return Err(bad("a parameter is repeated"));
        }
    }
    let key_id = key_id
        .filter(|v| is_id(v))
        .ok_or(bad("keyId is missing or invalid"))?;
    let ts_text = ts.ok_or(bad("ts is missing"))?;
    let ts = super::encoding::parse_timestamp(ts_text).ok_or(bad("ts is not a Unix timestamp"))?;
    let nonce = nonce
        .filter(|v| is_id(v))
        .ok_or(bad("nonce is missing or invalid"))?;
    let headers = HeaderList::parse(headers.unwrap_or(""))?;
    let signature = signature
        .and_then(super::encoding::unb64_32)
        .ok_or(bad("signature is missing or not base64 of 32 bytes"))?;
    Ok(Params {
        key_id,
        ts_text,
        ts,
        nonce,
        headers,
        signature,
    })
}

/// [`Params`] as positions in the header value they came from, so that
/// they can be kept with the credential (which owns the value) and
/// borrowed again: parsed once per request, not once per check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParsedParams {
    key_id: (usize, usize),
    ts_text: (usize, usize),
    ts: u64,
    nonce: (usize, usize),
    headers: (usize, usize),
    signature: [u8; 32],
}

impl ParsedParams {
    /// Parses `value` (see [`parse_params`]).
    pub(crate) fn parse(value: &str) -> Result<Self, FormatError> {
        let params = parse_params(value)?;
        // Where `part` sits in `value`; an empty part (no `headers`) is
        // any empty span, and a part from elsewhere (never) a span that
        // `params` refuses.
        let span = |part: &str| {
            let from = (part.as_ptr() as usize).wrapping_sub(value.as_ptr() as usize);
            match from.checked_add(part.len()) {
                _ if part.is_empty() => (0, 0),
                Some(to) if to <= value.len() => (from, to),
                _ => (usize::MAX, usize::MAX),
            }
        };
        Ok(Self {
            key_id: span(params.key_id),
            ts_text: span(params.ts_text),
            ts: params.ts,
            nonce: span(params.nonce),
            headers: span(params.headers.as_str()),
            signature: params.signature,
        })
    }

    /// The parameters, borrowed from `value`, the text [`parse`](Self::parse)
    /// was given; `None` if it is not (a span out of range).
    pub(crate) fn params<'a>(&self, value: &'a str) -> Option<Params<'a>> {
        let at = |(from, to): (usize, usize)| value.get(from..to);
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

    /// The key id, borrowed from `value`, the bytes of the text
    /// [`parse`](Self::parse) was given: only its span is checked again.
    pub(crate) fn key_id<'a>(&self, value: &'a [u8]) -> Option<&'a str> {
        let (from, to) = self.key_id;
        value
            .get(from..to)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
    }
}

/// A cursor over the header value, without its surrounding white space.
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

    /// Consumes `byte` if it comes next.
    fn eat(&mut self, byte: u8) -> bool {
        let next = self.rest().first() == Some(&byte);
        self.at += usize::from(next);
        next
    }

    /// Consumes and returns the bytes for which `keep` holds. Stops only
    /// at ASCII bytes, so the cut is always a character boundary.
    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a str {
        let from = self.at;
        self.at += self.rest().iter().take_while(|&&b| keep(b)).count();
        self.text.get(from..self.at).unwrap_or_default()
    }
}

/// Whether `b` is optional white space (RFC 9110 `OWS`: space or tab).
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_ows(text: &str) -> &str {
    // Byte positions: white space is ASCII, so the cuts are character
    // boundaries (a char-by-char `trim_matches` costs several times more).
    let bytes = text.as_bytes();
    let start = bytes
        .iter()
        .position(|&b| !is_ows(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_ows(b))
        .map_or(start, |last| last + 1);
    text.get(start..end).unwrap_or_default()
}

/// The canonical query (line 5): the raw query string exactly as sent,
/// without the `?`; empty when there is none. Neither sorted nor decoded:
/// `?to=alice&to=mallory` and `?to=mallory&to=alice` mean different things
/// to a handler that reads the first `to`, and so do `?a=1&%61=2` and
/// `?%61=2&a=1`, so they must not sign alike.
pub(crate) fn canonical_query(query: Option<&str>) -> &str {
    query.unwrap_or("")
}

/// What a canonical string covers, besides the request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signed<'a> {
    pub(crate) key_id: &'a str,
    pub(crate) headers: HeaderList<'a>,
    pub(crate) ts: &'a str,
    pub(crate) nonce: &'a str,
}

/// The canonical string of a request. See the module docs for the format.
pub(crate) fn canonical_string(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    signed: Signed<'_>,
    body: &[u8],
) -> Result<String, FormatError> {
    let path = if uri.path().is_empty() {
        "/"
    } else {
        uri.path()
    };
    let query = canonical_query(uri.query());
    let mut out = String::with_capacity(
        SCHEME.len()
            + signed.key_id.len()
            + method.as_str().len()
            + path.len()
            + query.len()
            + 2 * signed.headers.as_str().len()
            + signed.ts.len()
            + signed.nonce.len()
            + 64
            + 64
            + 10,
    );
    for line in [SCHEME, signed.key_id, method.as_str(), path, query] {
        out.push_str(line);
        out.push('\n');
    }
    for name in signed.headers.names() {
        let mut fields = 0usize;
        // One line per field, in the order received: `x-a: user,admin` and
        // two fields `x-a: user` + `x-a: admin` are different requests to
        // a handler that reads the first field, so they sign differently.
        for value in headers.get_all(name) {
            let text = value.to_str().map_err(|_| FormatError::HeaderValue)?;
            push_field(&mut out, name, trim_ows(text));
            fields += 1;
        }
        // HTTP/2 carries the host in the `:authority` pseudo-header, which
        // hyper puts in the URI rather than in a `Host` header.
        if fields == 0 && name == "host" {
            if let Some(authority) = uri.authority() {
                push_field(&mut out, name, authority.as_str());
                fields += 1;
            }
        }
        if fields == 0 {
            return Err(FormatError::MissingHeader);
        }
    }
    for line in [signed.headers.as_str(), signed.ts, signed.nonce] {
        out.push_str(line);
        out.push('\n');
    }
    push_hex(&mut out, &sha256(body));
    Ok(out)
}

fn push_field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push(':');
    out.push_str(value);
    out.push('\n');
}

/// Appends lowercase hex of a SHA-256 digest (written into a buffer and
/// appended at once, not a character at a time).
fn push_hex(out: &mut String, bytes: &[u8; 32]) {
    let digit = |nibble: u8| {
        if nibble < 10 {
            b'0' + nibble
        } else {
            b'a' + (nibble - 10)
        }
    };
    let mut hex = [0u8; 64];
    for (pair, &b) in hex.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&[digit(b >> 4), digit(b & 0x0f)]);
    }
    // Hex digits are ASCII: this never fails.
    out.push_str(std::str::from_utf8(&hex).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_ows_cuts_spaces_and_tabs_at_both_ends_only() {
        for (text, trimmed) in [
            ("", ""),
            (" \t ", ""),
            ("a", "a"),
            (" \ta b\t ", "a b"),
            ("\u{e9} ", "\u{e9}"),
            (" \u{a0}x\u{a0} ", "\u{a0}x\u{a0}"),
        ] {
            assert_eq!(trim_ows(text), trimmed, "{text:?}");
            assert_eq!(trim_ows(text), text.trim_matches([' ', '\t']), "{text:?}");
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
            let parsed = ParsedParams::parse(&text).unwrap();
            assert_eq!(parsed.params(&text), Some(parse_params(&text).unwrap()));
            assert_eq!(parsed.ts(), parse_params(&text).unwrap().ts);
            assert_eq!(
                parsed.key_id(text.as_bytes()),
                Some(parse_params(&text).unwrap().key_id)
            );
        }
        assert_eq!(
            ParsedParams::parse("keyId=k1").unwrap_err(),
            parse_params("keyId=k1").unwrap_err()
        );
        // Spans taken from one text never read past another, shorter one.
        let long = format!("keyId=a-long-key-id,ts=1700000000,nonce=n,signature={sig}");
        let parsed = ParsedParams::parse(&long).unwrap();
        assert_eq!(parsed.params("keyId=k"), None);
        assert_eq!(parsed.key_id(b"keyId=k"), None);
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

    #[test]
    fn the_query_is_signed_as_sent() {
        assert_eq!(
            canonical_query(Some("b=2&a=1&&A=3&a=0")),
            "b=2&a=1&&A=3&a=0"
        );
        assert_eq!(canonical_query(None), "");
    }

    #[test]
    fn every_header_field_is_a_line_of_its_own() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", " user\t".parse().unwrap());
        headers.append("x-a", "admin".parse().unwrap());
        headers.append("host", "h".parse().unwrap());
        let signed = Signed {
            key_id: "k1",
            headers: HeaderList::parse("x-a;host").unwrap(),
            ts: "1",
            nonce: "n",
        };
        let uri: Uri = "/p?q".parse().unwrap();
        let text = canonical_string(&Method::GET, &uri, &headers, signed, b"").unwrap();
        assert_eq!(
            text,
            "HMAC-SHA256\nk1\nGET\n/p\nq\nx-a:user\nx-a:admin\nhost:h\nx-a;host\n1\nn\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
