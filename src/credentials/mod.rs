//! Extract: find the request's one credential and the scheme that owns it.
//!
//! Each [`Scheme`](crate::Scheme) declares where its credentials live
//! ([`CredentialLocation`]): an `Authorization` scheme name, a header such as
//! `X-Api-Key`, or — only when explicitly enabled — a query parameter. The
//! layer builds a routing table from those declarations once, and for each
//! request looks in exactly those places:
//!
//! - nothing found → 401 with bare challenges;
//! - more than one credential (two `Authorization` headers, a key in a header
//!   *and* a bearer token) → 400 `invalid_request`, never a guess;
//! - a broken `Authorization` header (no token, characters outside token68,
//!   bytes that are not visible ASCII) → 400 `invalid_request`;
//! - exactly one → handed to its scheme, and to no other.

pub(crate) mod extract;
mod location;
mod query;

#[cfg(feature = "hmac")]
pub(crate) use extract::is_tchar;
pub(crate) use extract::Extractor;
pub use location::{AuthorizationSyntax, Credential, CredentialLocation};
