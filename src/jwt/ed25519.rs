//! Load-time checks of an Ed25519 public key (RFC 8032 §5.1.3), which ring
//! only makes when it verifies, answering a bad key as a bad signature:
//!
//! - **small order** (libsodium's `has_small_order` blocklist): under such
//!   a key the signature `R` = identity, `S` = 0 verifies for every
//!   message, or one in four;
//! - **canonical encoding**: `y < p`;
//! - **on the curve**: `x² = (y² − 1) / (d·y² + 1)` has a solution, else
//!   no signature can ever verify.
//!
//! The field arithmetic below runs once per key loaded, on public data: it
//! is plain and variable-time, not a signature implementation.

/// The y coordinates (little-endian, sign bit clear) of the points of
/// small order, canonical and not: libsodium's blocklist. Each stands for
/// the points with either sign of x.
const SMALL_ORDER: [[u8; 32]; 7] = [
    // y = 0: order 4.
    [0; 32],
    // y = 1: the identity.
    [
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,
    ],
    // The two y of the points of order 8.
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
    // y = p - 1: order 2.
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    // y = p and y = p + 1: 0 and 1, spelled non-canonically.
    [
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
];

/// Why an Ed25519 public key is refused.
pub(crate) fn check(key: &[u8; 32]) -> Result<(), &'static str> {
    // y, little-endian, without the sign bit of x.
    let mut y = *key;
    if let Some(top) = y.last_mut() {
        *top &= 0x7f;
    }
    if SMALL_ORDER.contains(&y) {
        return Err("the Ed25519 key is a point of small order");
    }
    let y = from_bytes(&y);
    if !less_than_p(&y) {
        return Err("the Ed25519 key is not canonically encoded");
    }
    if !decompresses(&y) {
        return Err("the Ed25519 key is not a point on the curve");
    }
    Ok(())
}

/// A field element as four little-endian 64-bit limbs, below 2^256 but not
/// always reduced below p.
type Fe = [u64; 4];

/// p = 2^255 - 19.
const P: Fe = [
    0xffff_ffff_ffff_ffed,
    0xffff_ffff_ffff_ffff,
    0xffff_ffff_ffff_ffff,
    0x7fff_ffff_ffff_ffff,
];
/// The curve constant d = -121665/121666 mod p.
const D: Fe = [
    0x75eb_4dca_1359_78a3,
    0x0070_0a4d_4141_d8ab,
    0x8cc7_4079_7779_e898,
    0x5203_6cee_2b6f_fe73,
];
/// (p - 1) / 2, Euler's criterion's exponent.
const HALF: Fe = [
    0xffff_ffff_ffff_fff6,
    0xffff_ffff_ffff_ffff,
    0xffff_ffff_ffff_ffff,
    0x3fff_ffff_ffff_ffff,
];
const ONE: Fe = [1, 0, 0, 0];

fn from_bytes(bytes: &[u8; 32]) -> Fe {
    let mut out = [0u64; 4];
    for (limb, chunk) in out.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        *limb = u64::from_le_bytes(word);
    }
    out
}

fn less_than_p(a: &Fe) -> bool {
    // Compare from the most significant limb.
    for (x, p) in a.iter().rev().zip(P.iter().rev()) {
        if x != p {
            return x < p;
        }
    }
    false
}

/// `a` reduced below p (a < 2^256 < 3p).
fn canonical(mut a: Fe) -> Fe {
    while !less_than_p(&a) {
        let mut borrow = false;
        for (x, p) in a.iter_mut().zip(P) {
            let (d1, b1) = x.overflowing_sub(p);
            let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
            *x = d2;
            borrow = b1 || b2;
        }
    }
    a
}

/// `a + c`, where 2^256 ≡ 38 folds any carry back in.
fn add_small(mut a: Fe, mut c: u128) -> Fe {
    while c != 0 {
        for x in &mut a {
            let t = u128::from(*x) + c;
            *x = t as u64;
            c = t >> 64;
        }
        c *= 38;
    }
    a
}

fn add(a: &Fe, b: &Fe) -> Fe {
    let mut out = [0u64; 4];
    let mut carry = 0u128;
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        let t = u128::from(*x) + u128::from(*y) + carry;
        *o = t as u64;
        carry = t >> 64;
    }
    add_small(out, carry * 38)
}

/// `p - a` (a reduced first), i.e. `-a`.
fn neg(a: &Fe) -> Fe {
    let a = canonical(*a);
    let mut out = [0u64; 4];
    let mut borrow = false;
    for ((o, p), x) in out.iter_mut().zip(P).zip(a) {
        let (d1, b1) = p.overflowing_sub(x);
        let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
        *o = d2;
        borrow = b1 || b2;
    }
    out
}

