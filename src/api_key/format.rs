//! The key format `<prefix>_<id>_<secret><checksum>`, its parser and its
//! generator.
//!
//! - `prefix`: the environment, lowercase segments joined by `_`
//!   (`sk_live`, `sk_test`, `pk_live`);
//! - `id`: 16 base62 characters that select the stored record;
//! - `secret`: 32 base62 characters (about 190 bits) from `ring`'s system
//!   random generator;
//! - `checksum`: 6 base62 characters of the CRC-32 of everything before it,
//!   so that a mistyped or truncated key is rejected before any look-up,
//!   and secret scanners can recognise a real key.

use ring::rand::{SecureRandom, SystemRandom};

use crate::error::ConfigError;
use crate::secret::SecretString;

pub(crate) const ID_LEN: usize = 16;
pub(crate) const SECRET_LEN: usize = 32;
pub(crate) const CHECKSUM_LEN: usize = 6;
/// No key is longer than this; longer input is rejected before parsing.
pub(crate) const MAX_KEY_LEN: usize = 128;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A syntactically valid key, borrowed from the presented credential.
#[cfg(any(test, feature = "fuzzing"))]
#[derive(Clone, Copy)]
pub(crate) struct ParsedKey<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) id: &'a str,
    /// The random part and the checksum: what is hashed and stored.
    pub(crate) secret: &'a str,
}

#[cfg(any(test, feature = "fuzzing"))]
impl std::fmt::Debug for ParsedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedKey")
            .field("prefix", &self.prefix)
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Why a presented key is not a key of this format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FormatError {
    Shape,
    Checksum,
}

/// The separator, the id, the separator and the secret: the fixed-length
/// end of every key.
const TAIL: usize = 1 + ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN;

/// A syntactically valid key as bytes: what the scheme works on, with no
/// UTF-8 check of the whole credential (every part is ASCII once checked).
#[derive(Clone, Copy)]
pub(crate) struct KeyBytes<'a> {
    pub(crate) id: &'a [u8; ID_LEN],
    /// The random part and the checksum: what is hashed and stored.
    pub(crate) secret: &'a [u8; SECRET_LEN + CHECKSUM_LEN],
    /// What `known_prefix` made of the prefix, when it knew it (then it was
    /// not checked again).
    pub(crate) known_prefix: Option<usize>,
}

/// Parses and checks a key without any look-up.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn parse(key: &str) -> Result<ParsedKey<'_>, FormatError> {
    parse_bytes(key.as_bytes(), |_| None)?;
    let head_end = key.len() - TAIL;
    let id_end = head_end + 1 + ID_LEN;
    // Every part is ASCII, so every split is on a char boundary.
    match (
        key.get(..head_end),
        key.get(head_end + 1..id_end),
        key.get(id_end + 1..),
    ) {
        (Some(prefix), Some(id), Some(secret)) => Ok(ParsedKey { prefix, id, secret }),
        _ => Err(FormatError::Shape),
    }
}

/// Parses and checks a key given as bytes; a prefix `known_prefix` knows
/// (one the scheme was configured with, checked when it was: it answers
/// its index) is not checked again.
///
/// The id and the secret have fixed lengths and hold no `_`, so the two
/// separators sit at fixed distances from the end: the key is split there
/// rather than searched, as this runs on every request.
pub(crate) fn parse_bytes(
    key: &[u8],
    known_prefix: impl Fn(&[u8]) -> Option<usize>,
) -> Result<KeyBytes<'_>, FormatError> {
    if key.len() > MAX_KEY_LEN || key.len() <= TAIL {
        return Err(FormatError::Shape);
    }
    let head_end = key.len() - TAIL;
    let id_end = head_end + 1 + ID_LEN;
    let (Some(b'_'), Some(b'_')) = (key.get(head_end), key.get(id_end)) else {
        return Err(FormatError::Shape);
    };
    let (Some(prefix), Some(id), Some(secret)) = (
        key.get(..head_end),
        key.get(head_end + 1..id_end)
            .and_then(|s| <&[u8; ID_LEN]>::try_from(s).ok()),
        key.get(id_end + 1..)
            .and_then(|s| <&[u8; SECRET_LEN + CHECKSUM_LEN]>::try_from(s).ok()),
    ) else {
        return Err(FormatError::Shape);
    };
    let known = known_prefix(prefix);
    if !is_base62(id) || !is_base62(secret) || !(known.is_some() || is_valid_prefix_bytes(prefix)) {
        return Err(FormatError::Shape);
    }
    let split = key.len() - CHECKSUM_LEN;
    match (key.get(..split), key.get(split..)) {
        (Some(body), Some(checksum)) if decode_checksum(checksum) == Some(crc32(body)) => {
            Ok(KeyBytes {
                id,
                secret,
                known_prefix: known,
            })
        }
        _ => Err(FormatError::Checksum),
    }
}

