use postern_store::{RecordKind, Store};

use super::*;

async fn id_of(ids: &SubjectIds, store: &Store, user: &str, provider: Option<&str>) -> Arc<str> {
    ids.of(store, &SubjectOwner::new(user, provider))
        .await
        .unwrap()
}

#[tokio::test]
async fn an_id_is_random_opaque_and_the_same_on_every_later_need() {
    let store = Store::memory(100);
    let ids = SubjectIds::default();
    let bob = SubjectOwner::new("Bob", None);
    let first = ids.of(&store, &bob).await.unwrap();
    assert_eq!(first.len(), 22, "128 bits in base64url");
    assert!(!first.to_lowercase().contains("bob"));
    // Another process (a replica, or this one after a restart) reads the stored id.
    let elsewhere = SubjectIds::default();
    assert_eq!(id_of(&elsewhere, &store, "bob", None).await, first);
    let alice = id_of(&ids, &store, "alice", None).await;
    assert_ne!(alice, first);
}

#[tokio::test]
async fn a_provider_user_is_another_subject_than_the_local_user_or_another_providers() {
    let store = Store::memory(100);
    let ids = SubjectIds::default();
    let local = id_of(&ids, &store, "carol", None).await;
    let github = id_of(&ids, &store, "carol", Some("github")).await;
    let google = id_of(&ids, &store, "carol", Some("google")).await;
    assert_ne!(local, github);
    assert_ne!(github, google);
    assert_ne!(local, google);
    let elsewhere = SubjectIds::default();
    assert_eq!(
        id_of(&elsewhere, &store, "Carol", Some("github")).await,
        github
    );
}

#[tokio::test]
async fn a_provider_users_id_kept_by_an_earlier_release_moves_once_to_one_provider() {
    let store = Store::memory(100);
    store
        .put_user_record(
            "federated:carol",
            RecordKind::OidcSubject,
            RECORD_ID,
            b"kept-id".to_vec(),
        )
        .await
        .unwrap();
    let (a, b) = (SubjectIds::default(), SubjectIds::default());
    let (on_github, on_google) = (
        SubjectOwner::new("carol", Some("github")),
        SubjectOwner::new("carol", Some("google")),
    );
    let (github, google) = tokio::join!(a.of(&store, &on_github), b.of(&store, &on_google));
    let (github, google) = (github.unwrap(), google.unwrap());
    assert_ne!(github, google, "one person keeps the old id, never both");
    assert!(&*github == "kept-id" || &*google == "kept-id");
    assert_eq!(
        store
            .user_record("federated:carol", RecordKind::OidcSubject, RECORD_ID)
            .await
            .unwrap(),
        None,
        "moved, not copied"
    );
    let again = SubjectIds::default();
    assert_eq!(id_of(&again, &store, "carol", Some("github")).await, github);
    assert_eq!(id_of(&again, &store, "carol", Some("google")).await, google);
}

