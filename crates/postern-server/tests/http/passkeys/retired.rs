//! A user removed from the users and created again under the same name is a new person: the
//! old one's passkeys, own TOTP and sessions are retired with them (`postern_server::
//! retirement`), so the old person's authenticator does not sign in to the new account.

use http::StatusCode;
use postern_store::{PASSKEY_INDEX_OWNER, RecordKind};

use super::*;

#[tokio::test]
async fn a_user_created_again_inherits_no_passkey_totp_or_session() {
    let apps =
        "[[apps]]\nname = \"Vault\"\nhost = \"vault.example.com\"\npolicy = \"two_factor\"\n";
    let server = TestServer::durable(&config_text(ORIGIN, apps)).await;
    let (cookie, csrf) = session(&server, "alice").await;
    let mut old_passkey = register(&server, &cookie, &csrf).await;
    crate::account::enrol(&server, &cookie).await;
    let before = password_step(&server, "alice").await;
    assert_eq!(before.json()["totpPending"], true, "{}", before.body);
    assert_eq!(
        sign_in_passwordless(&server, &mut old_passkey).await.status,
        StatusCode::OK
    );
    let bob = server.login("bob").await;

    let everyone = (*server.state.users()).clone();
    assert_eq!(server.reload_users(server.users_without("alice")).await, 1);
    assert_eq!(server.reload_users(everyone).await, 0);

    // Nothing of the old alice's is left in the store, not even an index entry naming her.
    let store = &server.state.store;
    for kind in [
        RecordKind::Passkeys,
        RecordKind::PasskeyHandle,
        RecordKind::Credentials,
    ] {
        assert!(
            store.user_records("alice", kind).await.unwrap().is_empty(),
            "{kind:?}"
        );
    }
    let index = store
        .user_records(PASSKEY_INDEX_OWNER, RecordKind::PasskeyIndex)
        .await
        .unwrap();
    assert!(
        index.iter().all(|(_, owner)| owner != b"alice"),
        "{index:?}"
    );
    assert!(
        store
            .user_records(postern_store::RETIRING_OWNER, RecordKind::Retiring)
            .await
            .unwrap()
            .is_empty(),
        "the note goes once the retirement is whole"
    );

    // The old person's authenticator and session no longer reach the account of the name.
    let refused = sign_in_passwordless(&server, &mut old_passkey).await;
    assert_ne!(refused.status, StatusCode::OK, "{}", refused.body);
    assert!(refused.session_cookie().is_none());
    let old_session = server
        .get("/api/status")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_ne!(
        old_session.json()["username"],
        "alice",
        "{}",
        old_session.body
    );

    // The new alice signs in with her password alone and has no passkey.
    let fresh = password_step(&server, "alice").await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert_ne!(fresh.json()["totpPending"], true, "{}", fresh.body);
    let new_cookie = fresh.session_cookie().expect("a session");
    let listed = server
        .get("/api/webauthn/passkeys")
        .header("cookie", &new_cookie)
        .send()
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.json()["passkeys"], json!([]));

    // bob was not removed: his session goes on.
    let status = server
        .get("/api/status")
        .header("cookie", &bob)
        .send()
        .await;
    assert_eq!(status.json()["username"], "bob");
}

/// An emptied users table is taken for a mistake: nobody's passkeys are deleted.
#[tokio::test]
async fn a_users_table_with_no_local_user_retires_nobody() {
    let server = TestServer::durable(&config_text(ORIGIN, "")).await;
    let (cookie, csrf) = session(&server, "alice").await;
    register(&server, &cookie, &csrf).await;
    let everyone = (*server.state.users()).clone();
    let nobody = postern_core::users::UserTable::new(Vec::new());
    assert_eq!(server.reload_users(nobody).await, 0);
    assert_eq!(server.reload_users(everyone).await, 0);
    let passkeys = server
        .state
        .store
        .user_records("alice", RecordKind::Passkeys)
        .await
        .unwrap();
    assert_eq!(passkeys.len(), 1);
}

/// A retirement cut short (the store failed half-way, then postern stopped) left its note:
/// the next start finishes it, on every store.
#[tokio::test]
async fn a_retirement_noted_before_a_restart_is_finished_at_start() {
    let server = TestServer::durable(&config_text(ORIGIN, "")).await;
    let (cookie, csrf) = session(&server, "alice").await;
    register(&server, &cookie, &csrf).await;
    let store = &server.state.store;
    store
        .put_user_record(
            postern_store::RETIRING_OWNER,
            RecordKind::Retiring,
            "alice",
            Vec::new(),
        )
        .await
        .unwrap();
    let mut at_start = postern_server::retirement::Retirements::default();
    assert!(at_start.is_due());
    assert_eq!(at_start.run(&server.state).await, 1);
    assert!(!at_start.is_due());
    assert!(
        store
            .user_records("alice", RecordKind::Passkeys)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .user_records(postern_store::RETIRING_OWNER, RecordKind::Retiring)
            .await
            .unwrap()
            .is_empty()
    );
}
