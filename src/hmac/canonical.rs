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

pub(super) fn trim_ows(text: &str) -> &str {
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
}