/// Lowercase ASCII letters and digits, in non-empty segments joined by `_`.
///
/// One pass over the bytes, as it runs on every request: a `_` may not
/// start or end the prefix, nor follow another `_`.
pub(crate) fn is_valid_prefix(prefix: &str) -> bool {
    is_valid_prefix_bytes(prefix.as_bytes())
}

fn is_valid_prefix_bytes(bytes: &[u8]) -> bool {
    if bytes.is_empty() || bytes.len() > 32 {
        return false;
    }
    let mut after_separator = true;
    for &b in bytes {
        if b == b'_' {
            if after_separator {
                return false;
            }
            after_separator = true;
        } else if b.is_ascii_lowercase() || b.is_ascii_digit() {
            after_separator = false;
        } else {
            return false;
        }
    }
    !after_separator
}

pub(crate) fn check_prefix(prefix: &str) -> Result<(), ConfigError> {
    if is_valid_prefix(prefix) {
        Ok(())
    } else {
        Err(ConfigError::InvalidName {
            name: prefix.to_owned(),
            why: "a key prefix is lowercase letters and digits in segments joined by '_', at most 32 bytes",
        })
    }
}

/// Whether every byte is an ASCII letter or digit: arithmetic on each
/// byte and no early exit, over a fixed length, so that the compiler
/// checks many bytes per instruction (this runs over the id and secret of
/// every presented key).
fn is_base62<const N: usize>(s: &[u8; N]) -> bool {
    s.iter().fold(0u8, |bad, &b| {
        let digit = b.wrapping_sub(b'0') < 10;
        // Only `A`-`Z` and `a`-`z` land in `a`-`z` with the 0x20 bit set.
        let letter = (b | 0x20).wrapping_sub(b'a') < 26;
        bad | u8::from(!(digit | letter))
    }) == 0
}

/// CRC-32 (IEEE 802.3): it runs on every request, so `crc32fast` (SIMD
/// where the CPU has it) rather than a byte at a time.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// A CRC as exactly six base62 digits, most significant first.
fn encode_checksum(mut crc: u32) -> [u8; CHECKSUM_LEN] {
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = base62_digit(crc % 62);
        crc /= 62;
    }
    out
}

/// Marks a byte that is not a base62 digit in [`BASE62_VALUE`] (no digit
/// value has this bit).
const NOT_A_DIGIT: u8 = 0x80;

/// The value of each base62 digit, [`NOT_A_DIGIT`] for other bytes.
const BASE62_VALUE: [u8; 256] = {
    let mut table = [NOT_A_DIGIT; 256];
    let mut i = 0;
    while i < 62 {
        // Evaluated at compile time, within bounds; i < 62 fits a u8.
        #[allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]
        {
            table[BASE62[i] as usize] = i as u8;
        }
        i += 1;
    }
    table
};

/// The value of six base62 digits (`None` for a byte that is not one):
/// compared with the CRC rather than encoding the CRC, which divides.
fn decode_checksum(digits: &[u8]) -> Option<u32> {
    let mut value = 0u64;
    let mut bad = 0u8;
    for &b in digits {
        // Every u8 indexes the table: the fallback is never taken.
        let digit = BASE62_VALUE
            .get(usize::from(b))
            .copied()
            .unwrap_or(NOT_A_DIGIT);
        bad |= digit;
        value = value * 62 + u64::from(digit);
    }
    if bad & NOT_A_DIGIT != 0 {
        return None;
    }
    // Six digits are below 62^6 < 2^36: no overflow. A value past u32 is
    // no CRC.
    u32::try_from(value).ok()
}

fn base62_digit(n: u32) -> u8 {
    usize::try_from(n)
        .ok()
        .and_then(|n| BASE62.get(n))
        .copied()
        .unwrap_or(b'0')
}

/// Error from the system random generator.
#[derive(Debug, thiserror::Error)]
#[error("the system random generator failed")]
pub struct RandomError;

/// `len` uniformly random base62 characters.
fn random_base62(rng: &SystemRandom, len: usize) -> Result<String, RandomError> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        rng.fill(&mut buf).map_err(|_| RandomError)?;
        // Rejection sampling: 248 = 4 * 62, so values below it are uniform mod 62.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if out.len() == len {
                break;
            }
            out.push(char::from(base62_digit(u32::from(b % 62))));
        }
    }
    Ok(out)
}

