//! The Redis backend (standalone, Sentinel or Cluster; Valkey too). Every call has a timeout;
//! every error is `StoreError::Unavailable`, which callers answer by failing closed.

mod batch;
mod cache;
mod connection;
mod records;
mod scripts;
mod tracking;

use std::sync::Arc;
use std::time::Duration;

use postern_core::config::RedisConfig;
use postern_core::session::SessionRecord;
use postern_core::token::TokenHash;
use redis::{AsyncCommands, ProtocolVersion, RedisError};

use self::batch::ReadBatcher;
use self::cache::SessionCache;
use self::connection::{Conn, Connector};
use self::tracking::Tracker;
use crate::keys::{Keys, Kind};
use crate::{Counter, StoreError};

/// Index entries removed per `ZREM`: a user with many sessions is not one huge command.
const INDEX_REMOVALS_PER_CALL: usize = 1000;

#[derive(Clone)]
pub struct RedisStore {
    link: Link,
    keys: Keys,
    wait_replicas: u32,
    /// The check path's session reads, batched.
    session_reads: ReadBatcher,
    /// `client_cache`: sessions already read, kept exact by Redis's invalidations.
    cached: Option<Tracker>,
}

/// The connection and the timeout every call runs under.
#[derive(Clone)]
struct Link {
    connector: Connector,
    timeout: Duration,
}

impl Link {
    /// Runs `call` on a live connection under the store timeout. Errors tell the connector
    /// (so a demoted sentinel master is dropped) and become `Unavailable`.
    async fn run<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let attempt = async {
            let conn = self.connector.get(self.timeout).await?;
            call(conn).await
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                self.connector.observe_error(&err).await;
                Err(StoreError::unavailable_because("Redis call failed", err))
            }
            Err(elapsed) => Err(StoreError::unavailable_because(
                format!(
                    "Redis did not answer within {} ms",
                    self.timeout.as_millis()
                ),
                elapsed,
            )),
        }
    }
}

impl RedisStore {
    /// Prepares the connection; nothing is sent until the first call.
    pub fn new(config: &RedisConfig) -> Result<Self, StoreError> {
        // redis-rs builds its TLS client with the process-wide rustls provider; make sure there
        // is one (ring, as everywhere in postern). Err only means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let configuration =
            |err: RedisError| StoreError::unavailable_because("Redis configuration", err);
        let connector = Connector::new(config, ProtocolVersion::RESP2).map_err(configuration)?;
        let keys = Keys::new(&config.key_prefix);
        let cached = match config.client_cache {
            Some(size) => Some(Tracker::new(
                SessionCache::new(size),
                Connector::new(config, ProtocolVersion::RESP3).map_err(configuration)?,
                keys.clone(),
                config.timeout,
            )),
            None => None,
        };
        Ok(Self {
            link: Link {
                connector,
                timeout: config.timeout,
            },
            keys,
            wait_replicas: config.wait_replicas,
            session_reads: ReadBatcher::default(),
            cached,
        })
    }

