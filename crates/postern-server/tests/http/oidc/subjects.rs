//! `sub` is a random subject id per user, not the name: the same for every client and token
//! while the user exists, and a new one for a user removed and created again under the same
//! name, whose predecessor's tokens and hints then name someone else.

use http::StatusCode;

use super::rp::*;
use super::{provider, stored_subject};
use crate::support::*;

pub const IDENTITY: &str = "[identity_token]\nheader = \"Remote-Jwt\"\n\
    [[apps]]\nhost = \"app.example.com\"\n";

/// Signs in to the `basic` client with the session `cookie`: the ID token's `sub` and the tokens.
pub async fn sign_in_to_client(server: &TestServer, cookie: &str) -> (String, serde_json::Value) {
    let pkce = Pkce::new();
    let code = code_for(server, cookie, "basic", &pkce, &[]).await;
    let tokens = exchange(server, "basic", &code, &pkce).await.json();
    let claims = verified_id_token(server, tokens["id_token"].as_str().unwrap(), "basic").await;
    (claims["sub"].as_str().unwrap().to_owned(), tokens)
}

/// `sub` of the identity token a forward-auth check hands the upstream.
pub async fn identity_token_sub(server: &TestServer, cookie: &str) -> String {
    let response = server
        .get("/api/auth/traefik")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .header("x-forwarded-uri", "/")
        .header("x-forwarded-method", "GET")
        .header("cookie", cookie)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let token = response.header("remote-jwt").expect("the identity token");
    let claims = super::identity_token::verify(server, token, "app.example.com").await;
    claims["sub"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn one_user_is_one_subject_for_every_token_and_sign_in() {
    let (server, _keys) = provider(&format!("{}{IDENTITY}", clients(""))).await;
    let cookie = server.login("alice").await;
    let (sub, tokens) = sign_in_to_client(&server, &cookie).await;
    assert_eq!(sub, stored_subject(&server, "alice").await);
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&server, access).await.json()["sub"], sub);
    assert_eq!(introspect(&server, "basic", access).await["sub"], sub);
    assert_eq!(
        introspect(&server, "basic", access).await["username"],
        "alice"
    );
    assert_eq!(identity_token_sub(&server, &cookie).await, sub);
    // A new session, the same person.
    let again = server.login("alice").await;
    assert_eq!(sign_in_to_client(&server, &again).await.0, sub);
    let bob = server.login("bob").await;
    assert_ne!(identity_token_sub(&server, &bob).await, sub);
}

#[tokio::test]
async fn a_user_removed_and_created_again_is_a_new_subject() {
    let (server, _keys) = provider(&format!("{}{IDENTITY}", clients(""))).await;
    let cookie = server.login("alice").await;
    let (old_sub, old_tokens) = sign_in_to_client(&server, &cookie).await;
    let old_id_token = old_tokens["id_token"].as_str().unwrap();

    let everyone = (*server.state.users()).clone();
    server.reload_users(server.users_without("alice")).await;
    server.reload_users(everyone).await;

    let cookie = server.login("alice").await;
    let (new_sub, _) = sign_in_to_client(&server, &cookie).await;
    assert_ne!(new_sub, old_sub);
    assert_eq!(new_sub, stored_subject(&server, "alice").await);
    assert_eq!(identity_token_sub(&server, &cookie).await, new_sub);

    // The old alice's tokens were someone else's: refused, not handed to the new alice.
    let old_access = old_tokens["access_token"].as_str().unwrap();
    assert_eq!(
        userinfo(&server, old_access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        introspect(&server, "basic", old_access).await["active"],
        false
    );
    let refreshed = server
        .post("/oidc/token")
        .header("authorization", &basic("basic"))
        .form(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                old_tokens["refresh_token"].as_str().unwrap(),
            ),
        ])
        .send()
        .await;
    assert_eq!(refreshed.json()["error"], "invalid_grant");
    // Nor does the old alice's ID token pass as a hint for the new one.
    let pkce = Pkce::new();
    let silent = server
        .get(&authorize_path(
            "basic",
            &pkce,
            &[("prompt", "none"), ("id_token_hint", old_id_token)],
        ))
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(back_at_client(&silent)["error"], "login_required");
}
