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

/// Decodes standard, padded base64 (RFC 4648 §4) of exactly 32 bytes: 43
/// characters and one `=`, the unused low bits of the last character zero
/// (the one canonical encoding, as the `base64` crate's standard engine
/// requires). A table lookup per character, no allocation: it runs on every
/// native-scheme request.
pub(crate) fn unb64_32_bytes(bytes: &[u8]) -> Option<[u8; 32]> {
    if bytes.len() != 44 || bytes.get(43) != Some(&b'=') {
        return None;
    }
    let mut sextets = [0u8; 43];
    // Invalid characters map to `INVALID`, whose top bit no sextet has:
    // one test after the loop instead of one per character.
    let mut seen = 0u8;
    for (slot, &c) in sextets.iter_mut().zip(bytes) {
        *slot = *B64_VALUES.get(usize::from(c))?;
        seen |= *slot;
    }
    if seen & 0x80 != 0 {
        return None;
    }
    // 43 sextets = 258 bits: 256 of data and 2 that must be zero.
    if sextets.get(42)? & 0b11 != 0 {
        return None;
    }
    let mut out = [0u8; 32];
    let (full, tail) = sextets.split_at(40);
    for (chunk, quad) in out.chunks_exact_mut(3).zip(full.chunks_exact(4)) {
        let n = quad
            .iter()
            .fold(0u32, |n, &sextet| n << 6 | u32::from(sextet));
        chunk.copy_from_slice(n.to_be_bytes().get(1..)?);
    }
    let n = tail
        .iter()
        .fold(0u32, |n, &sextet| n << 6 | u32::from(sextet));
    // 18 bits: two bytes and the two zero bits.
    out.get_mut(30..)?
        .copy_from_slice((n >> 2).to_be_bytes().get(2..)?);
    Some(out)
}

const INVALID: u8 = 0xff;

/// The value of each standard base64 character, `INVALID` for the others.
// Evaluated at compile time, where an index out of bounds is a build error:
// `i < 64` indexes the 64-letter alphabet, a byte indexes 256 entries.
#[allow(clippy::indexing_slicing)]
const B64_VALUES: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Parses a Unix timestamp in decimal seconds (at most 12 digits).
pub(crate) fn parse_timestamp(text: &str) -> Option<u64> {
    parse_timestamp_bytes(text.as_bytes())
}

/// [`parse_timestamp`] of bytes.
pub(crate) fn parse_timestamp_bytes(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 12 {
        return None;
    }
    // Twelve digits stay below 10¹², far from overflowing.
    text.iter().try_fold(0u64, |value, &b| {
        b.is_ascii_digit().then(|| value * 10 + u64::from(b - b'0'))
    })
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

    fn unb64_32(text: &str) -> Option<[u8; 32]> {
        unb64_32_bytes(text.as_bytes())
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(unhex::<3>("00ABff"), Some([0x00, 0xab, 0xff]));
        assert_eq!(unhex::<3>("00abf"), None);
        assert_eq!(unhex::<2>("zz00"), None);
        assert_eq!(unhex::<1>("é"), None);
    }

    #[test]
    fn base64_of_32_bytes_agrees_with_the_base64_crate() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            let mut raw = [0u8; 32];
            for byte in &mut raw {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *byte = state.to_le_bytes()[0];
            }
            let text = b64(&raw);
            assert_eq!(unb64_32(&text), Some(raw));
            // Any one character changed: both decoders agree.
            let position = usize::try_from(state % 44).unwrap();
            for replacement in [b'A', b'/', b'+', b'=', b'-', b'_', b' ', b'a', b'9'] {
                let mut changed = text.clone().into_bytes();
                changed[position] = replacement;
                let changed = String::from_utf8(changed).unwrap();
                let theirs = base64::engine::general_purpose::STANDARD
                    .decode(&changed)
                    .ok()
                    .and_then(|v| <[u8; 32]>::try_from(v).ok());
                assert_eq!(unb64_32(&changed), theirs, "{changed}");
            }
        }
        // Non-zero unused bits: not the canonical encoding.
        let mut text = b64(&[0u8; 32]).into_bytes();
        text[42] = b'B';
        assert_eq!(unb64_32(std::str::from_utf8(&text).unwrap()), None);
        assert_eq!(unb64_32("é".repeat(22).as_str()), None);
    }

    #[test]
    fn base64_of_32_bytes_only() {
        let sig = b64(&[7u8; 32]);
        assert_eq!(unb64_32(&sig), Some([7u8; 32]));
        assert_eq!(unb64_32(&b64(&[7u8; 31])), None);
        assert_eq!(unb64_32(&b64(&[7u8; 33])), None);
        assert_eq!(unb64_32(&sig.replace('=', "A")), None);
        assert_eq!(unb64_32(&sig.replace('=', "")), None);
        assert_eq!(unb64_32(""), None);
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
