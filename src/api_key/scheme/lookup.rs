//! The store path of [`ApiKeyScheme`](super::ApiKeyScheme): what a key
//! whose id no cache decided goes through. One read of the store for all
//! the concurrent misses of an id (single flight), never an answer read
//! before the id's last invalidation, and the answer kept where the fast
//! path looks: a found record in the shared cache, an unknown id in the
//! table of unknown ids.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use super::{CachedKey, Inner, Lookup, Outcome, SCHEME_NAME};
use crate::api_key::flight::{Claim, Flight};
use crate::api_key::format::ID_LEN;
use crate::api_key::store::{KeyRecord, KeyStore};
use crate::error::{AuthError, ErrorKind, StoreError};
use crate::principal::Principal;
use crate::scheme::poll_once;
use crate::telemetry::Failure;

impl<S: KeyStore> Inner<S> {
    /// The decision for a key whose id the caches did not know: `prefix`
    /// is the index of its configured prefix, `id` its id (checked ASCII),
    /// `stripe` the id's keyed hash.
    pub(super) async fn check(
        self: Arc<Self>,
        prefix: usize,
        id: [u8; ID_LEN],
        stripe: u64,
        presented_hash: [u8; 32],
        missed: Missed,
    ) -> Result<Principal, AuthError> {
        let id_bytes = id;
        let (Some(prefix), Ok(id)) = (self.prefixes.get(prefix), std::str::from_utf8(&id)) else {
            // Never: both were checked before the key got here.
            return Err(AuthError::new(ErrorKind::InvalidFormat));
        };
        let lookup = self
            .lookup(id, stripe, missed)
            .await
            .map_err(|e| AuthError::unavailable(LookupError::Shared(e)).with_credential_id(id))?;
        self.metrics.0.entries(self.cache.entry_count());
        let found = lookup.found.as_ref().map(|c| (&c.record, &c.principal));
        self.judge(found, prefix, &id_bytes, &presented_hash, self.clock.now())
    }

    /// What the store says of `id` (with the keyed hash `stripe`), read
    /// once for all concurrent misses, and never an answer read before the
    /// last invalidation of the id's stripe: such an answer is read again.
    /// If invalidations keep racing, the third read answers on its own; a
    /// request can therefore wait for up to three store reads.
    ///
    /// A found record is kept in the shared cache; an unknown id in the
    /// table of unknown ids, with no shared-cache insert.
    async fn lookup(&self, id: &str, stripe: u64, missed: Missed) -> Outcome {
        for _ in 0..2 {
            let outcome = match self.flights.claim(id, stripe) {
                Claim::Leader(leader) => {
                    let outcome = match self.kept(id, stripe, missed) {
                        Some(kept) => Ok(kept),
                        None => self.read(id, stripe).await,
                    };
                    leader.finish(outcome.clone());
                    outcome
                }
                Claim::Follower(flight) => match self.follow(&flight).await {
                    Followed::Answer(outcome) => outcome,
                    // The leader's request went away: claim again.
                    Followed::Abandoned => continue,
                    // The leader is not being polled (its response future is
                    // held, not awaited) or its read outlived the timeout:
                    // read alone rather than wait on it.
                    Followed::TimedOut => return self.read_alone(id, stripe).await,
                },
                Claim::Alone => return self.read_alone(id, stripe).await,
            };
            match outcome {
                Ok(lookup) if lookup.generation != self.generations.current(stripe) => {}
                outcome => return outcome,
            }
        }
        self.read_alone(id, stripe).await
    }

    /// The answer of the read `flight` waits for, waited for no longer
    /// than the store timeout (inside a Tokio runtime): a leader whose
    /// request claimed the read inside `call` may never be polled again
    /// (a caller may hold its response future and await another's).
    async fn follow(&self, flight: &Flight<Outcome>) -> Followed {
        let answer = if tokio::runtime::Handle::try_current().is_ok() {
            // Boxed: only followers pay for the timer in their future.
            match Box::pin(tokio::time::timeout(self.store_timeout, flight.wait())).await {
                Ok(answer) => answer,
                Err(_) => return Followed::TimedOut,
            }
        } else {
            flight.wait().await
        };
        answer.map_or(Followed::Abandoned, Followed::Answer)
    }

    /// An answer a read that ended just before this request's claim left
    /// behind (the request missed before that read ended). Not looked for
    /// when no read of the id's shard ended since the request missed. The
    /// shared cache is asked whether it holds the id before it is read, as
    /// a read records a look-up the request already recorded.
    fn kept(&self, id: &str, stripe: u64, missed: Missed) -> Option<Lookup> {
        if self.flights.ended(stripe) == missed.reads_ended {
            return None;
        }
        let generation = self.generations.current(stripe);
        let now = Instant::now();
        if self
            .unknown
            .contains(id.as_bytes(), stripe, generation, now)
        {
            return Some(Lookup {
                generation,
                found: None,
            });
        }
        if !self.cached_ids.may_hold(stripe) || !self.cache.contains_key(id) {
            return None;
        }
        poll_once(self.cache.get(id))
            .flatten()
            .filter(|lookup| lookup.generation == generation)
    }

