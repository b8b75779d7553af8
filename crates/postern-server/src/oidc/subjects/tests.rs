use postern_core::users::{User, UserTable};
use postern_store::{RecordKind, Store};

use super::*;

fn user(name: &str) -> User {
    User::new(
        name.into(),
        String::new(),
        String::new(),
        String::new(),
        Vec::new(),
        None,
    )
}

async fn id_of(ids: &SubjectIds, store: &Store, user: &str, federated: bool) -> Arc<str> {
    ids.of(store, &SubjectOwner::new(user, federated))
        .await
        .unwrap()
}

#[tokio::test]
async fn an_id_is_random_opaque_and_the_same_on_every_later_need() {
    let store = Store::memory(100);
    let ids = SubjectIds::default();
    let bob = SubjectOwner::new("Bob", false);
    let first = ids.of(&store, &bob).await.unwrap();
    assert_eq!(first.len(), 22, "128 bits in base64url");
    assert!(!first.to_lowercase().contains("bob"));
    // Another process (a replica, or this one after a restart) reads the stored id.
    let elsewhere = SubjectIds::default();
    assert_eq!(id_of(&elsewhere, &store, "bob", false).await, first);
    let alice = id_of(&ids, &store, "alice", false).await;
    assert_ne!(alice, first);
}

#[tokio::test]
async fn a_provider_user_is_another_subject_than_the_local_user_of_that_name() {
    let store = Store::memory(100);
    let ids = SubjectIds::default();
    let local = id_of(&ids, &store, "carol", false).await;
    let federated = id_of(&ids, &store, "carol", true).await;
    assert_ne!(local, federated);
}

#[tokio::test]
async fn a_retired_name_gets_a_new_id_and_the_old_one_never_comes_back() {
    let store = Store::memory(100);
    let ids = SubjectIds::default();
    let bob = SubjectOwner::new("bob", false);
    let old = ids.of(&store, &bob).await.unwrap();
    let before = UserTable::new([user("bob"), user("alice")]);
    let after = UserTable::new([user("alice")]);
    let removed = removed_users(&before, &after);
    assert_eq!(removed, vec!["bob".to_owned()]);
    assert_eq!(ids.retire(&store, removed).await.unwrap(), 1);
    assert_eq!(
        store
            .user_record("bob", RecordKind::OidcSubject, RECORD_ID)
            .await
            .unwrap(),
        None
    );
    let new = ids.of(&store, &bob).await.unwrap();
    assert_ne!(new, old);
}

#[tokio::test]
async fn two_replicas_needing_a_new_users_id_at_once_agree() {
    let store = Store::memory(100);
    for round in 0..50 {
        let owner = SubjectOwner::new(&format!("user{round}"), false);
        let (a, b) = (SubjectIds::default(), SubjectIds::default());
        let (from_a, from_b) = tokio::join!(a.of(&store, &owner), b.of(&store, &owner));
        assert_eq!(from_a.unwrap(), from_b.unwrap());
    }
}

#[tokio::test]
async fn a_lost_claim_race_takes_the_winners_id() {
    let store = Store::memory(100);
    let owner = SubjectOwner::new("dave", false);
    // Another replica claimed and has not written the record yet.
    assert!(
        store
            .put_value(&claim_key(&owner), b"winners-id".to_vec(), CLAIM_TTL)
            .await
            .unwrap()
    );
    let ids = SubjectIds::default();
    assert_eq!(&*ids.of(&store, &owner).await.unwrap(), "winners-id");
    assert_eq!(
        store
            .user_record("dave", RecordKind::OidcSubject, RECORD_ID)
            .await
            .unwrap(),
        Some(b"winners-id".to_vec())
    );
}

#[tokio::test]
async fn at_start_the_ids_of_users_no_longer_configured_are_retired_but_not_providers_users() {
    let dir = postern_testkit::TempDir::new("subjects");
    let store = Store::Embedded(postern_store::EmbeddedStore::open(dir.path(), 100).unwrap());
    let ids = SubjectIds::default();
    let kept = id_of(&ids, &store, "alice", false).await;
    id_of(&ids, &store, "bob", false).await;
    let federated = id_of(&ids, &store, "erin", true).await;
    let users = UserTable::new([user("alice")]);
    assert_eq!(ids.retire_absent(&store, &users).await.unwrap(), 1);
    let fresh = SubjectIds::default();
    assert_eq!(id_of(&fresh, &store, "alice", false).await, kept);
    assert_eq!(id_of(&fresh, &store, "erin", true).await, federated);
    assert_eq!(
        store
            .user_record("bob", RecordKind::OidcSubject, RECORD_ID)
            .await
            .unwrap(),
        None
    );
}
