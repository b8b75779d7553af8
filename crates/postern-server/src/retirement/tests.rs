use postern_core::users::{User, UserTable};
use postern_store::{EmbeddedStore, PASSKEY_INDEX_OWNER, RecordKind, Store};

use super::*;

/// A local user with nothing but a name (record_import's tests use it too).
pub(crate) fn user(name: &str) -> User {
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

/// A check that read alice's session just before she was removed moves its idle deadline
/// after reading it (`sessions::touch_if_due`; on Redis and the file in a task of its own), so
/// the write may come after her retirement deleted the session: that late write must not bring
/// the session back for the next alice to use.
#[tokio::test]
async fn a_checks_late_deadline_move_does_not_bring_back_a_retired_users_session() {
    let state = std::sync::Arc::new(alice_and_bob());
    let (token, headers, read) = alice_session_due_a_move(&state).await;

    let everyone = state.users();
    remove_alice(&state).await;
    crate::sessions::touch_if_due(&state, &read);
    tokio::time::sleep(Duration::from_millis(100)).await;

    assert!(
        state
            .store
            .get_session(&token.hash())
            .await
            .unwrap()
            .is_none()
    );
    let access = (*state.live.load().access).clone();
    state.replace_live(access, (*everyone).clone());
    assert!(
        crate::sessions::current(&state, &headers)
            .await
            .unwrap()
            .is_none()
    );
}

/// The same late move after a sign-out (logout, "sign out everywhere else", `users revoke`)
/// of a user who stays: the signed-out cookie must not work again.
#[tokio::test]
async fn a_checks_late_deadline_move_does_not_bring_back_a_signed_out_session() {
    let state = std::sync::Arc::new(alice_and_bob());
    let (_, headers, read) = alice_session_due_a_move(&state).await;

    crate::sessions::end_named(&state, &[read.key])
        .await
        .unwrap();
    crate::sessions::touch_if_due(&state, &read);
    tokio::time::sleep(Duration::from_millis(100)).await;

    assert!(
        crate::sessions::current(&state, &headers)
            .await
            .unwrap()
            .is_none()
    );
    assert!(state.store.user_sessions("alice").await.unwrap().is_empty());
}

/// On the memory store the move is made in place, before `touch_if_due` returns, not in a
/// task: the task cost more than the map update it carried (docs/performance.md, "The
/// keepalive write").
#[tokio::test]
async fn on_the_memory_store_a_due_deadline_moves_before_the_check_answers() {
    let state = std::sync::Arc::new(alice_and_bob());
    assert!(state.store.completes_in_place());
    let (token, _, read) = alice_session_due_a_move(&state).await;

    crate::sessions::touch_if_due(&state, &read);
    // Nothing below yields to the runtime (a memory read is ready at once), so a task
    // spawned for the write could not have run yet on this single-threaded test runtime.
    let stored = state
        .store
        .get_session(&token.hash())
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.idle_deadline > read.record.idle_deadline,
        "not moved before touch_if_due returned: {} then {}",
        read.record.idle_deadline,
        stored.idle_deadline
    );
}

/// alice's session, half its idle window gone (so the next check moves its deadline), as a
/// check reads it: its token, the request's headers, and what the check found.
async fn alice_session_due_a_move(
    state: &AppState,
) -> (
    postern_core::token::SessionToken,
    http::HeaderMap,
    crate::sessions::CurrentSession,
) {
    use postern_core::session::AuthLevel;
    use postern_core::token::SessionToken;

    let policy = state.config.session.policy;
    let now = now();
    let mut record = policy.new_session("alice", AuthLevel::OneFactor, false, now);
    record.idle_deadline -= record.idle_deadline.saturating_sub(now) / 2;
    let token = SessionToken::generate();
    state
        .store
        .put_session(&token.hash(), &record, Duration::from_secs(600))
        .await
        .unwrap();
    let mut headers = http::HeaderMap::new();
    let cookie = format!("{}={}", state.session_cookie.name, token.as_str());
    headers.insert(http::header::COOKIE, cookie.parse().unwrap());
    let read = crate::sessions::current(state, &headers)
        .await
        .unwrap()
        .expect("alice's session");
    (token, headers, read)
}

