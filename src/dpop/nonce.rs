//! Server nonces (RFC 9449 §8, §9) without server state: a nonce is the
//! second it was issued and an HMAC-SHA256 tag over it under a server key,
//! so every instance holding the key accepts the nonces of every other,
//! and none needs to remember what it handed out.
//!
//! A nonce is current from the second it was issued until its lifetime is
//! over (plus one second of clock difference between instances); a proof
//! without a current one is answered 401 `use_dpop_nonce` with a fresh one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Bytes of the tag kept in a nonce: 128 bits.
const TAG_LEN: usize = 16;
/// The domain a tag is made in, so that the key can never make a tag that
/// means anything elsewhere.
const CONTEXT: &[u8] = b"authgate dpop nonce v1\0";

/// Issues and checks stateless nonces.
pub(crate) struct Nonces {
    key: ring::hmac::Key,
    lifetime: u64,
}

impl Nonces {
    /// Nonces under `secret` (at least 32 bytes, checked by the builder),
    /// current for `lifetime` seconds.
    pub(crate) fn new(secret: &Zeroizing<Vec<u8>>, lifetime: u64) -> Self {
        Self {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
            lifetime,
        }
    }

    fn tag(&self, issued: u64) -> ring::hmac::Tag {
        let mut context = ring::hmac::Context::with_key(&self.key);
        context.update(CONTEXT);
        context.update(&issued.to_be_bytes());
        context.sign()
    }

    /// A nonce issued at `now`.
    pub(crate) fn issue(&self, now: u64) -> String {
        let tag = self.tag(now);
        let mut bytes = [0u8; 8 + TAG_LEN];
        let (time, rest) = bytes.split_at_mut(8);
        time.copy_from_slice(&now.to_be_bytes());
        rest.copy_from_slice(tag.as_ref().get(..TAG_LEN).unwrap_or_default());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `nonce` was issued under this key and is current at `now`.
    pub(crate) fn is_current(&self, nonce: &str, now: u64) -> bool {
        if nonce.len() != 32 {
            return false;
        }
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let (Some(time), Some(tag)) = (bytes.get(..8), bytes.get(8..)) else {
            return false;
        };
        let Ok(time) = <[u8; 8]>::try_from(time) else {
            return false;
        };
        let issued = u64::from_be_bytes(time);
        let expected = self.tag(issued);
        let authentic: bool = expected
            .as_ref()
            .get(..TAG_LEN)
            .unwrap_or_default()
            .ct_eq(tag)
            .into();
        authentic && issued <= now.saturating_add(1) && now.saturating_sub(issued) <= self.lifetime
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_expiry() {
        let nonces = Nonces::new(&Zeroizing::new(vec![7u8; 32]), 300);
        let nonce = nonces.issue(1_000);
        assert!(nonces.is_current(&nonce, 1_000));
        assert!(nonces.is_current(&nonce, 1_300));
        assert!(!nonces.is_current(&nonce, 1_301));
        assert!(!nonces.is_current(&nonce, 998), "issued in the future");
        let other = Nonces::new(&Zeroizing::new(vec![8u8; 32]), 300);
        assert!(!other.is_current(&nonce, 1_000), "another key");
        let mut forged = nonce.clone().into_bytes();
        forged[31] = if forged[31] == b'A' { b'B' } else { b'A' };
        assert!(!nonces.is_current(std::str::from_utf8(&forged).unwrap(), 1_000));
        assert!(!nonces.is_current("short", 1_000));
    }
}
