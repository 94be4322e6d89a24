//! Hex, base64 and the timestamp window: the small pieces every signature
//! format shares.

use base64::Engine as _;

use crate::error::{AuthError, ErrorKind};

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0f] {
            // A nibble is below 16, so `get` always finds a digit.
            if let Some(&d) = DIGITS.get(usize::from(nibble)) {
                out.push(char::from(d));
            }
        }
    }
    out
}

/// Decodes hex (either case) of exactly `N` bytes.
pub(crate) fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let digit = |b: &u8| {
            char::from(*b)
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
        };
        let (hi, lo) = (pair.first().and_then(digit)?, pair.get(1).and_then(digit)?);
        *slot = hi << 4 | lo;
    }
    Some(out)
}

/// Standard, padded base64.
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes standard, padded base64, refusing more than `max` decoded bytes.
pub(crate) fn unb64(text: &str, max: usize) -> Option<Vec<u8>> {
    if text.len() > max.div_ceil(3) * 4 {
        return None;
    }
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Parses a Unix timestamp in decimal seconds (at most 12 digits).
pub(crate) fn parse_timestamp(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Accepts `ts` when `now - window <= ts <= now + window`, both edges
/// included.
pub(crate) fn check_window(ts: u64, now: u64, window: u64) -> Result<(), AuthError> {
    if ts.saturating_add(window) < now {
        return Err(AuthError::new(ErrorKind::Expired)
            .with_description("the signature timestamp is too old"));
    }
    if ts > now.saturating_add(window) {
        return Err(AuthError::new(ErrorKind::NotYetValid)
            .with_description("the signature timestamp is in the future"));
    }
    Ok(())
}

/// The body a body-signing scheme was given, or a 503: the layer did not
/// read it (a scheme driven outside a `Buffered` layer).
pub(crate) fn body_of<'a>(ctx: &crate::VerifyContext<'a>) -> Result<&'a [u8], AuthError> {
    ctx.body().map(|b| &b[..]).ok_or_else(|| {
        AuthError::new(ErrorKind::Unavailable).with_description("the request body was not read")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(unhex::<3>("00ABff"), Some([0x00, 0xab, 0xff]));
        assert_eq!(unhex::<3>("00abf"), None);
        assert_eq!(unhex::<2>("zz00"), None);
        assert_eq!(unhex::<1>("é"), None);
    }

    #[test]
    fn window_edges_are_inclusive() {
        assert!(check_window(700, 1_000, 300).is_ok());
        assert!(check_window(1_300, 1_000, 300).is_ok());
        assert_eq!(
            check_window(699, 1_000, 300).unwrap_err().kind(),
            ErrorKind::Expired
        );
        assert_eq!(
            check_window(1_301, 1_000, 300).unwrap_err().kind(),
            ErrorKind::NotYetValid
        );
    }

    #[test]
    fn timestamps_are_bounded() {
        assert_eq!(parse_timestamp("1531420618"), Some(1_531_420_618));
        assert_eq!(parse_timestamp("-1"), None);
        assert_eq!(parse_timestamp("+1"), None);
        assert_eq!(parse_timestamp("9999999999999"), None);
        assert_eq!(parse_timestamp(""), None);
    }
}
