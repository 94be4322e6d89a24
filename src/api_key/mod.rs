//! API keys: `<prefix>_<id>_<secret>`, stored only as SHA-256 hashes.
//!
//! ```text
//! sk_live_4Fh2kPq9ZrT0wXyB_q8Lm3NvR7tY2pK5sW9dH1jF6gC0bA4eZxQ2l3Jk9P
//! └──┬──┘ └──────┬───────┘ └───────────── secret ──────────────┘└chk┘
//!  prefix        id
//! ```
//!
//! - The **prefix** is the environment. A scheme accepts only the prefixes
//!   it is configured for, so a test key never works against live data.
//! - The **id** selects the [`KeyRecord`] in your [`KeyStore`].
//! - The **secret** is 32 random base62 characters; its last 6 characters
//!   are a CRC-32 checksum of the whole key, so a mistyped key is rejected
//!   before any look-up and secret scanners can recognise a real one.
//!
//! Issue keys with [`ApiKeyGenerator`]: the plaintext is returned once and
//! never stored; the record holds only the SHA-256 of the secret. Rotate
//! with [`InMemoryKeyStore::rotate`] (or the same logic in your store): the
//! old key keeps working until its grace deadline (`retires_at`).
//!
//! # Example
//!
//! ```
//! use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme, InMemoryKeyStore};
//! use authgate::{AuthLayer, Scopes};
//!
//! let store = InMemoryKeyStore::new();
//! let key = ApiKeyGenerator::new("sk_live")?.generate("acct_42", Scopes::parse("orders:read"))?;
//! store.insert(key.record().clone());
//!
//! let layer = AuthLayer::builder()
//!     .scheme(ApiKeyScheme::new(store, "sk_live")?)
//!     .build()?;
//! # let _ = layer;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cached_ids;
mod flight;
pub(crate) mod format;
mod scheme;
mod store;
mod unknown;
mod usage;

pub use crate::error::StoreError;
pub use format::RandomError;
pub use scheme::{ApiKeyScheme, ApiKeySchemeBuilder, SCHEME_NAME};
pub use store::{ApiKeyGenerator, GeneratedKey, InMemoryKeyStore, KeyRecord, KeyStore};
