use postern_core::users::User;
use postern_store::{EmbeddedStore, Store};
use postern_testkit::TempDir;

use super::*;
use crate::user_passwords;

/// Revocations and changes of factors made at once, on a store whose writes really wait (the
/// embedded store's writer thread): every one of them is in the record at the end, none
/// written over by another that read the record before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_at_once_are_all_kept() {
    let dir = TempDir::new("record-lock");
    let store = Store::Embedded(EmbeddedStore::open(dir.path(), 100).unwrap());
    let user = User::new(
        "alice".into(),
        "$argon2id$unused".into(),
        String::new(),
        String::new(),
        Vec::new(),
        None,
    );
    let tasks: Vec<_> = (0..24u64)
        .map(|i| {
            let (store, user) = (store.clone(), user.clone());
            tokio::spawn(async move {
                if i % 3 == 0 {
                    user_passwords::revoke(&store, "alice", 1000 + i).await
                } else {
                    let change = FactorChange::NewRecoveryCodes {
                        hashes: vec![format!("hash-{i}")],
                    };
                    save(&store, &user, change, i).await.map(drop)
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let state = credentials_record::read_state(&store, "alice")
        .await
        .unwrap();
    assert_eq!(state.factors_version, 16, "a change of factors was lost");
    assert!(state.revoked_at.is_some());
}