/// A new key: the plaintext (shown once) and its parts.
pub(crate) struct NewKey {
    pub(crate) plaintext: SecretString,
    pub(crate) id: String,
    pub(crate) secret_hash: [u8; 32],
}

pub(crate) fn generate(rng: &SystemRandom, prefix: &str) -> Result<NewKey, RandomError> {
    let id = random_base62(rng, ID_LEN)?;
    let secret = zeroize::Zeroizing::new(random_base62(rng, SECRET_LEN)?);
    let mut key = String::with_capacity(MAX_KEY_LEN);
    key.push_str(prefix);
    key.push('_');
    key.push_str(&id);
    key.push('_');
    key.push_str(&secret);
    let checksum = encode_checksum(crc32(key.as_bytes()));
    key.extend(checksum.iter().map(|&b| char::from(b)));
    let plaintext = SecretString::new(key);
    let secret_part = plaintext.expose().rsplit_once('_').map_or("", |(_, s)| s);
    let secret_hash = hash_secret(secret_part.as_bytes());
    Ok(NewKey {
        plaintext,
        id,
        secret_hash,
    })
}

/// SHA-256 of the secret part: the only form in which a key is stored.
pub(crate) fn hash_secret(secret: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, secret);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn generated_keys_parse() {
        let rng = SystemRandom::new();
        for prefix in ["sk_live", "sk_test", "pk"] {
            let key = generate(&rng, prefix).unwrap();
            let parsed = parse(key.plaintext.expose()).unwrap();
            assert_eq!(parsed.prefix, prefix);
            assert_eq!(parsed.id, key.id);
            assert_eq!(hash_secret(parsed.secret.as_bytes()), key.secret_hash);
        }
    }

    #[test]
    fn every_single_character_typo_is_caught() {
        let rng = SystemRandom::new();
        let key = generate(&rng, "sk_live").unwrap();
        let text = key.plaintext.expose();
        for i in 0..text.len() {
            let mut bytes = text.as_bytes().to_vec();
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            let typo = String::from_utf8(bytes).unwrap();
            assert!(parse(&typo).is_err(), "typo at {i} accepted");
        }
    }

    #[test]
    fn shapes_are_checked() {
        for bad in [
            "",
            "_",
            "sk_live",
            "sk_live__",
            "SK_live_abc_def",
            "sk_live_short_secret",
        ] {
            assert_eq!(parse(bad).unwrap_err(), FormatError::Shape, "{bad}");
        }
        let long = "a".repeat(MAX_KEY_LEN + 1);
        assert_eq!(parse(&long).unwrap_err(), FormatError::Shape);
    }

    #[test]
    fn prefixes() {
        assert!(is_valid_prefix("sk_live"));
        assert!(is_valid_prefix("k1"));
        assert!(!is_valid_prefix("sk__live"));
        assert!(!is_valid_prefix("Sk_live"));
        assert!(!is_valid_prefix("sk-live"));
        assert!(!is_valid_prefix(""));
        assert!(!is_valid_prefix("_sk"));
        assert!(!is_valid_prefix("sk_"));
        assert!(!is_valid_prefix("_"));
        assert!(!is_valid_prefix(&"a".repeat(33)));
        assert!(is_valid_prefix(&"a".repeat(32)));
    }

    #[test]
    fn checksums_decode_to_the_crc_they_encode() {
        for crc in [0, 1, 61, 62, 0xCBF4_3926, u32::MAX] {
            assert_eq!(decode_checksum(&encode_checksum(crc)), Some(crc));
        }
        assert_eq!(decode_checksum(b"zzzzzz"), None, "past u32");
        assert_eq!(decode_checksum(b"00_000"), None);
    }

    #[test]
    fn a_known_prefix_is_not_checked_again_and_others_are() {
        let rng = SystemRandom::new();
        let key = generate(&rng, "sk_live").unwrap();
        let text = key.plaintext.expose().as_bytes();
        let parts = parse_bytes(text, |p| (p == b"sk_live").then_some(3)).unwrap();
        assert_eq!(parts.known_prefix, Some(3));
        assert_eq!(parts.id, key.id.as_bytes());
        let parts = parse_bytes(text, |_| None).unwrap();
        assert_eq!(parts.known_prefix, None);
        assert_eq!(
            parse_bytes(b"not a key", |_| Some(0)).err(),
            Some(FormatError::Shape)
        );
    }

    #[test]
    fn base62_is_letters_and_digits_only() {
        for b in 0..=255u8 {
            assert_eq!(is_base62(&[b]), b.is_ascii_alphanumeric(), "{b}");
        }
    }
}
