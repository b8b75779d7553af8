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

    // Nothing of the old alice's is left in the store, not even an index entry naming her;
    // her credentials record holds a revocation alone.
    let store = &server.state.store;
    no_credential_left(&server).await;
    for kind in [RecordKind::Passkeys, RecordKind::PasskeyHandle] {
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

/// A TOTP set-up confirmed on the account page while its user was being removed (the request
/// had passed its session check, then waited its turn behind the users file) is refused, not
/// written back after the retirement for the next user of the name to inherit.
#[tokio::test]
async fn a_totp_set_up_in_flight_when_its_user_is_retired_is_not_written_back() {
    use postern_core::totp::TotpKey;
    let server = TestServer::durable(&config_text(ORIGIN, "")).await;
    let (cookie, _) = session(&server, "alice").await;
    let setup = crate::account::submit(&server, &cookie, "/account/totp-setup", &[]).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let secret = crate::account::shown_secret(&setup);
    let clock = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let code = TotpKey::parse(&secret).unwrap().code_at(clock());
    let everyone = (*server.state.users()).clone();

    let serialized = server.state.users_file_lock.lock().await;
    let fields = [("code", code.as_str())];
    let confirm = crate::account::submit(&server, &cookie, "/account/totp-confirm", &fields);
    let remove_alice = async {
        // The confirmation has checked its session and its code (the code's step is marked
        // used) and now waits for the users file: alice is removed and retired meanwhile.
        let step = clock() / 30;
        let mut waited = 0;
        loop {
            let mut marked = false;
            for step in step.saturating_sub(2)..=step + 1 {
                marked |= server
                    .state
                    .store
                    .is_marked(&format!("totp:alice:{step}"))
                    .await
                    .unwrap();
            }
            if marked {
                break;
            }
            waited += 1;
            assert!(
                waited < 500,
                "the confirmation never reached the users file"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(server.reload_users(server.users_without("alice")).await, 1);
        drop(serialized);
    };
    let (confirmed, ()) = tokio::join!(confirm, remove_alice);
    assert_ne!(
        confirmed.status,
        StatusCode::SEE_OTHER,
        "{}",
        confirmed.body
    );

    // The retired alice's TOTP secret was not written back.
    no_credential_left(&server).await;
    // The next alice signs in with her password alone.
    assert_eq!(server.reload_users(everyone).await, 0);
    let fresh = password_step(&server, "alice").await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    assert_ne!(fresh.json()["totpPending"], true, "{}", fresh.body);
}

/// `postern users revoke` ended alice's bearer tokens; retiring her deletes the record that
/// held the revocation. Created again (even from the same users-file line), she must not
/// bring those tokens back: they were the old person's, and revoked.
#[tokio::test]
async fn a_user_created_again_does_not_bring_back_the_old_persons_revoked_tokens() {
    let server = TestServer::durable(&config_text(ORIGIN, "")).await;
    let (access, refresh_token) = crate::headless::pair(&server).await;
    let bearer_status = |token: String| {
        let server = &server;
        async move { crate::headless::bearer(server, &token).send().await.status }
    };
    assert_eq!(bearer_status(access.clone()).await, StatusCode::OK);
    postern_server::admin::revoke_user(&server.state.store, &server.state.users(), "alice")
        .await
        .unwrap();
    assert_eq!(
        bearer_status(access.clone()).await,
        StatusCode::UNAUTHORIZED
    );

    let everyone = (*server.state.users()).clone();
    assert_eq!(server.reload_users(server.users_without("alice")).await, 1);
    assert_eq!(server.reload_users(everyone).await, 0);

    assert_eq!(bearer_status(access).await, StatusCode::UNAUTHORIZED);
    let refreshed = crate::headless::refresh(&server, &refresh_token).await;
    assert_eq!(
        refreshed.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        refreshed.body
    );
}

/// What is left of alice's credentials record after her retirement: a revocation as of it,
/// and no credential (no password, TOTP secret or recovery codes).
async fn no_credential_left(server: &TestServer) {
    let records = server
        .state
        .store
        .user_records("alice", RecordKind::Credentials)
        .await
        .unwrap();
    assert_eq!(records.len(), 1, "the revocation the retirement leaves");
    let record: Value = serde_json::from_slice(&records[0].1).unwrap();
    assert!(record["revoked_at"].is_u64(), "{record}");
    for credential in ["kept", "totp", "recovery"] {
        assert!(record[credential].is_null(), "{credential}: {record}");
    }
}
