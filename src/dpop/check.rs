//! The proof check itself (RFC 9449 §4.3): one proof, one request, one
//! access token and the key the token is bound to.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use http::request::Parts;
use http::{HeaderValue, Method};
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::htu::{normalize_htu, normalize_path};
use super::jwk::{has_private_members, required_members, thumbprint_of};
use super::metrics::Outcome;
use super::verifier::{token_error, DpopVerifier};
use super::{AUTH_SCHEME, NONCE_HEADER, PROOF_HEADER};
use crate::error::{AuthError, ErrorKind};
use crate::jwt::token::{check_signature, has_unique_names, Header, Jws};
use crate::replay::{Nonce, ReplayCheck};

/// Proofs longer than this are refused before any decoding: an RSA 8192
/// key and every claim fit in a quarter of it.
const MAX_PROOF_LEN: usize = 8 * 1024;
/// The longest `jti` remembered.
const MAX_JTI_LEN: usize = 256;

/// What a proof showed, once it passed.
///
/// ```
/// # fn show(proof: &authgate::dpop::VerifiedProof) {
/// println!("{} {}", proof.jkt(), proof.htu());
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    jkt: String,
    htu: String,
}

impl VerifiedProof {
    /// The thumbprint of the key the proof was signed with.
    #[must_use]
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// The normalised URI the proof was made for.
    #[must_use]
    pub fn htu(&self) -> &str {
        &self.htu
    }
}

/// The answer of [`DpopVerifier::check_proof`]: ready at once unless the
/// [`ReplayStore`](crate::replay::ReplayStore) does I/O. A future either
/// way.
#[must_use = "a proof check does nothing unless its answer is read"]
pub struct ProofCheck(CheckState);

enum CheckState {
    Ready(Option<Result<VerifiedProof, AuthError>>),
    /// Waiting for a remote store, which boxes its future anyway.
    Remembering(Box<Remembering>),
}

struct Remembering {
    check: ReplayCheck,
    proof: Option<VerifiedProof>,
    verifier: DpopVerifier,
}

impl ProofCheck {
    /// The answer if it is known without waiting, else the check itself.
    ///
    /// # Errors
    ///
    /// The check, still pending, when the store has not answered yet.
    pub fn into_ready(mut self) -> Result<Result<VerifiedProof, AuthError>, Self> {
        if let CheckState::Ready(answer) = &mut self.0 {
            if let Some(answer) = answer.take() {
                return Ok(answer);
            }
        }
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        match Pin::new(&mut self).poll(&mut cx) {
            Poll::Ready(answer) => Ok(answer),
            Poll::Pending => Err(self),
        }
    }
}

impl Future for ProofCheck {
    type Output = Result<VerifiedProof, AuthError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match &mut this.0 {
            CheckState::Ready(answer) => Poll::Ready(answer.take().unwrap_or_else(|| {
                Err(AuthError::new(ErrorKind::Unavailable)
                    .with_description("the proof check was polled after it finished"))
            })),
            CheckState::Remembering(waiting) => {
                let admitted = std::task::ready!(Pin::new(&mut waiting.check).poll(cx));
                let answer = match waiting.proof.take() {
                    Some(proof) => waiting.verifier.settle(admitted, proof),
                    None => Err(AuthError::new(ErrorKind::Unavailable)),
                };
                this.0 = CheckState::Ready(None);
                Poll::Ready(answer)
            }
        }
    }
}

impl fmt::Debug for ProofCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.0 {
            CheckState::Ready(_) => "ready",
            CheckState::Remembering(_) => "remembering",
        };
        f.debug_tuple("ProofCheck").field(&state).finish()
    }
}

/// What the check needs of a request, owned so that it can outlive it.
pub(super) struct RequestFacts {
    method: Method,
    /// The path the client asked for, normalised: `None` when it is not a
    /// valid absolute path.
    path: Option<String>,
    proof: Result<HeaderValue, &'static str>,
}

