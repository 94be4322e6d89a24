//! [`PgDatabase`]: the connection settings, the schema, and one lazily
//! (re)connected client shared by the stores.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};

use crate::error::{ConfigError, StoreError};

/// The migration, with `{schema}` standing for the schema name.
const MIGRATION: &str = include_str!("migration.sql");

/// After a failed connection attempt, requests fail at once for this long
/// instead of each trying again.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(500);

/// A PostgreSQL database holding authgate's tables: the connection
/// settings, the schema, and one client shared by every store and clone.
///
/// The client connects on first use and again after the connection is
/// lost, so a database restart needs no service restart; while it cannot
/// connect, look-ups fail and the layer answers 503 (never 401). Queries
/// from many requests share the one connection (tokio-postgres pipelines
/// them). Connections are plain TCP ([`NoTls`]): meant for a database on
/// loopback or a private network; the settings' password is never printed.
///
/// # Example
///
/// ```no_run
/// use authgate::postgres::{PgDatabase, PgKeyStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let db = PgDatabase::builder("host=127.0.0.1 user=postgres dbname=app")
///     .schema("authgate")
///     .build()?;
/// db.migrate().await?;
/// let keys = PgKeyStore::new(db.clone());
/// # let _ = keys;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PgDatabase {
    inner: Arc<Inner>,
}

struct Inner {
    config: tokio_postgres::Config,
    schema: String,
    client: Mutex<Option<Arc<Client>>>,
    /// Nanoseconds since `epoch` before which no new connection is tried.
    retry_at: AtomicU64,
    epoch: Instant,
}

impl PgDatabase {
    /// Starts configuring a database from libpq-style settings
    /// (`host=… user=… dbname=…`) or a `postgresql://` URL.
    ///
    /// ```
    /// let builder = authgate::postgres::PgDatabase::builder("postgresql://postgres@127.0.0.1/test");
    /// # let _ = builder;
    /// ```
    pub fn builder(settings: &str) -> PgDatabaseBuilder {
        PgDatabaseBuilder {
            settings: settings.parse().map_err(|_| ()),
            schema: String::from("public"),
            connect_timeout: Duration::from_secs(2),
        }
    }

    /// The schema the tables live in.
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// Creates the schema, tables, indexes and change triggers when they
    /// are missing (`migration.sql` in this crate's sources, for your own
    /// migration tool). Safe to run from several instances at once.
    ///
    /// # Errors
    ///
    /// When the database cannot be reached or refuses the statements.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "BEGIN; SELECT pg_advisory_xact_lock(hashtext('authgate_migrate_{schema}')); {body} COMMIT;",
            schema = self.inner.schema,
            body = MIGRATION.replace("{schema}", &self.inner.schema),
        );
        let result = client.batch_execute(&sql).await;
        if result.is_err() {
            // The connection may be left inside the failed transaction.
            let _ = client.batch_execute("ROLLBACK").await;
        }
        result.map_err(StoreError::new)
    }

    /// The channel name a table's changes are announced on.
    pub(crate) fn channel(&self, family: &str) -> String {
        format!("{family}_{}", self.inner.schema)
    }

    /// `"schema".table`, for statements.
    pub(crate) fn table(&self, table: &str) -> String {
        format!("\"{}\".{table}", self.inner.schema)
    }

    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.inner.config
    }

    fn now_nanos(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// The shared client, connecting when there is none or it was lost.
    pub(crate) async fn client(&self) -> Result<Arc<Client>, StoreError> {
        let mut slot = self.inner.client.lock().await;
        if let Some(client) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(client));
        }
        if self.now_nanos() < self.inner.retry_at.load(Ordering::Acquire) {
            return Err(StoreError::new(
                "PostgreSQL is unreachable (retrying shortly)",
            ));
        }
        match self.inner.config.connect(NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::warn!(target: "authgate", error = %error, "PostgreSQL connection lost");
                    }
                });
                let client = Arc::new(client);
                *slot = Some(Arc::clone(&client));
                Ok(client)
            }
            Err(error) => {
                *slot = None;
                let backoff = u64::try_from(RECONNECT_BACKOFF.as_nanos()).unwrap_or(u64::MAX);
                self.inner
                    .retry_at
                    .store(self.now_nanos().saturating_add(backoff), Ordering::Release);
                Err(StoreError::new(error))
            }
        }
    }
}

impl fmt::Debug for PgDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password: hosts, database and schema only.
        f.debug_struct("PgDatabase")
            .field("hosts", &self.inner.config.get_hosts())
            .field("dbname", &self.inner.config.get_dbname())
            .field("schema", &self.inner.schema)
            .finish_non_exhaustive()
    }
}

/// Configures a [`PgDatabase`].
///
/// ```
/// use authgate::postgres::PgDatabase;
/// use std::time::Duration;
///
/// let db = PgDatabase::builder("host=127.0.0.1 user=postgres dbname=test")
///     .schema("authgate")
///     .connect_timeout(Duration::from_secs(1))
///     .build()
///     .unwrap();
/// assert_eq!(db.schema(), "authgate");
/// ```
#[must_use]
pub struct PgDatabaseBuilder {
    settings: Result<tokio_postgres::Config, ()>,
    schema: String,
    connect_timeout: Duration,
}

impl PgDatabaseBuilder {
    /// The schema holding authgate's tables: lowercase letters, digits and
    /// `_`, starting with a letter or `_`, at most 40 characters. Defaults
    /// to `public`.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// How long a connection attempt may take. Defaults to 2 seconds.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Checks the settings. Connects lazily, on first use, inside the
    /// Tokio runtime that uses it.
    ///
    /// # Errors
    ///
    /// When the settings do not parse or the schema name is not allowed.
    pub fn build(self) -> Result<PgDatabase, ConfigError> {
        let Ok(mut config) = self.settings else {
            // The settings may hold a password: not echoed.
            return Err(ConfigError::InvalidSetting {
                setting: "postgres settings",
                why: "not libpq key=value settings or a postgresql:// URL",
            });
        };
        let valid = !self.schema.is_empty()
            && self.schema.len() <= 40
            && self
                .schema
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !self.schema.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            return Err(ConfigError::InvalidName {
                name: self.schema,
                why: "a schema name is 1 to 40 lowercase letters, digits or '_', not starting with a digit",
            });
        }
        config.connect_timeout(self.connect_timeout);
        Ok(PgDatabase {
            inner: Arc::new(Inner {
                config,
                schema: self.schema,
                client: Mutex::new(None),
                retry_at: AtomicU64::new(0),
                epoch: Instant::now(),
            }),
        })
    }
}

impl fmt::Debug for PgDatabaseBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgDatabaseBuilder")
            .field("schema", &self.schema)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}
