//! The embedded store: a sharded map keyed by token hash, bounded by `max_sessions`. Keys are
//! SHA-256 outputs, so their first byte spreads them evenly over the shards and checks on
//! different sessions almost never wait on the same lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postern_core::session::SessionRecord;
use postern_core::token::TokenHash;

use crate::StoreError;

const SHARDS: usize = 64;

struct Entry {
    record: SessionRecord,
    expires: Instant,
}

type Shard = Mutex<HashMap<TokenHash, Entry>>;

#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Vec<Shard>,
    len: AtomicUsize,
    max_sessions: usize,
}

impl MemoryStore {
    pub fn new(max_sessions: usize) -> Self {
        let shards = (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect();
        Self {
            inner: Arc::new(Inner {
                shards,
                len: AtomicUsize::new(0),
                max_sessions,
            }),
        }
    }

    pub fn len(&self) -> usize {
        self.inner.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn get(&self, key: &TokenHash) -> Option<SessionRecord> {
        let mut shard = self.shard(key);
        match shard.get(key) {
            Some(entry) if entry.expires > Instant::now() => Some(entry.record.clone()),
            Some(_) => {
                shard.remove(key);
                self.inner.len.fetch_sub(1, Ordering::Relaxed);
                None
            }
            None => None,
        }
    }

    pub(crate) fn put(
        &self,
        key: TokenHash,
        record: SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let expires = Instant::now() + ttl;
        let mut shard = self.shard(&key);
        if let Some(entry) = shard.get_mut(&key) {
            *entry = Entry { record, expires };
            return Ok(());
        }
        if self.len() >= self.inner.max_sessions {
            drop(shard);
            // Make room from expired entries before refusing a login.
            self.sweep_expired();
            if self.len() >= self.inner.max_sessions {
                return Err(StoreError::Full(self.inner.max_sessions));
            }
            shard = self.shard(&key);
        }
        if shard.insert(key, Entry { record, expires }).is_none() {
            self.inner.len.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    pub(crate) fn delete(&self, key: &TokenHash) {
        if self.shard(key).remove(key).is_some() {
            self.inner.len.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Removes every expired entry; returns how many.
    pub(crate) fn sweep_expired(&self) -> usize {
        let now = Instant::now();
        let mut removed = 0;
        for shard in &self.inner.shards {
            let mut shard = lock(shard);
            let before = shard.len();
            shard.retain(|_, entry| entry.expires > now);
            removed += before - shard.len();
        }
        self.inner.len.fetch_sub(removed, Ordering::Relaxed);
        removed
    }

    fn shard(&self, key: &TokenHash) -> MutexGuard<'_, HashMap<TokenHash, Entry>> {
        lock(&self.inner.shards[usize::from(key.0[0]) % SHARDS])
    }
}

/// A poisoned shard only means another thread panicked while holding it; the map itself is
/// still consistent (every mutation is a single call), so keep serving.
fn lock(shard: &Shard) -> MutexGuard<'_, HashMap<TokenHash, Entry>> {
    shard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
