//! A wrapper for secret material: redacted in `Debug`, wiped on drop, and
//! compared only in constant time.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A secret string: a presented credential, a plaintext API key.
///
/// `Debug` prints `<redacted>`, the memory is zeroized on drop, and equality
/// is constant-time.
///
/// # Example
///
/// ```
/// use authgate::SecretString;
///
/// let s = SecretString::new("hunter2".to_owned());
/// assert_eq!(format!("{s:?}"), "SecretString(<redacted>)");
/// assert_eq!(s.expose(), "hunter2");
/// ```
#[derive(Clone)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps a secret.
    #[must_use]
    pub fn new(secret: String) -> Self {
        Self(Zeroizing::new(secret))
    }

    /// The secret itself. Every call site is a place to review.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self::new(s.to_owned())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl PartialEq for SecretString {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for SecretString {}

/// The first 8 bytes of the SHA-256 of `secret`, in hex: the only form in
/// which a credential ever appears in a log line.
///
/// ```
/// assert_eq!(authgate::fingerprint(b"abc").len(), 16);
/// ```
#[must_use]
pub fn fingerprint(secret: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, secret);
    let mut out = String::with_capacity(16);
    for byte in digest.as_ref().iter().take(8) {
        out.push(hex_digit(byte >> 4));
        out.push(hex_digit(byte & 0x0f));
    }
    out
}

fn hex_digit(nibble: u8) -> char {
    // A nibble is always below 16, so the fallback is never taken.
    char::from_digit(u32::from(nibble), 16).unwrap_or('0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_sha256_prefix() {
        // SHA-256("abc") = ba7816bf8f01cfea...
        assert_eq!(fingerprint(b"abc"), "ba7816bf8f01cfea");
    }

    #[test]
    fn equality_is_by_value() {
        assert_eq!(SecretString::from("a"), SecretString::from("a"));
        assert_ne!(SecretString::from("a"), SecretString::from("b"));
        assert_ne!(SecretString::from("a"), SecretString::from("ab"));
    }
}
