//! Signed requests: HMAC-SHA256 signatures over the request and its body.
//!
//! Where an API key proves possession of a secret by sending it, a signature
//! proves it without sending it, and binds it to one request: change a byte
//! of the body, the path or a signed header and the signature fails. This
//! module verifies the signatures people meet in practice:
//!
//! | scheme | credential | signs | replay defence |
//! |---|---|---|---|
//! | [`HmacScheme`] (native) | `Authorization: HMAC-SHA256 …` | key id, method, path, query as sent, chosen header fields, timestamp, nonce, body | ±window + nonce cache |
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
//!   (e.g. 16 random bytes in hex). A nonce seen again is rejected with 401
//!   `replayed` for as long as its timestamp could be accepted, even across
//!   a server clock stepped backward (a request older than nonces the
//!   server has already forgotten is then refused as `expired`: see
//!   [`ReplayCache::admit_signed`]).
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
//! 2. the `keyId` parameter value (so a request signed for one key id
//!    cannot be re-sent under another that shares the secret)
//! 3. the method, as sent (`GET`, `POST`, …)
//! 4. the path exactly as sent on the request line, percent-encoding
//!    untouched, without the query; `/` if empty
//! 5. the query exactly as sent: everything after the `?` of the request
//!    target, not decoded, not sorted, not split; an empty line if there is
//!    no query. (Parameter order matters to handlers that read the first of
//!    a repeated parameter, so `?to=alice&to=mallory` and
//!    `?to=mallory&to=alice` must not sign alike. Sign the query your HTTP
//!    library actually sends, after any encoding it applies.)
//! 6. one line per signed header *field*: for each name of `headers`, in
//!    that order, each field of that name in the request, in the order
//!    received, as `<name>:<value>`, where `<name>` is the lowercase name
//!    and `<value>` the field's value with leading and trailing spaces and
//!    tabs removed. Fields are never joined: one `x-a: user,admin` field is
//!    the line `x-a:user,admin`, two fields `x-a: user` and `x-a: admin` are
//!    the lines `x-a:user` and `x-a:admin`. A signed header absent from the
//!    request fails verification (over HTTP/2, a signed `host` with no
//!    `Host` field is the `:authority`)
//! 7. the `headers` parameter value (empty line if none)
//! 8. the `ts` parameter value, as sent
//! 9. the `nonce` parameter value
//! 10. the lowercase hex SHA-256 of the exact body bytes (of nothing for an
//!     empty body: `e3b0c442…b855`)
//!
//! For `POST /orders?b=2&a=1` with `Host: api.example.com`, body `hello`,
//! `keyId=partner-1`, `ts=1700000000`, `nonce=n1`, `headers="host"`:
//!
//! ```text
//! HMAC-SHA256
//! partner-1
//! POST
//! /orders
//! b=2&a=1
//! host:api.example.com
//! host
//! 1700000000
//! n1
//! 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
//! ```
//!
//! With the secret `s3cr3t`, the signature is
//! `/QeyhY9X8m0QyYRQrQK6kXRz6nN+OtPtHc2IUhc5xcE=`.
//! [`Signer::string_to_sign`] prints the canonical string of any request, to
//! compare with a client under development. In Python (3.6 or later; this
//! snippet prints the header of the example above, and the test suite runs
//! it against the verifier):
//!
//! ```python
//! import base64, hashlib, hmac
//!
//! def string_to_sign(key_id, method, path, query, fields, signed, ts, nonce, body):
//!     # fields: the request's header fields as (lowercase name, value) pairs, in the
//!     # order sent; signed: the names listed in `headers`; query: as sent, without "?".
//!     lines = ["HMAC-SHA256", key_id, method, path or "/", query]
//!     for name in signed:
//!         values = [value.strip(" \t") for field, value in fields if field == name]
//!         if not values:
//!             raise ValueError("the request has no " + name + " header")
//!         lines += [name + ":" + value for value in values]
//!     lines += [";".join(signed), str(ts), nonce, hashlib.sha256(body).hexdigest()]
//!     return "\n".join(lines)
//!
//! def authorization(secret, key_id, method, path, query, fields, signed, ts, nonce, body):
//!     text = string_to_sign(key_id, method, path, query, fields, signed, ts, nonce, body)
//!     mac = hmac.new(secret, text.encode(), hashlib.sha256).digest()
//!     return 'HMAC-SHA256 keyId="%s", ts="%d", nonce="%s", headers="%s", signature="%s"' % (
//!         key_id, ts, nonce, ";".join(signed), base64.b64encode(mac).decode())
//!
//! print(authorization(b"s3cr3t", "partner-1", "POST", "/orders", "b=2&a=1",
//!                     [("host", "api.example.com")], ["host"], 1700000000, "n1", b"hello"))
//! ```
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
pub(crate) mod params;
mod secrets;
mod sign;
mod store;
pub(crate) mod structured;
pub(crate) mod webhook;

pub use crate::error::StoreError;
pub use crate::replay::ReplayCache;
pub use httpsig::{
    HttpSignError, HttpSignatureScheme, HttpSignatureSchemeBuilder, HttpSigner,
    DEFAULT_REQUIRED_COMPONENTS, HTTPSIG_SCHEME_NAME,
};
pub use native::{HmacScheme, HmacSchemeBuilder, SCHEME_NAME};
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
            let _ = super::params::parse_params(&input);
            let _ = super::params::parse_header_list(&input);
            let _ = super::structured::parse_dictionary(&input);
            let _ = super::webhook::parse_stripe(&input);
            let _ = super::encoding::unhex::<32>(&input);
            let _ = super::encoding::parse_timestamp(&input);
        }
    }
}
