//! The client-side session cache (`[session.redis] client_cache`) against a real
//! redis-server: it spares Redis the repeated reads, and it never serves what another
//! replica changed or ended, nor anything while Redis is gone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use postern_core::session::{AuthLevel, SessionRecord};
use postern_core::token::TokenHash;
use postern_store::{Store, StoreError};
use postern_testkit::{RedisServer, redis_cli};

use crate::support::{cached_standalone, key, record, standalone};

/// How many `GET`s redis-server has run.
fn gets(port: u16) -> u64 {
    let stats = redis_cli(port, &["info", "commandstats"]);
    stats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_get:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0)
}

/// Reads once (which starts the cache's subscription), then waits until a second read of
/// the same session is served without Redis: the cache is live and holds it.
async fn warm(store: &Store, port: u16, hash: &TokenHash) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        store.get_session(hash).await.unwrap();
        let before = gets(port);
        store.get_session(hash).await.unwrap();
        if gets(port) == before {
            return;
        }
        assert!(Instant::now() < deadline, "the cache never went live");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A session for alice written through `writer` (with `ttl`), served from `reader`'s cache.
async fn cached_session(writer: &Store, reader: &Store, port: u16, ttl: Duration) -> TokenHash {
    let hash = key();
    writer
        .put_session(&hash, &record("alice"), ttl)
        .await
        .unwrap();
    warm(reader, port, &hash).await;
    hash
}

/// How long a change may take to reach the other replica's cache before a test fails. A
/// bound that only catches "never" (a lost invalidation), generous for a loaded machine: how
/// fast it really is (well under a millisecond on loopback) is printed, not asserted.
const REACHES_THE_CACHE: Duration = Duration::from_secs(5);

/// Polls `store` until `done` holds for its read of `hash`; returns how long that took.
async fn seen_within(
    store: &Store,
    hash: &TokenHash,
    limit: Duration,
    done: impl Fn(&Result<Option<Arc<SessionRecord>>, StoreError>) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let read = store.get_session(hash).await;
        if done(&read) {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "still {read:?} after {limit:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn repeated_reads_do_not_reach_redis() {
    let server = RedisServer::start();
    let replica = cached_standalone(server.port);
    let hash = cached_session(&replica, &replica, server.port, Duration::from_secs(60)).await;
    let before = gets(server.port);
    for _ in 0..100 {
        assert_eq!(
            replica.get_session(&hash).await.unwrap().as_deref(),
            Some(&record("alice"))
        );
    }
    assert_eq!(gets(server.port), before, "100 reads of a cached session");
}

#[tokio::test]
async fn a_sign_out_on_another_replica_reaches_the_cache() {
    let server = RedisServer::start();
    let (a, b) = (cached_standalone(server.port), standalone(server.port));
    let hash = cached_session(&b, &a, server.port, Duration::from_secs(60)).await;
    b.delete_session(&hash, "alice").await.unwrap();
    let took = seen_within(&a, &hash, REACHES_THE_CACHE, |read| {
        matches!(read, Ok(None))
    })
    .await;
    eprintln!("sign-out seen by the other replica after {took:?}");
}

#[tokio::test]
async fn a_change_on_another_replica_reaches_the_cache() {
    let server = RedisServer::start();
    let (a, b) = (cached_standalone(server.port), standalone(server.port));
    let hash = cached_session(&b, &a, server.port, Duration::from_secs(60)).await;
    let mut stronger = record("alice");
    stronger.level = AuthLevel::TwoFactor;
    b.put_session(&hash, &stronger, Duration::from_secs(60))
        .await
        .unwrap();
    let took = seen_within(
        &a,
        &hash,
        REACHES_THE_CACHE,
        |read| matches!(read, Ok(Some(found)) if found.level == AuthLevel::TwoFactor),
    )
    .await;
    eprintln!("change seen by the other replica after {took:?}");
}

#[tokio::test]
async fn log_out_everywhere_and_flushes_reach_the_cache() {
    let server = RedisServer::start();
    let (a, b) = (cached_standalone(server.port), standalone(server.port));
    let first = cached_session(&b, &a, server.port, Duration::from_secs(60)).await;
    let second = cached_session(&b, &a, server.port, Duration::from_secs(60)).await;
    b.delete_user_sessions("alice").await.unwrap();
    seen_within(&a, &first, REACHES_THE_CACHE, |read| {
        matches!(read, Ok(None))
    })
    .await;
    b.put_session(&second, &record("alice"), Duration::from_secs(60))
        .await
        .unwrap();
    warm(&a, server.port, &second).await;
    assert_eq!(redis_cli(server.port, &["flushall"]), "OK");
    seen_within(&a, &second, REACHES_THE_CACHE, |read| {
        matches!(read, Ok(None))
    })
    .await;
}

#[tokio::test]
async fn a_cached_session_ends_with_its_ttl() {
    let server = RedisServer::start();
    let replica = cached_standalone(server.port);
    let hash = cached_session(&replica, &replica, server.port, Duration::from_millis(400)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(replica.get_session(&hash).await, Ok(None));
}

#[tokio::test]
async fn nothing_is_served_from_the_cache_while_redis_is_down() {
    let mut server = RedisServer::start();
    let replica = cached_standalone(server.port);
    let hash = cached_session(&replica, &replica, server.port, Duration::from_secs(60)).await;
    server.stop();
    // The tracking connection's end turns the cache off at once, or the health check (every
    // 500 ms) notices it; the bound is generous for a loaded machine.
    seen_within(&replica, &hash, Duration::from_secs(10), |read| {
        matches!(read, Err(StoreError::Unavailable(_)))
    })
    .await;
    server.resume();
    let back = Instant::now();
    while replica.ping().await.is_err() {
        assert!(back.elapsed() < Duration::from_secs(10), "not back in 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The data went with the process; the cache did not keep it either.
    assert_eq!(replica.get_session(&hash).await, Ok(None));
}
