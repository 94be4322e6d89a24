//! base64url without padding (RFC 4648 §5, RFC 7515 §2), decoding only:
//! the three parts of every compact JWS, on the first-seen path.
//!
//! Strict as the `base64` crate's `URL_SAFE_NO_PAD` engine (which the
//! tests compare it with): only the URL-safe alphabet, no `=`, no length
//! of the form 4n + 1, and the unused bits of the last character zero, so
//! that one byte string has exactly one encoding. What it adds is speed:
//! one table lookup per character that yields its bits already in place
//! (and, for a byte outside the alphabet, a bit no character sets), six
//! bytes per eight characters written into a slice, no intermediate
//! buffer.

/// Marks a byte outside the alphabet.
const INVALID: u8 = 0xFF;

/// Each byte's 6-bit value, or [`INVALID`]. (A constant: an index out of
/// bounds would fail the build.)
#[allow(clippy::indexing_slicing, clippy::cast_possible_truncation)]
const VALUES: [u8; 256] = {
    let mut table = [INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

fn value(byte: u8) -> u8 {
    // A `u8` indexes a 256-entry table: always in bounds.
    #[allow(clippy::indexing_slicing)]
    VALUES[usize::from(byte)]
}

/// Set in a [`placed`] table's entry for a byte outside the alphabet:
/// above the 24 bits four characters decode to.
const BAD: u32 = 1 << 24;

/// Each byte's 6-bit value shifted left by `shift`, or [`BAD`].
#[allow(clippy::indexing_slicing)]
const fn placed(shift: u32) -> [u32; 256] {
    let mut table = [BAD; 256];
    let mut i = 0;
    while i < 256 {
        if VALUES[i] != INVALID {
            table[i] = (VALUES[i] as u32) << shift;
        }
        i += 1;
    }
    table
}

/// The tables of the four characters of a group, first to last.
const FIRST: [u32; 256] = placed(18);
const SECOND: [u32; 256] = placed(12);
const THIRD: [u32; 256] = placed(6);
const FOURTH: [u32; 256] = placed(0);

/// The 24 bits of four characters, with [`BAD`] set if one is not in the
/// alphabet.
fn group(a: u8, b: u8, c: u8, d: u8) -> u32 {
    // A `u8` indexes a 256-entry table: always in bounds.
    #[allow(clippy::indexing_slicing)]
    {
        FIRST[usize::from(a)]
            | SECOND[usize::from(b)]
            | THIRD[usize::from(c)]
            | FOURTH[usize::from(d)]
    }
}

/// The decoded length of `input`, if its length is possible.
pub(crate) fn decoded_len(input: &[u8]) -> Option<usize> {
    let tail = match input.len() % 4 {
        0 => 0,
        1 => return None,
        r => r - 1,
    };
    Some(input.len() / 4 * 3 + tail)
}

/// Decodes `input` into the start of `out`, which must hold at least
/// [`decoded_len`] bytes; the number of bytes written, or `None` when
/// `input` is not canonical base64url without padding or `out` is short.
pub(crate) fn decode_slice(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = decoded_len(input)?;
    let out = out.get_mut(..len)?;
    // Eight characters, six bytes at a time; then at most one group of
    // four; then the tail.
    let mut octets = input.chunks_exact(8);
    let mut sextets = out.chunks_exact_mut(6);
    for (chunk, bytes) in (&mut octets).zip(&mut sextets) {
        let &[a, b, c, d, e, f, g, h] = chunk else {
            return None;
        };
        let (high, low) = (group(a, b, c, d), group(e, f, g, h));
        if (high | low) & BAD != 0 {
            return None;
        }
        let n = u64::from(high) << 24 | u64::from(low);
        bytes.copy_from_slice(n.to_be_bytes().get(2..)?);
    }
    let chunks = octets.remainder().chunks_exact(4);
    let tail = chunks.remainder();
    let mut written = sextets.into_remainder().chunks_exact_mut(3);
    for (chunk, bytes) in chunks.zip(&mut written) {
        let &[a, b, c, d] = chunk else { return None };
        let n = group(a, b, c, d);
        if n & BAD != 0 {
            return None;
        }
        bytes.copy_from_slice(n.to_be_bytes().get(1..)?);
    }
    let rest = written.into_remainder();
    match (tail, rest) {
        ([], []) => {}
        ([a, b], [x]) => {
            let (a, b) = (value(*a), value(*b));
            // The low four bits of the second character are unused.
            if (a | b) & 0x80 != 0 || b & 0x0F != 0 {
                return None;
            }
            *x = a << 2 | b >> 4;
        }
        ([a, b, c], [x, y]) => {
            let (a, b, c) = (value(*a), value(*b), value(*c));
            // The low two bits of the third character are unused.
            if (a | b | c) & 0x80 != 0 || c & 0x03 != 0 {
                return None;
            }
            *x = a << 2 | b >> 4;
            *y = b << 4 | c >> 2;
        }
        _ => return None,
    }
    Some(len)
}

/// Decodes `input` into a new vector.
pub(crate) fn decode(input: &[u8]) -> Option<Vec<u8>> {
    // Allocated, then zeroed: `vec![0; n]` asks the allocator for zeroed
    // memory (`calloc`), which costs about 270 instructions more per JWT
    // here (callgrind, `jwt_first_seen_rs256`).
    let len = decoded_len(input)?;
    #[allow(clippy::slow_vector_initialization)]
    let mut out = {
        let mut out = Vec::with_capacity(len);
        out.resize(len, 0);
        out
    };
    decode_slice(input, &mut out)?;
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use proptest::prelude::*;

    use super::*;

    fn same_as_the_base64_crate(input: &[u8]) {
        let expected = URL_SAFE_NO_PAD.decode(input).ok();
        assert_eq!(
            decode(input),
            expected,
            "{:?}",
            String::from_utf8_lossy(input)
        );
        let mut short = [0u8; 2];
        if let Some(expected) = &expected {
            if expected.len() > 2 {
                assert_eq!(decode_slice(input, &mut short), None);
            }
        }
    }

    #[test]
    fn every_short_input_decodes_as_the_base64_crate_decodes_it() {
        // The whole alphabet and its neighbours, padding, the standard
        // alphabet's `+` and `/`, a space, a non-ASCII byte: every string
        // of up to three of them, and one of each length past a full chunk.
        let symbols: Vec<u8> = (b'A'..=b'Z')
            .chain(b'a'..=b'z')
            .chain(b'0'..=b'9')
            .chain(*b"-_=+/ .@[`{\x7f\xc3\x00")
            .collect();
        same_as_the_base64_crate(b"");
        for &a in &symbols {
            same_as_the_base64_crate(&[a]);
            for &b in &symbols {
                same_as_the_base64_crate(&[a, b]);
                same_as_the_base64_crate(&[b'Q', b'U', b'J', b'D', a, b]);
                for &c in &symbols {
                    same_as_the_base64_crate(&[a, b, c]);
                    same_as_the_base64_crate(&[b'Q', b'U', b'J', b'D', a, b, c]);
                    same_as_the_base64_crate(&[a, b, c, b'A']);
                    same_as_the_base64_crate(&[b'A', a, b, c, b'A', b'A']);
                    same_as_the_base64_crate(&[b'Q', b'U', b'J', b'D', b'Q', a, b, c]);
                    same_as_the_base64_crate(&[b'Q', b'U', b'J', b'D', b'Q', b'U', a, b, c]);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let text = URL_SAFE_NO_PAD.encode(&bytes);
            prop_assert_eq!(decode(text.as_bytes()), Some(bytes));
        }

        #[test]
        fn arbitrary_text(text in "[A-Za-z0-9_=+/-]{0,40}") {
            same_as_the_base64_crate(text.as_bytes());
        }
    }
}
