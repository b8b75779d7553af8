//! The replica's copy of the sessions it has read (`[session.redis] client_cache`), kept
//! exact by Redis: a tracking connection (see `tracking.rs`) hears of every change to a
//! session key, from any replica, and drops that entry. While that connection is not known
//! to be up, the cache is empty and unused, so a missed message cannot leave a stale
//! session behind.
//!
//! A read that misses fetches from Redis and fills the entry only if nothing touched its
//! shard meanwhile: an invalidation may overtake the answer to a read made before the
//! change (they travel on different connections), and that answer must not be kept.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postern_core::session::SessionRecord;
use postern_core::token::TokenHash;

use crate::token_map::TokenMap;

const SHARDS: usize = 64;
/// An entry is read from Redis again after this long, whatever Redis said: a bound for the
/// unlikely (a lost message on a connection that still answers pings), not the mechanism.
const MAX_AGE: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct SessionCache {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    /// `client_cache_size`: the most entries all shards hold together.
    capacity: usize,
    /// Entries held, over all shards. A shard's own share is not a bound: the hashes spread
    /// 100,000 sessions over 64 shards unevenly (1,563 each on average, a standard deviation
    /// of 39), so a cap of `capacity / 64` per shard turned away about 1 % of them from a cache
    /// sized for all, and each was read from Redis again on every check (measured on the
    /// benchmark's row d2: 930 reads a second at 97,000 checks a second).
    len: AtomicUsize,
    /// Set while the tracking connection is subscribed to every session key.
    live: AtomicBool,
    /// Moves on every change of `live`, so a read begun under an older subscription does
    /// not fill the cache under a newer one.
    epoch: AtomicU64,
    /// Reads answered from the cache, and reads that went to Redis while it was live.
    hits: AtomicU64,
    misses: AtomicU64,
}

#[derive(Default)]
struct Shard {
    entries: TokenMap<Entry>,
    /// Moves on every invalidation of a key of this shard.
    generation: u64,
}

struct Entry {
    record: Arc<SessionRecord>,
    /// When Redis drops the key (its TTL) or `MAX_AGE` after the read, whichever is first.
    stale_at: Instant,
}

/// What a read saw before going to Redis; `fill` keeps the answer only if it still holds.
pub struct Ticket {
    epoch: u64,
    generation: u64,
}

