//! Signed requests: HMAC-SHA256 signatures over the request and its body.
//!
//! Where an API key proves possession of a secret by sending it, a signature
//! proves it without sending it, and binds it to one request: change a byte
//! of the body, the path or a signed header and the signature fails. This
//! module verifies the signatures people meet in practice:
//!
//! | scheme | credential | signs | replay defence |
//! |---|---|---|---|
//! | [`HmacScheme`] (native) | `Authorization: HMAC-SHA256 …` | method, path, query, chosen headers, timestamp, nonce, body | ±window + nonce cache |
//! | [`HttpSignatureScheme`] (RFC 9421, `hmac-sha256`) | `Signature-Input` + `Signature` | the covered components, `content-digest` | `created`/`expires` + optional nonce cache |
//! | [`GithubWebhook`] | `X-Hub-Signature-256` | the body | none (GitHub signs no timestamp) |
//! | [`StripeWebhook`] | `Stripe-Signature` | `t.body` | ±tolerance |
//! | [`SlackWebhook`] | `X-Slack-Signature` + timestamp | `v0:ts:body` | ±tolerance |
//!
//! In the flow extract → verify → authorize → respond, these schemes extract
//! their header like any other, then ask the layer for the body
//! ([`Scheme::needs_body`](crate::Scheme::needs_body)): build the layer
//! [`with_request_bodies`](crate::AuthLayerBuilder::with_request_bodies).
//! Bodies are read up to a limit (1 MiB by default, 413 beyond), verified,
//! and handed to your handler byte for byte; requests for other schemes are
//! not buffered. See [`request_body`](crate::request_body).
//!
//! Secrets are [`HmacKey`]s: redacted in `Debug`, wiped on drop, never
//! logged. Signatures are compared in constant time, against every secret
//! still valid (rotation: [`WebhookSecrets::rotate`],
//! [`SecretRecord::rotate`]).
//!
//! # Example: a GitHub webhook endpoint with axum
//!
//! ```
//! use authgate::hmac::{GithubWebhook, WebhookSecrets};
//! use authgate::AuthLayer;
//! use axum::{routing::post, Router};
//!
//! let secrets = WebhookSecrets::single("It's a Secret to Everybody");
//! let app: Router = Router::new()
//!     .route("/webhooks/github", post(|body: String| async move { format!("{} bytes", body.len()) }))
//!     .layer(AuthLayer::builder().scheme(GithubWebhook::new(secrets)).with_request_bodies().build().unwrap());
//! # let _ = app;
//! ```
//!
//! # The native `HMAC-SHA256` scheme
//!
//! Everything a client in any language needs.
//!
//! ## The header
//!
//! ```text
//! Authorization: HMAC-SHA256 keyId="partner-1", ts="1700000000", nonce="4f2a9c0d",
//!                headers="host;content-type", signature="<base64>"
//! ```
//!
//! ```abnf
//! credentials = "HMAC-SHA256" 1*SP param *( OWS "," OWS param )
//! param       = name OWS "=" OWS ( token / DQUOTE *qdchar DQUOTE )
//! name        = "keyId" / "ts" / "nonce" / "headers" / "signature"   ; case-insensitive
//! qdchar      = any visible ASCII or space except DQUOTE and "\"      ; no escapes
//! ```
//!
//! Each parameter appears at most once, in any order; an unknown parameter
//! is an error.
//!
//! - `keyId` (required): 1–128 of `A-Z a-z 0-9 - . _ ~`; selects the secret.
//! - `ts` (required): the signing time, decimal Unix seconds (1–12 digits).
//!   Accepted when `now - window <= ts <= now + window`; the window defaults
//!   to 300 s.
//! - `nonce` (required): 1–128 of `A-Z a-z 0-9 - . _ ~`, unique per key id
//!   (e.g. 16 random bytes in hex). A nonce seen again within the window is
//!   rejected with 401 `replayed`.
//! - `headers` (optional, default empty): the signed header names, lowercase,
//!   separated by `;`, each at most once, never `authorization`, at most 32.
//!   Servers may require some (`host` is a good idea).
//! - `signature` (required): standard base64 with padding (RFC 4648 §4) of
//!   the 32-byte HMAC-SHA256 of the canonical string, keyed with the secret's
//!   raw bytes.
//!
//! ## The canonical string
//!
//! Lines joined by a single `\n` (LF), with **no** trailing newline:
//!
//! 1. `HMAC-SHA256`
//! 2. the method, as sent (`GET`, `POST`, …)
//! 3. the path exactly as sent on the request line, percent-encoding
//!    untouched, without the query; `/` if empty
//! 4. the canonical query: the raw query string (after `?`, as sent, not
//!    decoded) split on `&`, empty pieces dropped, the pieces sorted by
//!    their bytes (ordinal, case-sensitive), joined with `&`; an empty line
//!    if there is no query
//! 5. one line per signed header, in the order of `headers`:
//!    `<name>:<value>` where `<name>` is the lowercase name and `<value>` is
//!    every value of that header in the request, in order, each with
//!    leading and trailing spaces and tabs removed, joined with `,`; a
//!    signed header absent from the request fails verification
//! 6. the `headers` parameter value (empty line if none)
//! 7. the `ts` parameter value, as sent
//! 8. the `nonce` parameter value
//! 9. the lowercase hex SHA-256 of the exact body bytes (of nothing for an
//!    empty body: `e3b0c442…b855`)
//!
//! For `POST /orders?b=2&a=1` with `Host: api.example.com`, body `hello`,
//! `ts=1700000000`, `nonce=n1`, `headers="host"`:
//!
//! ```text
//! HMAC-SHA256
//! POST
//! /orders
//! a=1&b=2
//! host:api.example.com
//! host
//! 1700000000
//! n1
//! 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
//! ```
//!
//! [`Signer::string_to_sign`] prints it for any request, to compare with a
//! client under development. In Python:
//!
//! ```python
//! import base64, hashlib, hmac
//! lines = ["HMAC-SHA256", "POST", "/orders", "&".join(sorted(p for p in "b=2&a=1".split("&") if p)),
//!          "host:api.example.com", "host", "1700000000", "n1", hashlib.sha256(b"hello").hexdigest()]
//! sig = base64.b64encode(hmac.new(secret, "\n".join(lines).encode(), hashlib.sha256).digest()).decode()
//! ```
//!
//! (Python's `sorted` on `str` is ordinal for ASCII, as required.)
//!
//! ## Errors
//!
//! A malformed header or a missing signed header is 401 `invalid_format`; a
//! timestamp outside the window `expired` / `not_yet_valid`; an unknown key
//! id `unknown_key`; a wrong signature `bad_signature`; a secret past its
//! rotation grace `rotated`; a revoked key `revoked`; a reused nonce
//! `replayed`; a body over the limit 413.

