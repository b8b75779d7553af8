//! How much Redis memory a session costs, measured rather than guessed: sessions are seeded
//! through the real store into a fresh redis-server, and `INFO memory`'s `used_memory` is
//! read before and after. docs/high-availability.md quotes the figure this prints:
//!
//! `cargo test -p postern-store --test contract sizing -- --nocapture`
//!
//! The bound below fails the test when a change to the session record or the keys makes a
//! session markedly larger, so the sizing advice in the docs cannot silently go stale.

use std::time::Duration;

use postern_core::config::RedisMode;
use postern_core::session::{AuthLevel, SessionRecord};
use postern_core::token::SessionToken;
use postern_store::Store;
use postern_testkit::{RedisServer, redis_cli};
use tokio::task::JoinSet;

use crate::support::{POLICY, redis_config};

const SESSIONS: usize = 10_000;

/// The most a session may cost, index entry and TTL included. Measured on Redis 7.0.15: 633
/// bytes with one session per user, 485 with ten (see the doc); the margin absorbs allocator
/// and version differences.
const MAX_BYTES_PER_SESSION: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_costs_a_few_hundred_bytes_of_redis_memory() {
    for sessions_per_user in [1, 10] {
        let (bytes, version) = bytes_per_session(sessions_per_user).await;
        println!(
            "redis memory: {bytes} bytes per session ({SESSIONS} sessions, \
             {sessions_per_user} per user, redis {version})"
        );
        assert!(
            bytes <= MAX_BYTES_PER_SESSION,
            "a session costs {bytes} bytes of Redis memory ({sessions_per_user} per user), \
             more than the {MAX_BYTES_PER_SESSION} the docs promise"
        );
    }
}

/// Seeds `SESSIONS` sessions, `sessions_per_user` per user, as sign-ins would (12 h
/// lifetime, the default key prefix), and returns the growth of `used_memory` per session
/// and the Redis version.
async fn bytes_per_session(sessions_per_user: usize) -> (usize, String) {
    let server = RedisServer::start();
    let mut config = redis_config(
        RedisMode::Standalone,
        &[format!("127.0.0.1:{}", server.port)],
    );
    config.key_prefix = "postern:".into();
    let store = Store::redis(&config).unwrap();
    store.ping().await.unwrap();
    let before = used_memory(server.port);

    let mut writers = JoinSet::new();
    for writer in 0..8 {
        let store = store.clone();
        writers.spawn(async move {
            for n in (writer..SESSIONS).step_by(8) {
                let record = session_of(&format!("user-{:06}", n / sessions_per_user));
                let hash = SessionToken::generate().hash();
                store
                    .put_session(&hash, &record, Duration::from_secs(POLICY.max_lifetime))
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.unwrap();
    }
    let keys: usize = redis_cli(server.port, &["dbsize"]).parse().unwrap();
    assert_eq!(
        keys,
        SESSIONS + SESSIONS / sessions_per_user,
        "one key per session and one index per user"
    );
    let bytes = (used_memory(server.port) - before) / SESSIONS;
    (bytes, info_field(server.port, "redis_version"))
}

fn session_of(user: &str) -> SessionRecord {
    let now = 1_700_000_000;
    POLICY.new_session(user, AuthLevel::OneFactor, false, now)
}

fn used_memory(port: u16) -> usize {
    info_field(port, "used_memory").parse().unwrap()
}

fn info_field(port: u16, field: &str) -> String {
    let info = redis_cli(port, &["info"]);
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO has no {field}"))
        .trim()
        .to_owned()
}
