//! [`PgKeyStore`]: API-key records in PostgreSQL.

use std::fmt;
use std::time::{Duration, SystemTime};

use tokio_postgres::types::Type;
use tokio_postgres::Row;

use super::database::PgDatabase;
use super::listen::{self, ChangeListener};
use crate::api_key::{ApiKeyGenerator, ApiKeyScheme, GeneratedKey, KeyRecord, KeyStore};
use crate::error::StoreError;
use crate::principal::Scopes;

/// API-key records in the `authgate_api_keys` table of a [`PgDatabase`]:
/// the id, environment prefix, SHA-256 of the secret, owner, scopes,
/// created, expires, revoked, retires_at, last_used_at and plan. Plaintext keys
/// are never stored.
///
/// Issue, rotate and revoke through it (or with SQL: a trigger announces
/// every change); [`invalidate_on_change`](Self::invalidate_on_change)
/// makes every instance drop its cached copy of a changed key within
/// milliseconds, over PostgreSQL's own `LISTEN`/`NOTIFY`. Clones share the
/// connection.
///
/// # Example
///
/// ```no_run
/// use authgate::api_key::{ApiKeyGenerator, ApiKeyScheme};
/// use authgate::postgres::{PgDatabase, PgKeyStore};
/// use authgate::{AuthLayer, Scopes};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = PgDatabase::builder("host=127.0.0.1 user=postgres dbname=app").schema("authgate").build()?;
/// db.migrate().await?;
/// let store = PgKeyStore::new(db);
///
/// let key = store.issue(&ApiKeyGenerator::new("sk_live")?, "acct_42", Scopes::parse("orders:read"), None).await?;
/// // hand key.plaintext() to the customer, once
///
/// let scheme = ApiKeyScheme::builder(store.clone()).prefix("sk_live").track_usage().build()?;
/// let _listener = store.invalidate_on_change(&scheme); // keep it alive
/// let auth = AuthLayer::builder().scheme(scheme).build()?;
/// # let _ = (key, auth);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PgKeyStore {
    db: PgDatabase,
    find: String,
}

impl PgKeyStore {
    /// A store over the `authgate_api_keys` table of `db`
    /// (see [`PgDatabase::migrate`]).
    #[must_use]
    pub fn new(db: PgDatabase) -> Self {
        let find = format!(
            "SELECT prefix, secret_sha256, owner, scopes, created_at, expires_at, revoked, retires_at, plan \
             FROM {} WHERE id = $1",
            db.table("authgate_api_keys")
        );
        Self { db, find }
    }

    /// The database.
    #[must_use]
    pub fn database(&self) -> &PgDatabase {
        &self.db
    }

