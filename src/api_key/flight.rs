//! Single flight for store reads: concurrent misses for one id share one
//! read, without going through the shared cache.
//!
//! The first request to miss claims the id and becomes the leader: it asks
//! the store and hands the answer to every request that claimed the id in
//! the meantime (the followers). The table holds only the flights under
//! way (one small entry per id being read, removed when the read ends), so
//! its size follows the requests in flight, never the ids seen; the
//! answers themselves are kept by the caller (the shared cache for found
//! records, the table of unknown ids for the rest), which is what lets an
//! unknown id skip the shared cache's insert and its maintenance.
//!
//! A leader whose request is dropped before it answers abandons the
//! flight: its followers are woken and claim the id again.

use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};

use super::format::ID_LEN;

/// Shards of the table of flights: few, as each holds only the reads under
/// way.
const SHARDS: usize = 64;

enum State<T> {
    /// The read is under way; these followers wait for it.
    Running(Vec<Waker>),
    Done(T),
    /// The leader's request was dropped before the read ended.
    Abandoned,
}

/// One read under way, shared by its leader and followers.
pub(crate) struct Flight<T> {
    state: Mutex<State<T>>,
}

impl<T: Clone> Flight<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The leader's answer, or `None` when it abandoned the flight.
    pub(crate) async fn wait(&self) -> Option<T> {
        poll_fn(|cx| {
            let mut state = self.lock();
            match &mut *state {
                State::Done(value) => Poll::Ready(Some(value.clone())),
                State::Abandoned => Poll::Ready(None),
                State::Running(wakers) => {
                    if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                        wakers.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }

    fn end(&self, end: State<T>) {
        let wakers = match std::mem::replace(&mut *self.lock(), end) {
            State::Running(wakers) => wakers,
            State::Done(_) | State::Abandoned => Vec::new(),
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// A read under way. Its [`Flight`] is made by the first follower: a
/// leader nobody waits for (every miss of a flood of distinct ids)
/// allocates nothing.
struct Entry<T> {
    id: [u8; ID_LEN],
    flight: Option<Arc<Flight<T>>>,
}

/// The reads under way, by id.
pub(crate) struct Flights<T> {
    shards: Box<[Shard<T>]>,
}

/// The reads under way of the ids of one shard.
struct Shard<T> {
    entries: Mutex<Vec<Entry<T>>>,
    /// How many reads of this shard have ended, counted under the lock as
    /// each leader removes its entry: see [`Flights::ended`].
    ended: AtomicU64,
}

/// What [`Flights::claim`] made of the caller.
pub(crate) enum Claim<'a, T: Clone> {
    /// No read of the id was under way: the caller reads, then calls
    /// [`Leader::finish`].
    Leader(Leader<'a, T>),
    /// A read of the id is under way: wait for its answer.
    Follower(Arc<Flight<T>>),
    /// The id is not one a parsed key has: read without single flight.
    Alone,
}

impl<T: Clone> Flights<T> {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    entries: Mutex::default(),
                    ended: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    fn shard(&self, slot_key: u64) -> Option<&Shard<T>> {
        let index = usize::try_from(slot_key % self.shards.len() as u64).ok()?;
        self.shards.get(index)
    }

    /// How many reads of ids in the shard of `slot_key` have ended. A
    /// request that reads this before looking an id up, then leads its
    /// read and finds the count unchanged, knows that no leader's read of
    /// the id ended in between: whatever one kept, its look-up saw. (A
    /// leader's read that ended before the claim was counted under the
    /// shard's lock, before the claim's own count read.) Reads outside a
    /// flight are counted with [`note_ended`](Self::note_ended), with no
    /// such ordering: one that ends just then may cost a request another
    /// store read, never a stale answer.
    pub(crate) fn ended(&self, slot_key: u64) -> u64 {
        self.shard(slot_key)
            .map_or(u64::MAX, |shard| shard.ended.load(Ordering::Acquire))
    }

    /// Counts a read of an id in the shard of `slot_key` that kept its
    /// answer: see [`ended`](Self::ended).
    pub(crate) fn note_ended(&self, slot_key: u64) {
        if let Some(shard) = self.shard(slot_key) {
            shard.ended.fetch_add(1, Ordering::Release);
        }
    }

    /// Leads the read of `id` (with the keyed hash `slot_key`), or follows
    /// the one under way.
    pub(crate) fn claim(&self, id: &str, slot_key: u64) -> Claim<'_, T> {
        let (Ok(key), Some(shard)) = (
            <[u8; ID_LEN]>::try_from(id.as_bytes()),
            self.shard(slot_key),
        ) else {
            return Claim::Alone;
        };
        let mut entries = shard.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = entries.iter_mut().find(|e| e.id == key) {
            let flight = entry.flight.get_or_insert_with(|| {
                Arc::new(Flight {
                    state: Mutex::new(State::Running(Vec::new())),
                })
            });
            return Claim::Follower(Arc::clone(flight));
        }
        // One entry per id: the leader's entry is the one with its id until
        // the leader removes it.
        entries.push(Entry {
            id: key,
            flight: None,
        });
        Claim::Leader(Leader {
            shard,
            id: key,
            ended: false,
        })
    }

    /// The number of reads under way.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.entries
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .len()
            })
            .sum()
    }
}

/// The request that reads the store for the others.
pub(crate) struct Leader<'a, T: Clone> {
    shard: &'a Shard<T>,
    id: [u8; ID_LEN],
    ended: bool,
}

impl<T: Clone> Leader<'_, T> {
    /// Hands `value` to the followers. Call it once the answer is kept
    /// where later requests look (a request that claims the id after this
    /// leads a new read).
    pub(crate) fn finish(mut self, value: T) {
        self.end(State::Done(value));
    }

    fn end(&mut self, end: State<T>) {
        self.ended = true;
        let flight = {
            let mut entries = self
                .shard
                .entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.shard.ended.fetch_add(1, Ordering::Release);
            entries
                .iter()
                .position(|e| e.id == self.id)
                .and_then(|i| entries.swap_remove(i).flight)
        };
        // Nobody followed: no flight to end, and the answer is dropped.
        if let Some(flight) = flight {
            flight.end(end);
        }
    }
}

