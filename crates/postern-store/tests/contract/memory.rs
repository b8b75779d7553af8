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

memory_cases!(
    a_session_reads_back_and_deletes,
    a_put_replaces_the_record,
    sessions_expire_with_their_ttl,
    sessions_are_independent,
    a_users_sessions_are_listed,
    log_out_everywhere_ends_every_session,
    failures_count_within_their_window,
    a_forgiven_failure_keeps_its_window,
    a_token_bucket_allows_its_burst_then_refills,
    a_mark_is_set_once,
    concurrent_marks_have_one_winner,
    a_value_is_taken_once,
    ping_answers,
);

#[tokio::test]
async fn every_case_is_run_on_every_backend() {
    // The per-case tests above and in redis.rs must list every case of cases::ALL.
    let listed = include_str!("memory.rs");
    let redis = include_str!("redis.rs");
    for (name, _) in cases::ALL {
        assert!(
            listed.contains(&format!("    {name},")),
            "memory.rs does not run {name}"
        );
        assert!(
            redis.contains(&format!("    {name},")),
            "redis.rs does not run {name}"
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
    // 64 shards, each capped at ceil(1000 / 64) entries.
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
