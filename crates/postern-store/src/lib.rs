//! All state that outlives a request, each entry with a TTL: sessions and their per-user
//! index, failure counters, token buckets, single-use marks (TOTP steps, spent or revoked
//! tokens) and single-use values (OAuth transactions, tickets). One enum, one contract: the
//! server never knows which backend it talks to, and `tests/contract` runs the same suite
//! against every backend.
#![forbid(unsafe_code)]

mod changes;
pub mod embedded;
mod keys;
mod memory;
mod records;
mod redis;
mod token_map;

pub use changes::{Change, Pending};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

pub use embedded::EmbeddedStore;
pub use memory::{DEFAULT_MAX_OTHER_ENTRIES, MemoryStore};
use postern_core::config::RedisConfig;
use postern_core::session::SessionRecord;
use postern_core::token::TokenHash;
pub use records::{PASSKEY_INDEX_OWNER, RETIRING_OWNER, RecordKind, UserRecord};
pub use redis::RedisStore;

use crate::keys::{Keys, Kind};

/// How the ids of an OAuth sign-in's transaction begin (`oauth:<hash of its state>`).
pub const OAUTH_TRANSACTION_VALUE: &str = "oauth:";
/// How the ids of a passwordless passkey ceremony begin.
pub const PASSWORDLESS_CEREMONY_VALUE: &str = "webauthn:passwordless:";
/// Values anyone may make without credentials, by how their ids begin: the memory store keeps
/// them apart from the values of sign-ins in progress, which a flood of them would evict.
pub const ANONYMOUS_VALUES: [&str; 2] = [OAUTH_TRANSACTION_VALUE, PASSWORDLESS_CEREMONY_VALUE];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The backend did not answer (or answered with an error). Callers fail closed.
    #[error("the session store is unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// The memory store holds `max_sessions` live sessions already.
    #[error("the session store is full ({0} sessions)")]
    Full(usize),
}

impl StoreError {
    /// Unavailable for a reason of postern's own (no lower error to keep).
    pub fn unavailable(context: impl Into<Cow<'static, str>>) -> Self {
        Self::Unavailable(Cause {
            context: context.into(),
            source: None,
        })
    }

    /// Unavailable because of `source` (a Redis error, a timeout...), which is kept as the
    /// error's `source()`.
    pub fn unavailable_because(
        context: impl Into<Cow<'static, str>>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Unavailable(Cause {
            context: context.into(),
            source: Some(Arc::new(source)),
        })
    }
}

/// Why the store was unavailable: what postern was doing, and the lower error if there was
/// one. Its text carries the lower error's too, because most log lines print only the
/// outermost error's `Display`.
#[derive(Debug, Clone)]
pub struct Cause {
    context: Cow<'static, str>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.context),
            None => f.write_str(&self.context),
        }
    }
}

/// Two causes are equal when they read the same (tests compare results).
impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for Cause {}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn std::error::Error + 'static))
    }
}

/// A counter within its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub count: u64,
    /// Time until the window ends and the count starts again from zero.
    pub resets_in: Duration,
}

impl Counter {
    pub const ZERO: Self = Self {
        count: 0,
        resets_in: Duration::ZERO,
    };
}

#[derive(Clone)]
pub enum Store {
    Memory(MemoryStore),
    Redis(RedisStore),
    Embedded(EmbeddedStore),
}

/// Memory and embedded keys carry no prefix: the map and the file belong to this process alone.
fn memory_key(kind: Kind, id: &str) -> String {
    Keys::new("").other(kind, id)
}

impl Store {
    pub fn memory(max_sessions: usize) -> Self {
        Self::Memory(MemoryStore::new(max_sessions))
    }

    /// A Redis-backed store; connects on first use.
    pub fn redis(config: &RedisConfig) -> Result<Self, StoreError> {
        RedisStore::new(config).map(Self::Redis)
    }