impl RequestFacts {
    pub(super) fn new(parts: &Parts) -> Self {
        let mut proofs = parts.headers.get_all(PROOF_HEADER).iter();
        let proof = match (proofs.next(), proofs.next()) {
            (Some(proof), None) => Ok(proof.clone()),
            (None, _) => Err("the request carries no DPoP proof"),
            (Some(_), Some(_)) => Err("the request carries more than one DPoP header"),
        };
        Self {
            method: parts.method.clone(),
            path: normalize_path(client_path(parts)),
            proof,
        }
    }
}

/// The path the client sent: inside a nested axum router the URI has lost
/// its prefix, and axum keeps the original.
fn client_path(parts: &Parts) -> &str {
    #[cfg(feature = "axum")]
    if let Some(original) = parts.extensions.get::<axum::extract::OriginalUri>() {
        return original.0.path();
    }
    parts.uri.path()
}

/// An `invalid_dpop_proof` error (RFC 9449 §7.1) on the DPoP challenge.
pub(super) fn proof_error(kind: ErrorKind, description: &'static str) -> AuthError {
    AuthError::new(kind)
        .with_description(description)
        .with_challenge_detail(|d| {
            d.code = Some("invalid_dpop_proof");
            d.auth_scheme = Some(AUTH_SCHEME);
        })
}

fn invalid(description: &'static str) -> AuthError {
    proof_error(ErrorKind::InvalidFormat, description)
}

/// The JWS names of the algorithms, for the `algs` challenge parameter.
pub(super) fn proof_algorithm_names(algorithms: &[Algorithm]) -> Vec<&'static str> {
    let mut names = Vec::with_capacity(algorithms.len() + 1);
    for alg in algorithms {
        let name = match alg {
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::EdDSA => "EdDSA",
            _ => continue,
        };
        names.push(name);
        if *alg == Algorithm::EdDSA {
            names.push("Ed25519");
        }
    }
    names
}

/// The algorithm a proof header names, if it is one of `allowed`: `none`
/// and `HS*` never are. `Ed25519` (RFC 9864) is `EdDSA` over Ed25519.
fn proof_algorithm(name: &str, allowed: &[Algorithm]) -> Option<Algorithm> {
    let alg = match name {
        "Ed25519" => Algorithm::EdDSA,
        "HS256" | "HS384" | "HS512" => return None,
        other => other.parse().ok()?,
    };
    allowed.contains(&alg).then_some(alg)
}

fn decode(part: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| invalid("the DPoP proof is not valid base64url"))
}

fn json_object(bytes: &[u8], what: &'static str) -> Result<Map<String, Value>, AuthError> {
    if !has_unique_names(bytes) {
        return Err(invalid(what));
    }
    serde_json::from_slice(bytes).map_err(|_| invalid(what))
}

impl DpopVerifier {
    /// Checks the request's DPoP proof for `access_token`, whose `cnf.jkt`
    /// is `jkt`: one `DPoP` header, its header, key, signature, `htm`,
    /// `htu`, `iat`, `ath`, nonce, then `jti` against replays. Any token
    /// scheme can call it once it has validated the token.
    ///
    /// ```
    /// use authgate::dpop::{Dpop, DpopMode};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let verifier = Dpop::new(DpopMode::Required).public_origin("https://api.example").build().unwrap();
    /// let parts = http::Request::get("/orders").body(()).unwrap().into_parts().0;
    /// let err = verifier.check_proof(&parts, "token", "jkt").await.unwrap_err();
    /// assert_eq!(err.challenge_error(), Some("invalid_dpop_proof"));
    /// # }
    /// ```
    pub fn check_proof(&self, parts: &Parts, access_token: &str, jkt: &str) -> ProofCheck {
        self.check_facts(&RequestFacts::new(parts), access_token, jkt)
    }

