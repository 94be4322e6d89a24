//! [`TokenBuilder`]: one token of a [`MockIssuer`], signed (a JWT) or
//! opaque (answered by its introspection endpoint).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::issuer::{MockIssuer, DEFAULT_AUDIENCE};
use super::signing_key::TestAlgorithm;
use super::TestKitError;
use crate::dpop::DpopProver;

/// Builds one token of a [`MockIssuer`]: start with
/// [`MockIssuer::token`], end with [`mint`](Self::mint).
///
/// ```
/// use authgate::testing::{MockIssuer, TestAlgorithm};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let issuer = MockIssuer::start().await.unwrap();
/// let token = issuer
///     .token()
///     .subject("alice")
///     .scopes("orders:read orders:write")
///     .claim("tenant", "acme")
///     .algorithm(TestAlgorithm::ES256)
///     .lifetime(Duration::from_secs(300))
///     .token_type("at+jwt")
///     .mint();
/// # let _ = token;
/// let expired = issuer.token().expired().mint();
/// # let _ = expired;
/// # }
/// ```
#[must_use]
pub struct TokenBuilder<'a> {
    issuer: &'a MockIssuer,
    claims: Map<String, Value>,
    /// Claims left out on purpose, default time claims included.
    removed: Vec<String>,
    alg: TestAlgorithm,
    kid: Option<String>,
    typ: Option<String>,
    issued_at: u64,
    lifetime: i64,
}

impl<'a> TokenBuilder<'a> {
    pub(super) fn new(issuer: &'a MockIssuer) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(issuer.url()));
        claims.insert("aud".into(), json!(DEFAULT_AUDIENCE));
        claims.insert("sub".into(), json!("test-user"));
        claims.insert("jti".into(), json!(next_jti()));
        Self {
            issuer,
            claims,
            removed: Vec::new(),
            alg: TestAlgorithm::RS256,
            kid: None,
            typ: None,
            issued_at: now,
            lifetime: 3600,
        }
    }

    /// `sub`. Defaults to `test-user`.
    pub fn subject(self, subject: &str) -> Self {
        self.claim("sub", subject)
    }

    /// `aud`. Defaults to [`DEFAULT_AUDIENCE`].
    pub fn audience(self, audience: &str) -> Self {
        self.claim("aud", audience)
    }

    /// `scope`, space-separated. Defaults to none.
    pub fn scopes(self, scopes: &str) -> Self {
        self.claim("scope", scopes)
    }

    /// Binds the token to the key of `prover` (RFC 9449 §6: `cnf.jkt`, its
    /// thumbprint): a verifier with DPoP on then wants a proof from that
    /// key with every request, and refuses the token as `Bearer`.
    ///
    /// ```
    /// use authgate::testing::{DpopProver, MockIssuer};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let issuer = MockIssuer::start().await?;
    /// let prover = DpopProver::es256()?;
    /// let token = issuer.token().bound_to(&prover).mint();
    /// let proof = prover.proof(&http::Method::GET, "http://127.0.0.1:3000/orders", Some(&token))?;
    /// // Send `Authorization: DPoP {token}` and `DPoP: {proof}`.
    /// # let _ = proof;
    /// # Ok(())
    /// # }
    /// ```
    pub fn bound_to(self, prover: &DpopProver) -> Self {
        let jkt = prover.jkt().to_owned();
        self.claim("cnf", json!({ "jkt": jkt }))
    }

