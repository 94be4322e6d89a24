//! [`TestPki`]: a throwaway certificate authority for mTLS tests.

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use zeroize::Zeroizing;

use super::TestKitError;

/// A CA made at start, a server certificate for `localhost` and
/// `127.0.0.1`, and client certificates on demand (rcgen, ring keys).
///
/// ```
/// use authgate::testing::TestPki;
///
/// let pki = TestPki::new().unwrap();
/// let workload = pki.client_spiffe("spiffe://prod.example/ns/payments/sa/api").unwrap();
/// assert!(workload.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// assert!(pki.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// ```
pub struct TestPki {
    ca: CertifiedIssuer<'static, KeyPair>,
    server_cert_pem: String,
    server_key_pem: Zeroizing<String>,
}

impl TestPki {
    /// A new CA and server certificate.
    ///
    /// # Errors
    ///
    /// When a key or certificate cannot be made.
    pub fn new() -> Result<Self, TestKitError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "authgate test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().map_err(pki)?).map_err(pki)?;
        let key = KeyPair::generate().map_err(pki)?;
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .map_err(pki)?;
        params.distinguished_name.push(DnType::CommonName, "server");
        let cert = params.signed_by(&key, &ca).map_err(pki)?;
        Ok(Self {
            server_cert_pem: cert.pem(),
            server_key_pem: Zeroizing::new(key.serialize_pem()),
            ca,
        })
    }

    /// The CA certificate, PEM: the client CA of an mTLS server, the root
    /// of a client.
    #[must_use]
    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// The CA certificate, DER.
    #[must_use]
    pub fn ca_der(&self) -> Vec<u8> {
        self.ca.der().to_vec()
    }

    /// The server certificate (for `localhost` and `127.0.0.1`), PEM.
    #[must_use]
    pub fn server_cert_pem(&self) -> &str {
        &self.server_cert_pem
    }

    /// The server's private key, PEM.
    #[must_use]
    pub fn server_key_pem(&self) -> &str {
        &self.server_key_pem
    }

    /// A client certificate whose URI SAN is the SPIFFE ID `id`.
    ///
    /// # Errors
    ///
    /// When `id` is not a URI, or the certificate cannot be made.
    pub fn client_spiffe(&self, id: &str) -> Result<TestClientCert, TestKitError> {
        let uri = id.try_into().map_err(pki)?;
        self.client_with(|params| params.subject_alt_names = vec![SanType::URI(uri)])
    }

    /// A client certificate whose DNS SAN is `name`.
    ///
    /// # Errors
    ///
    /// When `name` is not a DNS name, or the certificate cannot be made.
    pub fn client_dns(&self, name: &str) -> Result<TestClientCert, TestKitError> {
        let name = name.try_into().map_err(pki)?;
        self.client_with(|params| params.subject_alt_names = vec![SanType::DnsName(name)])
    }

    /// A client certificate (common name `client`, digital signature)
    /// changed by `edit` before it is signed: expired, other SANs, other
    /// key usages.
    ///
    /// ```
    /// let pki = authgate::testing::TestPki::new().unwrap();
    /// let expired = pki.client_with(|params| {
    ///     params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    /// }).unwrap();
    /// # let _ = expired;
    /// ```
    ///
    /// # Errors
    ///
    /// When the certificate cannot be made.
    pub fn client_with(
        &self,
        edit: impl FnOnce(&mut CertificateParams),
    ) -> Result<TestClientCert, TestKitError> {
        let key = KeyPair::generate().map_err(pki)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki)?;
        params.distinguished_name.push(DnType::CommonName, "client");
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        edit(&mut params);
        let cert = params.signed_by(&key, &self.ca).map_err(pki)?;
        Ok(TestClientCert {
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            key_der: Zeroizing::new(key.serialize_der()),
            key_pem: Zeroizing::new(key.serialize_pem()),
        })
    }
}

fn pki(error: rcgen::Error) -> TestKitError {
    TestKitError::Pki(error.to_string())
}

impl fmt::Debug for TestPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPki").finish_non_exhaustive()
    }
}

/// A client certificate and its private key.
pub struct TestClientCert {
    cert_der: Vec<u8>,
    cert_pem: String,
    key_der: Zeroizing<Vec<u8>>,
    key_pem: Zeroizing<String>,
}

impl TestClientCert {
    /// The certificate, DER.
    #[must_use]
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The certificate, PEM.
    #[must_use]
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key, PKCS#8 DER.
    #[must_use]
    pub fn key_der(&self) -> &[u8] {
        &self.key_der
    }

    /// The private key, PEM.
    #[must_use]
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The chain as a TLS server would have verified it, for requests built
    /// in process: insert it in the request's extensions and a
    /// [`ClientCertScheme`](crate::mtls::ClientCertScheme) reads it.
    ///
    /// ```
    /// let pki = authgate::testing::TestPki::new().unwrap();
    /// let client = pki.client_spiffe("spiffe://prod.example/ns/a/sa/b").unwrap();
    /// let mut request = http::Request::get("/").body(()).unwrap();
    /// request.extensions_mut().insert(client.peer_certificates());
    /// ```
    #[cfg(feature = "mtls")]
    #[must_use]
    pub fn peer_certificates(&self) -> crate::mtls::PeerCertificates {
        crate::mtls::PeerCertificates::new(vec![self.cert_der.clone()])
    }
}

impl fmt::Debug for TestClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestClientCert")
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}