#[tokio::test]
async fn a_retired_name_gets_a_new_id_and_the_old_one_never_comes_back() {
    let store = Store::memory(100);
    let ids = SubjectIds::default();
    let bob = SubjectOwner::new("bob", None);
    let old = ids.of(&store, &bob).await.unwrap();
    assert!(ids.retire(&store, "Bob").await.unwrap());
    assert_eq!(
        store
            .user_record("bob", RecordKind::OidcSubject, RECORD_ID)
            .await
            .unwrap(),
        None
    );
    let new = ids.of(&store, &bob).await.unwrap();
    assert_ne!(new, old);
    assert!(
        !SubjectIds::default()
            .retire(&store, "nobody")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_lookup_that_read_the_old_id_before_a_retirement_does_not_cache_it() {
    let store = Store::memory(100);
    let ids = SubjectIds::default();
    let bob = SubjectOwner::new("bob", None);
    let old = SubjectIds::default().of(&store, &bob).await.unwrap();
    // A lookup reads the store (the old id), a retirement runs, then the lookup goes on to
    // cache what it read.
    let counted = ids.shard(&bob).retirements;
    let read: Arc<str> = load_or_mint(&store, &bob).await.unwrap().into();
    assert_eq!(read, old);
    ids.retire(&store, "bob").await.unwrap();
    assert!(!ids.cache_if_unretired(&bob, counted, &read));
    assert_eq!(ids.cached(&bob), None);
    let fresh = ids.of(&store, &bob).await.unwrap();
    assert_ne!(fresh, old);
    assert_eq!(ids.cached(&bob), Some(fresh));
}

#[tokio::test]
async fn an_id_drawn_while_its_user_is_retired_is_taken_back_not_handed_on() {
    let store = Store::memory(100);
    let ids = SubjectIds::default();
    let erin = SubjectOwner::new("erin", None);
    // erin's first id is claimed; her retirement runs before the record is written.
    let drawn = draw(&store, &erin).await.unwrap();
    let drawn_id = drawn.id.clone();
    ids.retire(&store, "erin").await.unwrap();
    assert!(keep(&store, &erin, drawn).await.is_err(), "fails closed");
    assert_eq!(
        store
            .user_record("erin", RecordKind::OidcSubject, RECORD_ID)
            .await
            .unwrap(),
        None
    );
    // The next erin is someone else.
    assert_ne!(&*ids.of(&store, &erin).await.unwrap(), drawn_id);
}

#[tokio::test]
async fn two_replicas_needing_a_new_users_id_at_once_agree() {
    let store = Store::memory(100);
    for round in 0..50 {
        let owner = SubjectOwner::new(&format!("user{round}"), None);
        let (a, b) = (SubjectIds::default(), SubjectIds::default());
        let (from_a, from_b) = tokio::join!(a.of(&store, &owner), b.of(&store, &owner));
        assert_eq!(from_a.unwrap(), from_b.unwrap());
    }
}

#[tokio::test]
async fn a_lost_claim_race_takes_the_winners_id() {
    let store = Store::memory(100);
    let owner = SubjectOwner::new("dave", None);
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

/// Another replica retired bob and a new bob got a new id; this process never saw the
/// retirement. A lookup reads the store, so it has the new id at once; the check path's memory
/// gives the old one for at most `CACHED_FOR`.
#[tokio::test]
async fn an_id_retired_elsewhere_is_not_kept_past_the_store() {
    let store = Store::memory(100);
    let here = SubjectIds::default();
    let bob = SubjectOwner::new("bob", None);
    let old = here.of(&store, &bob).await.unwrap();
    // Taken after the read: the memory's deadline was set inside `of`, so it is no later than
    // this plus `CACHED_FOR` however slowly a loaded machine ran the read.
    let read_by = Instant::now();
    assert_eq!(here.cached(&bob), Some(Arc::clone(&old)));

    let elsewhere = SubjectIds::default();
    elsewhere.retire(&store, "bob").await.unwrap();
    let new = elsewhere.of(&store, &bob).await.unwrap();
    assert_ne!(new, old);

    assert_eq!(
        here.cached_at(&bob, read_by + CACHED_FOR + Duration::from_millis(1)),
        None,
        "the check path's memory lapses"
    );
    assert_eq!(here.of(&store, &bob).await.unwrap(), new);
    assert_eq!(here.cached(&bob), Some(new));
}

#[tokio::test]
async fn an_id_that_changes_in_memory_is_counted_a_first_one_is_not() {
    let store = Store::memory(100);
    let ids = SubjectIds::default();
    let bob = SubjectOwner::new("bob", None);
    let old = ids.of(&store, &bob).await.unwrap();
    ids.of(&store, &bob).await.unwrap();
    assert_eq!(ids.changes(), 0, "a first id, then the same one");
    // Another replica retires bob and the name's next user gets a new id; this one missed
    // it, and reads the new id when it next reads the store.
    let elsewhere = SubjectIds::default();
    assert!(elsewhere.retire(&store, "bob").await.unwrap());
    let new = ids.of(&store, &bob).await.unwrap();
    assert_ne!(new, old);
    assert_eq!(ids.changes(), 1);
    assert!(ids.retire(&store, "bob").await.unwrap());
    assert!(ids.changes() > 1, "a retirement here");
}
