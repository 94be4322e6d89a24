//! [`PeerCertificates`]: the verified client chain of a TLS connection, as a
//! request extension.

use std::fmt;
use std::sync::{Arc, OnceLock};

use super::identity::{CertificateError, CertificateIdentity};

/// The client certificate chain the TLS handshake verified, leaf first.
///
/// Put in the extensions of every request of a connection, by
/// [`serve`](fn@super::serve) for axum and hyper, or read from tonic's
/// `TlsConnectInfo` by the extractor. Clones share one parse of the leaf:
/// it is read once per connection, not per request.
///
/// Only a TLS stack that verified the chain may insert it: a
/// [`ClientCertScheme`](super::ClientCertScheme) believes it.
///
/// ```
/// use authgate::mtls::PeerCertificates;
///
/// let peer = PeerCertificates::new(vec![b"not a certificate".to_vec()]);
/// assert!(peer.identity().is_err());
/// assert_eq!(peer.chain().len(), 1);
/// ```
#[derive(Clone)]
pub struct PeerCertificates {
    inner: Arc<Inner>,
}

struct Inner {
    chain: Vec<Vec<u8>>,
    identity: OnceLock<Result<CertificateIdentity, CertificateError>>,
}

impl PeerCertificates {
    /// A verified chain, leaf first, each certificate in DER.
    #[must_use]
    pub fn new(chain: Vec<Vec<u8>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                chain,
                identity: OnceLock::new(),
            }),
        }
    }

    /// The chain from rustls's view of a connection
    /// (`ServerConnection::peer_certificates`).
    ///
    /// ```
    /// # use authgate::mtls::PeerCertificates;
    /// let none: Option<PeerCertificates> = PeerCertificates::from_rustls(None);
    /// assert!(none.is_none());
    /// ```
    #[must_use]
    pub fn from_rustls(chain: Option<&[rustls::pki_types::CertificateDer<'_>]>) -> Option<Self> {
        let chain = chain.filter(|c| !c.is_empty())?;
        Some(Self::new(
            chain.iter().map(|c| c.as_ref().to_vec()).collect(),
        ))
    }

    /// The chain, leaf first, in DER.
    #[must_use]
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.inner.chain
    }

    /// The leaf, in DER.
    #[must_use]
    pub fn leaf(&self) -> Option<&[u8]> {
        self.inner.chain.first().map(Vec::as_slice)
    }

    /// The leaf's names, validity and key usage, parsed on first use.
    ///
    /// # Errors
    ///
    /// When there is no leaf or it cannot be parsed.
    pub fn identity(&self) -> Result<&CertificateIdentity, CertificateError> {
        self.inner
            .identity
            .get_or_init(|| {
                self.leaf()
                    .ok_or(CertificateError::Missing)
                    .and_then(CertificateIdentity::parse)
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl fmt::Debug for PeerCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Certificates are public, but logs only ever get the thumbprint.
        let thumbprint = self.leaf().map(super::identity::thumbprint);
        f.debug_struct("PeerCertificates")
            .field("certificates", &self.inner.chain.len())
            .field("leaf_thumbprint", &thumbprint)
            .finish()
    }
}
