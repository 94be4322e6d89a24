//! HTTP Basic authentication (RFC 7617) over password hashes, for legacy
//! and internal APIs.
//!
//! [`BasicScheme`] reads `Authorization: Basic …`, looks the user up in a
//! [`PasswordStore`] (your database, an htpasswd file loaded with
//! [`InMemoryPasswordStore::from_htpasswd`], or the
//! [`InMemoryPasswordStore`]) and verifies the password against its hash:
//! Argon2id for new hashes ([`Argon2Hasher`], OWASP's minimum parameters by
//! default), bcrypt for the hashes htpasswd files hold.
//!
//! Password hashing is slow on purpose, so the scheme:
//!
//! - runs it on Tokio's blocking pool, never on an async worker;
//! - runs at most [`max_concurrent_verifications`](BasicSchemeBuilder::max_concurrent_verifications)
//!   at once and answers 503 with `Retry-After` beyond, instead of queueing;
//! - verifies an unknown user against a hash with the algorithm and cost of
//!   the stored ones, so that it costs what a wrong password costs and a
//!   client cannot tell which user-ids exist;
//! - serves a repeated correct login from a bounded, TTL'd cache of
//!   successful verifications, keyed by an HMAC (under a random per-process
//!   key) of user-id and password: a client sending Basic on every request
//!   pays the hash once, then microseconds. Failed attempts never enter it;
//!   [`BasicScheme::invalidate`] drops a user's entries when the record
//!   changes.
//!
//! # TLS only, and prefer API keys
//!
//! Basic sends the password itself, merely base64-encoded, on every
//! request: anyone who can read the traffic has the password. Serve it only
//! over TLS. Even then, an [API key](crate::api_key) is usually the better
//! choice for machine clients: it is random (not a password a person reuses
//! elsewhere), checked with one SHA-256 instead of a deliberately slow hash,
//! scoped and rotated per client, and revoked without anyone choosing a new
//! password. Use Basic where a client can do nothing else: legacy tools,
//! `curl -u`, scrapers, package mirrors, an htpasswd file you inherit.
//!
//! # Example
//!
//! ```
//! use authgate::basic::{BasicScheme, InMemoryPasswordStore};
//! use authgate::AuthLayer;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // An htpasswd file written with `htpasswd -B`.
//! let file = "ci:$2b$04$EGdrhbKUv8Oc9vGiXX0HQOxSg445d458Muh7DAHskb6QbtCvdxcie\n";
//! let store = InMemoryPasswordStore::from_htpasswd(file)?;
//! let auth = AuthLayer::builder()
//!     .scheme(BasicScheme::builder(store).realm("internal").build()?)
//!     .build()?;
//! # let _ = auth;
//! # Ok(())
//! # }
//! ```

mod cache;
mod hash;
mod htpasswd;
mod scheme;
mod store;

pub use crate::error::StoreError;
pub use hash::{
    Argon2Hasher, HashError, PasswordHasher, OWASP_MIN_ITERATIONS, OWASP_MIN_MEMORY_KIB,
};
pub use scheme::{BasicScheme, BasicSchemeBuilder, SCHEME_NAME};
pub use store::{InMemoryPasswordStore, PasswordRecord, PasswordStore};
