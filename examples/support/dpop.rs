//! DPoP (RFC 9449) settings from the environment, and what `GET /me`
//! reports about a token's binding: shared by `examples/axum_jwt.rs` and
//! `examples/resource_server.rs`.
//!
//! - `AUTHGATE_DPOP=off|allowed|required` (default `allowed`);
//! - `AUTHGATE_DPOP_NONCE=1` to require server nonces;
//! - `AUTHGATE_PUBLIC_ORIGIN`, the origin the proofs' `htu` must name
//!   (e.g. `http://127.0.0.1:8080`; the caller gives the default).

#![allow(dead_code, unreachable_pub)]

use authgate::dpop::{Dpop, DpopMode};
use authgate::Principal;
use serde_json::{json, Value};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The DPoP settings one service applies to every token scheme it has.
pub struct DpopEnv {
    mode: DpopMode,
    origin: String,
    /// One nonce key for every scheme of the service, so that a nonce one
    /// of them hands out serves a request the other verifies.
    nonce_secret: Option<[u8; 32]>,
}

impl DpopEnv {
    /// Reads the variables; `default_origin` when `AUTHGATE_PUBLIC_ORIGIN`
    /// is unset.
    pub fn from_env(default_origin: &str) -> Result<Self, BoxError> {
        let mode: DpopMode = std::env::var("AUTHGATE_DPOP")
            .as_deref()
            .unwrap_or("allowed")
            .parse()?;
        let origin =
            std::env::var("AUTHGATE_PUBLIC_ORIGIN").unwrap_or_else(|_| default_origin.to_owned());
        let nonce_secret = if std::env::var("AUTHGATE_DPOP_NONCE").is_ok_and(|v| v == "1") {
            let mut secret = [0u8; 32];
            ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
                .map_err(|_| "no randomness for the nonce key")?;
            Some(secret)
        } else {
            None
        };
        Ok(Self {
            mode,
            origin,
            nonce_secret,
        })
    }

    /// The mode for every token.
    pub fn mode(&self) -> DpopMode {
        self.mode
    }

    /// Whether bearer tokens pass.
    pub fn accepts_bearer(&self) -> bool {
        self.mode.accepts_bearer()
    }

    /// Settings for one token scheme.
    pub fn settings(&self) -> Dpop {
        let dpop = Dpop::new(self.mode).public_origin(self.origin.clone());
        match &self.nonce_secret {
            Some(secret) => dpop.nonce_secret(secret),
            None => dpop,
        }
    }
}

/// `"bound": "dpop" | null` and `"jkt"` for `GET /me`: a bound token only
/// gets there with a valid proof for its key.
pub fn binding(principal: &Principal) -> [(&'static str, Value); 2] {
    let jkt = principal
        .claim("cnf")
        .and_then(|cnf| cnf.get("jkt"))
        .cloned()
        .unwrap_or_default();
    let bound = if jkt.is_null() { None } else { Some("dpop") };
    [("bound", json!(bound)), ("jkt", jkt)]
}