    /// Whether every operation completes on its future's first poll, with no I/O to wait for
    /// (the memory store): a caller may run one in place rather than hand it to a task.
    pub fn completes_in_place(&self) -> bool {
        matches!(self, Self::Memory(_))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(_) => "redis",
            Self::Embedded(_) => "embedded",
        }
    }

    /// The session for a token hash, if it exists and its TTL has not run out. Shared: the
    /// memory store and the client-side cache hand out their own copy without cloning it.
    pub async fn get_session(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<Arc<SessionRecord>>, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.get_session(hash)),
            // Boxed: the Redis read's future is almost 4 KiB, and inline every caller's future
            // would carry (and move) that much on every check, whichever store answers it.
            Self::Redis(store) => Box::pin(store.get_session(hash)).await,
            Self::Embedded(store) => Ok(store.get_session(hash)),
        }
    }

    /// Creates or replaces a session, kept for `ttl`, and lists it under its user.
    pub async fn put_session(
        &self,
        hash: &TokenHash,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => store.put_session(*hash, record.clone(), ttl),
            Self::Redis(store) => store.put_session(hash, record, ttl).await,
            Self::Embedded(store) => store.put_session(hash, record, ttl).await,
        }
    }

    /// Replaces a live session's record and TTL, but only while it still exists: answers
    /// whether it did. A session deleted meanwhile (a sign-out, a retirement) stays deleted,
    /// and its user's index gains nothing. `record.user` must be the stored session's user.
    pub async fn replace_session_if_present(
        &self,
        hash: &TokenHash,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.replace_session_if_present(hash, record.clone(), ttl)),
            // Boxed, as in `get_session`: this is the check path's keepalive write (see
            // `touch_if_due`), and inline the Redis and file writes' 4 KiB futures made every
            // caller's future that large, copied into a task on every keepalive.
            Self::Redis(store) => {
                Box::pin(store.replace_session_if_present(hash, record, ttl)).await
            }
            Self::Embedded(store) => {
                Box::pin(store.replace_session_if_present(hash, record, ttl)).await
            }
        }
    }

    /// Ends a session. Deleting one that does not exist is not an error.
    pub async fn delete_session(&self, hash: &TokenHash, user: &str) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                store.delete_session(hash, user);
                Ok(())
            }
            Self::Redis(store) => store.delete_session(hash, user).await,
            Self::Embedded(store) => store.delete_session(hash).await,
        }
    }

    /// The live sessions of `user` (any spelling case).
    pub async fn user_sessions(&self, user: &str) -> Result<Vec<TokenHash>, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.user_sessions(user)),
            Self::Redis(store) => store.user_sessions(user).await,
            Self::Embedded(store) => Ok(store.user_sessions(user)),
        }
    }

    /// Ends every session of `user` ("log out everywhere"); returns how many there were.
    pub async fn delete_user_sessions(&self, user: &str) -> Result<usize, StoreError> {
        match self {
            Self::Memory(store) => {
                let hashes = store.user_sessions(user);
                for hash in &hashes {
                    store.delete_session(hash, user);
                }
                Ok(hashes.len())
            }
            Self::Redis(store) => store.delete_user_sessions(user).await,
            Self::Embedded(store) => store.delete_user_sessions(user).await,
        }
    }

    /// Adds one failure to the counter `id`; a new counter's window is `window`.
    pub async fn count_failure(&self, id: &str, window: Duration) -> Result<Counter, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.count(&memory_key(Kind::Failures, id), window)),
            Self::Redis(store) => store.count(Kind::Failures, id, window).await,
            Self::Embedded(store) => store.count(memory_key(Kind::Failures, id), window).await,
        }
    }

    /// Takes one failure off the counter `id` (never below zero), keeping its window: a
    /// failure counted ahead of a check (a reservation) whose secret turned out right.
    pub async fn forgive_failure(&self, id: &str) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                store.forgive(&memory_key(Kind::Failures, id));
                Ok(())
            }
            Self::Redis(store) => store.forgive(Kind::Failures, id).await,
            Self::Embedded(store) => store.forgive(memory_key(Kind::Failures, id)).await,
        }
    }

    pub async fn failures(&self, id: &str) -> Result<Counter, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.counter(&memory_key(Kind::Failures, id))),
            Self::Redis(store) => store.counter(Kind::Failures, id).await,
            Self::Embedded(store) => store.counter(&memory_key(Kind::Failures, id)),
        }
    }

    pub async fn clear_failures(&self, id: &str) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                store.remove(&memory_key(Kind::Failures, id));
                Ok(())
            }
            Self::Redis(store) => store.remove(Kind::Failures, id).await,
            Self::Embedded(store) => store.remove(memory_key(Kind::Failures, id)).await,
        }
    }

    /// Takes one token from the bucket `id` (refilled at `rate`/s up to `burst`). `None`: the
    /// request may go; `Some(wait)`: refused, try again after `wait`.
    pub async fn take_token(
        &self,
        id: &str,
        rate: f64,
        burst: u32,
    ) -> Result<Option<Duration>, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.take_token(&memory_key(Kind::Bucket, id), rate, burst)),
            Self::Redis(store) => store.take_token(id, rate, burst).await,
            Self::Embedded(store) => {
                Ok(store.take_token(&memory_key(Kind::Bucket, id), rate, burst))
            }
        }
    }

    /// Sets the mark `id` for `ttl` if it is not set; true when this call set it.
    pub async fn mark_once(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.mark_once(&memory_key(Kind::Mark, id), ttl)),
            Self::Redis(store) => store.mark_once(id, ttl).await,
            Self::Embedded(store) => store.mark_once(memory_key(Kind::Mark, id), ttl).await,
        }
    }

    pub async fn is_marked(&self, id: &str) -> Result<bool, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.is_marked(&memory_key(Kind::Mark, id))),
            Self::Redis(store) => store.is_marked(id).await,
            Self::Embedded(store) => store.is_marked(&memory_key(Kind::Mark, id)),
        }
    }

    /// Stores `value` under `id` for `ttl` unless something is there; true when stored.
    pub async fn put_value(
        &self,
        id: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.put_value(&memory_key(Kind::Value, id), value, ttl)),
            Self::Redis(store) => store.put_value(id, value, ttl).await,
            Self::Embedded(store) => {
                store
                    .put_value(memory_key(Kind::Value, id), value, ttl, false)
                    .await
            }
        }
    }

    /// Stores `value` under `id` for `ttl`, replacing what is there.
    pub async fn set_value(
        &self,
        id: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                store.set_value(&memory_key(Kind::Value, id), value, ttl);
                Ok(())
            }
            Self::Redis(store) => store.set_value(id, value, ttl).await,
            Self::Embedded(store) => store
                .put_value(memory_key(Kind::Value, id), value, ttl, true)
                .await
                .map(drop),
        }
    }

    /// Reads the value under `id` and leaves it there.
    pub async fn peek_value(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.peek_value(&memory_key(Kind::Value, id))),
            Self::Redis(store) => store.peek_value(id).await,
            Self::Embedded(store) => store.peek_value(&memory_key(Kind::Value, id)),
        }
    }

    /// Reads and deletes the value under `id`: each value can be taken once.
    pub async fn take_value(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.take_value(&memory_key(Kind::Value, id))),
            Self::Redis(store) => store.take_value(id).await,
            Self::Embedded(store) => store.take_value(memory_key(Kind::Value, id)).await,
        }
    }

    /// Deletes the value under `id` only if it is still `expected`, in one atomic step on every
    /// backend (compare-and-delete); true when it was deleted. An owned lock's release: a
    /// holder that ran past its TTL never frees the lock the next holder took meanwhile.
    pub async fn take_value_if(&self, id: &str, expected: &[u8]) -> Result<bool, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.take_value_if(&memory_key(Kind::Value, id), expected)),
            Self::Redis(store) => store.take_value_if(id, expected).await,
            Self::Embedded(store) => {
                store
                    .take_value_if(memory_key(Kind::Value, id), expected.to_vec())
                    .await
            }
        }
    }

    /// Answers when the backend is reachable (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Memory(_) => Ok(()),
            Self::Redis(store) => store.ping().await,
            Self::Embedded(store) => store.ping(),
        }
    }

    /// Live sessions, where the backend counts them without a round trip: memory, and the
    /// embedded store's in-memory copy of its committed sessions.
    pub fn session_count(&self) -> Option<usize> {
        match self {
            Self::Memory(store) => Some(store.session_count()),
            Self::Embedded(store) => Some(store.session_count()),
            Self::Redis(_) => None,
        }
    }

    /// Hits and misses of the Redis client-side session cache, when it is on.
    pub fn client_cache_counts(&self) -> Option<(u64, u64)> {
        match self {
            Self::Memory(_) | Self::Embedded(_) => None,
            Self::Redis(store) => store.client_cache_counts(),
        }
    }

    /// Drops expired entries; the server calls this periodically. Redis expires on its own.
    pub fn sweep_expired(&self) -> usize {
        match self {
            Self::Memory(store) => store.sweep_expired(),
            Self::Redis(_) => 0,
            Self::Embedded(store) => store.sweep_expired(),
        }
    }
}