    /// Reads the store and keeps the answer: a found record in the shared
    /// cache, an unknown id in the table of unknown ids, each from when the
    /// store answered (an unknown id kept from when the request missed
    /// would be forgotten sooner than a found one by the store's latency,
    /// which a client could time).
    async fn read(&self, id: &str, stripe: u64) -> Outcome {
        let lookup = self.load(id, stripe).await.map_err(Arc::new)?;
        if lookup.found.is_some() {
            // A read of the cache that misses counts towards the id's
            // admission into a full cache (moka's TinyLFU): the fast path
            // no longer reads it for an id it cannot hold, so the found
            // record's miss is counted here, as before.
            let _ = poll_once(self.cache.get(id));
            self.cached_ids.insert(stripe, Instant::now());
            // Boxed: only found records pay for the size of moka's insert
            // in the request's future.
            Box::pin(self.cache.insert(id.into(), lookup.clone())).await;
        } else {
            self.unknown
                .insert(id.as_bytes(), stripe, lookup.generation, Instant::now());
        }
        Ok(lookup)
    }

    /// [`read`](Self::read) outside a flight (alone, or after a follower's
    /// timeout), counted for [`Flights::ended`] once it ends, as a leader's
    /// read is when it hands its answer over.
    ///
    /// [`Flights::ended`]: crate::api_key::flight::Flights::ended
    async fn read_alone(&self, id: &str, stripe: u64) -> Outcome {
        let outcome = self.read(id, stripe).await;
        self.flights.note_ended(stripe);
        outcome
    }

    /// Asks the store for `id`, tagging the answer with the stripe's
    /// generation as it was before the question.
    async fn load(&self, id: &str, stripe: u64) -> Result<Lookup, LookupError> {
        let generation = self.generations.current(stripe);
        let mut find = std::pin::pin!(self.store.find(id));
        // A store that answers on the first poll (an in-memory one) needs
        // no timer. (The answer is handled before any other await, so that
        // the future does not keep room for it while a timer runs.)
        if let Poll::Ready(found) =
            std::future::poll_fn(|cx| Poll::Ready(find.as_mut().poll(cx))).await
        {
            return self.looked(found, id, generation);
        }
        let found = if tokio::runtime::Handle::try_current().is_ok() {
            // Boxed: the timer is large, and only a store that did not
            // answer at once needs it; a request's future stays small for
            // the others (every miss of a flood of unknown ids).
            Box::pin(tokio::time::timeout(self.store_timeout, find))
                .await
                .inspect_err(|_| self.metrics.1.failed(Failure::Timeout))
                .map_err(|_| LookupError::Timeout(self.store_timeout))?
        } else {
            // Outside a Tokio runtime there is no timer to race against.
            find.await
        };
        self.looked(found, id, generation)
    }

    /// The store's answer for `id`, asked at `generation`: the record
    /// with the principal it grants, if the store found one with that id.
    fn looked(
        &self,
        found: Result<Option<KeyRecord>, StoreError>,
        id: &str,
        generation: u64,
    ) -> Result<Lookup, LookupError> {
        let found = found
            .inspect_err(|_| self.metrics.1.failed(Failure::Error))
            .map_err(LookupError::Store)?
            .filter(|r| r.id == id)
            .map(|record| {
                let mut principal = Principal::new(record.subject.clone(), SCHEME_NAME)
                    .with_scopes(record.scopes.clone())
                    .with_credential_id(record.id.clone());
                if let Some(plan) = &record.plan {
                    principal = principal.with_plan(plan.clone());
                }
                Arc::new(CachedKey { record, principal })
            });
        Ok(Lookup { generation, found })
    }
}

/// What a request that missed the caches saw, for its look-up.
#[derive(Clone, Copy)]
pub(super) struct Missed {
    /// [`Flights::ended`](crate::api_key::flight::Flights::ended) for the
    /// id, read before the caches were.
    pub(super) reads_ended: u64,
}

/// What a follower of a store read got.
enum Followed {
    Answer(Outcome),
    /// The leader's request was dropped before its read ended.
    Abandoned,
    /// The store timeout passed first.
    TimedOut,
}

#[derive(Debug, thiserror::Error)]
pub(super) enum LookupError {
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Shared(Arc<LookupError>),
    #[error("the key store did not answer within {0:?}")]
    Timeout(Duration),
}
