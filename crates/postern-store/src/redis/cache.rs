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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    per_shard: usize,
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
                per_shard: size.get().div_ceil(SHARDS),
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
            shard.entries.remove(hash);
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
        if shard.entries.len() >= self.inner.per_shard && !shard.entries.contains_key(hash) {
            // Full: drop any one entry. Sessions are read at random, so no order is better.
            if let Some(victim) = shard.entries.keys().next().copied() {
                shard.entries.remove(&victim);
            }
        }
        shard.entries.insert(
            *hash,
            Entry {
                record: Arc::clone(record),
                stale_at: Instant::now() + ttl.min(MAX_AGE),
            },
        );
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
        shard.entries.remove(hash);
        shard.generation = shard.generation.wrapping_add(1);
    }

    /// Forgets everything (Redis flushed, or sent a key this cache cannot read).
    pub fn invalidate_all(&self) {
        for shard in self.inner.shards.iter() {
            let mut shard = lock(shard);
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

    #[test]
    fn a_full_shard_makes_room() {
        let cache = SessionCache::new(NonZeroUsize::MIN);
        cache.set_live(true);
        for i in 0..100u8 {
            let hash = TokenHash([i; 32]);
            if let Err(Some(ticket)) = cache.lookup(&hash) {
                cache.fill(
                    &hash,
                    &Arc::new(record("u")),
                    Duration::from_secs(60),
                    ticket,
                );
            }
        }
        let kept: usize = cache
            .inner
            .shards
            .iter()
            .map(|shard| lock(shard).entries.len())
            .sum();
        assert!(kept <= SHARDS, "kept {kept}");
    }
}
