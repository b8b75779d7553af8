//! The store contract: every backend must pass these. Issue #3 adds Redis to `backends()`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::time::Duration;

use postern_core::session::{AuthLevel, SessionPolicy, SessionRecord};
use postern_core::token::{SessionToken, TokenHash};
use postern_store::{Store, StoreError};

const POLICY: SessionPolicy = SessionPolicy {
    idle_timeout: 1800,
    max_lifetime: 43_200,
    remember_me_lifetime: 2_592_000,
};

fn backends() -> Vec<Store> {
    vec![Store::memory(1000)]
}

fn record(user: &str) -> SessionRecord {
    POLICY.new_session(user, AuthLevel::OneFactor, false, 1_700_000_000)
}

fn key() -> TokenHash {
    SessionToken::generate().hash()
}

#[tokio::test]
async fn a_stored_session_reads_back_and_deletes() {
    for store in backends() {
        let key = key();
        assert_eq!(store.get_session(&key).await, Ok(None));
        store
            .put_session(&key, &record("alice"), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            store.get_session(&key).await.unwrap(),
            Some(record("alice")),
            "{}",
            store.backend_name()
        );
        store.delete_session(&key).await.unwrap();
        assert_eq!(store.get_session(&key).await, Ok(None));
        store.delete_session(&key).await.unwrap();
    }
}

#[tokio::test]
async fn a_put_replaces_the_record() {
    for store in backends() {
        let key = key();
        store
            .put_session(&key, &record("alice"), Duration::from_secs(60))
            .await
            .unwrap();
        let mut moved = record("alice");
        moved.idle_deadline += 100;
        store
            .put_session(&key, &moved, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(store.get_session(&key).await.unwrap(), Some(moved));
    }
}

#[tokio::test]
async fn entries_expire_with_their_ttl() {
    for store in backends() {
        let key = key();
        store
            .put_session(&key, &record("alice"), Duration::from_millis(50))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(
            store.get_session(&key).await,
            Ok(None),
            "{}",
            store.backend_name()
        );
    }
}

#[tokio::test]
async fn sessions_are_independent() {
    for store in backends() {
        let (a, b) = (key(), key());
        store
            .put_session(&a, &record("alice"), Duration::from_secs(60))
            .await
            .unwrap();
        store
            .put_session(&b, &record("bob"), Duration::from_secs(60))
            .await
            .unwrap();
        store.delete_session(&a).await.unwrap();
        assert_eq!(
            store.get_session(&b).await.unwrap().map(|r| r.user),
            Some("bob".to_owned())
        );
    }
}

#[tokio::test]
async fn ping_answers() {
    for store in backends() {
        store.ping().await.unwrap();
    }
}

#[tokio::test]
async fn the_memory_store_is_bounded_and_reclaims_expired_entries() {
    let store = Store::memory(3);
    let short = Duration::from_millis(30);
    for _ in 0..3 {
        store
            .put_session(&key(), &record("alice"), short)
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
    // Expired entries make room without a separate sweep.
    store
        .put_session(&key(), &record("alice"), Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(store.sweep_expired(), 0);
    let Store::Memory(memory) = &store;
    assert_eq!(memory.len(), 1);
}