impl SessionCache {
    pub fn new(size: NonZeroUsize) -> Self {
        Self {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
                capacity: size.get(),
                len: AtomicUsize::new(0),
                live: AtomicBool::new(false),
                epoch: AtomicU64::new(0),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            }),
        }
    }

    /// The cached record, or a ticket to fill it with what Redis answers. `None` for
    /// both while the cache is not live.
    pub fn lookup(&self, hash: &TokenHash) -> Result<Arc<SessionRecord>, Option<Ticket>> {
        if !self.inner.live.load(Ordering::Acquire) {
            return Err(None);
        }
        let epoch = self.inner.epoch.load(Ordering::Acquire);
        let mut shard = self.shard(hash);
        if let Some(entry) = shard.entries.get(hash) {
            if Instant::now() < entry.stale_at {
                self.inner.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Arc::clone(&entry.record));
            }
            self.remove(&mut shard, hash);
        }
        self.inner.misses.fetch_add(1, Ordering::Relaxed);
        Err(Some(Ticket {
            epoch,
            generation: shard.generation,
        }))
    }

    /// Keeps what Redis answered for `hash` (with the key's `ttl`), unless the key changed
    /// (or the subscription did) since the ticket was taken. Absent sessions are not kept.
    pub fn fill(
        &self,
        hash: &TokenHash,
        record: &Arc<SessionRecord>,
        ttl: Duration,
        ticket: Ticket,
    ) {
        let mut shard = self.shard(hash);
        if !self.inner.live.load(Ordering::Acquire)
            || self.inner.epoch.load(Ordering::Acquire) != ticket.epoch
            || shard.generation != ticket.generation
        {
            return;
        }
        if !shard.entries.contains_key(hash) && !self.make_room(&mut shard) {
            return;
        }
        shard.entries.insert(
            *hash,
            Entry {
                record: Arc::clone(record),
                stale_at: Instant::now() + ttl.min(MAX_AGE),
            },
        );
    }

    /// Counts in one more entry for `shard` (locked), which is about to take it: a free place
    /// if there is one, else one entry goes, this shard's if it holds any, another's if not
    /// (sessions are read at random, so no order is better). The victim's place passes to
    /// the new entry, so the count stays. `false` only when every entry sits in a shard
    /// another thread holds: the new entry is not kept.
    fn make_room(&self, shard: &mut Shard) -> bool {
        let taken = self.inner.len.fetch_add(1, Ordering::AcqRel);
        if taken < self.inner.capacity {
            return true;
        }
        self.inner.len.fetch_sub(1, Ordering::AcqRel);
        if drop_any(shard) {
            return true;
        }
        // `try_lock`: this thread holds one shard already, and waiting for a second could
        // deadlock with a thread doing the same the other way round. (Its own shard, empty,
        // is skipped: it is locked.)
        self.inner
            .shards
            .iter()
            .any(|other| match other.try_lock() {
                Ok(mut other) => drop_any(&mut other),
                Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                    drop_any(&mut poisoned.into_inner())
                }
                Err(std::sync::TryLockError::WouldBlock) => false,
            })
    }

    /// Drops `hash`'s entry, if held, from its (locked) shard.
    fn remove(&self, shard: &mut Shard, hash: &TokenHash) {
        if shard.entries.remove(hash).is_some() {
            self.inner.len.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Hits and misses since start (for `postern_redis_client_cache_*_total`).
    pub fn counts(&self) -> (u64, u64) {
        (
            self.inner.hits.load(Ordering::Relaxed),
            self.inner.misses.load(Ordering::Relaxed),
        )
    }

    /// The session changed or ended (told by Redis, or written by this replica).
    pub fn invalidate(&self, hash: &TokenHash) {
        let mut shard = self.shard(hash);
        self.remove(&mut shard, hash);
        shard.generation = shard.generation.wrapping_add(1);
    }

    /// Forgets everything (Redis flushed, or sent a key this cache cannot read).
    pub fn invalidate_all(&self) {
        for shard in self.inner.shards.iter() {
            let mut shard = lock(shard);
            self.inner
                .len
                .fetch_sub(shard.entries.len(), Ordering::AcqRel);
            shard.entries.clear();
            shard.generation = shard.generation.wrapping_add(1);
        }
    }

    /// The tracking connection is subscribed (`true`) or lost (`false`); either way the
    /// cache starts empty.
    pub fn set_live(&self, live: bool) {
        self.inner.live.store(false, Ordering::Release);
        self.inner.epoch.fetch_add(1, Ordering::AcqRel);
        self.invalidate_all();
        if live {
            self.inner.live.store(true, Ordering::Release);
        }
    }

    pub fn is_live(&self) -> bool {
        self.inner.live.load(Ordering::Acquire)
    }

    fn shard(&self, hash: &TokenHash) -> MutexGuard<'_, Shard> {
        // The hash is uniformly random already (SHA-256 of a random token).
        let index = usize::from(hash.0[0]) % SHARDS;
        lock(&self.inner.shards[index])
    }
}

/// Drops one entry of `shard`, if it holds any.
fn drop_any(shard: &mut Shard) -> bool {
    let Some(victim) = shard.entries.keys().next().copied() else {
        return false;
    };
    shard.entries.remove(&victim);
    true
}

