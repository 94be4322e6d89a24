//! API keys and HMAC secrets in PostgreSQL (feature `postgres`): the
//! database the service already runs.
//!
//! - [`PgDatabase`]: connection settings (libpq style or URL; the password
//!   never printed), the schema, one lazily (re)connected client, and
//!   [`migrate`](PgDatabase::migrate) — the schema as SQL, also in
//!   `src/postgres/migration.sql` for your own migration tool.
//! - [`PgKeyStore`]: a [`KeyStore`](crate::api_key::KeyStore) over
//!   `authgate_api_keys` (id, environment prefix, SHA-256 of the secret,
//!   owner, scopes, created, expires, revoked, retires_at, last_used_at),
//!   with issue, rotate and revoke, and last-used times
//!   ([`track_usage`](crate::api_key::ApiKeySchemeBuilder::track_usage)).
//! - `PgSecretStore` (with `hmac`): a
//!   [`SecretStore`](crate::hmac::SecretStore) over `authgate_hmac_keys` and
//!   `authgate_hmac_secrets`.
//!
//! **Revocation reaches every instance at once.** A trigger announces each
//! change on a `NOTIFY` channel when it commits — whoever made it: this
//! crate, a migration, an operator in `psql`. Each instance listens
//! ([`PgKeyStore::invalidate_on_change`]) and drops its cached copy; a
//! revoked key is refused everywhere within milliseconds (the tests hold
//! it under a second). Without the listener, changes are seen when the
//! scheme's cache entry expires.
//!
//! **Outages.** A database that is down, unreachable or slower than the
//! scheme's `store_timeout` makes the layer answer 503 with `Retry-After`,
//! never 401; the client reconnects by itself.
//!
//! # Example
//!
//! ```no_run
//! use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme};
//! use authgate::postgres::{PgDatabase, PgKeyStore};
//! use authgate::{AuthLayer, Scopes};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = PgDatabase::builder("host=127.0.0.1 user=postgres dbname=app").schema("authgate").build()?;
//! db.migrate().await?;
//! let store = PgKeyStore::new(db);
//! let scheme = ApiKeyScheme::builder(store.clone()).prefix("sk_live").track_usage().build()?;
//! let listener = store.invalidate_on_change(&scheme);
//! let auth = AuthLayer::builder().scheme(scheme).build()?;
//!
//! // Later, on any instance (or in psql: UPDATE authgate.authgate_api_keys SET revoked = true ...):
//! let key = store.issue(&ApiKeyGenerator::new("sk_live")?, "acct_42", Scopes::empty(), None).await?;
//! store.revoke(&key.record().id).await?;
//! # let _ = (listener, auth);
//! # Ok(())
//! # }
//! ```

mod database;
mod keys;
mod listen;
#[cfg(feature = "hmac")]
mod secrets;

pub use database::{PgDatabase, PgDatabaseBuilder};
pub use keys::PgKeyStore;
pub use listen::ChangeListener;
#[cfg(feature = "hmac")]
pub use secrets::PgSecretStore;
