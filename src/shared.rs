//! [`SharedConfig`]: a layer's configuration as its services and granted
//! principals hold it, counted per thread.
//!
//! Every request clones the service it goes through (tower's `oneshot`,
//! axum's routes) and drops the clone, and a granted request carries a
//! reference to its layer in its principal (for authorization layers
//! further in) until the request is dropped. With one `Arc` for the
//! configuration, that is four writes per request to one reference count
//! that every core writes, and its cache line moves between cores on every
//! request: two workers served 1.6–1.9 × what one served where the bare
//! service served 1.98 ×.
//!
//! Here the configuration is owned by [`SHARDS`] handles ("shards"), each
//! in an allocation of its own cache lines, created when a thread first
//! needs one. A service made by the layer (the one a router keeps) holds
//! the table of shards; its clones, and the principals it grants, hold the
//! shard of the thread they were made on, so each core writes its own
//! count. A clone of a clone keeps the first clone's shard, wherever it is
//! made. Ownership is unchanged: the configuration lives while a layer, a
//! service, a clone or a principal holds it, and no thread-local state
//! keeps it alive after that.

use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::layer::Config;

/// Shards per layer: threads beyond this many share them (slot = order of
/// a thread's first use, modulo this).
const SHARDS: usize = 32;

/// The configuration and its shards: what a layer and the services it
/// makes hold.
pub(crate) struct Shards {
    config: Arc<Config>,
    shards: [OnceLock<Arc<Shard>>; SHARDS],
}

/// One owner of the configuration, aligned so that its `Arc`'s counts have
/// a cache line of their own.
#[repr(align(128))]
struct Shard {
    config: Arc<Config>,
}

impl Shards {
    /// The shards of a new layer's configuration.
    pub(crate) fn new(config: Config) -> Arc<Self> {
        Arc::new(Self {
            config: Arc::new(config),
            shards: [const { OnceLock::new() }; SHARDS],
        })
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The shard of the calling thread.
    fn shard(&self) -> Arc<Shard> {
        let made = || {
            Arc::new(Shard {
                config: Arc::clone(&self.config),
            })
        };
        // The slot is below SHARDS, so `get` always finds it.
        match self.shards.get(thread_slot()) {
            Some(slot) => Arc::clone(slot.get_or_init(made)),
            None => made(),
        }
    }
}

/// The calling thread's shard index, fixed on its first call.
fn thread_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    // During thread teardown, when the slot is gone: the first shard.
    SLOT.try_with(|slot| *slot).unwrap_or(0)
}

/// A layer's configuration as a service or a principal holds it.
///
/// Cloning one held by a service the layer made takes the calling thread's
/// shard; cloning any other takes the same shard again.
pub(crate) struct SharedConfig(Holder);

enum Holder {
    /// A service made by the layer: the table, never cloned per request.
    Layer(Arc<Shards>),
    /// A clone, or a principal's reference: one shard.
    Shard(Arc<Shard>),
}

impl SharedConfig {
    /// What a service the layer makes holds.
    pub(crate) fn of_layer(shards: &Arc<Shards>) -> Self {
        Self(Holder::Layer(Arc::clone(shards)))
    }
}

impl Clone for SharedConfig {
    fn clone(&self) -> Self {
        match &self.0 {
            Holder::Layer(shards) => Self(Holder::Shard(shards.shard())),
            Holder::Shard(shard) => Self(Holder::Shard(Arc::clone(shard))),
        }
    }
}

impl Deref for SharedConfig {
    type Target = Config;

    fn deref(&self) -> &Config {
        match &self.0 {
            Holder::Layer(shards) => &shards.config,
            Holder::Shard(shard) => &shard.config,
        }
    }
}

impl fmt::Debug for SharedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Config::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unwrap_used)]
    fn shards_are_per_thread_and_own_the_configuration() {
        let store = crate::api_key::InMemoryKeyStore::new();
        let layer = crate::AuthLayer::builder()
            .scheme(crate::api_key::ApiKeyScheme::new(store, "sk_live").unwrap())
            .build()
            .unwrap();
        let shards = layer.shards();
        let service = SharedConfig::of_layer(&shards);
        let here = service.clone();
        let again = service.clone();
        let shard = |held: &SharedConfig| match &held.0 {
            Holder::Shard(shard) => Arc::clone(shard),
            Holder::Layer(_) => panic!("clones of a layer's service hold a shard"),
        };
        // Two clones on one thread share its shard, with the layer's
        // configuration behind it.
        assert!(Arc::ptr_eq(&shard(&here), &shard(&again)));
        assert!(std::ptr::eq(&*here, shards.config()));
        // A clone made on another thread holds that thread's shard; a clone
        // of that clone, the same one.
        let there = std::thread::spawn({
            let service = SharedConfig::of_layer(&shards);
            move || service.clone()
        })
        .join()
        .unwrap();
        // Threads share a shard only when their slots (order of first use,
        // modulo SHARDS) coincide, which other tests' threads can arrange.
        let (slot_there, other) = std::thread::spawn({
            let service = SharedConfig::of_layer(&shards);
            move || (thread_slot(), service.clone())
        })
        .join()
        .unwrap();
        assert_eq!(
            thread_slot() == slot_there,
            Arc::ptr_eq(&shard(&here), &shard(&other))
        );
        drop(other);
        assert!(Arc::ptr_eq(&shard(&there), &shard(&there.clone())));
        // Ownership: the configuration outlives the layer and its service
        // while a clone holds it, and no longer.
        let weak = Arc::downgrade(&shards.config);
        drop((layer, shards, service, here, again));
        assert!(weak.upgrade().is_some(), "held by the other thread's clone");
        drop(there);
        assert!(weak.upgrade().is_none(), "nothing holds it");
    }
}
