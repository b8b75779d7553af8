use postern_core::users::{User, UserTable};
use postern_store::{EmbeddedStore, PASSKEY_INDEX_OWNER, RecordKind, Store};

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

#[test]
fn a_reload_removes_the_users_the_new_table_lacks() {
    let before = UserTable::new([user("Bob"), user("alice")]);
    let after = UserTable::new([user("alice")]);
    assert_eq!(removed_users(&before, &after), vec!["bob".to_owned()]);
    assert!(removed_users(&after, &before).is_empty());
}

#[tokio::test]
async fn at_start_only_local_users_with_records_of_their_own_count_as_absent() {
    let dir = postern_testkit::TempDir::new("retirement");
    let store = Store::Embedded(EmbeddedStore::open(dir.path(), 100).unwrap());
    let put = |owner: &'static str, kind: RecordKind, id: &'static str| {
        let store = &store;
        async move {
            store
                .put_user_record(owner, kind, id, b"x".to_vec())
                .await
                .unwrap();
        }
    };
    put("alice", RecordKind::Passkeys, "a").await;
    put("bob", RecordKind::Credentials, "current").await;
    put("bob", RecordKind::Passkeys, "b").await;
    put("carol", RecordKind::OidcSubject, "id").await;
    // A provider's user: consents under the bare name, the id under its own owner.
    put("erin", RecordKind::OidcConsent, "grafana").await;
    put("provider:github:erin", RecordKind::OidcSubject, "id").await;
    put("federated:frank", RecordKind::OidcSubject, "id").await;
    put(
        PASSKEY_INDEX_OWNER,
        RecordKind::PasskeyIndex,
        "credential:b",
    )
    .await;
    let users = UserTable::new([user("Alice")]);
    assert_eq!(
        absent_users(&store, &users).await.unwrap(),
        vec!["bob".to_owned(), "carol".to_owned()]
    );
}