    pub(super) fn check_facts(
        &self,
        facts: &RequestFacts,
        access_token: &str,
        jkt: &str,
    ) -> ProofCheck {
        match self.check_before_replay(facts, access_token, jkt) {
            Err(error) => {
                let outcome = if error.challenge_error() == Some("use_dpop_nonce") {
                    Outcome::NonceRequired
                } else {
                    Outcome::Invalid
                };
                self.inner.metrics.record(outcome);
                ProofCheck(CheckState::Ready(Some(Err(error))))
            }
            Ok((proof, jti, iat)) => {
                // RFC 9449 §11.1: a jti is remembered per htu, for as long
                // as the proof's iat could still be accepted.
                let nonce =
                    Nonce::new("dpop", &proof.htu, &jti, self.inner.replay_ttl).signed_at(iat);
                match self.inner.store.admit_nonce(&nonce).into_ready() {
                    Ok(admitted) => {
                        ProofCheck(CheckState::Ready(Some(self.settle(admitted, proof))))
                    }
                    Err(check) => ProofCheck(CheckState::Remembering(Box::new(Remembering {
                        check,
                        proof: Some(proof),
                        verifier: self.clone(),
                    }))),
                }
            }
        }
    }

    /// The answer once the replay store has judged the proof's `jti`.
    fn settle(
        &self,
        admitted: Result<(), AuthError>,
        proof: VerifiedProof,
    ) -> Result<VerifiedProof, AuthError> {
        let metrics = &self.inner.metrics;
        match admitted {
            Ok(()) => {
                metrics.record(Outcome::Accepted);
                Ok(proof)
            }
            Err(error) if error.kind() == ErrorKind::Replayed => {
                metrics.record(Outcome::Replayed);
                Err(proof_error(
                    ErrorKind::Replayed,
                    "the DPoP proof was already used",
                ))
            }
            // The in-process store's floor: older than a proof it has
            // already forgotten, after the wall clock stepped back.
            Err(error) if error.kind() == ErrorKind::Expired => {
                metrics.record(Outcome::Invalid);
                Err(proof_error(ErrorKind::Expired, "the DPoP proof is too old"))
            }
            // The store cannot tell: 503, never an admission.
            Err(error) => Err(error),
        }
    }

    /// Everything but the replay check; the proof, its `jti` and its `iat`
    /// in whole seconds.
    fn check_before_replay(
        &self,
        facts: &RequestFacts,
        access_token: &str,
        jkt: &str,
    ) -> Result<(VerifiedProof, String, u64), AuthError> {
        let inner = &self.inner;
        let proof = facts.proof.as_ref().map_err(|why| invalid(why))?;
        let proof = proof
            .to_str()
            .map_err(|_| invalid("the DPoP proof is not visible ASCII"))?;
        if proof.len() > MAX_PROOF_LEN {
            return Err(invalid("the DPoP proof is too long"));
        }
        let mut segments = proof.split('.');
        let (Some(h), Some(p), Some(s), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(invalid("the DPoP proof is not a compact JWS"));
        };

        // Header: typ, alg, jwk; no crit.
        let header = json_object(&decode(h)?, "the DPoP proof header is not valid")?;
        let typ = header.get("typ").and_then(Value::as_str);
        if !typ.is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt")) {
            return Err(invalid("the DPoP proof's typ is not dpop+jwt"));
        }
        if header.contains_key("crit") {
            return Err(invalid("the DPoP proof has critical header parameters"));
        }
        let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("none");
        let alg = proof_algorithm(alg_name, &inner.algorithms)
            .ok_or_else(|| invalid("the DPoP proof's algorithm is not accepted"))?;
        let jwk = header
            .get("jwk")
            .and_then(Value::as_object)
            .ok_or_else(|| invalid("the DPoP proof has no jwk"))?;
        if has_private_members(jwk) {
            return Err(invalid("the DPoP proof's jwk holds private key material"));
        }
        let members =
            required_members(jwk).map_err(|_| invalid("the DPoP proof's jwk is not usable"))?;
        let thumbprint = thumbprint_of(&members);
        if thumbprint != jkt {
            // Thumbprints are public: no secret is compared here.
            return Err(token_error(
                "the DPoP proof is signed with a key other than the token's",
                AUTH_SCHEME,
            ));
        }

