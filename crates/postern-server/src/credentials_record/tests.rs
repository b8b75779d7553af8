use postern_store::Store;

use super::*;

/// A holder whose lock expired (a stalled store) and was taken by the next holder frees only
/// its own: the late release leaves the second holder's lock standing.
#[tokio::test]
async fn a_late_release_does_not_free_the_next_holders_lock() {
    let store = Store::memory(100);
    let first = RecordLock::take(&store, "Alice").await.unwrap();
    // As if LOCK_TTL ran out while the first holder was stalled.
    store.take_value(&first.key).await.unwrap();
    let second = RecordLock::take(&store, "alice").await.unwrap();
    assert_eq!(first.key, second.key, "one lock per user, any spelling");
    assert_ne!(first.token, second.token);
    let key = second.key.clone();
    first.release().await;
    assert_eq!(
        store.peek_value(&key).await.unwrap(),
        Some(second.token.clone().into_bytes()),
        "the first holder's release freed the second holder's lock"
    );
    second.release().await;
    assert_eq!(store.peek_value(&key).await.unwrap(), None);
    // Free again: the next change takes it at once.
    RecordLock::take(&store, "alice")
        .await
        .unwrap()
        .release()
        .await;
}
