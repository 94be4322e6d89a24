//! The native scheme's canonical string: what a signature covers. Both
//! sides (verify and [`Signer`](super::Signer)) use these functions, so
//! they cannot drift apart; the `Authorization` parameters are parsed in
//! [`params`](super::params). The format is specified in the
//! [module docs](super#the-native-hmac-sha256-scheme).

use http::{HeaderMap, Method, Uri};

use super::encoding::sha256;
use super::params::{is_ows, FormatError, HeaderList};

/// The `Authorization` scheme name.
pub(crate) const SCHEME: &str = "HMAC-SHA256";

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
    let mut out = String::new();
    write_canonical_string(&mut out, method, uri, headers, signed, body)?;
    Ok(out)
}

/// [`canonical_string`], written into `out` (cleared first): the verifier
/// reuses one buffer per thread.
pub(crate) fn write_canonical_string(
    out: &mut String,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    signed: Signed<'_>,
    body: &[u8],
) -> Result<(), FormatError> {
    let path = if uri.path().is_empty() {
        "/"
    } else {
        uri.path()
    };
    let query = canonical_query(uri.query());
    out.clear();
    out.reserve(
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
            push_field(out, name, trim_ows(text));
            fields += 1;
        }
        // HTTP/2 carries the host in the `:authority` pseudo-header, which
        // hyper puts in the URI rather than in a `Host` header.
        if fields == 0 && name == "host" {
            if let Some(authority) = uri.authority() {
                push_field(out, name, authority.as_str());
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
    push_hex(out, &sha256(body));
    Ok(())
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
    /// The parser before it worked on bytes (`af13736`), kept as the
    /// reference the byte parser must agree with.
    mod reference {
        use super::super::{is_id, is_ows, trim_ows, FormatError, HeaderList, MAX_PARAMS};

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
