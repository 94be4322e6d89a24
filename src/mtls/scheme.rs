//! [`ClientCertScheme`]: a verified client certificate as the credential.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::identity::CertificateIdentity;
use super::peer::PeerCertificates;
use super::spiffe::SpiffeId;
use crate::clock::{Clock, SharedClock, SystemClock};
use crate::credentials::{Credential, CredentialLocation};
use crate::error::{AuthError, ConfigError, ErrorKind};
use crate::principal::Principal;
use crate::scheme::{Challenge, Scheme, Verification, VerifyContext};

/// The name client-certificate principals carry in [`Principal::scheme`].
pub const SCHEME_NAME: &str = "mtls";

/// The auth-scheme name in this scheme's `WWW-Authenticate` challenge.
/// There is no registered HTTP scheme for TLS client certificates; this
/// name tells a client what to present.
pub const CHALLENGE_NAME: &str = "ClientCertificate";

/// How a certificate that is not a SPIFFE X.509-SVID is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubjectFrom {
    /// The first DNS subject alternative name.
    DnsName,
    /// The first email subject alternative name.
    Email,
    /// The subject's common name (legacy certificates without SANs).
    CommonName,
}

/// Authenticates a request by the TLS client certificate its connection
/// presented: a SPIFFE X.509-SVID from an allowed trust domain, or (when
/// configured) a classic certificate named by a SAN or its common name.
///
/// The chain must already be verified by the TLS stack against your client
/// CA bundle ([`serve`](fn@super::serve), or tonic's `tls_config`); the scheme
/// reads it from [`PeerCertificates`] in the request extensions. A
/// certificate is a credential only when the request presents no other:
/// with a bearer token, the token authenticates and the certificate binds.
///
/// SPIFFE rules (X509-SVID standard): exactly one URI SAN, a valid SPIFFE
/// ID with a non-root path in an allowed trust domain, a leaf that is not a
/// CA and cannot sign certificates or CRLs. Validity is checked against the
/// scheme's clock with its leeway, even though TLS checked it too.
///
/// The principal's subject is the SPIFFE ID (or the mapped name), its
/// credential id the certificate's `x5t#S256` thumbprint, and its claims
/// `spiffe_id`, `trust_domain` and `path` (or `dns`, `email`, `cn`).
///
/// ```
/// use authgate::mtls::{ClientCertScheme, SubjectFrom};
///
/// let spiffe = ClientCertScheme::builder()
///     .trust_domain("prod.example")
///     .build()
///     .unwrap();
/// let classic = ClientCertScheme::builder()
///     .subject_from(SubjectFrom::DnsName)
///     .build()
///     .unwrap();
/// # let _ = (spiffe, classic);
/// ```
#[derive(Clone)]
pub struct ClientCertScheme {
    inner: Arc<Inner>,
}

struct Inner {
    trust_domains: Vec<String>,
    subject_from: Option<SubjectFrom>,
    leeway: Duration,
    clock: SharedClock,
}

impl ClientCertScheme {
    /// Starts configuring a scheme.
    ///
    /// ```
    /// let scheme = authgate::mtls::ClientCertScheme::builder()
    ///     .trust_domain("prod.example")
    ///     .build();
    /// assert!(scheme.is_ok());
    /// ```
    pub fn builder() -> ClientCertSchemeBuilder {
        ClientCertSchemeBuilder {
            trust_domains: Vec::new(),
            subject_from: None,
            leeway: Duration::from_secs(60),
            clock: Arc::new(SystemClock),
        }
    }
}

fn invalid(kind: ErrorKind, description: &'static str) -> AuthError {
    AuthError::new(kind).with_description(description)
}

impl Inner {
    fn check(&self, peer: &PeerCertificates) -> Result<Principal, AuthError> {
        let identity = peer.identity().map_err(|_| {
            invalid(
                ErrorKind::InvalidFormat,
                "the client certificate cannot be parsed",
            )
        })?;
        let with_id =
            |e: AuthError| e.with_credential_id(identity.thumbprint().to_owned().into_boxed_str());
        self.check_validity(identity).map_err(with_id)?;
        let principal = if identity.uris().iter().any(|u| u.starts_with("spiffe:")) {
            self.spiffe(identity)
        } else {
            self.classic(identity)
        };
        principal
            .map(|p| p.with_credential_id(identity.thumbprint()))
            .map_err(with_id)
    }

