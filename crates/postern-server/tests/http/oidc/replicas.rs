//! Two replicas on one Redis: a flow begun on one is finished on the other, and a refresh
//! token rotated on one is spent on both; both agree on a new user's subject id.

use http::StatusCode;
use postern_testkit::{RedisServer, TempDir};

use super::rp::*;
use super::subjects::{IDENTITY, identity_token_sub, sign_in_to_client};
use super::{provider_in, stored_subject};

#[tokio::test]
async fn authorize_on_a_redeem_on_b_refresh_on_a() {
    let redis = RedisServer::start();
    let keys = TempDir::new("oidc-replica-keys");
    let extra = format!(
        "[session]\nstore = \"redis\"\nredis_url = \"{}\"\n{}",
        redis.url(),
        clients("")
    );
    let a = provider_in(&keys, &extra).await;
    let b = provider_in(&keys, &extra).await;
    let cookie = a.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&a, &cookie, "basic", &pkce, &[]).await;
    let redeemed = exchange(&b, "basic", &code, &pkce).await;
    assert_eq!(redeemed.status, StatusCode::OK, "{}", redeemed.body);
    let tokens = redeemed.json();
    verified_id_token(&a, tokens["id_token"].as_str().unwrap(), "basic").await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let rotated = a
        .post("/oidc/token")
        .header("authorization", &basic("basic"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let access = rotated.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(&b, &access).await.status, StatusCode::OK);
    // The spent refresh token, replayed on B: refused, and the family ends on A too.
    let replayed = b
        .post("/oidc/token")
        .header("authorization", &basic("basic"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await;
    assert_eq!(replayed.json()["error"], "invalid_grant");
    assert_eq!(userinfo(&a, &access).await.status, StatusCode::UNAUTHORIZED);
}

/// Both replicas need a new user's subject id at the same moment: they mint one id, not two.
#[tokio::test]
async fn replicas_agree_on_a_new_users_subject() {
    let redis = RedisServer::start();
    let keys = TempDir::new("oidc-replica-subject-keys");
    let extra = format!(
        "[session]\nstore = \"redis\"\nredis_url = \"{}\"\n{}{IDENTITY}",
        redis.url(),
        clients("")
    );
    let a = provider_in(&keys, &extra).await;
    let b = provider_in(&keys, &extra).await;
    for user in ["alice", "bob"] {
        let (on_a, on_b) = (a.login(user).await, b.login(user).await);
        let (from_a, from_b) =
            tokio::join!(identity_token_sub(&a, &on_a), identity_token_sub(&b, &on_b));
        assert_eq!(from_a, from_b, "{user}");
        assert_eq!(from_a, stored_subject(&a, user).await);
    }
    let alice = b.login("alice").await;
    let (sub, _) = sign_in_to_client(&b, &alice).await;
    assert_eq!(sub, stored_subject(&a, "alice").await);
}
