//! Token families seen from outside: each login is a family of its own, a chain of refreshes
//! rotates (each refresh token is spent once, the next one works), a reuse ends its own family
//! and no other, a family lives `refresh_token_ttl` from its login however often it is
//! refreshed, and a logout with a token that is not postern's is refused and ends nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;

use crate::headless::{bearer, pair, refresh, server};
use crate::support::*;

/// The claims a token carries (its middle part; the signature is not checked here).
fn claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// The access and refresh token of a 200 from `/api/auth/login` or `/api/auth/refresh`.
fn pair_of(response: &TestResponse) -> (String, String) {
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let json = response.json();
    let token = |name: &str| json[name].as_str().unwrap().to_owned();
    (token("access_token"), token("refresh_token"))
}

#[tokio::test]
async fn a_chain_of_refreshes_rotates_and_a_reuse_ends_only_its_own_login() {
    let server = server("").await;
    let (first_access, first_refresh) = pair(&server).await;
    let (other_access, other_refresh) = pair(&server).await;

    let mut refresh_token = first_refresh.clone();
    for step in 1..=3 {
        let (access, next_refresh) = pair_of(&refresh(&server, &refresh_token).await);
        assert_eq!(
            bearer(&server, &access).send().await.status,
            StatusCode::OK,
            "the access token of refresh {step}"
        );
        refresh_token = next_refresh;
    }

    // The login's first refresh token again: that login's family ends, all of it.
    let reused = refresh(&server, &first_refresh).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        bearer(&server, &first_access).send().await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&server, &refresh_token).await.status,
        StatusCode::UNAUTHORIZED,
        "the newest refresh token of the ended family"
    );

    // The other login of the same user is a family of its own and goes on.
    assert_eq!(
        bearer(&server, &other_access).send().await.status,
        StatusCode::OK
    );
    let (other_next, _) = pair_of(&refresh(&server, &other_refresh).await);
    assert_eq!(
        bearer(&server, &other_next).send().await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_family_lives_refresh_token_ttl_from_its_login_however_often_it_is_refreshed() {
    // The defaults: access tokens 8h, the family 7d.
    let server = server("").await;
    let (access, first_refresh) = pair(&server).await;
    let login = claims(&first_refresh);
    let login_time = login["iat"].as_u64().unwrap();
    let family_end = login_time + 7 * 24 * 3600;
    assert_eq!(login["exp"].as_u64(), Some(family_end));
    assert_eq!(login["fam_exp"].as_u64(), Some(family_end));
    let access_claims = claims(&access);
    assert_eq!(
        access_claims["exp"].as_u64(),
        Some(access_claims["iat"].as_u64().unwrap() + 8 * 3600)
    );
    assert_eq!(access_claims["fam"], login["fam"]);

    let (next_access, next_refresh) = pair_of(&refresh(&server, &first_refresh).await);
    for token in [&next_access, &next_refresh] {
        let next = claims(token);
        assert_eq!(next["fam"], login["fam"], "a refresh stays in the family");
        assert_eq!(next["fam_exp"].as_u64(), Some(family_end));
    }
    assert_eq!(
        claims(&next_refresh)["exp"].as_u64(),
        Some(family_end),
        "a refresh never moves the family's end"
    );
}

#[tokio::test]
async fn a_logout_with_a_token_that_is_not_postern_s_is_refused_and_ends_nothing() {
    let server = server("").await;
    let (access, refresh_token) = pair(&server).await;
    // The same token with the first character of its signature changed.
    let (signed, signature) = access.rsplit_once('.').unwrap();
    let changed = if signature.starts_with('A') { 'B' } else { 'A' };
    let forged = format!("{signed}.{changed}{}", &signature[1..]);
    for token in ["not-a-token", forged.as_str()] {
        let out = server
            .post("/api/logout")
            .header("authorization", &format!("Bearer {token}"))
            .send()
            .await;
        assert_eq!(out.status, StatusCode::UNAUTHORIZED, "{token:.40}");
    }
    assert_eq!(bearer(&server, &access).send().await.status, StatusCode::OK);
    pair_of(&refresh(&server, &refresh_token).await);
}

/// A user removed, then created again from the same line, is a new person: the old person's
/// tokens stay ended, on every store (the memory store too, while the process runs).
#[tokio::test]
async fn a_removed_user_s_tokens_stay_ended_when_the_same_line_comes_back() {
    let server = server("").await;
    let (access, refresh_token) = pair(&server).await;
    assert_eq!(bearer(&server, &access).send().await.status, StatusCode::OK);
    let everyone = server.state.users();
    assert_eq!(server.reload_users(server.users_without("alice")).await, 1);
    server.reload_users((*everyone).clone()).await;
    assert_eq!(
        bearer(&server, &access).send().await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&server, &refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The new alice signs in as herself.
    let (fresh, _) = pair(&server).await;
    assert_eq!(bearer(&server, &fresh).send().await.status, StatusCode::OK);
}

/// A TOTP secret the administrator sets for a user (`totp_secret`), or replaces because it
/// leaked, ends the tokens issued before it, as the user's own change of factors does.
#[tokio::test]
async fn a_totp_secret_the_administrator_sets_or_replaces_ends_the_user_s_tokens() {
    let server = server("").await;
    let (access, refresh_token) = pair(&server).await;
    let with_totp = |secret: &str| {
        let key = postern_core::totp::TotpKey::parse(secret).unwrap();
        postern_core::users::UserTable::new(server.state.users().iter().map(|user| {
            let mut user = (**user).clone();
            if user.name == "alice" {
                user.totp = Some(key.clone());
            }
            user
        }))
    };
    assert_eq!(
        server
            .reload_users(with_totp("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"))
            .await,
        0
    );
    assert_eq!(
        bearer(&server, &access).send().await.status,
        StatusCode::UNAUTHORIZED,
        "a one-factor token of a user who now has TOTP"
    );
    assert_eq!(
        refresh(&server, &refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Replaced: what the old secret signed in is over too.
    let (access, _) = pair_with_code(&server, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").await;
    assert_eq!(bearer(&server, &access).send().await.status, StatusCode::OK);
    server
        .reload_users(with_totp("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"))
        .await;
    assert_eq!(
        bearer(&server, &access).send().await.status,
        StatusCode::UNAUTHORIZED,
        "a token from the replaced secret"
    );
}

/// Alice's token pair from `/api/auth/login` with her password and a code of `secret`.
async fn pair_with_code(server: &TestServer, secret: &str) -> (String, String) {
    let code = postern_core::totp::TotpKey::parse(secret)
        .unwrap()
        .code_at(unix_now());
    let login = server
        .post("/api/auth/login")
        .json(&format!(
            "{{\"username\":\"alice\",\"password\":\"{PASSWORD}\",\"code\":\"{code}\"}}"
        ))
        .send()
        .await;
    pair_of(&login)
}