pub(crate) mod canonical;
pub(crate) mod encoding;
mod httpsig;
mod native;
mod replay;
mod secrets;
mod sign;
mod store;
pub(crate) mod structured;
pub(crate) mod webhook;

pub use crate::error::StoreError;
pub use httpsig::{
    HttpSignError, HttpSignatureScheme, HttpSignatureSchemeBuilder, HttpSigner,
    DEFAULT_REQUIRED_COMPONENTS, HTTPSIG_SCHEME_NAME,
};
pub use native::{HmacScheme, HmacSchemeBuilder, SCHEME_NAME};
pub use replay::ReplayCache;
pub use secrets::{HmacKey, WebhookSecrets};
pub use sign::{SignError, Signer};
pub use store::{InMemorySecretStore, SecretRecord, SecretStore};
pub use webhook::{GithubWebhook, SlackWebhook, StripeWebhook};

#[cfg(test)]
mod garbage {
    //! Every parser answers `Err`/`None` on hostile input and never panics:
    //! a deterministic stand-in for fuzzing.

    /// Strings built from the characters that matter to the parsers.
    fn inputs() -> impl Iterator<Item = String> {
        const ALPHABET: &[u8] = b"=,;:\"()?* \t-_.~/+0123456789azAZ@\\\xc3\xa9";
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..20_000).map(move |_| {
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let len = usize::try_from(next() % 48).unwrap_or(0);
            let bytes: Vec<u8> = (0..len)
                .map(|_| ALPHABET[usize::try_from(next()).unwrap_or(0) % ALPHABET.len()])
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        })
    }

    #[test]
    fn parsers_never_panic() {
        for input in inputs() {
            let _ = super::canonical::parse_params(&input);
            let _ = super::canonical::parse_header_list(&input);
            let _ = super::structured::parse_dictionary(&input);
            let _ = super::webhook::parse_stripe(&input);
            let _ = super::encoding::unhex::<32>(&input);
            let _ = super::encoding::parse_timestamp(&input);
        }
    }
}
