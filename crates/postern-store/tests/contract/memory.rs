//! The contract on the memory store, and what only it promises: bounds.

use std::time::Duration;

use postern_store::{MemoryStore, Store, StoreError};

use crate::cases;
use crate::support::{key, record};

macro_rules! memory_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                cases::$case(Store::memory(1000)).await;
            }
        )*
    };
}

cases::every_case!(memory_cases);

#[tokio::test]
async fn every_case_is_run_on_every_backend() {
    // memory.rs, redis.rs and embedded.rs run each case of `cases::every_case!` as a test.
    let listed = include_str!("cases.rs");
    let listed = &listed[listed.find("macro_rules! every_case").unwrap()..];
    for (name, _) in cases::ALL {
        assert!(
            listed.contains(&format!("            {name},")),
            "cases::every_case! does not list {name}"
        );
    }
}

#[tokio::test]
async fn sessions_are_bounded_and_expired_ones_make_room() {
    let store = Store::memory(3);
    for _ in 0..3 {
        store
            .put_session(&key(), &record("alice"), Duration::from_millis(30))
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .put_session(&key(), &record("alice"), Duration::from_secs(60))
            .await,
        Err(StoreError::Full(3))
    );
    tokio::time::sleep(Duration::from_millis(60)).await;
    store
        .put_session(&key(), &record("alice"), Duration::from_secs(60))
        .await
        .unwrap();
    let Store::Memory(memory) = &store else {
        unreachable!()
    };
    assert_eq!(memory.session_count(), 1);
}

#[tokio::test]
async fn a_flood_of_random_usernames_stays_bounded() {
    let memory = MemoryStore::with_limits(100, 1000);
    let store = Store::Memory(memory.clone());
    for index in 0..100_000 {
        store
            .count_failure(
                &format!("user:{{random-{index}}}"),
                Duration::from_secs(900),
            )
            .await
            .unwrap();
    }
    // 64 shards, each capped at ceil(1000 / 64) entries (the counters' map).
    assert!(
        memory.other_count() <= 1024,
        "{} entries",
        memory.other_count()
    );
    // Signed-in users are untouched by the flood: sessions have their own bound.
    store
        .put_session(&key(), &record("alice"), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(memory.session_count(), 1);
}

/// A full store evicts what matters least: an account's failure count of four outlives a flood
/// of one-failure counters made after it, which by expiry alone would have outlived it (a
/// lockout reset by anyone with enough addresses); and a stored token outlives both that flood
/// and a flood of short-lived values (abandoned OAuth transactions).
#[tokio::test]
async fn a_flood_evicts_neither_a_failure_count_near_its_lockout_nor_a_stored_token() {
    let memory = MemoryStore::with_limits(100, 1000);
    let store = Store::Memory(memory.clone());
    let window = Duration::from_secs(900);
    for _ in 0..4 {
        store.count_failure("user:{alice}", window).await.unwrap();
    }
    let month = Duration::from_secs(30 * 86_400);
    assert!(
        store
            .put_value("refresh-token", b"grant".to_vec(), month)
            .await
            .unwrap()
    );
    for index in 0..20_000 {
        store
            .count_failure(&format!("ip6:2001:db8:{index:x}::/64"), window)
            .await
            .unwrap();
        store
            .put_value(&format!("oauth:{index}"), b"flow".to_vec(), window)
            .await
            .unwrap();
    }
    // The flood fills two maps (counters; values anyone may make, as `oauth:` ones are), each
    // at most 64 shards of ceil(1000 / 64); the token sits in a third.
    assert!(
        memory.other_count() <= 2 * 1024 + 1,
        "{}",
        memory.other_count()
    );
    assert_eq!(store.failures("user:{alice}").await.unwrap().count, 4);
    assert_eq!(
        store.peek_value("refresh-token").await.unwrap().as_deref(),
        Some(&b"grant"[..])
    );
}

/// Values anyone can make (OAuth starts, passwordless ceremonies) flood only their own map: a
/// sign-in in progress, short-lived and so first to go by expiry, outlives the flood.
#[tokio::test]
async fn a_flood_of_anonymous_values_never_evicts_a_sign_in_in_progress() {
    let memory = MemoryStore::with_limits(100, 1000);
    let store = Store::Memory(memory.clone());
    let short = Duration::from_secs(60);
    assert!(
        store
            .put_value("pending:alice", b"step".to_vec(), short)
            .await
            .unwrap()
    );
    for index in 0..20_000 {
        let anonymous = postern_store::ANONYMOUS_VALUES[index % 2];
        store
            .set_value(
                &format!("{anonymous}{index}"),
                b"flow".to_vec(),
                Duration::from_secs(600),
            )
            .await
            .unwrap();
    }
    // The flood fills the map of values anyone may make; the sign-in sits in another.
    assert!(memory.other_count() <= 1024 + 1, "{}", memory.other_count());
    assert_eq!(
        store.take_value("pending:alice").await.unwrap().as_deref(),
        Some(&b"step"[..])
    );
}

/// The keepalive write (`replace_session_if_present`) runs for every check whose session is
/// due a move, and its future is what the server copies into a task on Redis and the file.
/// One future type serves all three backends, so unboxed it carried the Redis and file
/// writes' 4 KiB whichever store answered (docs/performance.md, "The keepalive write").
#[test]
fn the_keepalive_writes_future_is_small_on_every_backend() {
    let store = Store::memory(10);
    let (key, record) = (key(), record("alice"));
    let write = store.replace_session_if_present(&key, &record, Duration::from_secs(60));
    let size = std::mem::size_of_val(&write);
    assert!(size <= 128, "the keepalive write's future is {size} bytes");
}
