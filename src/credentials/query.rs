//! Reading one parameter out of a query string, without allocating for the
//! parameters that are not asked for.

use crate::secret::SecretString;

/// Every value of parameter `name` in `query`, percent-decoded; `None` for a
/// value that is not valid percent-encoded UTF-8.
pub(crate) fn values<'q>(
    query: &'q str,
    name: &'q str,
) -> impl Iterator<Item = Option<SecretString>> + 'q {
    query.split('&').filter_map(move |pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value).map(SecretString::new))
    })
}

/// Decodes `%XX` escapes and `+` as space.
///
/// The intermediate buffer is wiped on failure; the result is wrapped by the
/// caller.
pub(crate) fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|&h| hex_value(h))?;
                let lo = bytes.get(i + 2).and_then(|&l| hex_value(l))?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|e| drop(zeroize::Zeroizing::new(e.into_bytes())))
        .ok()
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposed(v: Option<SecretString>) -> Option<String> {
        v.map(|s| s.expose().to_owned())
    }

    #[test]
    fn decodes() {
        assert_eq!(percent_decode("a%20b+c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%g0"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn finds_all_values() {
        let v: Vec<_> = values("a=1&b=2&a=3&a", "a").map(exposed).collect();
        assert_eq!(v, [Some("1".into()), Some("3".into()), Some(String::new())]);
    }
}
