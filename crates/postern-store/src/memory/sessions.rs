//! Sessions in memory: a map in 64 shards keyed by token hash, bounded by `max_sessions`, with
//! a per-user index. Keys are SHA-256 outputs, so their first byte spreads them evenly over the
//! shards, and checks on different sessions almost never wait on the same lock.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postern_core::session::SessionRecord;
use postern_core::token::TokenHash;

use super::lock;
use crate::StoreError;
use crate::token_map::TokenMap;

const SHARDS: usize = 64;

struct Entry {
    record: Arc<SessionRecord>,
    expires: Instant,
}

type Shard = TokenMap<Entry>;

pub struct SessionMap {
    shards: Vec<Mutex<Shard>>,
    /// user (lower case) -> session hashes. May name sessions that have expired since; readers
    /// check each against the map, and sweeps prune it.
    index: Mutex<HashMap<String, HashSet<TokenHash>>>,
    len: AtomicUsize,
    max_sessions: usize,
}

impl SessionMap {
    pub fn new(max_sessions: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            index: Mutex::new(HashMap::new()),
            len: AtomicUsize::new(0),
            max_sessions,
        }
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub fn get(&self, key: &TokenHash) -> Option<Arc<SessionRecord>> {
        let mut shard = self.shard(key);
        match shard.get(key) {
            Some(entry) if entry.expires > Instant::now() => Some(Arc::clone(&entry.record)),
            Some(_) => {
                shard.remove(key);
                self.len.fetch_sub(1, Ordering::Relaxed);
                None
            }
            None => None,
        }
    }

    pub fn put(
        &self,
        key: TokenHash,
        record: SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let expires = super::ttl_map::expires_in(ttl);
        let user = record.user.to_lowercase();
        let record = Arc::new(record);
        {
            let mut shard = self.shard(&key);
            if let Some(entry) = shard.get_mut(&key) {
                *entry = Entry { record, expires };
                return Ok(());
            }
            if self.len() >= self.max_sessions {
                drop(shard);
                // Make room from expired entries before refusing a login.
                self.sweep_expired();
                if self.len() >= self.max_sessions {
                    return Err(StoreError::Full(self.max_sessions));
                }
                shard = self.shard(&key);
            }
            if shard.insert(key, Entry { record, expires }).is_none() {
                self.len.fetch_add(1, Ordering::Relaxed);
            }
        }
        lock(&self.index).entry(user).or_default().insert(key);
        Ok(())
    }

    /// Replaces a live entry under its shard's lock, so a delete cannot fall between the
    /// look and the write; the index already names a live entry, so it is left alone.
    pub fn replace_if_present(
        &self,
        key: &TokenHash,
        record: SessionRecord,
        ttl: Duration,
    ) -> bool {
        let now = Instant::now();
        let mut shard = self.shard(key);
        match shard.get_mut(key) {
            Some(entry) if entry.expires > now => {
                *entry = Entry {
                    record: Arc::new(record),
                    expires: super::ttl_map::expires_in(ttl),
                };
                true
            }
            _ => false,
        }
    }

    pub fn delete(&self, key: &TokenHash, user: &str) {
        if self.shard(key).remove(key).is_some() {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        let mut index = lock(&self.index);
        let user = user.to_lowercase();
        if let Some(hashes) = index.get_mut(&user) {
            hashes.remove(key);
            if hashes.is_empty() {
                index.remove(&user);
            }
        }
    }

    /// The live sessions of `user`.
    pub fn of_user(&self, user: &str) -> Vec<TokenHash> {
        let hashes: Vec<TokenHash> = lock(&self.index)
            .get(&user.to_lowercase())
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default();
        hashes
            .into_iter()
            .filter(|hash| self.get(hash).is_some())
            .collect()
    }

    /// Removes every expired entry (and prunes the index); returns how many sessions.
    pub fn sweep_expired(&self) -> usize {
        let now = Instant::now();
        let mut removed = 0;
        for shard in &self.shards {
            let mut shard = lock(shard);
            let before = shard.len();
            shard.retain(|_, entry| entry.expires > now);
            removed += before - shard.len();
        }
        self.len.fetch_sub(removed, Ordering::Relaxed);
        let mut index = lock(&self.index);
        index.retain(|_, hashes| {
            hashes.retain(|hash| self.shard(hash).contains_key(hash));
            !hashes.is_empty()
        });
        removed
    }

    fn shard(&self, key: &TokenHash) -> MutexGuard<'_, Shard> {
        lock(&self.shards[usize::from(key.0[0]) % SHARDS])
    }
}
