//! The cache of verified Basic credentials (see `basic`): keyed by a keyed hash of the
//! header, so a dump of it holds no password, and each entry remembers the password hash it
//! was verified against, so a changed password makes it useless. It also lets one request
//! verify a credential while the others with the same one wait (`turn`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postern_core::mac::SubKey;
use postern_core::users::{User, UserTable};
use tokio::sync::OwnedMutexGuard;

/// Entries kept at most; when full, expired ones go first, then a new entry is not cached.
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    user: String,
    /// The stamp of the credentials this was verified against (`user_passwords::InForce`).
    verified_hash: String,
    until: Instant,
}

pub struct BasicCache {
    key: SubKey,
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    /// Verifications in progress, by fingerprint (see `turn`). An entry lives only while
    /// requests with those credentials wait or verify, so the map is bounded by them.
    in_flight: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
}

/// The right to verify one set of credentials; leaving it lets the next request with the same
/// credentials in, and the last one out removes the entry.
pub(crate) struct Turn<'a> {
    cache: &'a BasicCache,
    fingerprint: [u8; 32],
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let lock = Arc::clone(OwnedMutexGuard::mutex(&guard));
        drop(guard);
        let mut in_flight = self
            .cache
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The map's reference and `lock`: nobody else waits for these credentials.
        if Arc::strong_count(&lock) <= 2 {
            in_flight.remove(&self.fingerprint);
        }
    }
}

impl BasicCache {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        Self {
            key: SubKey::derive(secret, b"postern basic cache v1"),
            ttl,
            entries: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until no other request is verifying the same credentials. Clients send
    /// requests in parallel with one credential (a script, a dashboard's widgets); when the
    /// cache entry is missing or expired, one verification serves them all, instead of each
    /// running argon2 and each taking one of the client's few failure-count reservations
    /// (which would answer the rest 429).
    pub(crate) async fn turn(&self, fingerprint: [u8; 32]) -> Turn<'_> {
        let lock = {
            let mut in_flight = self
                .in_flight
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            Arc::clone(in_flight.entry(fingerprint).or_default())
        };
        Turn {
            cache: self,
            fingerprint,
            guard: Some(lock.lock_owned().await),
        }
    }

    pub(crate) fn fingerprint(&self, encoded: &str) -> [u8; 32] {
        self.key.sign(&[encoded.as_bytes()])
    }

    /// A live entry: the user (still configured, without TOTP) and the hash it was verified
    /// against, which the caller compares with the hash in force.
    pub(crate) fn lookup(
        &self,
        users: &UserTable,
        fingerprint: &[u8; 32],
    ) -> Option<(Arc<User>, String)> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(fingerprint)?;
        let user = users.get(&entry.user).cloned()?;
        (entry.until > Instant::now() && user.totp.is_none())
            .then(|| (user, entry.verified_hash.clone()))
    }

    pub(crate) fn remember(&self, fingerprint: [u8; 32], user: &User, verified_hash: String) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, entry| entry.until > now);
        }
        if entries.len() < MAX_ENTRIES {
            entries.insert(
                fingerprint,
                Entry {
                    user: user.name.clone(),
                    verified_hash,
                    until: now + self.ttl,
                },
            );
        }
    }
}