    fn check_validity(&self, identity: &CertificateIdentity) -> Result<(), AuthError> {
        let now = i64::try_from(self.clock.unix_now()).unwrap_or(i64::MAX);
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        if identity.not_after().saturating_add(leeway) < now {
            return Err(invalid(
                ErrorKind::Expired,
                "the client certificate has expired",
            ));
        }
        if identity.not_before().saturating_sub(leeway) > now {
            return Err(invalid(
                ErrorKind::NotYetValid,
                "the client certificate is not valid yet",
            ));
        }
        Ok(())
    }

    /// The SPIFFE X.509-SVID rules.
    fn spiffe(&self, identity: &CertificateIdentity) -> Result<Principal, AuthError> {
        let [uri] = identity.uris() else {
            return Err(invalid(
                ErrorKind::InvalidFormat,
                "an X.509-SVID has exactly one URI SAN",
            ));
        };
        let id = SpiffeId::parse(uri).map_err(|_| {
            invalid(
                ErrorKind::InvalidFormat,
                "the certificate's SPIFFE ID is malformed",
            )
        })?;
        if id.path().is_empty() {
            return Err(invalid(
                ErrorKind::InvalidFormat,
                "a workload SPIFFE ID has a path",
            ));
        }
        if identity.is_ca() || identity.signs_certificates() {
            return Err(invalid(
                ErrorKind::InvalidFormat,
                "a CA certificate is not a workload identity",
            ));
        }
        if !self.trust_domains.iter().any(|d| d == id.trust_domain()) {
            return Err(invalid(
                ErrorKind::UnknownKey,
                "the certificate's trust domain is not trusted",
            ));
        }
        let mut claims = Map::new();
        claims.insert("spiffe_id".into(), Value::from(id.as_str()));
        claims.insert("trust_domain".into(), Value::from(id.trust_domain()));
        claims.insert("path".into(), Value::from(id.path()));
        Ok(Principal::new(id.as_str(), SCHEME_NAME).with_claims(claims))
    }

    /// A certificate that is not an SVID, named as configured.
    fn classic(&self, identity: &CertificateIdentity) -> Result<Principal, AuthError> {
        let Some(from) = self.subject_from else {
            return Err(invalid(
                ErrorKind::InvalidFormat,
                "the client certificate is not a SPIFFE X.509-SVID",
            ));
        };
        if identity.is_ca() || identity.signs_certificates() {
            return Err(invalid(
                ErrorKind::InvalidFormat,
                "a CA certificate is not a client identity",
            ));
        }
        let (claim, name) = match from {
            SubjectFrom::DnsName => ("dns", identity.dns_names().first().map(String::as_str)),
            SubjectFrom::Email => ("email", identity.emails().first().map(String::as_str)),
            SubjectFrom::CommonName => ("cn", identity.common_name()),
        };
        let name = name.filter(|n| !n.is_empty()).ok_or_else(|| {
            invalid(
                ErrorKind::InvalidFormat,
                "the client certificate has no name to authenticate it by",
            )
        })?;
        let mut claims = Map::new();
        claims.insert(claim.into(), Value::from(name));
        Ok(Principal::new(name, SCHEME_NAME).with_claims(claims))
    }
}

impl Scheme for ClientCertScheme {
    fn name(&self) -> &'static str {
        SCHEME_NAME
    }

    fn locations(&self) -> Vec<CredentialLocation> {
        vec![CredentialLocation::PeerCertificate]
    }

    fn challenge(&self) -> Challenge {
        Challenge::new(CHALLENGE_NAME)
    }

    fn verify(&self, _: &Credential, ctx: &VerifyContext<'_>) -> Verification {
        let result = match super::peer_certificates(ctx.parts()) {
            Some(peer) => self.inner.check(&peer),
            None => Err(AuthError::new(ErrorKind::Missing)),
        };
        Verification::ready(result)
    }
}

