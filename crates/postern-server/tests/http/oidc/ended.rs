//! What ends a user's sessions and bearer tokens ends their OpenID tokens too: a new password
//! hash, `postern users revoke`. A grant remembers the credentials stamp of its sign-in
//! (`grants::Subject::stamp`); one from before it did is refused.

use http::StatusCode;

use super::account::refresh;
use super::rp::*;
use super::subjects::sign_in_to_client;
use crate::support::*;

/// The tokens `sign_in_to_client` got: the access token works at userinfo and introspection.
async fn signed_in_tokens(server: &TestServer) -> (String, String) {
    let cookie = server.login("alice").await;
    let (_, tokens) = sign_in_to_client(server, &cookie).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(server, &access).await.status, StatusCode::OK);
    assert_eq!(introspect(server, "basic", &access).await["active"], true);
    (access, refresh_token)
}

/// Neither token works any more, and a new sign-in gets tokens that do.
async fn assert_ended(server: &TestServer, (access, refresh_token): (String, String), why: &str) {
    let info = userinfo(server, &access).await;
    assert_eq!(
        info.status,
        StatusCode::UNAUTHORIZED,
        "{why}: {}",
        info.body
    );
    assert_eq!(
        introspect(server, "basic", &access).await["active"],
        false,
        "{why}"
    );
    let refused = refresh(server, "basic", &refresh_token).await;
    assert_eq!(
        refused.json()["error"],
        "invalid_grant",
        "{why}: {}",
        refused.body
    );
    signed_in_tokens(server).await;
}

#[tokio::test]
async fn a_revocation_or_a_new_password_ends_the_users_openid_tokens() {
    let (server, _keys) = start().await;

    let tokens = signed_in_tokens(&server).await;
    let ended = postern_server::admin::revoke(&server.state.store, "alice")
        .await
        .unwrap();
    assert!(ended >= 1, "her session ended");
    assert_ended(&server, tokens, "postern users revoke").await;

    // The administrator sets a new hash (as by editing the users file).
    let tokens = signed_in_tokens(&server).await;
    let mut users = server.users_without("alice");
    let mut alice = (*server.state.user("alice").unwrap()).clone();
    alice.password_hash = postern_core::password::hash_password(b"a new password").unwrap();
    users = postern_core::users::UserTable::new(
        users.iter().map(|user| (**user).clone()).chain([alice]),
    );
    server.reload_users(users).await;
    let (access, refresh_token) = tokens;
    assert_eq!(
        userinfo(&server, &access).await.status,
        StatusCode::UNAUTHORIZED,
        "a new password hash"
    );
    let refused = refresh(&server, "basic", &refresh_token).await;
    assert_eq!(refused.json()["error"], "invalid_grant", "{}", refused.body);
}
