//! Several changes in one step, for the sign-in path. On the embedded store each step is one
//! write transaction and one durable commit, so a sign-in waits for one fsync instead of one
//! per change (its failure counts, the session, its device details). Memory and Redis apply
//! the changes one after the other, exactly as the single calls do.
//!
//! Counting failures comes in two halves (`count_failures`, then `Pending::committed`): the
//! counts are known as soon as they are applied, and the commit that makes them durable runs
//! while the caller checks the secret (argon2 takes far longer than an fsync). Nothing may be
//! answered to a client before `committed` said so: an unrecorded failure would not count.

use std::time::Duration;

use postern_core::session::SessionRecord;
use postern_core::token::TokenHash;
use tokio::sync::oneshot;

use crate::keys::Kind;
use crate::{Counter, Store, StoreError, memory_key};

/// One change of `Store::apply`; each means what the single call of the same name means.
#[derive(Debug, Clone)]
pub enum Change {
    PutSession {
        hash: TokenHash,
        record: SessionRecord,
        ttl: Duration,
    },
    DeleteSession {
        hash: TokenHash,
        user: String,
    },
    ForgiveFailure(String),
    ClearFailures(String),
    /// `put_value`: stored unless a value is there already (which is not an error here).
    PutValue {
        id: String,
        value: Vec<u8>,
        ttl: Duration,
    },
}

/// `change` with the embedded store's own keys (`memory_key`).
fn keyed(change: Change) -> Change {
    match change {
        Change::ForgiveFailure(id) => Change::ForgiveFailure(memory_key(Kind::Failures, &id)),
        Change::ClearFailures(id) => Change::ClearFailures(memory_key(Kind::Failures, &id)),
        Change::PutValue { id, value, ttl } => Change::PutValue {
            id: memory_key(Kind::Value, &id),
            value,
            ttl,
        },
        session @ (Change::PutSession { .. } | Change::DeleteSession { .. }) => session,
    }
}

/// The commit of counts already answered by `Store::count_failures`.
#[must_use = "wait for the commit before answering the client"]
pub struct Pending(Option<oneshot::Receiver<Result<(), StoreError>>>);

impl Pending {
    /// Already durable (memory, Redis).
    pub(crate) const DONE: Self = Self(None);

    pub(crate) fn after(commit: oneshot::Receiver<Result<(), StoreError>>) -> Self {
        Self(Some(commit))
    }

    /// Waits until the counts are durable; `Err` when the commit failed (they are not).
    pub async fn committed(self) -> Result<(), StoreError> {
        match self.0 {
            None => Ok(()),
            Some(commit) => commit
                .await
                .unwrap_or_else(|_| Err(StoreError::unavailable("the data file writer stopped"))),
        }
    }
}

impl Store {
    /// Applies `changes` in order; on the embedded store all in one durable commit. A
    /// session refused for `max_sessions` (`StoreError::Full`) stops the changes after it;
    /// the ones before it stay applied, as they would have one call at a time.
    pub async fn apply(&self, changes: Vec<Change>) -> Result<(), StoreError> {
        if let Self::Embedded(store) = self {
            return store.apply(changes.into_iter().map(keyed).collect()).await;
        }
        for change in changes {
            match change {
                Change::PutSession { hash, record, ttl } => {
                    self.put_session(&hash, &record, ttl).await?
                }
                Change::DeleteSession { hash, user } => self.delete_session(&hash, &user).await?,
                Change::ForgiveFailure(id) => self.forgive_failure(&id).await?,
                Change::ClearFailures(id) => self.clear_failures(&id).await?,
                Change::PutValue { id, value, ttl } => {
                    self.put_value(&id, value, ttl).await?;
                }
            }
        }
        Ok(())
    }

    /// Adds one failure to each counter (`id`, window for a new counter) and answers the
    /// counts, in order; the commit that makes them durable is `Pending`.
    pub async fn count_failures(
        &self,
        counters: &[(&str, Duration)],
    ) -> Result<(Vec<Counter>, Pending), StoreError> {
        if let Self::Embedded(store) = self {
            let keyed = counters
                .iter()
                .map(|(id, window)| (memory_key(Kind::Failures, id), *window))
                .collect();
            return store.count_failures(keyed).await;
        }
        let mut counts = Vec::with_capacity(counters.len());
        for (id, window) in counters {
            counts.push(self.count_failure(id, *window).await?);
        }
        Ok((counts, Pending::DONE))
    }

    /// `Pending::committed`, as a store call (so the server can meter it like the others).
    pub async fn committed(&self, pending: Pending) -> Result<(), StoreError> {
        pending.committed().await
    }
}
