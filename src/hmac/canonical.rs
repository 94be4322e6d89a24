//! The native scheme's wire format: the `Authorization` parameters and the
//! canonical string. Both sides (verify and [`Signer`](super::Signer)) use
//! these functions, so they cannot drift apart. The format is specified in
//! the [module docs](super#the-native-hmac-sha256-scheme).

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, Method, Uri};

use super::encoding::{hex, sha256};

/// The `Authorization` scheme name.
pub(crate) const SCHEME: &str = "HMAC-SHA256";
/// Most headers a signature may list.
pub(crate) const MAX_SIGNED_HEADERS: usize = 32;
/// Longest key id and nonce.
pub(crate) const MAX_ID_LEN: usize = 128;
/// Most auth-params in the header.
const MAX_PARAMS: usize = 8;

/// The parameters of `Authorization: HMAC-SHA256 …`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Params {
    pub(crate) key_id: String,
    pub(crate) ts_text: String,
    pub(crate) ts: u64,
    pub(crate) nonce: String,
    pub(crate) headers: Vec<HeaderName>,
    pub(crate) signature: Vec<u8>,
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
    !value.is_empty()
        && value.len() <= MAX_ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Parses the list of signed header names: lowercase, `;`-separated, no
/// duplicates, never `authorization`.
pub(crate) fn parse_header_list(value: &str) -> Result<Vec<HeaderName>, FormatError> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    let mut names: Vec<HeaderName> = Vec::new();
    for name in value.split(';') {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(FormatError::Params("signed header names must be lowercase"));
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| FormatError::Params("a signed header name is not a valid header name"))?;
        if name == AUTHORIZATION {
            return Err(FormatError::Params(
                "the Authorization header cannot be signed",
            ));
        }
        if names.contains(&name) {
            return Err(FormatError::Params("a signed header is listed twice"));
        }
        if names.len() == MAX_SIGNED_HEADERS {
            return Err(FormatError::Params("too many signed headers"));
        }
        names.push(name);
    }
    Ok(names)
}

/// Parses `keyId=…, ts=…, nonce=…, headers=…, signature=…`.
pub(crate) fn parse_params(input: &str) -> Result<Params, FormatError> {
    let bad = FormatError::Params;
    let mut key_id = None;
    let mut ts = None;
    let mut nonce = None;
    let mut headers = None;
    let mut signature = None;
    let mut rest = input.trim();
    let mut count = 0;
    while !rest.is_empty() {
        count += 1;
        if count > MAX_PARAMS {
            return Err(bad("too many parameters"));
        }
        let (name, after) = rest
            .split_once('=')
            .ok_or(bad("a parameter has no value"))?;
        let name = name.trim();
        let after = after.trim_start();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            // No escapes: no value of this scheme contains `"` or `\`.
            let (value, after) = quoted
                .split_once('"')
                .ok_or(bad("a quoted value is not closed"))?;
            if value.contains('\\') {
                return Err(bad("a quoted value contains a backslash"));
            }
            (value, after)
        } else {
            let end = after.find(',').unwrap_or(after.len());
            after.split_at(end)
        };
        let value = value.trim();
        rest = after.trim_start();
        if let Some(next) = rest.strip_prefix(',') {
            rest = next.trim_start();
            if rest.is_empty() {
                return Err(bad("a trailing comma"));
            }
        } else if !rest.is_empty() {
            return Err(bad("parameters must be separated by commas"));
        }
        let slot = match name.to_ascii_lowercase().as_str() {
            "keyid" => &mut key_id,
            "ts" => &mut ts,
            "nonce" => &mut nonce,
            "headers" => &mut headers,
            "signature" => &mut signature,
            _ => return Err(bad("an unknown parameter")),
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
    let headers = parse_header_list(headers.unwrap_or(""))?;
    let signature = signature
        .and_then(|s| super::encoding::unb64(s, 32))
        .filter(|s| s.len() == 32)
        .ok_or(bad("signature is missing or not base64 of 32 bytes"))?;
    Ok(Params {
        key_id: key_id.to_owned(),
        ts_text: ts_text.to_owned(),
        ts,
        nonce: nonce.to_owned(),
        headers,
        signature,
    })
}

/// The query's `&`-separated pieces, empty ones dropped, sorted by bytes.
pub(crate) fn canonical_query(query: Option<&str>) -> String {
    let mut pieces: Vec<&str> = query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .collect();
    pieces.sort_unstable();
    pieces.join("&")
}

/// The canonical string of a request. See the module docs for the format.
pub(crate) fn canonical_string(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    signed: &[HeaderName],
    ts: &str,
    nonce: &str,
    body: &[u8],
) -> Result<String, FormatError> {
    let path = if uri.path().is_empty() {
        "/"
    } else {
        uri.path()
    };
    let mut lines: Vec<String> = Vec::with_capacity(8 + signed.len());
    lines.push(SCHEME.to_owned());
    lines.push(method.as_str().to_owned());
    lines.push(path.to_owned());
    lines.push(canonical_query(uri.query()));
    for name in signed {
        let mut values = Vec::new();
        for value in headers.get_all(name) {
            let text = value.to_str().map_err(|_| FormatError::HeaderValue)?;
            values.push(text.trim_matches([' ', '\t']));
        }
        // HTTP/2 carries the host in the `:authority` pseudo-header, which
        // hyper puts in the URI rather than in a `Host` header.
        if values.is_empty() && *name == http::header::HOST {
            if let Some(authority) = uri.authority() {
                values.push(authority.as_str());
            }
        }
        if values.is_empty() {
            return Err(FormatError::MissingHeader);
        }
        lines.push(format!("{}:{}", name.as_str(), values.join(",")));
    }
    lines.push(
        signed
            .iter()
            .map(HeaderName::as_str)
            .collect::<Vec<_>>()
            .join(";"),
    );
    lines.push(ts.to_owned());
    lines.push(nonce.to_owned());
    lines.push(hex(&sha256(body)));
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_quoted_or_bare_in_any_order_and_case() {
        let sig = super::super::encoding::b64(&[7u8; 32]);
        let p = parse_params(&format!(
            r#"signature="{sig}",KEYID=k1 , ts=1700000000, nonce="n-1", headers="host;x-a""#
        ))
        .unwrap();
        assert_eq!(p.key_id, "k1");
        assert_eq!(p.ts, 1_700_000_000);
        assert_eq!(p.nonce, "n-1");
        assert_eq!(
            p.headers,
            [
                HeaderName::from_static("host"),
                HeaderName::from_static("x-a")
            ]
        );
        assert_eq!(p.signature, [7u8; 32]);
    }

    #[test]
    fn bad_params_are_rejected() {
        let sig = super::super::encoding::b64(&[7u8; 32]);
        let ok = format!("keyId=k1, ts=1, nonce=n, signature={sig}");
        assert!(parse_params(&ok).is_ok());
        for bad in [
            format!("{ok},"),
            format!("{ok}, ts=2"),
            format!("{ok}, extra=1"),
            format!("{ok}, headers=Host"),
            format!("{ok}, headers=authorization"),
            format!("{ok}, headers=a;a"),
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
    fn query_is_sorted_bytewise() {
        assert_eq!(canonical_query(Some("b=2&a=1&&A=3&a=0")), "A=3&a=0&a=1&b=2");
        assert_eq!(canonical_query(None), "");
    }
}