impl<T: Clone> Drop for Leader<'_, T> {
    fn drop(&mut self) {
        if !self.ended {
            self.end(State::Abandoned);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    const ID: &str = "0123456789abcdef";

    #[tokio::test]
    async fn followers_get_the_leaders_answer_and_the_entry_goes() {
        let flights = Flights::<u32>::new();
        let Claim::Leader(leader) = flights.claim(ID, 3) else {
            panic!("the first claim leads");
        };
        let Claim::Follower(flight) = flights.claim(ID, 3) else {
            panic!("a second claim follows");
        };
        assert!(matches!(
            flights.claim("fedcba9876543210", 3),
            Claim::Leader(_)
        ));
        let waiting = tokio::spawn(async move { flight.wait().await });
        tokio::task::yield_now().await;
        leader.finish(7);
        assert_eq!(waiting.await.unwrap(), Some(7));
        assert_eq!(flights.len(), 0);
        assert!(matches!(flights.claim(ID, 3), Claim::Leader(_)));
    }

    #[tokio::test]
    async fn a_dropped_leader_releases_its_followers() {
        let flights = Flights::<u32>::new();
        let Claim::Leader(leader) = flights.claim(ID, 9) else {
            panic!("the first claim leads");
        };
        let Claim::Follower(flight) = flights.claim(ID, 9) else {
            panic!("a second claim follows");
        };
        drop(leader);
        assert_eq!(flight.wait().await, None);
        assert_eq!(flights.len(), 0);
    }

    #[test]
    fn ended_counts_the_reads_of_a_shard_that_ended_or_were_abandoned() {
        let flights = Flights::<u32>::new();
        assert_eq!(flights.ended(5), 0);
        let Claim::Leader(leader) = flights.claim(ID, 5) else {
            panic!("the first claim leads");
        };
        assert_eq!(flights.ended(5), 0, "under way");
        leader.finish(1);
        assert_eq!(flights.ended(5), 1);
        let Claim::Leader(leader) = flights.claim(ID, 5) else {
            panic!("the entry went with the read");
        };
        drop(leader);
        assert_eq!(flights.ended(5), 2, "an abandoned read ended too");
        assert_eq!(flights.ended(6), 0, "another shard");
        assert_eq!(flights.ended(5 + SHARDS as u64), 2, "the same shard");
    }

    #[tokio::test]
    async fn the_first_follower_makes_the_flight_and_later_ones_share_it() {
        let flights = Flights::<u32>::new();
        // A leader nobody follows ends without a flight.
        let Claim::Leader(alone) = flights.claim(ID, 5) else {
            panic!("the first claim leads");
        };
        assert!(flights.shards.iter().all(|s| s
            .entries
            .lock()
            .unwrap()
            .iter()
            .all(|e| e.flight.is_none())));
        alone.finish(1);
        assert_eq!(flights.len(), 0);

        let Claim::Leader(leader) = flights.claim(ID, 5) else {
            panic!("a claim after the end leads again");
        };
        let (Claim::Follower(first), Claim::Follower(second)) =
            (flights.claim(ID, 5), flights.claim(ID, 5))
        else {
            panic!("later claims follow");
        };
        assert!(Arc::ptr_eq(&first, &second));
        let waiting = tokio::spawn(async move { (first.wait().await, second.wait().await) });
        tokio::task::yield_now().await;
        leader.finish(2);
        assert_eq!(waiting.await.unwrap(), (Some(2), Some(2)));
        assert_eq!(flights.len(), 0);
    }

    #[test]
    fn ids_of_another_length_fly_alone() {
        let flights = Flights::<u32>::new();
        assert!(matches!(flights.claim("short", 1), Claim::Alone));
    }
}
