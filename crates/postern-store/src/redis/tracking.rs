//! The connection that keeps the session cache exact. It asks Redis to broadcast a message
//! for every change to any session key (`CLIENT TRACKING ON BCAST PREFIX <prefix>session:`,
//! RESP3), whichever replica made it, and drops those entries the moment a message
//! arrives. Broadcast mode keeps no per-key table in Redis, and session writes are rare
//! (sign-in, sign-out, the throttled idle-deadline move).
//!
//! The cache is live only while this connection is subscribed and answering: it asks for
//! Redis's `ROLE` every `HEALTH_INTERVAL` (a demoted sentinel master, or a silent network,
//! fails it) and the cache empties and stops serving as soon as the connection drops or
//! an answer is late. It then reconnects every `RETRY` while the data path carries on.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redis::{PushInfo, PushKind, RedisError, Value};
use tokio::task::JoinHandle;

use super::cache::SessionCache;
use super::connection::Connector;
use crate::keys::Keys;

const HEALTH_INTERVAL: Duration = Duration::from_millis(500);
const RETRY: Duration = Duration::from_millis(250);

/// Starts the tracking task on first use (inside a runtime) and stops it when the last
/// clone of the store is dropped.
#[derive(Clone)]
pub struct Tracker {
    cache: SessionCache,
    connector: Connector,
    keys: Keys,
    timeout: Duration,
    task: Arc<OnceLock<AbortOnDrop>>,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Tracker {
    pub fn new(cache: SessionCache, connector: Connector, keys: Keys, timeout: Duration) -> Self {
        Self {
            cache,
            connector,
            keys,
            timeout,
            task: Arc::new(OnceLock::new()),
        }
    }

    /// The cache, with its tracking task running.
    pub fn cache(&self) -> &SessionCache {
        self.task.get_or_init(|| {
            AbortOnDrop(tokio::spawn(follow(
                self.cache.clone(),
                self.connector.clone(),
                self.keys.clone(),
                self.timeout,
            )))
        });
        &self.cache
    }
}

async fn follow(cache: SessionCache, connector: Connector, keys: Keys, timeout: Duration) {
    loop {
        match subscribe(&cache, &connector, &keys, timeout).await {
            Ok(mut conn) => {
                cache.set_live(true);
                tracing::debug!("session cache live");
                let err = watch(&cache, &mut conn, timeout).await;
                cache.set_live(false);
                tracing::warn!(error = %err, "session cache off until Redis tracking is back");
            }
            Err(err) => {
                cache.set_live(false);
                tracing::debug!(error = %err, "cannot subscribe the session cache to Redis");
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

async fn subscribe(
    cache: &SessionCache,
    connector: &Connector,
    keys: &Keys,
    timeout: Duration,
) -> Result<redis::aio::MultiplexedConnection, RedisError> {
    let pushes = {
        let cache = cache.clone();
        let keys = keys.clone();
        move |push: PushInfo| -> Result<(), std::convert::Infallible> {
            on_push(&cache, &keys, push);
            Ok(())
        }
    };
    let connect = async {
        let mut conn = connector.push_connection(timeout, pushes).await?;
        let () = redis::cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .arg("BCAST")
            .arg("PREFIX")
            .arg(keys.session_prefix())
            .query_async(&mut conn)
            .await?;
        Ok(conn)
    };
    tokio::time::timeout(timeout, connect)
        .await
        .unwrap_or_else(|_| Err(timed_out()))
}

/// Returns (with the reason) when the connection stops being trustworthy.
async fn watch(
    cache: &SessionCache,
    conn: &mut redis::aio::MultiplexedConnection,
    timeout: Duration,
) -> RedisError {
    loop {
        tokio::time::sleep(HEALTH_INTERVAL).await;
        if !cache.is_live() {
            // A disconnection message turned it off: start over with a new connection.
            return not_trusted("the session cache's connection dropped");
        }
        let ask = redis::cmd("ROLE");
        match tokio::time::timeout(timeout, ask.query_async::<Value>(conn)).await {
            Ok(Ok(Value::Array(parts))) if is_master(parts.first()) => {}
            Ok(Ok(_)) => {
                return not_trusted("the tracked server is no longer the master");
            }
            Ok(Err(err)) => return err,
            Err(_) => return timed_out(),
        }
    }
}

fn is_master(role: Option<&Value>) -> bool {
    match role {
        Some(Value::BulkString(role)) => role.as_slice() == b"master",
        Some(Value::SimpleString(role)) => role == "master",
        _ => false,
    }
}

/// Invalidations drop their sessions; a flush (no keys), anything unreadable, or the end
/// of the connection empties the cache.
fn on_push(cache: &SessionCache, keys: &Keys, push: PushInfo) {
    match push.kind {
        PushKind::Invalidate => match push.data.first() {
            Some(Value::Array(changed)) => {
                for key in changed {
                    match key {
                        Value::BulkString(key) => match keys.session_hash(key) {
                            Some(hash) => cache.invalidate(&hash),
                            None => cache.invalidate_all(),
                        },
                        _ => cache.invalidate_all(),
                    }
                }
            }
            _ => cache.invalidate_all(),
        },
        PushKind::Disconnection => cache.set_live(false),
        _ => {}
    }
}

fn not_trusted(why: &'static str) -> RedisError {
    RedisError::from((redis::ErrorKind::Client, why))
}

fn timed_out() -> RedisError {
    RedisError::from((
        redis::ErrorKind::Io,
        "Redis did not answer the session cache's connection in time",
    ))
}
