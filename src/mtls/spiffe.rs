//! SPIFFE IDs (`spiffe://trust-domain/path`), parsed by the rules of the
//! SPIFFE ID standard (spiffe/spiffe `standards/SPIFFE-ID.md`).

use std::fmt;

/// The longest SPIFFE ID the standard allows, in bytes.
pub const MAX_SPIFFE_ID_LEN: usize = 2048;

/// A valid SPIFFE ID: `spiffe://` + a trust domain + a path.
///
/// Trust domains are lowercase letters, digits, `.`, `-` and `_`; path
/// segments are letters, digits, `.`, `-` and `_`, never empty, `.` or
/// `..`; no port, user info, query, fragment, percent-encoding or trailing
/// slash.
///
/// ```
/// use authgate::mtls::SpiffeId;
///
/// let id = SpiffeId::parse("spiffe://prod.example/ns/payments/sa/api").unwrap();
/// assert_eq!(id.trust_domain(), "prod.example");
/// assert_eq!(id.path(), "/ns/payments/sa/api");
/// assert!(SpiffeId::parse("spiffe://Prod.example/x").is_err());
/// assert!(SpiffeId::parse("spiffe://prod.example/a//b").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SpiffeId {
    id: String,
    /// Where the path starts in `id` (its length for a root ID).
    path_start: usize,
}

/// Why a string is not a SPIFFE ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpiffeIdError {
    /// Longer than [`MAX_SPIFFE_ID_LEN`].
    #[error("a SPIFFE ID is at most 2048 bytes")]
    TooLong,
    /// The scheme is not `spiffe://` (in lowercase).
    #[error("a SPIFFE ID starts with spiffe://")]
    Scheme,
    /// The trust domain is empty or has a character outside `[a-z0-9._-]`.
    #[error("the trust domain is empty or has a character outside [a-z0-9._-]")]
    TrustDomain,
    /// A path segment is empty, `.`, `..`, or has a character outside
    /// `[A-Za-z0-9._-]`; or the path ends with `/`.
    #[error("the path has an empty, dot or badly spelled segment")]
    Path,
}

impl SpiffeId {
    /// Parses and checks a SPIFFE ID.
    ///
    /// # Errors
    ///
    /// When `id` breaks a rule of the SPIFFE ID standard.
    pub fn parse(id: &str) -> Result<Self, SpiffeIdError> {
        let path_start = validate(id)?;
        Ok(Self {
            id: id.to_owned(),
            path_start,
        })
    }

    /// The trust domain, e.g. `prod.example`.
    ///
    /// ```
    /// # use authgate::mtls::SpiffeId;
    /// assert_eq!(SpiffeId::parse("spiffe://td/x").unwrap().trust_domain(), "td");
    /// ```
    #[must_use]
    pub fn trust_domain(&self) -> &str {
        self.id
            .get("spiffe://".len()..self.path_start)
            .unwrap_or_default()
    }

    /// The path, e.g. `/ns/payments/sa/api`; empty for the trust domain's
    /// own ID.
    ///
    /// ```
    /// # use authgate::mtls::SpiffeId;
    /// assert_eq!(SpiffeId::parse("spiffe://td").unwrap().path(), "");
    /// ```
    #[must_use]
    pub fn path(&self) -> &str {
        self.id.get(self.path_start..).unwrap_or_default()
    }

    /// The whole ID.
    ///
    /// ```
    /// # use authgate::mtls::SpiffeId;
    /// assert_eq!(SpiffeId::parse("spiffe://td/a").unwrap().as_str(), "spiffe://td/a");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.id
    }
}

/// Checks `id` by the SPIFFE ID rules without allocating; where its path
/// starts.
pub(crate) fn validate(id: &str) -> Result<usize, SpiffeIdError> {
    if id.len() > MAX_SPIFFE_ID_LEN {
        return Err(SpiffeIdError::TooLong);
    }
    let rest = id.strip_prefix("spiffe://").ok_or(SpiffeIdError::Scheme)?;
    let (domain, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    if domain.is_empty()
        || !domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    {
        return Err(SpiffeIdError::TrustDomain);
    }
    if !path.is_empty() {
        let segments = path.get(1..).unwrap_or("");
        for segment in segments.split('/') {
            let valid = !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !valid {
                return Err(SpiffeIdError::Path);
            }
        }
    }
    Ok("spiffe://".len() + domain.len())
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl fmt::Debug for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SpiffeId").field(&self.id).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from the SPIFFE ID standard's rules.
    #[test]
    fn the_standards_rules() {
        for good in [
            "spiffe://example.org",
            "spiffe://example.org/ns/default/sa/x",
            "spiffe://a-b_c.9/Path.With-All_Ch4rs",
        ] {
            assert!(SpiffeId::parse(good).is_ok(), "{good}");
        }
        for (bad, why) in [
            ("http://example.org/a", SpiffeIdError::Scheme),
            ("SPIFFE://example.org/a", SpiffeIdError::Scheme),
            ("spiffe://", SpiffeIdError::TrustDomain),
            ("spiffe:///a", SpiffeIdError::TrustDomain),
            ("spiffe://Example.org/a", SpiffeIdError::TrustDomain),
            ("spiffe://example.org:8080/a", SpiffeIdError::TrustDomain),
            ("spiffe://user@example.org/a", SpiffeIdError::TrustDomain),
            ("spiffe://example.org/", SpiffeIdError::Path),
            ("spiffe://example.org/a/", SpiffeIdError::Path),
            ("spiffe://example.org/a//b", SpiffeIdError::Path),
            ("spiffe://example.org/./a", SpiffeIdError::Path),
            ("spiffe://example.org/a/..", SpiffeIdError::Path),
            ("spiffe://example.org/a%20b", SpiffeIdError::Path),
            ("spiffe://example.org/a?x=1", SpiffeIdError::Path),
            ("spiffe://example.org/a#f", SpiffeIdError::Path),
        ] {
            assert_eq!(SpiffeId::parse(bad), Err(why), "{bad}");
        }
        let long = format!("spiffe://td/{}", "a".repeat(MAX_SPIFFE_ID_LEN));
        assert_eq!(SpiffeId::parse(&long), Err(SpiffeIdError::TooLong));
    }
}
