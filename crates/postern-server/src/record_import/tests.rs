use std::time::Duration;

use postern_core::users::UserTable;
use postern_store::{EmbeddedStore, PASSKEY_INDEX_OWNER, RETIRING_OWNER, RecordKind, Store};

use super::*;
use crate::credentials_record::{KeptHash, RecordLock, UserState};
use crate::retirement::tests::user;

fn record(user: &str, kind: RecordKind, id: &str, value: &[u8]) -> UserRecord {
    UserRecord {
        user: user.into(),
        kind,
        id: id.into(),
        value: value.to_vec(),
    }
}

fn credentials(user: &str, state: &UserState) -> UserRecord {
    record(
        user,
        RecordKind::Credentials,
        "current",
        &serde_json::to_vec(state).unwrap(),
    )
}

fn with_password() -> UserState {
    UserState {
        kept: Some(KeptHash {
            hash: "$argon2id$x".into(),
            replaces: "$argon2id$y".into(),
        }),
        ..UserState::default()
    }
}

fn consent(sub: &str) -> Vec<u8> {
    format!("{{\"scopes\":[\"openid\"],\"sub\":\"{sub}\"}}").into_bytes()
}

fn store(label: &str) -> (postern_testkit::TempDir, Store) {
    let dir = postern_testkit::TempDir::new(label);
    let store = Store::Embedded(EmbeddedStore::open(dir.path(), 100).unwrap());
    (dir, store)
}

/// alice's passkey with its index entry, and her subject id.
fn alices_passkey() -> Vec<UserRecord> {
    vec![
        record("alice", RecordKind::Passkeys, "pk-a", b"{}"),
        record(
            PASSKEY_INDEX_OWNER,
            RecordKind::PasskeyIndex,
            "credential:pk-a",
            b"alice",
        ),
        record("alice", RecordKind::OidcSubject, "id", b"sub-alice"),
    ]
}

async fn kinds_of(store: &Store, owner: &str) -> Vec<(RecordKind, String)> {
    let mut kinds = Vec::new();
    for kind in RecordKind::ALL {
        for (id, _) in store.user_records(owner, *kind).await.unwrap() {
            kinds.push((*kind, id));
        }
    }
    kinds
}

#[tokio::test]
async fn names_the_users_lack_keep_only_stamps_and_provider_users_consents() {
    let (_dir, store) = store("import-rules");
    let users = UserTable::new([user("Alice")]);
    let mut file = alices_passkey();
    file.extend([
        // bob was removed: his factors, id and consent stay out, and so does his index entry.
        credentials("bob", &with_password()),
        record("bob", RecordKind::Passkeys, "pk-b", b"{}"),
        record(
            PASSKEY_INDEX_OWNER,
            RecordKind::PasskeyIndex,
            "credential:pk-b",
            b"bob",
        ),
        record("bob", RecordKind::PasskeyHandle, "handle", b"h"),
        record("bob", RecordKind::OidcSubject, "id", b"sub-bob"),
        record(
            "bob",
            RecordKind::OidcConsent,
            "grafana",
            &consent("sub-bob"),
        ),
        // carol: a revocation alone (`users revoke` on a provider's user): it only ends things.
        credentials(
            "carol",
            &UserState {
                revoked_at: Some(7),
                ..UserState::default()
            },
        ),
        // erin signs in through GitHub: her id and the consent she gave come in.
        record(
            "provider:github:erin",
            RecordKind::OidcSubject,
            "id",
            b"sub-erin",
        ),
        record(
            "erin",
            RecordKind::OidcConsent,
            "grafana",
            &consent("sub-erin"),
        ),
        record(
            "erin",
            RecordKind::OidcConsent,
            "wiki",
            &consent("sub-old-erin"),
        ),
        record(
            "federated:frank",
            RecordKind::OidcSubject,
            "id",
            b"sub-frank",
        ),
        // A note to retire alice, who is in force, would retire her: skipped; dave's stays.
        record(RETIRING_OWNER, RecordKind::Retiring, "alice", b""),
        record(RETIRING_OWNER, RecordKind::Retiring, "dave", b""),
    ]);
    let outcome = import(&store, &users, file).await.unwrap();

    assert_eq!(outcome.stored, 8);
    assert_eq!(
        outcome.skipped,
        BTreeMap::from([
            ((Skipped::NotAUser, "bob".to_owned()), 6),
            ((Skipped::NotAUser, "erin".to_owned()), 1),
            ((Skipped::NoteOfAUser, "alice".to_owned()), 1),
        ])
    );
    assert_eq!(
        outcome.summary(),
        "imported 8 user record(s); skipped 7 record(s) of 2 user(s) not among the users in \
         force: bob, erin; skipped 1 record(s) of 1 user(s) in force (retirement notes, which \
         would retire them): alice"
    );
    assert_eq!(kinds_of(&store, "bob").await, vec![]);
    assert_eq!(
        kinds_of(&store, "carol").await,
        vec![(RecordKind::Credentials, "current".to_owned())]
    );
    assert_eq!(
        kinds_of(&store, "erin").await,
        vec![(RecordKind::OidcConsent, "grafana".to_owned())]
    );
    assert_eq!(kinds_of(&store, "alice").await.len(), 2);
    assert_eq!(
        kinds_of(&store, PASSKEY_INDEX_OWNER).await,
        vec![(RecordKind::PasskeyIndex, "credential:pk-a".to_owned())]
    );
    assert_eq!(
        kinds_of(&store, RETIRING_OWNER).await,
        vec![(RecordKind::Retiring, "dave".to_owned())]
    );
    assert_eq!(kinds_of(&store, "provider:github:erin").await.len(), 1);
    assert_eq!(kinds_of(&store, "federated:frank").await.len(), 1);
}

