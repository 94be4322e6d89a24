//! The `htu` comparison (RFC 9449 §4.3 step 9, §7.1): a proof names the
//! URI it was made for, and the server compares it with the request's URI
//! after RFC 3986 syntax- and scheme-based normalisation (§6.2.2, §6.2.3):
//! scheme and host in lower case, default ports dropped, percent-encoding
//! with upper-case hex and unreserved characters decoded, dot segments
//! removed, an empty path as `/`. Query and fragment are never part of it.
//!
//! The request's origin is configured ([`Dpop::public_origin`](super::Dpop::public_origin)),
//! never read from `Host` or `Forwarded`, which the client controls.

/// The normalised form of an absolute `http` or `https` URI without its
/// query and fragment; `None` when it is not one (relative, another
/// scheme, user information, a bad port, broken percent-encoding, bytes
/// that are not visible ASCII).
///
/// ```
/// # use authgate::dpop::normalize_htu;
/// assert_eq!(normalize_htu("HTTP://Example.COM:80/a").as_deref(), Some("http://example.com/a"));
/// assert_eq!(normalize_htu("https://example.com").as_deref(), Some("https://example.com/"));
/// assert_eq!(normalize_htu("https://example.com/%7euser/./x?q#f").as_deref(),
///            Some("https://example.com/~user/x"));
/// assert_eq!(normalize_htu("/relative"), None);
/// ```
#[must_use]
pub fn normalize_htu(uri: &str) -> Option<String> {
    if uri.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
        return None;
    }
    let uri = uri.split('#').next().unwrap_or_default();
    let uri = uri.split('?').next().unwrap_or_default();
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let origin = normalize_authority(authority, default_port)?;
    let path = normalize_path(path)?;
    Some(format!("{scheme}://{origin}{path}"))
}

/// The normalised `scheme://host[:port]` of a configured public origin,
/// which has no path (or just `/`), query or fragment.
pub(crate) fn normalize_origin(origin: &str) -> Option<String> {
    if origin.contains(['?', '#']) {
        return None;
    }
    let normalized = normalize_htu(origin)?;
    normalized.strip_suffix('/').map(str::to_owned).filter(|o| {
        // Exactly `scheme://authority/`: no path of its own.
        o.matches('/').count() == 2
    })
}

/// A request path (as the server received it, without query) in the
/// normalised form: percent-encoding and dot segments as in
/// [`normalize_htu`].
pub(crate) fn normalize_path(path: &str) -> Option<String> {
    if path.bytes().any(|b| !(0x21..0x7f).contains(&b)) {
        return None;
    }
    if path.is_empty() {
        return Some("/".to_owned());
    }
    if !path.starts_with('/') {
        return None;
    }
    Some(remove_dot_segments(&normalize_percent(path)?))
}

fn normalize_authority(authority: &str, default_port: u16) -> Option<String> {
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = if authority.starts_with('[') {
        // An IP literal: `[v6]` with an optional port after it.
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        let port = match rest {
            "" => None,
            _ => Some(rest.strip_prefix(':')?),
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let host = lowercase_outside_escapes(&normalize_percent(host)?);
    match port.filter(|p| !p.is_empty()) {
        None => Some(host),
        Some(port) => {
            if !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let port: u16 = port.parse().ok()?;
            if port == default_port {
                Some(host)
            } else {
                Some(format!("{host}:{port}"))
            }
        }
    }
}

/// A host in lower case, but for the hex digits of `%XX`, which stay
/// upper case.
fn lowercase_outside_escapes(host: &str) -> String {
    let mut out = String::with_capacity(host.len());
    let mut escape = 0;
    for c in host.chars() {
        if c == '%' {
            escape = 2;
            out.push(c);
        } else if escape > 0 {
            escape -= 1;
            out.push(c);
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Upper-case hex in every `%XX`, and unreserved characters decoded; `None`
/// for a `%` without two hex digits.
fn normalize_percent(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(char::from(b));
            i += 1;
            continue;
        }
        let hi = hex_value(*bytes.get(i + 1)?)?;
        let lo = hex_value(*bytes.get(i + 2)?)?;
        let decoded = hi << 4 | lo;
        if decoded.is_ascii_alphanumeric() || b"-._~".contains(&decoded) {
            out.push(char::from(decoded));
        } else {
            out.push('%');
            out.push(hex_digit(hi));
            out.push(hex_digit(lo));
        }
        i += 3;
    }
    Some(out)
}

/// The upper-case hex digit of a nibble.
fn hex_digit(nibble: u8) -> char {
    let digits = b"0123456789ABCDEF";
    char::from(digits.get(usize::from(nibble)).copied().unwrap_or(b'0'))
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 §5.2.4 for an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut out: Vec<&str> = Vec::with_capacity(segments.len());
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." => {}
            ".." => {
                out.pop();
            }
            other => {
                out.push(other);
                continue;
            }
        }
        if i == last {
            // `/a/.` and `/a/b/..` name a directory: `/a/`.
            out.push("");
        }
    }
    format!("/{}", out.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        let same = [
            ("HTTP://Example.COM:80/a", "http://example.com/a"),
            ("https://example.com:443/a", "https://example.com/a"),
            ("https://example.com:8443/a", "https://example.com:8443/a"),
            ("https://example.com", "https://example.com/"),
            ("https://example.com:/a", "https://example.com/a"),
            ("https://example.com/a?x=1#y", "https://example.com/a"),
            ("https://example.com/%7Euser", "https://example.com/~user"),
            ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
            ("https://example.com/a/./b/../c", "https://example.com/a/c"),
            ("https://example.com/a/b/..", "https://example.com/a/"),
            ("https://example.com/..", "https://example.com/"),
            ("https://[::1]:443/x", "https://[::1]/x"),
            ("https://[::1]:8080/x", "https://[::1]:8080/x"),
            ("https://EX%41MPLE.com/", "https://example.com/"),
        ];
        for (input, want) in same {
            assert_eq!(normalize_htu(input).as_deref(), Some(want), "{input}");
        }
        assert_ne!(
            normalize_htu("https://example.com/a/"),
            normalize_htu("https://example.com/a")
        );
        for bad in [
            "/a",
            "ftp://example.com/a",
            "https://user@example.com/a",
            "https://example.com:x/a",
            "https://example.com:99999/a",
            "https://example.com/%zz",
            "https://example.com/%4",
            "https:///a",
            "https://example.com/a b",
            "https://exämple.com/",
        ] {
            assert_eq!(normalize_htu(bad), None, "{bad}");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            normalize_origin("HTTPS://Api.Example.com:443/").as_deref(),
            Some("https://api.example.com")
        );
        assert_eq!(
            normalize_origin("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(normalize_origin("https://api.example.com/v1"), None);
        assert_eq!(normalize_origin("https://api.example.com/?x"), None);
    }
}