fn mul(a: &Fe, b: &Fe) -> Fe {
    let mut wide = [0u64; 8];
    for (i, x) in a.iter().enumerate() {
        let mut carry = 0u128;
        for (slot, y) in wide.iter_mut().skip(i).zip(b) {
            let t = u128::from(*x) * u128::from(*y) + u128::from(*slot) + carry;
            *slot = t as u64;
            carry = t >> 64;
        }
        if let Some(slot) = wide.get_mut(i + 4) {
            *slot = carry as u64;
        }
    }
    let [l0, l1, l2, l3, h0, h1, h2, h3] = wide;
    let mut out = [0u64; 4];
    let mut carry = 0u128;
    for ((o, l), h) in out.iter_mut().zip([l0, l1, l2, l3]).zip([h0, h1, h2, h3]) {
        let t = u128::from(l) + 38 * u128::from(h) + carry;
        *o = t as u64;
        carry = t >> 64;
    }
    add_small(out, carry * 38)
}

fn pow(base: &Fe, exponent: &Fe) -> Fe {
    let mut out = ONE;
    for limb in exponent.iter().rev() {
        for bit in (0..64).rev() {
            out = mul(&out, &out);
            if limb >> bit & 1 == 1 {
                out = mul(&out, base);
            }
        }
    }
    out
}

/// Whether some x has `x² = (y² - 1) / (d·y² + 1)`: by Euler's criterion,
/// whether `((y² - 1)(d·y² + 1))^((p-1)/2)` is 0 or 1. (`d·y² + 1` is
/// never 0: `-1/d` is not a square.)
fn decompresses(y: &Fe) -> bool {
    let yy = mul(y, y);
    let u = add(&yy, &neg(&ONE));
    let v = add(&mul(&D, &yy), &ONE);
    let symbol = canonical(pow(&mul(&u, &v), &HALF));
    symbol == [0; 4] || symbol == ONE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hex: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
            *o = u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap();
        }
        out
    }

    /// Points checked with an independent implementation (Python, big
    /// integers): y values that do and do not decompress.
    #[test]
    fn decompression_matches_an_independent_computation() {
        for good in [
            "264aad6cb6dd210faf94acd3cf92c190237cb11f5d108cf2593026399c59b850",
            "8b15442ee2db611a91bfe39469733a9247d58fa3c55018300372555fe99a780c",
            "29fb388c22e44cb637f01210c3707a90b405420fb169779edfb5b93492828a3f",
            "54b12eae62d11e887eb0766d1877f8c6eff26b5010af3177d161e795c3533376",
            // RFC 8037 A.2's public key.
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        ] {
            assert_eq!(check(&key(good)), Ok(()), "{good}");
        }
        for bad in [
            "38b4e652e44da7f2370d9e260e27136550a4a3a6d07f5c0c332f8b1212841f69",
            "2b902f8911e81818f8c99d5d5d9831957504d90e945de2e8f54ee781e63a7b1b",
            "d85099095aa300165a67036f9b540d6b8f0be21124179c3dd9f7381767b78846",
            "b5769fa0f1483f95a90d9df2f130d60fcf04bd93f50ae69514da8c654ef15806",
            // y = 2 and y = p - 2.
            "0200000000000000000000000000000000000000000000000000000000000000",
            "ebffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        ] {
            assert_eq!(
                check(&key(bad)),
                Err("the Ed25519 key is not a point on the curve"),
                "{bad}"
            );
        }
    }

    #[test]
    fn arithmetic_edges() {
        // (p - 1)² = 1, and 2^256 - 1 reduces to 37.
        let p_minus_1 = neg(&ONE);
        assert_eq!(canonical(mul(&p_minus_1, &p_minus_1)), ONE);
        assert_eq!(canonical([u64::MAX; 4]), [37, 0, 0, 0]);
        assert_eq!(
            canonical(add(&[u64::MAX; 4], &[u64::MAX; 4])),
            [74, 0, 0, 0]
        );
        assert_eq!(canonical(add(&P, &ONE)), ONE);
        // Fermat: a^(p-1) = 1.
        let a = [12_345, 6789, 0, 1 << 60];
        let p_minus_1_exp = [P[0] - 1, P[1], P[2], P[3]];
        assert_eq!(canonical(pow(&a, &p_minus_1_exp)), ONE);
    }
}