#[tokio::test]
async fn a_user_retired_after_the_export_gets_nothing_of_it_and_stamps_never_move_back() {
    let (_dir, store) = store("import-retired");
    let users = UserTable::new([user("alice")]);
    // alice was retired at 100 and created again: the target holds the retirement.
    let retirement = UserState {
        revoked_at: Some(100),
        retired_at: Some(100),
        factors_version: 3,
        ..UserState::default()
    };
    store
        .put_user_record(
            "alice",
            RecordKind::Credentials,
            "current",
            serde_json::to_vec(&retirement).unwrap(),
        )
        .await
        .unwrap();
    let mut old = alices_passkey();
    old.push(credentials("alice", &with_password()));
    old.push(record(
        "alice",
        RecordKind::OidcConsent,
        "grafana",
        &consent("sub-alice"),
    ));
    let outcome = import(&store, &users, old).await.unwrap();
    assert_eq!(outcome.stored, 0);
    assert_eq!(
        outcome.skipped,
        BTreeMap::from([((Skipped::RetiredSince, "alice".to_owned()), 5)])
    );
    assert_eq!(
        kinds_of(&store, "alice").await,
        vec![(RecordKind::Credentials, "current".to_owned())]
    );
    assert_eq!(kinds_of(&store, PASSKEY_INDEX_OWNER).await, vec![]);

    // An export taken after the retirement carries it: the new alice's records come in, and
    // the later revocation stays, and so does the higher count of changes of factors (each
    // ended her bearer tokens: a lower one would bring them back).
    let mut newer = with_password();
    newer.retired_at = Some(100);
    newer.revoked_at = Some(60);
    newer.factors_version = 1;
    let mut file = alices_passkey();
    file.push(credentials("alice", &newer));
    let outcome = import(&store, &users, file).await.unwrap();
    assert_eq!((outcome.stored, outcome.skipped.len()), (4, 0));
    let stored = credentials_record::read_state(&store, "alice")
        .await
        .unwrap();
    assert_eq!(
        (stored.revoked_at, stored.retired_at, stored.factors_version),
        (Some(100), Some(100), 3)
    );
    assert!(stored.kept.is_some());
}

