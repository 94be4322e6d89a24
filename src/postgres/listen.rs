//! [`ChangeListener`]: `LISTEN` on a change channel, calling a hook with
//! every changed id.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

use super::database::PgDatabase;

/// Changed ids waiting for the hook; beyond this a burst is dropped with a
/// warning (the scheme's cache TTL still bounds staleness).
const QUEUE: usize = 1024;
/// Wait between reconnection attempts.
const RECONNECT_EVERY: Duration = Duration::from_secs(1);

/// A background task listening for changes to one table, made by
/// [`PgKeyStore::invalidate_on_change`](super::PgKeyStore::invalidate_on_change)
/// and its HMAC counterpart. Listening stops when it is dropped.
///
/// ```no_run
/// # use authgate::postgres::{PgDatabase, PgKeyStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let store = PgKeyStore::new(PgDatabase::builder("host=127.0.0.1 user=postgres dbname=app").build()?);
/// let listener = store.on_change(|id| async move { println!("key {id} changed") });
/// listener.listening().await; // LISTEN is in place
/// # Ok(())
/// # }
/// ```
pub struct ChangeListener {
    task: JoinHandle<()>,
    listening: watch::Receiver<bool>,
    channel: String,
}

impl ChangeListener {
    /// Waits until `LISTEN` is in place (again, after a reconnection):
    /// changes committed from then on reach the hook.
    pub async fn listening(&self) {
        let mut state = self.listening.clone();
        // An error means the task ended: nothing more to wait for.
        let _ = state.wait_for(|listening| *listening).await;
    }

    /// Whether `LISTEN` is in place right now.
    #[must_use]
    pub fn is_listening(&self) -> bool {
        *self.listening.borrow()
    }
}

impl Drop for ChangeListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for ChangeListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangeListener")
            .field("channel", &self.channel)
            .field("listening", &self.is_listening())
            .finish()
    }
}

pub(crate) fn spawn<F, Fut>(db: &PgDatabase, channel: String, hook: F) -> ChangeListener
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (state, listening) = watch::channel(false);
    let config = db.config().clone();
    let name = channel.clone();
    let task = tokio::spawn(async move {
        loop {
            if let Err(error) = listen_once(&config, &name, &hook, &state).await {
                tracing::warn!(target: "authgate", channel = %name, error = %error, "PostgreSQL change listener disconnected; reconnecting");
            }
            state.send_replace(false);
            tokio::time::sleep(RECONNECT_EVERY).await;
        }
    });
    ChangeListener {
        task,
        listening,
        channel,
    }
}

/// One connection's worth of listening: returns when it is lost.
async fn listen_once<F, Fut>(
    config: &tokio_postgres::Config,
    channel: &str,
    hook: &F,
    state: &watch::Sender<bool>,
) -> Result<(), tokio_postgres::Error>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let (client, mut connection) = config.connect(NoTls).await?;
    let (changed, mut changes) = mpsc::channel::<String>(QUEUE);
    let name = channel.to_owned();
    // The connection delivers notifications only while it is polled.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(notification))) => {
                    if changed.try_send(notification.payload().to_owned()).is_err() {
                        tracing::warn!(target: "authgate", channel = %name, "change notifications arrive faster than they are handled; one dropped");
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            }
        }
    });
    // The channel name is built from a validated schema name.
    client
        .batch_execute(&format!("LISTEN \"{channel}\""))
        .await?;
    state.send_replace(true);
    while let Some(id) = changes.recv().await {
        hook(id).await;
    }
    drop(client);
    match driver.await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}