    /// Stores a record (a new key, or one imported from elsewhere).
    ///
    /// # Errors
    ///
    /// When the database cannot be reached or the id exists already.
    pub async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let client = self.db.client().await?;
        let sql = format!(
            "INSERT INTO {} (id, prefix, secret_sha256, owner, scopes, created_at, expires_at, revoked, retires_at, plan) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            self.db.table("authgate_api_keys")
        );
        let scopes = record.scopes.to_string();
        client
            .execute(
                &sql,
                &[
                    &record.id,
                    &record.prefix,
                    &&record.secret_hash[..],
                    &record.subject,
                    &scopes,
                    &record.created_at,
                    &record.expires_at,
                    &record.revoked,
                    &record.retires_at,
                    &record.plan,
                ],
            )
            .await
            .map_err(StoreError::new)?;
        Ok(())
    }

    /// Issues a new key for `subject` with `scopes`, stores its record, and
    /// returns the plaintext (to hand out once) with the record.
    ///
    /// # Errors
    ///
    /// When the random generator fails or the database cannot be reached.
    pub async fn issue(
        &self,
        generator: &ApiKeyGenerator,
        subject: &str,
        scopes: Scopes,
        expires_at: Option<SystemTime>,
    ) -> Result<GeneratedKey, StoreError> {
        let (plaintext, mut record) = generator
            .generate(subject, scopes)
            .map_err(StoreError::new)?
            .into_parts();
        record.expires_at = expires_at;
        self.insert(&record).await?;
        Ok(GeneratedKey::from_parts(plaintext, record))
    }

    /// Issues a replacement for key `id` (same prefix, owner, scopes and
    /// expiry); the old key keeps working until `now + grace`, then stops.
    /// Returns `Ok(None)` when there is no such key, it is revoked, or it
    /// changed while rotating.
    ///
    /// # Errors
    ///
    /// When the random generator fails or the database cannot be reached.
    pub async fn rotate(
        &self,
        id: &str,
        grace: Duration,
        now: SystemTime,
    ) -> Result<Option<GeneratedKey>, StoreError> {
        let Some(old) = self.find(id).await?.filter(|r| !r.revoked) else {
            return Ok(None);
        };
        let generator = ApiKeyGenerator::new(&old.prefix).map_err(StoreError::new)?;
        let (plaintext, mut fresh) = generator
            .generate(old.subject.clone(), old.scopes.clone())
            .map_err(StoreError::new)?
            .into_parts();
        fresh.created_at = now;
        fresh.expires_at = old.expires_at;
        fresh.plan.clone_from(&old.plan);
        let table = self.db.table("authgate_api_keys");
        // One statement: the old key gets its deadline exactly when the new
        // one exists, and only if nothing about it changed meanwhile.
        let sql = format!(
            "WITH old AS ( \
                UPDATE {table} SET retires_at = LEAST(COALESCE(retires_at, $2), $2) \
                WHERE id = $1 AND NOT revoked AND owner = $3 AND scopes = $4 AND prefix = $5 \
                RETURNING id) \
             INSERT INTO {table} (id, prefix, secret_sha256, owner, scopes, created_at, expires_at, plan) \
             SELECT $6, $5, $7, $3, $4, $8, $9, $10 FROM old"
        );
        let scopes = fresh.scopes.to_string();
        let deadline = now + grace;
        let client = self.db.client().await?;
        let inserted = client
            .execute(
                &sql,
                &[
                    &id,
                    &deadline,
                    &fresh.subject,
                    &scopes,
                    &fresh.prefix,
                    &fresh.id,
                    &&fresh.secret_hash[..],
                    &fresh.created_at,
                    &fresh.expires_at,
                    &fresh.plan,
                ],
            )
            .await
            .map_err(StoreError::new)?;
        Ok((inserted == 1).then(|| GeneratedKey::from_parts(plaintext, fresh)))
    }

    /// Moves key `id` to `plan` (`None`: the default quota). Returns whether
    /// it existed. Like a revocation, the change reaches every instance
    /// listening with [`invalidate_on_change`](Self::invalidate_on_change)
    /// when it commits.
    ///
    /// # Errors
    ///
    /// When the database cannot be reached.
    pub async fn set_plan(&self, id: &str, plan: Option<&str>) -> Result<bool, StoreError> {
        let client = self.db.client().await?;
        let sql = format!(
            "UPDATE {} SET plan = $2 WHERE id = $1",
            self.db.table("authgate_api_keys")
        );
        let changed = client
            .execute(&sql, &[&id, &plan])
            .await
            .map_err(StoreError::new)?;
        Ok(changed == 1)
    }

    /// Revokes key `id` for good. Returns whether it existed. Every
    /// instance listening with
    /// [`invalidate_on_change`](Self::invalidate_on_change) drops its
    /// cached copy when the change commits.
    ///
    /// # Errors
    ///
    /// When the database cannot be reached.
    pub async fn revoke(&self, id: &str) -> Result<bool, StoreError> {
        let client = self.db.client().await?;
        let sql = format!(
            "UPDATE {} SET revoked = true WHERE id = $1",
            self.db.table("authgate_api_keys")
        );
        let updated = client
            .execute(&sql, &[&id])
            .await
            .map_err(StoreError::new)?;
        Ok(updated == 1)
    }

    /// The key's last-used time, as recorded by a scheme built with
    /// [`track_usage`](crate::api_key::ApiKeySchemeBuilder::track_usage).
    ///
    /// # Errors
    ///
    /// When the database cannot be reached.
    pub async fn last_used(&self, id: &str) -> Result<Option<SystemTime>, StoreError> {
        let client = self.db.client().await?;
        let sql = format!(
            "SELECT last_used_at FROM {} WHERE id = $1",
            self.db.table("authgate_api_keys")
        );
        let row = client
            .query_opt(&sql, &[&id])
            .await
            .map_err(StoreError::new)?;
        row.map(|r| r.try_get::<_, Option<SystemTime>>(0))
            .transpose()
            .map(Option::flatten)
            .map_err(StoreError::new)
    }

    /// Drops `scheme`'s cached copy of every key changed in the database,
    /// on this instance, as soon as the change commits (`LISTEN` on the
    /// table's channel, over a connection of its own that reconnects by
    /// itself). Keep the returned listener alive; dropping it stops
    /// listening. While it is disconnected, changes are seen when the
    /// scheme's cache entry expires ([`cache_ttl`](crate::api_key::ApiKeySchemeBuilder::cache_ttl)).
    #[must_use]
    pub fn invalidate_on_change<S: KeyStore>(&self, scheme: &ApiKeyScheme<S>) -> ChangeListener {
        let scheme = scheme.clone();
        self.on_change(move |id| {
            let scheme = scheme.clone();
            async move { scheme.invalidate(&id).await }
        })
    }

    /// Calls `hook` with the id of every key changed in the database (an
    /// invalidation broadcast of your own, a metric). See
    /// [`invalidate_on_change`](Self::invalidate_on_change).
    #[must_use]
    pub fn on_change<F, Fut>(&self, hook: F) -> ChangeListener
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        listen::spawn(&self.db, self.db.channel("authgate_keys"), hook)
    }
}