impl fmt::Debug for ClientCertScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertScheme")
            .field("trust_domains", &self.inner.trust_domains)
            .field("subject_from", &self.inner.subject_from)
            .field("leeway", &self.inner.leeway)
            .finish_non_exhaustive()
    }
}

/// Configures a [`ClientCertScheme`].
#[must_use]
pub struct ClientCertSchemeBuilder {
    trust_domains: Vec<String>,
    subject_from: Option<SubjectFrom>,
    leeway: Duration,
    clock: SharedClock,
}

impl ClientCertSchemeBuilder {
    /// Accepts SPIFFE IDs of this trust domain (`prod.example`). Call again
    /// for several. Defaults to none: SVIDs are refused.
    ///
    /// ```
    /// # use authgate::mtls::ClientCertScheme;
    /// let scheme = ClientCertScheme::builder().trust_domain("prod.example").build();
    /// # let _ = scheme;
    /// ```
    pub fn trust_domain(mut self, domain: impl Into<String>) -> Self {
        self.trust_domains.push(domain.into());
        self
    }

    /// Also accepts certificates that are not SPIFFE IDs, named by this
    /// field. Defaults to none: only SVIDs are accepted.
    ///
    /// ```
    /// # use authgate::mtls::{ClientCertScheme, SubjectFrom};
    /// let scheme = ClientCertScheme::builder().subject_from(SubjectFrom::Email).build();
    /// # let _ = scheme;
    /// ```
    pub fn subject_from(mut self, from: SubjectFrom) -> Self {
        self.subject_from = Some(from);
        self
    }

    /// Clock skew allowed on `notBefore` / `notAfter`. Defaults to 60 s.
    ///
    /// ```
    /// # use authgate::mtls::ClientCertScheme;
    /// # use std::time::Duration;
    /// let scheme = ClientCertScheme::builder()
    ///     .trust_domain("td")
    ///     .leeway(Duration::ZERO)
    ///     .build();
    /// # let _ = scheme;
    /// ```
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The clock validity is checked against. Defaults to the system clock.
    ///
    /// ```
    /// # use authgate::mtls::ClientCertScheme;
    /// let scheme = ClientCertScheme::builder()
    ///     .trust_domain("td")
    ///     .clock(authgate::clock::ManualClock::at_unix(1_800_000_000))
    ///     .build();
    /// # let _ = scheme;
    /// ```
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the settings and builds the scheme.
    ///
    /// # Errors
    ///
    /// With neither a trust domain nor a subject mapping (nothing could
    /// ever authenticate), or with a trust domain that is not one.
    ///
    /// ```
    /// # use authgate::mtls::ClientCertScheme;
    /// assert!(ClientCertScheme::builder().build().is_err());
    /// assert!(ClientCertScheme::builder().trust_domain("Prod.Example").build().is_err());
    /// ```
    pub fn build(self) -> Result<ClientCertScheme, ConfigError> {
        if self.trust_domains.is_empty() && self.subject_from.is_none() {
            return Err(ConfigError::InvalidSetting {
                setting: "trust_domain",
                why: "a client-certificate scheme needs a trust domain or a subject mapping",
            });
        }
        for domain in &self.trust_domains {
            if SpiffeId::parse(&format!("spiffe://{domain}")).is_err() {
                return Err(ConfigError::InvalidName {
                    name: domain.clone(),
                    why: "a trust domain is lowercase letters, digits, '.', '-' and '_'",
                });
            }
        }
        Ok(ClientCertScheme {
            inner: Arc::new(Inner {
                trust_domains: self.trust_domains,
                subject_from: self.subject_from,
                leeway: self.leeway,
                clock: self.clock,
            }),
        })
    }
}

impl fmt::Debug for ClientCertSchemeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertSchemeBuilder")
            .field("trust_domains", &self.trust_domains)
            .finish_non_exhaustive()
    }
}
