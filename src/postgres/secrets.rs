//! [`PgSecretStore`]: HMAC shared secrets in PostgreSQL.

use std::fmt;
use std::time::{Duration, SystemTime};

use tokio_postgres::types::Type;
use zeroize::Zeroizing;

use super::database::PgDatabase;
use super::listen::{self, ChangeListener};
use crate::error::StoreError;
use crate::hmac::{HmacKey, SecretRecord, SecretStore};
use crate::principal::Scopes;

/// The most secrets read for one key id: a rotation keeps a handful.
const MAX_SECRETS: i64 = 16;

/// HMAC key ids and their shared secrets in the `authgate_hmac_keys` and
/// `authgate_hmac_secrets` tables of a [`PgDatabase`], for the native
/// `HMAC-SHA256` scheme and RFC 9421.
///
/// HMAC verification needs the secret itself, so the table holds it:
/// grant it to the service's role only. Secrets read are wiped from memory
/// when dropped. Changes are announced like API keys' (see
/// [`on_change`](Self::on_change)).
///
/// # Example
///
/// ```no_run
/// use authgate::hmac::HmacScheme;
/// use authgate::postgres::{PgDatabase, PgSecretStore};
/// use authgate::Scopes;
/// use std::time::{Duration, SystemTime};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = PgDatabase::builder("host=127.0.0.1 user=postgres dbname=app").schema("authgate").build()?;
/// db.migrate().await?;
/// let secrets = PgSecretStore::new(db);
/// secrets.create("partner-1", "acct_42", Scopes::parse("orders:write"), b"s3cr3t").await?;
/// secrets.rotate("partner-1", b"n3w s3cr3t", Duration::from_secs(86_400), SystemTime::now()).await?;
///
/// let scheme = HmacScheme::new(secrets.clone());
/// let _listener = secrets.on_change({
///     let scheme = scheme.clone();
///     move |key_id| {
///         let scheme = scheme.clone();
///         async move { scheme.invalidate(&key_id).await }
///     }
/// });
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PgSecretStore {
    db: PgDatabase,
    find: String,
}

impl PgSecretStore {
    /// A store over the HMAC tables of `db` (see [`PgDatabase::migrate`]).
    #[must_use]
    pub fn new(db: PgDatabase) -> Self {
        let find = format!(
            "SELECT k.owner, k.scopes, k.revoked, s.secret, s.retires_at \
             FROM {keys} k JOIN {secrets} s ON s.key_id = k.key_id \
             WHERE k.key_id = $1 ORDER BY s.retires_at DESC NULLS FIRST LIMIT {MAX_SECRETS}",
            keys = db.table("authgate_hmac_keys"),
            secrets = db.table("authgate_hmac_secrets"),
        );
        Self { db, find }
    }

    /// Creates key id `key_id` for `owner` with one secret.
    ///
    /// # Errors
    ///
    /// When the database cannot be reached, the id exists, or the secret is
    /// empty.
    pub async fn create(
        &self,
        key_id: &str,
        owner: &str,
        scopes: Scopes,
        secret: &[u8],
    ) -> Result<(), StoreError> {
        let client = self.db.client().await?;
        let sql = format!(
            "WITH k AS (INSERT INTO {} (key_id, owner, scopes) VALUES ($1, $2, $3) RETURNING key_id) \
             INSERT INTO {} (key_id, secret) SELECT key_id, $4 FROM k",
            self.db.table("authgate_hmac_keys"),
            self.db.table("authgate_hmac_secrets"),
        );
        let scopes = scopes.to_string();
        client
            .execute(&sql, &[&key_id, &owner, &scopes, &secret])
            .await
            .map_err(StoreError::new)?;
        Ok(())
    }

    /// Adds `secret` to `key_id`; the secrets it had keep verifying until
    /// `now + grace`. Returns whether the key exists and is not revoked.
    ///
    /// # Errors
    ///
    /// When the database cannot be reached.
    pub async fn rotate(
        &self,
        key_id: &str,
        secret: &[u8],
        grace: Duration,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        let client = self.db.client().await?;
        let secrets = self.db.table("authgate_hmac_secrets");
        let sql = format!(
            "WITH k AS (SELECT key_id FROM {keys} WHERE key_id = $1 AND NOT revoked), \
             old AS (UPDATE {secrets} SET retires_at = LEAST(COALESCE(retires_at, $3), $3) \
                     WHERE key_id IN (SELECT key_id FROM k) RETURNING 1) \
             INSERT INTO {secrets} (key_id, secret) SELECT key_id, $2 FROM k",
            keys = self.db.table("authgate_hmac_keys"),
        );
        let deadline = now + grace;
        let inserted = client
            .execute(&sql, &[&key_id, &secret, &deadline])
            .await
            .map_err(StoreError::new)?;
        Ok(inserted == 1)
    }

    /// Revokes `key_id` for good. Returns whether it existed.
    ///
    /// # Errors
    ///
    /// When the database cannot be reached.
    pub async fn revoke(&self, key_id: &str) -> Result<bool, StoreError> {
        let client = self.db.client().await?;
        let sql = format!(
            "UPDATE {} SET revoked = true WHERE key_id = $1",
            self.db.table("authgate_hmac_keys")
        );
        let updated = client
            .execute(&sql, &[&key_id])
            .await
            .map_err(StoreError::new)?;
        Ok(updated == 1)
    }

    /// Calls `hook` with every HMAC key id changed in the database, on this
    /// instance, as soon as the change commits: give it the scheme's
    /// `invalidate`. Keep the returned listener alive.
    #[must_use]
    pub fn on_change<F, Fut>(&self, hook: F) -> ChangeListener
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        listen::spawn(&self.db, self.db.channel("authgate_hmac"), hook)
    }
}

impl SecretStore for PgSecretStore {
    async fn find(&self, key_id: &str) -> Result<Option<SecretRecord>, StoreError> {
        let client = self.db.client().await?;
        let rows = client
            .query_typed(&self.find, &[(&key_id, Type::TEXT)])
            .await
            .map_err(StoreError::new)?;
        let mut record: Option<SecretRecord> = None;
        for row in rows {
            let secret = Zeroizing::new(row.try_get::<_, Vec<u8>>(3).map_err(StoreError::new)?);
            let retires_at: Option<SystemTime> = row.try_get(4).map_err(StoreError::new)?;
            let key = HmacKey::new(&*secret);
            record = Some(match record {
                Some(record) => record.with_key(key, retires_at),
                None => {
                    let owner: String = row.try_get(0).map_err(StoreError::new)?;
                    let scopes: String = row.try_get(1).map_err(StoreError::new)?;
                    let (first, rest) = match retires_at {
                        None => (key, None),
                        // Every secret is on its way out: an empty key
                        // never verifies, so it holds the first place.
                        Some(at) => (HmacKey::new([]), Some((key, at))),
                    };
                    let mut record = SecretRecord::new(key_id, first, owner);
                    record.scopes = Scopes::parse(&scopes);
                    record.revoked = row.try_get(2).map_err(StoreError::new)?;
                    match rest {
                        Some((key, at)) => record.with_key(key, Some(at)),
                        None => record,
                    }
                }
            });
        }
        Ok(record)
    }
}

impl fmt::Debug for PgSecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgSecretStore")
            .field("db", &self.db)
            .finish()
    }
}
