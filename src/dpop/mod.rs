//! Sender-constrained tokens: DPoP (RFC 9449).
//!
//! A stolen bearer token works for whoever holds it. A DPoP-bound token
//! carries the thumbprint of a client key in `cnf.jkt`, and works only
//! with a fresh proof, signed with that key, on every request:
//!
//! ```text
//! Authorization: DPoP <access token>
//! DPoP: <proof JWT: typ dpop+jwt, jwk, htm, htu, iat, jti, ath[, nonce]>
//! ```
//!
//! In the flow extract → verify → authorize → respond, DPoP is part of
//! *verify*: the token scheme ([`JwtScheme`](crate::jwt::JwtScheme), with
//! [`JwtSchemeBuilder::dpop`](crate::jwt::JwtSchemeBuilder::dpop), or the
//! `IntrospectionScheme` with `IntrospectionSchemeBuilder::dpop`, for
//! opaque tokens whose introspection answer carries `cnf.jkt`) validates
//! the token, then the [`DpopVerifier`] checks the proof against it, on
//! every request, whether the token came from the token cache or not.
//!
//! # What is checked (RFC 9449 §4.3, §7.1)
//!
//! - exactly one `DPoP` header, a compact JWS with `typ` `dpop+jwt`, no
//!   `crit`, and an `alg` on the allow-list (ES256, ES384, RS256, PS256,
//!   EdDSA by default; never `none` or `HS*`);
//! - a `jwk` that is a public key only (any private member is refused),
//!   that passes the checks every key gets in [`jwt`](crate::jwt), that
//!   fits `alg`, and whose RFC 7638 thumbprint is the token's `cnf.jkt`;
//! - the signature, with that key;
//! - `htm` is the request method; `htu` is the request's URI without query
//!   and fragment, under the configured [public origin](Dpop::public_origin),
//!   compared after RFC 3986 normalisation ([`normalize_htu`]);
//! - `iat` within the [proof window](Dpop::proof_window) plus the scheme's
//!   leeway; `ath` is the base64url SHA-256 of the access token;
//! - with [nonces](Dpop::require_nonce), a current server nonce;
//! - `jti` not seen before for this `htu` within the window, in a
//!   [`ReplayStore`](crate::replay::ReplayStore): in process by default,
//!   or shared by a fleet through Redis
//!   ([`Dpop::replay_store`]).
//!
//! # Modes
//!
//! [`DpopMode::Off`], [`Allowed`](DpopMode::Allowed) (Bearer or DPoP) or
//! [`Required`](DpopMode::Required) (DPoP only), per scheme and, with
//! [`Dpop::issuer_mode`], per issuer. In every mode a token with
//! `cnf.jkt` presented as `Bearer` is refused: a bound token never
//! downgrades to a bearer one.
//!
//! # Responses
//!
//! | situation | `WWW-Authenticate` |
//! |---|---|
//! | no credential (mode allowed) | `Bearer` and `DPoP algs="…"` |
//! | bad proof | `DPoP error="invalid_dpop_proof"` |
//! | bad token, or a proof for another key | `DPoP error="invalid_token"` |
//! | nonce missing or stale | `DPoP error="use_dpop_nonce"` and a `DPoP-Nonce` header |
//!
//! Granted requests get the next nonce in `DPoP-Nonce` when nonces are
//! on. gRPC calls get `grpc-status` 16 as for every other 401.
//!
//! # Example
//!
//! ```
//! use authgate::dpop::{Dpop, DpopMode};
//! use authgate::jwt::{Issuer, JwtKey, JwtScheme};
//! use authgate::AuthLayer;
//!
//! let scheme = JwtScheme::builder()
//!     .issuer(Issuer::new("https://login.example").audience("api")
//!         .key(JwtKey::shared_secret(&[7u8; 32])?))
//!     .dpop(Dpop::new(DpopMode::Allowed).public_origin("https://api.example.com"))
//!     .build()?;
//! let layer = AuthLayer::builder().scheme(scheme).build()?;
//! # let _ = layer;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Clients make proofs with [`DpopProver`].

mod check;
mod htu;
mod jwk;
mod metrics;
mod nonce;
mod prover;
mod verifier;

pub use check::{ProofCheck, VerifiedProof};
pub use htu::normalize_htu;
pub use jwk::jwk_thumbprint;
pub use prover::{DpopProver, ProverError};
pub use verifier::{Dpop, DpopVerifier, DEFAULT_PROOF_ALGORITHMS};

/// The auth-scheme name of DPoP-bound tokens: `Authorization: DPoP <token>`.
pub const AUTH_SCHEME: &str = "DPoP";

/// The request header carrying the proof, and the response header carrying
/// a nonce (`DPoP-Nonce`).
pub const PROOF_HEADER: &str = "dpop";

/// The response header carrying the server's next nonce.
pub const NONCE_HEADER: &str = "dpop-nonce";

/// Whether tokens may, must or must not come with DPoP proofs.
///
/// ```
/// use authgate::dpop::DpopMode;
/// assert_eq!(DpopMode::default(), DpopMode::Off);
/// assert_eq!("required".parse::<DpopMode>().unwrap(), DpopMode::Required);
/// assert!("sometimes".parse::<DpopMode>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum DpopMode {
    /// DPoP is not accepted; bearer tokens only (and never bound ones).
    #[default]
    Off,
    /// Bearer tokens, or DPoP-bound tokens with proofs.
    Allowed,
    /// DPoP-bound tokens with proofs only.
    Required,
}

impl DpopMode {
    /// Whether `Authorization: Bearer` is accepted.
    #[must_use]
    pub fn accepts_bearer(self) -> bool {
        self != Self::Required
    }

    /// Whether `Authorization: DPoP` is accepted.
    #[must_use]
    pub fn accepts_dpop(self) -> bool {
        self != Self::Off
    }
}

impl std::str::FromStr for DpopMode {
    type Err = crate::ConfigError;

    /// `off`, `allowed` or `required`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "off" => Ok(Self::Off),
            "allowed" => Ok(Self::Allowed),
            "required" => Ok(Self::Required),
            _ => Err(crate::ConfigError::InvalidSetting {
                setting: "dpop mode",
                why: "must be off, allowed or required",
            }),
        }
    }
}
