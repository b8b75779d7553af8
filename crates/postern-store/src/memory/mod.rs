//! The embedded store. Everything is bounded: sessions by `max_sessions`, everything else by a
//! separate cap, so no map grows without limit whatever clients send.

mod records;
mod sessions;
mod ttl_map;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postern_core::limits::BucketRule;
use postern_core::session::SessionRecord;
use postern_core::token::TokenHash;

use self::records::Records;
use self::sessions::SessionMap;
use self::ttl_map::{Action, Entry, TtlMap, Value, expires_in};
use crate::keys::VALUE_NAMESPACE;
use crate::{ANONYMOUS_VALUES, Counter, StoreError};

/// Entries other than sessions the memory store keeps at most: failure counters in one map,
/// buckets and values in another, values anyone may make in a third, security marks in a
/// fourth, each this big.
pub const DEFAULT_MAX_OTHER_ENTRIES: usize = 200_000;

#[derive(Clone)]
pub struct MemoryStore {
    sessions: Arc<SessionMap>,
    /// Failure counters in a map of their own: a flood of them (failed sign-ins under random
    /// names, from many addresses) evicts only counters, and among them the lowest counts
    /// first (`ttl_map::make_room`), never a stored token or a sign-in in progress; and a flood
    /// of values (anonymous OAuth transactions) never evicts a counter.
    counters: Arc<TtlMap>,
    others: Arc<TtlMap>,
    /// Values anyone may make without credentials (`ANONYMOUS_VALUES`: an OAuth sign-in's
    /// start, a passwordless passkey ceremony) in a map of their own: a flood of them evicts
    /// only their like, never a sign-in in progress (a pending second step, an OpenID code, a
    /// ticket), which would otherwise go first, being the soonest to expire.
    anonymous: Arc<TtlMap>,
    /// Security marks (a TOTP step used, a refresh token spent, a token family revoked) in a
    /// map of their own: setting one takes valid credentials, so a flood of anonymous entries
    /// (failure counters, sign-in transactions) can never evict one and re-open a replay.
    marks: Arc<TtlMap>,
    /// Durable user records: no TTL and no eviction, but only as durable as the process.
    pub(crate) records: Arc<Records>,
}

impl MemoryStore {
    pub fn new(max_sessions: usize) -> Self {
        Self::with_limits(max_sessions, DEFAULT_MAX_OTHER_ENTRIES)
    }

    pub fn with_limits(max_sessions: usize, max_other_entries: usize) -> Self {
        Self {
            sessions: Arc::new(SessionMap::new(max_sessions)),
            counters: Arc::new(TtlMap::new(max_other_entries)),
            others: Arc::new(TtlMap::new(max_other_entries)),
            anonymous: Arc::new(TtlMap::new(max_other_entries)),
            marks: Arc::new(TtlMap::new(max_other_entries)),
            records: Arc::new(Records::default()),
        }
    }

    /// Live and not yet swept sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Entries other than sessions and marks (counters, buckets, values), including expired
    /// ones not yet swept.
    pub fn other_count(&self) -> usize {
        self.counters.len() + self.others.len() + self.anonymous.len()
    }

    /// The map a value lives in: `key` is the value's, as `Store` spells it (`value:<id>`).
    fn values(&self, key: &str) -> &TtlMap {
        let anonymous = key
            .strip_prefix(VALUE_NAMESPACE)
            .is_some_and(|id| ANONYMOUS_VALUES.iter().any(|prefix| id.starts_with(prefix)));
        if anonymous {
            &self.anonymous
        } else {
            &self.others
        }
    }

    pub(crate) fn get_session(&self, key: &TokenHash) -> Option<Arc<SessionRecord>> {
        self.sessions.get(key)
    }

    pub(crate) fn put_session(
        &self,
        key: TokenHash,
        record: SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.sessions.put(key, record, ttl)
    }

    pub(crate) fn replace_session_if_present(
        &self,
        key: &TokenHash,
        record: SessionRecord,
        ttl: Duration,
    ) -> bool {
        self.sessions.replace_if_present(key, record, ttl)
    }

    pub(crate) fn delete_session(&self, key: &TokenHash, user: &str) {
        self.sessions.delete(key, user);
    }

    pub(crate) fn user_sessions(&self, user: &str) -> Vec<TokenHash> {
        self.sessions.of_user(user)
    }

    pub(crate) fn count(&self, key: &str, window: Duration) -> Counter {
        self.counters.update(key, |entry| match entry {
            Some(Entry {
                value: Value::Counter(count),
                expires,
            }) => {
                *count += 1;
                (
                    Action::Keep,
                    Counter {
                        count: *count,
                        resets_in: expires.saturating_duration_since(Instant::now()),
                    },
                )
            }
            _ => {
                let entry = Entry {
                    value: Value::Counter(1),
                    expires: expires_in(window),
                };
                (
                    Action::Set(entry),
                    Counter {
                        count: 1,
                        resets_in: window,
                    },
                )
            }
        })
    }