/// A poisoned shard only means a panic elsewhere while it was held; its map is still valid.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_core::session::AuthLevel;

    fn record(user: &str) -> SessionRecord {
        SessionRecord {
            user: user.into(),
            level: AuthLevel::OneFactor,
            created_at: 1,
            idle_deadline: 2,
            expires_at: 3,
            remember: false,
            external: None,
            way_in: Default::default(),
        }
    }

    fn live_cache() -> SessionCache {
        let cache = SessionCache::new(NonZeroUsize::MIN.saturating_add(999));
        cache.set_live(true);
        cache
    }

    #[test]
    fn a_filled_entry_is_served_until_invalidated() {
        let cache = live_cache();
        let hash = TokenHash::of(b"a");
        let Err(Some(ticket)) = cache.lookup(&hash) else {
            panic!("expected a miss with a ticket");
        };
        cache.fill(
            &hash,
            &Arc::new(record("alice")),
            Duration::from_secs(60),
            ticket,
        );
        assert_eq!(
            cache.lookup(&hash).ok().map(|r| r.user.clone()),
            Some("alice".into())
        );
        cache.invalidate(&hash);
        assert!(matches!(cache.lookup(&hash), Err(Some(_))));
    }

    #[test]
    fn an_answer_overtaken_by_an_invalidation_is_not_kept() {
        let cache = live_cache();
        let hash = TokenHash::of(b"a");
        let Err(Some(ticket)) = cache.lookup(&hash) else {
            panic!("expected a miss with a ticket");
        };
        cache.invalidate(&hash);
        cache.fill(
            &hash,
            &Arc::new(record("alice")),
            Duration::from_secs(60),
            ticket,
        );
        assert!(cache.lookup(&hash).is_err());
    }

    #[test]
    fn nothing_is_served_or_kept_while_not_live_nor_across_a_reconnection() {
        let cache = live_cache();
        let hash = TokenHash::of(b"a");
        let Err(Some(ticket)) = cache.lookup(&hash) else {
            panic!("expected a miss with a ticket");
        };
        cache.set_live(false);
        assert!(matches!(cache.lookup(&hash), Err(None)));
        cache.set_live(true);
        cache.fill(
            &hash,
            &Arc::new(record("alice")),
            Duration::from_secs(60),
            ticket,
        );
        assert!(cache.lookup(&hash).is_err());
    }

    /// Fills a live cache with what `hashes` name, each read once (a miss, then the fill).
    fn fill_all(cache: &SessionCache, hashes: impl Iterator<Item = TokenHash>) {
        for hash in hashes {
            if let Err(Some(ticket)) = cache.lookup(&hash) {
                cache.fill(
                    &hash,
                    &Arc::new(record("u")),
                    Duration::from_secs(60),
                    ticket,
                );
            }
        }
    }

    fn held(cache: &SessionCache) -> usize {
        cache
            .inner
            .shards
            .iter()
            .map(|shard| lock(shard).entries.len())
            .sum()
    }

    fn random_hashes(count: u32) -> Vec<TokenHash> {
        (0..count)
            .map(|i| TokenHash::of(&i.to_le_bytes()))
            .collect()
    }

    /// The shards fill unevenly: with a cap of a 64th of the size on each, some sessions of a
    /// cache sized for all of them were never kept.
    #[test]
    fn the_cache_holds_as_many_sessions_as_its_size() {
        let cache = SessionCache::new(NonZeroUsize::new(10_000).unwrap());
        cache.set_live(true);
        let hashes = random_hashes(10_000);
        fill_all(&cache, hashes.iter().copied());
        let missed = hashes
            .iter()
            .filter(|hash| cache.lookup(hash).is_err())
            .count();
        assert_eq!(missed, 0);
    }

    #[test]
    fn a_full_cache_makes_room_and_holds_no_more_than_its_size() {
        for size in [1, 3, 100] {
            let cache = SessionCache::new(NonZeroUsize::new(size).unwrap());
            cache.set_live(true);
            for hash in random_hashes(1_000) {
                fill_all(&cache, std::iter::once(hash));
                // The newest session is kept, wherever the older ones sit.
                assert!(cache.lookup(&hash).is_ok(), "size {size}");
                assert!(held(&cache) <= size, "size {size}: {}", held(&cache));
            }
            assert_eq!(held(&cache), size);
        }
    }

    #[test]
    fn invalidations_give_their_places_back() {
        let cache = SessionCache::new(NonZeroUsize::new(100).unwrap());
        cache.set_live(true);
        let first = random_hashes(100);
        fill_all(&cache, first.iter().copied());
        for hash in &first[..50] {
            cache.invalidate(hash);
        }
        cache.invalidate_all();
        // Stale entries dropped at lookup give theirs back too.
        let hash = TokenHash::of(b"stale");
        let Err(Some(ticket)) = cache.lookup(&hash) else {
            panic!("expected a miss with a ticket");
        };
        cache.fill(&hash, &Arc::new(record("u")), Duration::ZERO, ticket);
        assert!(cache.lookup(&hash).is_err());
        // All 100 places are free again: 100 new sessions all stay.
        let second: Vec<TokenHash> = (1_000..1_100u32)
            .map(|i| TokenHash::of(&i.to_le_bytes()))
            .collect();
        fill_all(&cache, second.iter().copied());
        assert!(second.iter().all(|hash| cache.lookup(hash).is_ok()));
        assert_eq!(cache.inner.len.load(Ordering::Acquire), 100);
    }

    /// Fills, invalidations and flushes from several threads at once: afterwards the count of
    /// places is the number of entries held, within the size.
    #[test]
    fn the_count_stays_exact_under_concurrent_changes() {
        let cache = SessionCache::new(NonZeroUsize::new(50).unwrap());
        cache.set_live(true);
        std::thread::scope(|scope| {
            for thread in 0..4u32 {
                let cache = &cache;
                scope.spawn(move || {
                    for i in 0..5_000u32 {
                        let hash = TokenHash::of(&(thread * 1_000_000 + i % 300).to_le_bytes());
                        match i % 7 {
                            0 => cache.invalidate(&hash),
                            1 if i % 700 == 1 => cache.invalidate_all(),
                            _ => fill_all(cache, std::iter::once(hash)),
                        }
                    }
                });
            }
        });
        assert_eq!(cache.inner.len.load(Ordering::Acquire), held(&cache));
        assert!(held(&cache) <= 50, "{}", held(&cache));
    }
}
