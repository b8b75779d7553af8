//! All state that outlives a request, each entry with a TTL. One enum, one contract: the
//! server never knows which backend it talks to, and `tests/contract.rs` runs the same suite
//! against every backend.
#![forbid(unsafe_code)]

mod memory;

use std::time::Duration;

pub use memory::MemoryStore;
use postern_core::session::SessionRecord;
use postern_core::token::TokenHash;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The backend did not answer. Callers fail closed.
    #[error("the session store is unavailable: {0}")]
    Unavailable(String),
    /// The memory store holds `max_sessions` live sessions already.
    #[error("the session store is full ({0} sessions)")]
    Full(usize),
}

/// The session store.
#[derive(Clone)]
pub enum Store {
    Memory(MemoryStore),
}

impl Store {
    pub fn memory(max_sessions: usize) -> Self {
        Self::Memory(MemoryStore::new(max_sessions))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
        }
    }

    /// The session for a token hash, if it exists and its TTL has not run out.
    pub async fn get_session(&self, key: &TokenHash) -> Result<Option<SessionRecord>, StoreError> {
        match self {
            Self::Memory(store) => Ok(store.get(key)),
        }
    }

    /// Creates or replaces a session, kept for `ttl`.
    pub async fn put_session(
        &self,
        key: &TokenHash,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => store.put(*key, record.clone(), ttl),
        }
    }

    /// Ends a session. Deleting a session that does not exist is not an error.
    pub async fn delete_session(&self, key: &TokenHash) -> Result<(), StoreError> {
        match self {
            Self::Memory(store) => {
                store.delete(key);
                Ok(())
            }
        }
    }

    /// Answers when the backend is reachable (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Self::Memory(_) => Ok(()),
        }
    }

    /// Drops expired entries; the server calls this periodically. Backends with their own
    /// expiry do nothing here.
    pub fn sweep_expired(&self) -> usize {
        match self {
            Self::Memory(store) => store.sweep_expired(),
        }
    }
}
