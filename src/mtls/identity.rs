//! What a client certificate says: its names, validity and key usage,
//! parsed once per connection from the verified leaf.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The fields of a client certificate's leaf that authgate decides on.
///
/// Built by [`PeerCertificates::identity`](super::PeerCertificates::identity).
///
/// ```
/// # fn leaf_der() -> Vec<u8> {
/// #     let key = rcgen::KeyPair::generate().unwrap();
/// #     let mut params = rcgen::CertificateParams::new(vec!["svc.internal".into()]).unwrap();
/// #     params.subject_alt_names.push(rcgen::SanType::URI("spiffe://td/svc".try_into().unwrap()));
/// #     params.self_signed(&key).unwrap().der().to_vec()
/// # }
/// use authgate::mtls::PeerCertificates;
///
/// let peer = PeerCertificates::new(vec![leaf_der()]);
/// let identity = peer.identity().unwrap();
/// assert_eq!(identity.uris(), ["spiffe://td/svc"]);
/// assert_eq!(identity.dns_names(), ["svc.internal"]);
/// assert_eq!(identity.thumbprint().len(), 43);
/// ```
#[derive(Debug, Clone)]
pub struct CertificateIdentity {
    uris: Vec<String>,
    dns_names: Vec<String>,
    emails: Vec<String>,
    common_name: Option<String>,
    not_before: i64,
    not_after: i64,
    is_ca: bool,
    signs_certificates: bool,
    thumbprint: String,
}

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The connection carries no certificate.
    #[error("no client certificate")]
    Missing,
    /// The leaf is not a DER X.509 certificate, or one of its extensions is
    /// malformed or repeated.
    #[error("the client certificate cannot be parsed")]
    Unparsable,
}

impl CertificateIdentity {
    /// Reads the leaf certificate `der`.
    pub(crate) fn parse(der: &[u8]) -> Result<Self, CertificateError> {
        let (rest, cert) =
            X509Certificate::from_der(der).map_err(|_| CertificateError::Unparsable)?;
        if !rest.is_empty() {
            return Err(CertificateError::Unparsable);
        }
        let mut uris = Vec::new();
        let mut dns_names = Vec::new();
        let mut emails = Vec::new();
        let san = cert
            .subject_alternative_name()
            .map_err(|_| CertificateError::Unparsable)?;
        for name in san.iter().flat_map(|san| san.value.general_names.iter()) {
            match name {
                GeneralName::URI(uri) => uris.push((*uri).to_owned()),
                GeneralName::DNSName(dns) => dns_names.push((*dns).to_owned()),
                GeneralName::RFC822Name(email) => emails.push((*email).to_owned()),
                _ => {}
            }
        }
        let is_ca = cert
            .basic_constraints()
            .map_err(|_| CertificateError::Unparsable)?
            .is_some_and(|bc| bc.value.ca);
        let signs_certificates = cert
            .key_usage()
            .map_err(|_| CertificateError::Unparsable)?
            .is_some_and(|ku| ku.value.key_cert_sign() || ku.value.crl_sign());
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);
        let validity = cert.validity();
        Ok(Self {
            uris,
            dns_names,
            emails,
            common_name,
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            is_ca,
            signs_certificates,
            thumbprint: thumbprint(der),
        })
    }

    /// The URI subject alternative names, in certificate order.
    #[must_use]
    pub fn uris(&self) -> &[String] {
        &self.uris
    }

    /// The DNS subject alternative names.
    #[must_use]
    pub fn dns_names(&self) -> &[String] {
        &self.dns_names
    }

    /// The email (RFC 822) subject alternative names.
    #[must_use]
    pub fn emails(&self) -> &[String] {
        &self.emails
    }

    /// The subject's first common name, if any.
    #[must_use]
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }

    /// `notBefore`, in seconds since the Unix epoch.
    #[must_use]
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// `notAfter`, in seconds since the Unix epoch.
    #[must_use]
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// Whether the certificate is a CA (basic constraints `cA`).
    #[must_use]
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }

    /// Whether its key usage allows signing certificates or CRLs.
    #[must_use]
    pub fn signs_certificates(&self) -> bool {
        self.signs_certificates
    }

    /// The base64url SHA-256 of the DER certificate: the RFC 8705
    /// `x5t#S256` confirmation, and the principal's credential id.
    #[must_use]
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }
}

/// base64url(SHA-256(der)), no padding.
pub(crate) fn thumbprint(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, der))
}