        // Claims, before the signature: a wrong proof costs no verification.
        let claims = json_object(&decode(p)?, "the DPoP proof claims are not valid")?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        if text("htm") != Some(facts.method.as_str()) {
            return Err(invalid("the DPoP proof is for another method"));
        }
        let htu = text("htu")
            .and_then(normalize_htu)
            .ok_or_else(|| invalid("the DPoP proof's htu is not an http(s) URI"))?;
        let path = facts
            .path
            .as_deref()
            .ok_or_else(|| invalid("the request path cannot be compared with htu"))?;
        let for_here = inner
            .origins
            .iter()
            .any(|origin| htu.strip_prefix(origin.as_str()) == Some(path));
        if !for_here {
            return Err(invalid("the DPoP proof is for another URI"));
        }
        let now = inner.clock.unix_now();
        #[allow(clippy::cast_precision_loss)]
        let (now_f, window) = (now as f64, inner.window as f64);
        let iat = claims
            .get("iat")
            .and_then(Value::as_f64)
            .ok_or_else(|| invalid("the DPoP proof has no iat"))?;
        if iat > now_f + window {
            return Err(proof_error(
                ErrorKind::NotYetValid,
                "the DPoP proof was issued in the future",
            ));
        }
        if iat < now_f - window {
            return Err(proof_error(ErrorKind::Expired, "the DPoP proof is too old"));
        }
        let ath = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            access_token.as_bytes(),
        ));
        let ath_matches: bool =
            text("ath").is_some_and(|claim| claim.as_bytes().ct_eq(ath.as_bytes()).into());
        if !ath_matches {
            return Err(invalid("the DPoP proof is for another access token"));
        }
        let jti = text("jti")
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_LEN)
            .ok_or_else(|| invalid("the DPoP proof has no usable jti"))?
            .to_owned();

        // The key and the signature.
        let key = inner
            .keys
            .get(&thumbprint, members)
            .map_err(|_| invalid("the DPoP proof's jwk is not usable"))?;
        if !key.fits(alg) {
            return Err(invalid("the DPoP proof's alg does not fit its jwk"));
        }
        let signature = decode(s)?;
        let jws = Jws {
            header: Header {
                alg: Some(alg),
                kid: None,
                typ: typ.map(Cow::Borrowed),
                crit: None,
            },
            alg,
            signing_input: proof
                .as_bytes()
                .get(..h.len() + 1 + p.len())
                .unwrap_or_default(),
            payload: Vec::new(),
            signature: &signature,
        };
        check_signature(&jws, &key).map_err(|_| {
            proof_error(
                ErrorKind::BadSignature,
                "the DPoP proof's signature does not verify",
            )
        })?;

        // A current server nonce, once the proof is known to be genuine.
        if let Some(nonces) = &inner.nonces {
            if !text("nonce").is_some_and(|n| nonces.is_current(n, now)) {
                let fresh = HeaderValue::from_str(&nonces.issue(now)).ok();
                return Err(AuthError::new(ErrorKind::InvalidFormat)
                    .with_description("the resource server requires a current DPoP nonce")
                    .with_challenge_detail(|d| {
                        d.code = Some("use_dpop_nonce");
                        d.auth_scheme = Some(AUTH_SCHEME);
                        d.header = fresh.map(|v| (http::HeaderName::from_static(NONCE_HEADER), v));
                    }));
            }
        }
        // Within the window of a clock past 1970: positive and far below
        // u64::MAX, so the truncation only drops the fraction.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let iat = iat.max(0.0) as u64;
        Ok((
            VerifiedProof {
                jkt: thumbprint,
                htu,
            },
            jti,
            iat,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names() {
        let all = [Algorithm::ES256, Algorithm::EdDSA];
        assert_eq!(proof_algorithm("Ed25519", &all), Some(Algorithm::EdDSA));
        assert_eq!(proof_algorithm("EdDSA", &all), Some(Algorithm::EdDSA));
        assert_eq!(proof_algorithm("ES384", &all), None);
        assert_eq!(proof_algorithm("none", &all), None);
        assert_eq!(proof_algorithm("HS256", &all), None);
        assert_eq!(proof_algorithm_names(&all), ["ES256", "EdDSA", "Ed25519"]);
    }
}