/// A state on the memory store with the local users alice and bob.
fn alice_and_bob() -> AppState {
    use postern_core::config::{self, NoEnv, Sources};
    let hash = postern_core::password::hash_password(b"a password").unwrap();
    let text = format!(
        "app_url = \"https://auth.example.com\"\n\
         secret = \"test-secret-that-is-long-enough-for-postern\"\n\
         [[users]]\nname = \"alice\"\npassword_hash = \"{hash}\"\n\
         [[users]]\nname = \"bob\"\npassword_hash = \"{hash}\"\n"
    );
    let config = config::load(&Sources {
        file: Some((&text, std::path::Path::new("/nonexistent/postern.toml"))),
        env: &NoEnv,
        cli: &[],
    })
    .unwrap();
    AppState::new(config, Store::memory(100))
}

/// A reload without alice, and her retirement.
async fn remove_alice(state: &AppState) {
    let everyone = state.users();
    let without_alice = UserTable::new(
        everyone
            .iter()
            .filter(|user| user.name != "alice")
            .map(|user| (**user).clone()),
    );
    let access = (*state.live.load().access).clone();
    state.replace_live(access, without_alice.clone());
    assert_eq!(
        retire_removed(state, &everyone, &without_alice)
            .await
            .unwrap(),
        1
    );
}

/// A sign-in whose password was checked just before its user was removed stores its session
/// after the retirement deleted hers: that session must not stay for the next alice to use.
#[tokio::test]
async fn a_sign_in_in_flight_when_its_user_is_retired_leaves_no_session() {
    use postern_core::session::AuthLevel;

    let state = alice_and_bob();
    let alice = state.user("alice").expect("alice");
    remove_alice(&state).await;
    let signed_in = crate::handlers::login::sign_in(
        &state,
        &http::HeaderMap::new(),
        std::net::IpAddr::from([127, 0, 0, 1]),
        crate::handlers::login::SignIn {
            user: &alice,
            level: AuthLevel::OneFactor,
            authentication: crate::sessions::Authentication::Now(
                postern_core::session::WayIn::Password,
            ),
            remember: false,
            method: "password",
            settles: None,
        },
    )
    .await;
    assert!(signed_in.is_err(), "a removed user was signed in");
    assert!(state.store.user_sessions("alice").await.unwrap().is_empty());
}

/// What a retirement leaves (a credentials record with a revocation alone) is no sign of a
/// user to retire at start: else every start would retire each removed user again.
#[tokio::test]
async fn a_credentials_record_with_no_credential_is_no_sign_of_an_absent_user() {
    let dir = postern_testkit::TempDir::new("retirement-stamps");
    let store = Store::Embedded(EmbeddedStore::open(dir.path(), 100).unwrap());
    let revoked = br#"{"kept":null,"revoked_at":1700000000}"#.to_vec();
    store
        .put_user_record("dora", RecordKind::Credentials, "current", revoked)
        .await
        .unwrap();
    let totp = br#"{"kept":null,"revoked_at":null,"totp":{"secret":"AAAA","enrolled_at":1}}"#;
    store
        .put_user_record("erin", RecordKind::Credentials, "current", totp.to_vec())
        .await
        .unwrap();
    let users = UserTable::new([user("alice")]);
    assert_eq!(
        absent_users(&store, &users).await.unwrap(),
        vec!["erin".to_owned()]
    );
}

/// A `store import` (or any other writer) holds alice's credentials lock while her retirement
/// starts, and writes her subject id under it, as an import of an older export does: the
/// retirement, which deletes the id under that lock, removes it after, so the next alice never
/// gets the old person's `sub`.
#[tokio::test]
async fn a_subject_id_written_under_the_lock_during_a_retirement_is_retired_too() {
    let state = std::sync::Arc::new(alice_and_bob());
    let held = RecordLock::take(&state.store, "alice").await.unwrap();
    let retiring = {
        let state = state.clone();
        tokio::spawn(async move { retire_user(&state, "alice", 100).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    state
        .store
        .put_user_record("alice", RecordKind::OidcSubject, "id", b"old-sub".to_vec())
        .await
        .unwrap();
    held.release().await;
    let retired = retiring.await.unwrap().unwrap();
    assert!(retired.subject);
    assert_eq!(
        state
            .store
            .user_records("alice", RecordKind::OidcSubject)
            .await
            .unwrap(),
        vec![]
    );
}