/// An export taken before alice changed her password through the API brings the old hash back:
/// the import revokes her tokens at once (those issued under the old hash were ended by the
/// change it undoes). The same hash imported again revokes nothing.
#[tokio::test]
async fn an_import_that_brings_back_another_password_revokes_the_tokens() {
    let (_dir, store) = store("import-password");
    let users = UserTable::new([user("alice")]);
    let mut changed = with_password();
    if let Some(kept) = changed.kept.as_mut() {
        kept.hash = "$argon2id$changed".into();
    }
    changed.revoked_at = Some(50);
    store
        .put_user_records(vec![credentials("alice", &changed)])
        .await
        .unwrap();
    let stored = || async {
        credentials_record::read_state(&store, "alice")
            .await
            .unwrap()
    };
    let same = import(&store, &users, vec![credentials("alice", &changed)])
        .await
        .unwrap();
    assert_eq!(same.stored, 1);
    assert_eq!(stored().await.revoked_at, Some(50), "nothing changed");

    let before = crate::clock::now();
    let old = import(&store, &users, vec![credentials("alice", &with_password())])
        .await
        .unwrap();
    assert_eq!(old.stored, 1);
    let state = stored().await;
    assert_eq!(state.kept.map(|kept| kept.hash), Some("$argon2id$x".into()));
    assert!(state.revoked_at >= Some(before), "{:?}", state.revoked_at);
}

/// A change of alice's passkeys, factors or a retirement holds her credentials lock (or her
/// consents lock) from its first read to its last write, on any replica: an import of her
/// records waits for it, so it lands wholly before or wholly after, never in between.
#[tokio::test]
async fn an_import_waits_for_the_users_locks_on_the_embedded_store() {
    let (_dir, store) = store("import-locks");
    waits_for_the_users_locks(store).await;
}

/// The same on Redis, where the lock holder may be another replica.
#[tokio::test]
async fn an_import_waits_for_the_users_locks_on_redis() {
    use postern_core::config::{RedisConfig, RedisMode, RedisNode};
    let redis = postern_testkit::RedisServer::start();
    let store = Store::redis(&RedisConfig {
        mode: RedisMode::Standalone,
        nodes: vec![RedisNode {
            host: "127.0.0.1".into(),
            port: redis.port,
        }],
        username: None,
        password: None,
        db: 0,
        tls: false,
        tls_ca_file: None,
        key_prefix: "postern-import:".into(),
        timeout: Duration::from_secs(2),
        wait_replicas: 0,
        client_cache: None,
    })
    .unwrap();
    waits_for_the_users_locks(store).await;
}

async fn waits_for_the_users_locks(store: Store) {
    let users = UserTable::new([user("alice")]);
    let mut file = alices_passkey();
    file.push(record(
        "alice",
        RecordKind::OidcConsent,
        "grafana",
        &consent("sub-alice"),
    ));

    for lock in ["credentials", "consents"] {
        let held = RecordLock::take_named(&store, lock, "alice").await.unwrap();
        let importing = {
            let (store, users, file) = (store.clone(), users.clone(), file.clone());
            tokio::spawn(async move { import(&store, &users, file).await })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !importing.is_finished(),
            "the import waits for the {lock} lock"
        );
        let written = match lock {
            "credentials" => kinds_of(&store, "alice").await.len(),
            _ => store
                .user_records("alice", RecordKind::OidcConsent)
                .await
                .unwrap()
                .len(),
        };
        assert_eq!(written, 0, "nothing written under another's {lock} lock");
        held.release().await;
        let outcome = importing.await.unwrap().unwrap();
        assert_eq!(outcome.stored, 4);
        for (owner, kind, id) in [
            ("alice", RecordKind::Passkeys, "pk-a"),
            ("alice", RecordKind::OidcConsent, "grafana"),
            (
                PASSKEY_INDEX_OWNER,
                RecordKind::PasskeyIndex,
                "credential:pk-a",
            ),
        ] {
            store.delete_user_record(owner, kind, id).await.unwrap();
        }
        store
            .delete_user_record("alice", RecordKind::OidcSubject, "id")
            .await
            .unwrap();
    }
}

#[test]
fn the_summary_names_at_most_twenty_users_for_each_reason() {
    let mut outcome = Imported::default();
    for at in 0..25 {
        outcome.skip(Skipped::NotAUser, &format!("user{at:02}"), 2);
    }
    let said = outcome.summary();
    assert!(
        said.starts_with(
            "imported 0 user record(s); skipped 50 record(s) of 25 user(s) not among the users in force: user00, user01,"
        ),
        "{said}"
    );
    assert!(said.ends_with("user19 and 5 more"), "{said}");
}