    async fn run<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        self.link.run(call).await
    }

    /// With `wait_replicas`, waits (up to half the store timeout) until that many replicas
    /// acknowledged the writes made so far on this connection, so a failover right after a
    /// login or logout cannot undo it. A shortfall (no healthy replica, e.g. just after a
    /// failover) is logged, not fatal: sign-in stays available, at the durability Redis has.
    async fn wait_for_replicas(&self, conn: &mut Conn) -> Result<(), RedisError> {
        if self.wait_replicas == 0 {
            return Ok(());
        }
        let timeout_ms = u64::try_from(self.link.timeout.as_millis() / 2).unwrap_or(250);
        let acknowledged: u32 = redis::cmd("WAIT")
            .arg(self.wait_replicas)
            .arg(timeout_ms)
            .query_async(conn)
            .await?;
        if acknowledged < self.wait_replicas {
            tracing::warn!(
                acknowledged,
                wanted = self.wait_replicas,
                "too few Redis replicas acknowledged a session write"
            );
        }
        Ok(())
    }

    /// Hits and misses of the client-side cache, when it is on.
    pub fn client_cache_counts(&self) -> Option<(u64, u64)> {
        self.cached.as_ref().map(|tracker| tracker.cache().counts())
    }

    pub async fn get_session(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<Arc<SessionRecord>>, StoreError> {
        let cache = self.cached.as_ref().map(Tracker::cache);
        let ticket = match cache.map(|cache| cache.lookup(hash)) {
            Some(Ok(record)) => return Ok(Some(record)),
            Some(Err(ticket)) => ticket,
            None => None,
        };
        // Built only on a miss: a cache hit allocates nothing here.
        let key = self.keys.session(hash);
        let fetched = self
            .session_reads
            .get(&self.link, key, ticket.is_some())
            .await?;
        let record: Option<Arc<SessionRecord>> = fetched.value.and_then(|bytes| {
            match serde_json::from_slice(&bytes) {
                Ok(record) => Some(Arc::new(record)),
                Err(err) => {
                    tracing::warn!(error = %err, "ignoring a session record that does not decode");
                    None
                }
            }
        });
        if let (Some(cache), Some(ticket), Some(record), Some(ttl)) =
            (cache, ticket, &record, fetched.ttl)
        {
            cache.fill(hash, record, ttl, ticket);
        }
        Ok(record)
    }

    /// This replica's own session writes reach its cache at once, not only when Redis's
    /// message arrives.
    fn forget_cached(&self, hash: &TokenHash) {
        if let Some(tracker) = &self.cached {
            tracker.cache().invalidate(hash);
        }
    }

    pub async fn put_session(
        &self,
        hash: &TokenHash,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        self.write_session(hash, record, ttl, Write::Always)
            .await
            .map(drop)
    }

    /// `SET ... XX`: Redis writes only while the key exists, in one command, so a delete
    /// between a check's read and this write wins; `ZADD XX` likewise adds no index entry.
    pub async fn replace_session_if_present(
        &self,
        hash: &TokenHash,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.write_session(hash, record, ttl, Write::IfPresent)
            .await
    }

    /// Writes the session and its index entry; answers whether it was written.
    async fn write_session(
        &self,
        hash: &TokenHash,
        record: &SessionRecord,
        ttl: Duration,
        write: Write,
    ) -> Result<bool, StoreError> {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let body = serde_json::to_vec(record).map_err(|err| {
            StoreError::unavailable_because("the session record could not be encoded", err)
        })?;
        let session_key = self.keys.session(hash);
        let index_key = self.keys.user_sessions(&record.user);
        let member = hash.to_hex();
        let only_if_present = matches!(write, Write::IfPresent);
        let written = self
            .run(|mut conn| async move {
                let mut set = redis::cmd("SET");
                set.arg(&session_key).arg(body).arg("PX").arg(ttl_ms);
                if only_if_present {
                    set.arg("XX");
                }
                let stored: Option<String> = set.query_async(&mut conn).await?;
                if stored.is_none() {
                    return Ok(false);
                }
                let _: i64 = scripts::INDEX_SESSION
                    .key(&index_key)
                    .arg(member)
                    .arg(ttl_ms)
                    .arg(if only_if_present { "XX" } else { "" })
                    .invoke_async(&mut conn)
                    .await?;
                self.wait_for_replicas(&mut conn).await.map(|()| true)
            })
            .await;
        self.forget_cached(hash);
        written
    }

    pub async fn delete_session(&self, hash: &TokenHash, user: &str) -> Result<(), StoreError> {
        let session_key = self.keys.session(hash);
        let index_key = self.keys.user_sessions(user);
        let member = hash.to_hex();
        let deleted = self
            .run(|mut conn| async move {
                let _: i64 = conn.del(&session_key).await?;
                let _: i64 = conn.zrem(&index_key, member).await?;
                self.wait_for_replicas(&mut conn).await
            })
            .await;
        self.forget_cached(hash);
        deleted
    }

    pub async fn user_sessions(&self, user: &str) -> Result<Vec<TokenHash>, StoreError> {
        let index_key = self.keys.user_sessions(user);
        let members: Vec<String> = self
            .run(|mut conn| async move {
                scripts::LIVE_SESSIONS
                    .key(&index_key)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(members
            .iter()
            .filter_map(|hex| TokenHash::from_hex(hex))
            .collect())
    }

    /// Ends every session of `user`. The sessions spread over cluster slots, so they are
    /// deleted one by one: not atomic, but each deletion is final. Only the index entries read
    /// are removed, never the whole index: a sign-in indexed meanwhile stays in it, so the next
    /// revocation finds it (with `DEL` it outlived every later one, unindexed).
    pub async fn delete_user_sessions(&self, user: &str) -> Result<usize, StoreError> {
        let index_key = self.keys.user_sessions(user);
        let members: Vec<String> = self
            .run(|mut conn| {
                let key = index_key.clone();
                async move { conn.zrange(&key, 0, -1).await }
            })
            .await?;
        let hashes: Vec<TokenHash> = members
            .iter()
            .filter_map(|hex| TokenHash::from_hex(hex))
            .collect();
        let session_keys: Vec<String> = hashes.iter().map(|hash| self.keys.session(hash)).collect();
        let count = session_keys.len();
        let deleted = self
            .run(|mut conn| async move {
                for key in session_keys {
                    let _: i64 = conn.del(key).await?;
                }
                for read in members.chunks(INDEX_REMOVALS_PER_CALL) {
                    let _: i64 = conn.zrem(&index_key, read).await?;
                }
                self.wait_for_replicas(&mut conn).await
            })
            .await;
        for hash in &hashes {
            self.forget_cached(hash);
        }
        deleted.map(|()| count)
    }

    pub async fn count(
        &self,
        kind: Kind,
        id: &str,
        window: Duration,
    ) -> Result<Counter, StoreError> {
        let key = self.keys.other(kind, id);
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let (count, ttl_ms): (u64, i64) = self
            .run(|mut conn| async move {
                scripts::COUNT
                    .key(key)
                    .arg(window_ms)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(Counter {
            count,
            resets_in: Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0)),
        })
    }

    pub async fn counter(&self, kind: Kind, id: &str) -> Result<Counter, StoreError> {
        let key = self.keys.other(kind, id);
        let (count, ttl_ms): (Option<u64>, i64) = self
            .run(|mut conn| async move {
                redis::pipe()
                    .get(&key)
                    .pttl(&key)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(match count {
            Some(count) => Counter {
                count,
                resets_in: Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0)),
            },
            None => Counter::ZERO,
        })
    }

    pub async fn forgive(&self, kind: Kind, id: &str) -> Result<(), StoreError> {
        let key = self.keys.other(kind, id);
        self.run(|mut conn| async move {
            scripts::FORGIVE
                .key(key)
                .invoke_async::<i64>(&mut conn)
                .await
                .map(drop)
        })
        .await
    }

    pub async fn remove(&self, kind: Kind, id: &str) -> Result<(), StoreError> {
        let key = self.keys.other(kind, id);
        self.run(|mut conn| async move { conn.del::<_, i64>(key).await.map(drop) })
            .await
    }

    pub async fn take_token(
        &self,
        id: &str,
        rate: f64,
        burst: u32,
    ) -> Result<Option<Duration>, StoreError> {
        let key = self.keys.other(Kind::Bucket, id);
        let wait_ms: u64 = self
            .run(|mut conn| async move {
                scripts::TAKE_TOKEN
                    .key(key)
                    .arg(rate)
                    .arg(burst.max(1))
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok((wait_ms > 0).then(|| Duration::from_millis(wait_ms)))
    }

    pub async fn mark_once(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let key = self.keys.other(Kind::Mark, id);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = self
            .run(|mut conn| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(set.is_some())
    }

    pub async fn is_marked(&self, id: &str) -> Result<bool, StoreError> {
        let key = self.keys.other(Kind::Mark, id);
        self.run(|mut conn| async move { conn.exists(key).await })
            .await
    }

    pub async fn put_value(
        &self,
        id: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let key = self.keys.other(Kind::Value, id);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let set: Option<String> = self
            .run(|mut conn| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(set.is_some())
    }

    pub async fn set_value(
        &self,
        id: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = self.keys.other(Kind::Value, id);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.run(|mut conn| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(value)
                .arg("PX")
                .arg(ttl_ms)
                .query_async::<()>(&mut conn)
                .await
        })
        .await
    }

    pub async fn peek_value(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.keys.other(Kind::Value, id);
        self.run(|mut conn| async move { redis::cmd("GET").arg(key).query_async(&mut conn).await })
            .await
    }

    pub async fn take_value(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.keys.other(Kind::Value, id);
        self.run(
            |mut conn| async move { redis::cmd("GETDEL").arg(key).query_async(&mut conn).await },
        )
        .await
    }

    pub async fn take_value_if(&self, id: &str, expected: &[u8]) -> Result<bool, StoreError> {
        let key = self.keys.other(Kind::Value, id);
        let deleted: i64 = self
            .run(|mut conn| async move {
                scripts::TAKE_IF
                    .key(key)
                    .arg(expected)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(deleted == 1)
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(|mut conn| async move {
            let _: String = redis::cmd("PING").query_async(&mut conn).await?;
            Ok(())
        })
        .await
    }
}

/// Whether a session write may create the session or only replace it.
enum Write {
    Always,
    IfPresent,
}