/// The record in `row` (columns as in `find`).
fn record(id: &str, row: &Row) -> Result<KeyRecord, StoreError> {
    let hash: Vec<u8> = row.try_get(1).map_err(StoreError::new)?;
    let secret_hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| StoreError::new("secret_sha256 is not 32 bytes"))?;
    let prefix: String = row.try_get(0).map_err(StoreError::new)?;
    let owner: String = row.try_get(2).map_err(StoreError::new)?;
    let scopes: String = row.try_get(3).map_err(StoreError::new)?;
    let mut record = KeyRecord::new(prefix, id, secret_hash, owner);
    record.scopes = Scopes::parse(&scopes);
    record.created_at = row.try_get(4).map_err(StoreError::new)?;
    record.expires_at = row.try_get(5).map_err(StoreError::new)?;
    record.revoked = row.try_get(6).map_err(StoreError::new)?;
    record.retires_at = row.try_get(7).map_err(StoreError::new)?;
    record.plan = row.try_get(8).map_err(StoreError::new)?;
    Ok(record)
}

impl KeyStore for PgKeyStore {
    async fn find(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let client = self.db.client().await?;
        // Typed parameters: one round trip, no statement to prepare.
        let row = client
            .query_typed_opt(&self.find, &[(&id, Type::TEXT)])
            .await
            .map_err(StoreError::new)?;
        row.map(|row| record(id, &row)).transpose()
    }

    async fn record_use(&self, id: &str, at: SystemTime) -> Result<(), StoreError> {
        let client = self.db.client().await?;
        let sql = format!(
            "UPDATE {} SET last_used_at = GREATEST(COALESCE(last_used_at, $2), $2) WHERE id = $1",
            self.db.table("authgate_api_keys")
        );
        client
            .execute(&sql, &[&id, &at])
            .await
            .map_err(StoreError::new)?;
        Ok(())
    }
}

impl fmt::Debug for PgKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgKeyStore").field("db", &self.db).finish()
    }
}
