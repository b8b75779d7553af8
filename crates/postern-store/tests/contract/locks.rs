//! The cases of an owned value (a lock holder's token): only the value it holds deletes it.

use std::time::Duration;

use postern_store::Store;

use crate::support::id;

/// `take_value_if` refuses a wrong token, takes the right one once, and a holder whose value
/// expired never deletes the value the next holder stored meanwhile.
pub async fn an_owned_value_is_taken_only_with_its_token(store: Store) {
    let lock = id("lock");
    let (first, second) = (b"first-holder".to_vec(), b"second-holder".to_vec());
    assert!(
        store
            .put_value(&lock, first.clone(), Duration::from_secs(10))
            .await
            .unwrap()
    );
    assert!(!store.take_value_if(&lock, &second).await.unwrap());
    assert!(!store.take_value_if(&lock, b"").await.unwrap());
    assert_eq!(store.peek_value(&lock).await.unwrap(), Some(first.clone()));
    assert!(store.take_value_if(&lock, &first).await.unwrap());
    assert_eq!(store.peek_value(&lock).await.unwrap(), None);
    assert!(
        !store.take_value_if(&lock, &first).await.unwrap(),
        "taken once"
    );

    // The first holder runs past its TTL; a second holder takes the lock.
    let expiring = id("lock");
    assert!(
        store
            .put_value(&expiring, first.clone(), Duration::from_millis(50))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(
        store
            .put_value(&expiring, second.clone(), Duration::from_secs(10))
            .await
            .unwrap()
    );
    // The first holder's late release does not free the second holder's lock.
    assert!(!store.take_value_if(&expiring, &first).await.unwrap());
    assert_eq!(
        store.peek_value(&expiring).await.unwrap(),
        Some(second.clone())
    );
    assert!(
        !store
            .put_value(&expiring, b"third".to_vec(), Duration::from_secs(10))
            .await
            .unwrap(),
        "still held by the second holder"
    );
    assert!(store.take_value_if(&expiring, &second).await.unwrap());
}

/// Releases made at once with the right token: exactly one deletes.
pub async fn concurrent_releases_have_one_winner(store: Store) {
    let lock = id("lock");
    let token = b"holder".to_vec();
    assert!(
        store
            .put_value(&lock, token.clone(), Duration::from_secs(10))
            .await
            .unwrap()
    );
    let releases: Vec<_> = (0..16)
        .map(|_| {
            let (store, lock, token) = (store.clone(), lock.clone(), token.clone());
            tokio::spawn(async move { store.take_value_if(&lock, &token).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for release in releases {
        winners += usize::from(release.await.unwrap());
    }
    assert_eq!(winners, 1);
}
