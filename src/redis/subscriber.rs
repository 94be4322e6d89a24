//! A pub/sub subscription that outlives Redis restarts: the background
//! task behind the revocation mirror and the invalidation broadcast.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::connection::{CommandError, RedisConnection};
use crate::error::ConfigError;

/// What a subscription hands its listener.
pub(crate) trait Listener: Send + Sync + 'static {
    /// Subscribed (again): messages sent while it was not were lost, so
    /// the listener catches up here.
    fn connected(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;

    /// One message on the channel.
    fn message<'a>(&'a self, payload: &'a [u8]) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

/// The running subscription: stops when dropped.
#[derive(Debug)]
pub(crate) struct Subscription {
    task: JoinHandle<()>,
    /// How many times it subscribed: 0 before the first time.
    subscribed: watch::Receiver<u64>,
}

impl Subscription {
    /// Subscribes `listener` to `channel` in a task of the current Tokio
    /// runtime; `what` names the caller in the error when there is none.
    pub(crate) fn spawn(
        redis: RedisConnection,
        channel: String,
        listener: Arc<dyn Listener>,
        what: &'static str,
    ) -> Result<Self, ConfigError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| ConfigError::InvalidSetting {
                setting: what,
                why: "subscribes in a task of the current Tokio runtime: create it inside one (in `#[tokio::main]`, or within `Runtime::enter`)",
            })?;
        let (tx, subscribed) = watch::channel(0);
        let task = runtime.spawn(run(redis, channel, listener, tx));
        Ok(Self { task, subscribed })
    }

    /// Waits until subscribed, for at most `limit`: `false` when it did
    /// not happen in time.
    pub(crate) async fn ready(&self, limit: Duration) -> bool {
        let mut subscribed = self.subscribed.clone();
        tokio::time::timeout(limit, subscribed.wait_for(|n| *n > 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    redis: RedisConnection,
    channel: String,
    listener: Arc<dyn Listener>,
    subscribed: watch::Sender<u64>,
) {
    let mut pause = Duration::from_millis(50);
    loop {
        match connect(&redis, &channel).await {
            Ok(mut pubsub) => {
                redis.recovered();
                pause = Duration::from_millis(50);
                listener.connected().await;
                subscribed.send_modify(|n| *n += 1);
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    listener.message(message.get_payload_bytes()).await;
                }
            }
            Err(e) => redis.failed(&e),
        }
        // Lost or never made: try again soon, backing off to a second.
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

async fn connect(
    redis: &RedisConnection,
    channel: &str,
) -> Result<::redis::aio::PubSub, CommandError> {
    let limit = redis.timeout();
    let attempt = async {
        let mut pubsub = redis.client().get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok::<_, ::redis::RedisError>(pubsub)
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(pubsub)) => Ok(pubsub),
        Ok(Err(e)) => Err(CommandError::Redis(e)),
        Err(_) => Err(CommandError::Timeout(limit)),
    }
}