    /// Any claim, replacing one set before (`iss`, `aud`, `exp` included).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.removed.retain(|r| r != name);
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Leaves a claim out (`exp`, `iss`, …).
    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self.removed.push(name.to_owned());
        self
    }

    /// Valid for this long from `iat`. Defaults to an hour.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// Expired a minute ago (beyond the usual leeway).
    pub fn expired(mut self) -> Self {
        self.lifetime = -120;
        self
    }

    /// `iat` and `nbf` at this Unix time (for a manual clock); `exp`
    /// follows from the lifetime. Defaults to now.
    pub fn issued_at(mut self, unix_secs: u64) -> Self {
        self.issued_at = unix_secs;
        self
    }

    /// The signing algorithm, with the issuer's current key for it.
    /// Defaults to RS256.
    pub fn algorithm(mut self, alg: TestAlgorithm) -> Self {
        self.alg = alg;
        self
    }

    /// The `kid` header, in place of the signing key's own (to test
    /// unknown key ids).
    pub fn kid(mut self, kid: &str) -> Self {
        self.kid = Some(kid.to_owned());
        self
    }

    /// The `typ` header, e.g. `at+jwt` (RFC 9068). Defaults to `JWT`.
    pub fn token_type(mut self, typ: &str) -> Self {
        self.typ = Some(typ.to_owned());
        self
    }

    /// The claims as they will be signed.
    #[must_use]
    pub fn claims(&self) -> Value {
        let mut claims = self.claims.clone();
        let exp = i64::try_from(self.issued_at)
            .unwrap_or(i64::MAX)
            .saturating_add(self.lifetime);
        let defaults = [
            ("iat", json!(self.issued_at)),
            ("nbf", json!(self.issued_at)),
            ("exp", json!(exp.max(0))),
        ];
        for (name, value) in defaults {
            let removed = self.removed.iter().any(|r| r == name);
            if !removed && !claims.contains_key(name) {
                claims.insert(name.into(), value);
            }
        }
        Value::Object(claims)
    }

    /// Signs the token.
    ///
    /// # Errors
    ///
    /// When signing fails (never with the kit's own keys).
    pub fn try_mint(self) -> Result<String, TestKitError> {
        let key = self.issuer.signing_key(self.alg)?;
        let mut header = key.header();
        if let Some(kid) = &self.kid {
            header.kid = Some(kid.clone());
        }
        if let Some(typ) = &self.typ {
            header.typ = Some(typ.clone());
        }
        key.sign_with(&header, &self.claims())
    }

    /// Signs the token.
    ///
    /// # Panics
    ///
    /// When signing fails, which the kit's own keys never do: a test kit
    /// fails loudly. [`try_mint`](Self::try_mint) returns the error instead.
    #[allow(clippy::expect_used)] // a test helper: failing loudly is its job
    #[must_use]
    pub fn mint(self) -> String {
        self.try_mint()
            .expect("the test kit could not sign a token")
    }
}

impl TokenBuilder<'_> {
    /// Makes an opaque token (a random string, no JWT) that the issuer's
    /// introspection endpoint answers for with these claims: active until
    /// its `exp` or until [`MockIssuer::revoke`]; `token_type` `Bearer`, or
    /// `DPoP` when [`bound_to`](Self::bound_to) a key. The algorithm and
    /// header settings do not apply.
    ///
    /// ```
    /// use authgate::testing::MockIssuer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let issuer = MockIssuer::start().await?;
    /// let active = issuer.token().subject("alice").scopes("orders:read").mint_opaque();
    /// let expired = issuer.token().expired().mint_opaque();
    /// let revoked = issuer.token().mint_opaque();
    /// assert!(issuer.revoke(&revoked));
    /// assert!(!active.contains('.'));
    /// # let _ = expired;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// When the random generator fails.
    pub fn try_mint_opaque(self) -> Result<String, TestKitError> {
        let claims = match self.claims() {
            Value::Object(claims) => claims,
            _ => Map::new(),
        };
        self.issuer.shared().opaque.mint(claims)
    }

    /// Makes an opaque token: see [`try_mint_opaque`](Self::try_mint_opaque).
    ///
    /// # Panics
    ///
    /// When the system random generator fails: a test kit fails loudly.
    #[allow(clippy::expect_used)] // a test helper: failing loudly is its job
    #[must_use]
    pub fn mint_opaque(self) -> String {
        self.try_mint_opaque()
            .expect("the test kit could not make an opaque token")
    }
}

impl fmt::Debug for TokenBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBuilder")
            .field("claims", &self.claims())
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// A `jti` unique in this process.
fn next_jti() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("test-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