    pub(crate) fn counter(&self, key: &str) -> Counter {
        self.counters.update(key, |entry| match entry {
            Some(Entry {
                value: Value::Counter(count),
                expires,
            }) => (
                Action::Keep,
                Counter {
                    count: *count,
                    resets_in: expires.saturating_duration_since(Instant::now()),
                },
            ),
            _ => (Action::Keep, Counter::ZERO),
        })
    }

    /// One off a live counter, never below zero; its expiry stays. Nothing to do when the
    /// window already ended (the count it would lower is gone).
    pub(crate) fn forgive(&self, key: &str) {
        self.counters.update(key, |entry| {
            if let Some(Entry {
                value: Value::Counter(count),
                ..
            }) = entry
            {
                *count = count.saturating_sub(1);
            }
            (Action::Keep, ())
        });
    }

    /// Clears a failure counter.
    pub(crate) fn remove(&self, key: &str) {
        self.counters.update(key, |_| (Action::Remove, ()));
    }

    /// A token bucket refilled at `rate` per second up to `burst` (`postern_core::limits`).
    /// `None`: allowed; `Some(wait)`: refused, a token will be there after `wait`.
    pub(crate) fn take_token(&self, key: &str, rate: f64, burst: u32) -> Option<Duration> {
        let now = Instant::now();
        let rule = BucketRule::new(rate, burst);
        self.others.update(key, |entry| {
            let bucket = match entry {
                Some(Entry {
                    value: Value::Bucket(bucket),
                    ..
                }) => Some(*bucket),
                _ => None,
            };
            let (after, wait) = rule.take(bucket, now);
            let entry = Entry {
                value: Value::Bucket(after),
                // The entry lives as long as a full refill takes; then a new one is the same.
                expires: now + rule.ttl(),
            };
            (Action::Set(entry), wait)
        })
    }

    pub(crate) fn mark_once(&self, key: &str, ttl: Duration) -> bool {
        self.marks.update(key, |entry| match entry {
            Some(_) => (Action::Keep, false),
            None => (
                Action::Set(Entry {
                    value: Value::Mark,
                    expires: expires_in(ttl),
                }),
                true,
            ),
        })
    }

    pub(crate) fn is_marked(&self, key: &str) -> bool {
        self.marks
            .update(key, |entry| (Action::Keep, entry.is_some()))
    }

    pub(crate) fn put_value(&self, key: &str, value: Vec<u8>, ttl: Duration) -> bool {
        self.values(key).update(key, |entry| match entry {
            Some(_) => (Action::Keep, false),
            None => (
                Action::Set(Entry {
                    value: Value::Bytes(value),
                    expires: expires_in(ttl),
                }),
                true,
            ),
        })
    }

    pub(crate) fn set_value(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        self.values(key).update(key, |_| {
            (
                Action::Set(Entry {
                    value: Value::Bytes(value),
                    expires: expires_in(ttl),
                }),
                (),
            )
        });
    }

    pub(crate) fn peek_value(&self, key: &str) -> Option<Vec<u8>> {
        self.values(key).update(key, |entry| match entry {
            Some(Entry {
                value: Value::Bytes(bytes),
                ..
            }) => (Action::Keep, Some(bytes.clone())),
            _ => (Action::Keep, None),
        })
    }

    pub(crate) fn take_value(&self, key: &str) -> Option<Vec<u8>> {
        self.values(key).update(key, |entry| match entry {
            Some(Entry {
                value: Value::Bytes(bytes),
                ..
            }) => (Action::Remove, Some(std::mem::take(bytes))),
            _ => (Action::Keep, None),
        })
    }

    /// Deletes the value under `key` if it is `expected`, under the shard's lock; true when
    /// deleted.
    pub(crate) fn take_value_if(&self, key: &str, expected: &[u8]) -> bool {
        self.values(key).update(key, |entry| match entry {
            Some(Entry {
                value: Value::Bytes(bytes),
                ..
            }) if bytes.as_slice() == expected => (Action::Remove, true),
            _ => (Action::Keep, false),
        })
    }

    pub(crate) fn sweep_expired(&self) -> usize {
        self.sessions.sweep_expired()
            + self.counters.sweep_expired()
            + self.others.sweep_expired()
            + self.anonymous.sweep_expired()
            + self.marks.sweep_expired()
    }
}

/// A poisoned lock only means another thread panicked while holding it; every mutation is a
/// single call on the map, so the data is still consistent: keep serving.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
