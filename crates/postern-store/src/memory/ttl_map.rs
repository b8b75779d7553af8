//! Everything else the memory store keeps (failure counters, token buckets, single-use marks and
//! values): bounded maps with a TTL per entry (the store keeps counters, marks and the rest
//! each in one), with caps of their own, separate from sessions, so a flood of anonymous
//! entries (random usernames, abandoned OAuth flows) can never evict a signed-in user; when
//! full, expired entries go first, then the one that matters least (`make_room`).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use postern_core::limits::TokenBucket;

use super::lock;

const SHARDS: usize = 64;

pub enum Value {
    Counter(u64),
    Bucket(TokenBucket),
    Mark,
    Bytes(Vec<u8>),
}

pub struct Entry {
    pub value: Value,
    pub expires: Instant,
}

/// What an update does with the entry.
pub enum Action {
    Keep,
    Set(Entry),
    Remove,
}

pub struct TtlMap {
    shards: Vec<Mutex<HashMap<String, Entry>>>,
    hasher: RandomState,
    per_shard_cap: usize,
}

impl TtlMap {
    pub fn new(max_entries: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            per_shard_cap: max_entries.div_ceil(SHARDS).max(1),
        }
    }

    /// Runs `update` on the live entry for `key` (`None` if absent or expired) with the shard's
    /// lock held, applies the `Action` it returns, and returns its answer.
    pub fn update<T>(
        &self,
        key: &str,
        update: impl FnOnce(Option<&mut Entry>) -> (Action, T),
    ) -> T {
        let now = Instant::now();
        let mut shard = lock(&self.shards[self.shard_of(key)]);
        let live = shard.get_mut(key).filter(|entry| entry.expires > now);
        let (action, answer) = update(live);
        match action {
            Action::Keep => {}
            Action::Set(entry) => {
                if !shard.contains_key(key) && shard.len() >= self.per_shard_cap {
                    make_room(&mut shard, now);
                }
                shard.insert(key.to_owned(), entry);
            }
            Action::Remove => {
                shard.remove(key);
            }
        }
        answer
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }

    pub fn sweep_expired(&self) -> usize {
        let now = Instant::now();
        self.shards
            .iter()
            .map(|shard| {
                let mut shard = lock(shard);
                let before = shard.len();
                shard.retain(|_, entry| entry.expires > now);
                before - shard.len()
            })
            .sum()
    }

    fn shard_of(&self, key: &str) -> usize {
        usize::try_from(self.hasher.hash_one(key) % SHARDS as u64).unwrap_or(0)
    }
}

/// Evicts for a new entry: the expired ones, else the one that matters least. In the memory
/// store's map of failure counters: a lower count before a higher one, then the soonest to
/// expire. A failure count is what a lockout stands on, and a flood makes one-failure counters
/// by the thousand from fresh addresses: by expiry alone, an account's count of four was the
/// oldest, so the first to go. In the maps without counters: the soonest to expire.
fn make_room(shard: &mut HashMap<String, Entry>, now: Instant) {
    shard.retain(|_, entry| entry.expires > now);
    if let Some(least) = shard
        .iter()
        .min_by_key(|(_, entry)| (entry.weight(), entry.expires))
        .map(|(key, _)| key.clone())
    {
        shard.remove(&least);
    }
}

impl Entry {
    /// What losing the entry would undo: a failure counter's count, nothing for the others.
    fn weight(&self) -> u64 {
        match self.value {
            Value::Counter(count) => count,
            Value::Bucket(_) | Value::Mark | Value::Bytes(_) => 0,
        }
    }
}

/// `now + ttl`, for new entries; a TTL past what an `Instant` holds (the config caps every
/// lifetime far below that) is a century, never a panic.
pub fn expires_in(ttl: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(ttl)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}
