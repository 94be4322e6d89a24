//! Just enough PEM (RFC 7468) and DER (X.690) to read a public key:
//! `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7), PKCS#1 `RSAPublicKey`
//! (RFC 8017 §A.1.1) and the public key of an X.509 certificate.
//!
//! jsonwebtoken's PEM reader takes the first BIT STRING it finds and
//! ignores the algorithm parameters, so a secp256k1 key passed for P-256;
//! this reader checks the algorithm and the curve, and hands the raw key
//! material to the same checks a JWK goes through.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// `rsaEncryption`, 1.2.840.113549.1.1.1.
pub(crate) const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// `id-ecPublicKey`, 1.2.840.10045.2.1.
pub(crate) const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// `prime256v1` (P-256), 1.2.840.10045.3.1.7.
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// `secp384r1` (P-384), 1.3.132.0.34.
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// `id-Ed25519`, 1.3.101.112 (RFC 8410).
pub(crate) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OBJECT_IDENTIFIER: u8 = 0x06;
const NULL: u8 = 0x05;

/// The label and the decoded content of the first PEM block in `input`
/// (text before it is allowed, RFC 7468 §5.2).
pub(crate) fn pem(input: &[u8]) -> Option<(&str, Vec<u8>)> {
    let text = std::str::from_utf8(input).ok()?;
    let start = text.find("-----BEGIN ")?;
    let rest = text.get(start + "-----BEGIN ".len()..)?;
    let label_end = rest.find("-----")?;
    let label = rest.get(..label_end)?;
    let body_and_end = rest.get(label_end + "-----".len()..)?;
    let end_marker = format!("-----END {label}-----");
    let body_end = body_and_end.find(&end_marker)?;
    let body: String = body_and_end
        .get(..body_end)?
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = STANDARD.decode(body).ok()?;
    Some((label, der))
}

/// A DER reader over one buffer.
struct Der<'a>(&'a [u8]);

impl<'a> Der<'a> {
    /// The tag and content of the next element, in strict DER: definite,
    /// minimally encoded lengths.
    fn any(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.0.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return None;
            }
            let (bytes, rest) = rest.split_at_checked(count)?;
            if bytes.first() == Some(&0) {
                return None;
            }
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return None;
            }
            (len, rest)
        };
        let (content, rest) = rest.split_at_checked(len)?;
        self.0 = rest;
        Some((tag, content))
    }

    fn read(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.any()? {
            (t, content) if t == tag => Some(content),
            _ => None,
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The content of `der`, which must be exactly one element of `tag`.
    fn only(der: &'a [u8], tag: u8) -> Option<&'a [u8]> {
        let mut reader = Der(der);
        let content = reader.read(tag)?;
        reader.is_empty().then_some(content)
    }
}

/// A parsed `SubjectPublicKeyInfo`.
pub(crate) struct Spki<'a> {
    pub(crate) algorithm: &'a [u8],
    /// The algorithm parameters: `None` when absent, else tag and content.
    pub(crate) parameters: Option<(u8, &'a [u8])>,
    pub(crate) key: &'a [u8],
}

impl Spki<'_> {
    /// The named curve of an `id-ecPublicKey` key.
    pub(crate) fn curve(&self) -> Option<&[u8]> {
        match self.parameters {
            Some((OBJECT_IDENTIFIER, oid)) => Some(oid),
            _ => None,
        }
    }

    /// Whether the parameters are absent or NULL.
    pub(crate) fn no_parameters(&self) -> bool {
        matches!(self.parameters, None | Some((NULL, [])))
    }
}

/// Parses a DER `SubjectPublicKeyInfo`.
pub(crate) fn spki(der: &[u8]) -> Option<Spki<'_>> {
    let mut body = Der(Der::only(der, SEQUENCE)?);
    let mut algorithm = Der(body.read(SEQUENCE)?);
    let bits = body.read(BIT_STRING)?;
    if !body.is_empty() {
        return None;
    }
    let oid = algorithm.read(OBJECT_IDENTIFIER)?;
    let parameters = if algorithm.is_empty() {
        None
    } else {
        Some(algorithm.any()?)
    };
    if !algorithm.is_empty() {
        return None;
    }
    // A key is a whole number of bytes: no unused bits.
    let (&unused, key) = bits.split_first()?;
    if unused != 0 {
        return None;
    }
    Some(Spki {
        algorithm: oid,
        parameters,
        key,
    })
}

/// The `SubjectPublicKeyInfo` of a DER X.509 certificate (RFC 5280 §4.1).
/// The certificate itself is not checked: it only carries the key.
pub(crate) fn certificate_spki(der: &[u8]) -> Option<&[u8]> {
    let mut certificate = Der(Der::only(der, SEQUENCE)?);
    let mut tbs = Der(certificate.read(SEQUENCE)?);
    // [0] EXPLICIT version, when present.
    if tbs.0.first() == Some(&0xa0) {
        tbs.any()?;
    }
    tbs.read(INTEGER)?; // serialNumber
    tbs.read(SEQUENCE)?; // signature
    tbs.read(SEQUENCE)?; // issuer
    tbs.read(SEQUENCE)?; // validity
    tbs.read(SEQUENCE)?; // subject
    let start = tbs.0;
    tbs.read(SEQUENCE)?;
    // The whole element, header included: what the read consumed.
    start.get(..start.len().checked_sub(tbs.0.len())?)
}

/// The modulus and exponent of a PKCS#1 `RSAPublicKey`, without leading
/// zero bytes; `None` when malformed or negative.
pub(crate) fn rsa_public_key(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut body = Der(Der::only(der, SEQUENCE)?);
    let n = body.read(INTEGER)?;
    let e = body.read(INTEGER)?;
    if !body.is_empty() {
        return None;
    }
    let positive = |int: &[u8]| int.first().is_some_and(|b| b & 0x80 == 0);
    (positive(n) && positive(e)).then_some((n, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_lengths() {
        assert_eq!(Der(&[0x02, 0x01, 0x05]).any(), Some((2, &[5u8][..])));
        // Long form for a short length, a leading zero length byte, and
        // an indefinite length are not DER.
        assert!(Der(&[0x02, 0x81, 0x01, 0x05]).any().is_none());
        assert!(Der(&[0x02, 0x82, 0x00, 0x81]).any().is_none());
        assert!(Der(&[0x30, 0x80, 0x00, 0x00]).any().is_none());
        assert!(Der(&[0x02, 0x05, 0x01]).any().is_none());
    }

    #[test]
    fn pem_blocks() {
        let text = b"comment\n-----BEGIN PUBLIC KEY-----\nAQID\nBA==\n-----END PUBLIC KEY-----\n";
        let (label, der) = pem(text).unwrap();
        assert_eq!(label, "PUBLIC KEY");
        assert_eq!(der, [1, 2, 3, 4]);
        assert!(pem(b"-----BEGIN PUBLIC KEY-----\nAQID\n-----END RSA PUBLIC KEY-----").is_none());
    }
}
