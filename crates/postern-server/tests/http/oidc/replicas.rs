//! Two replicas on one Redis: a flow begun on one is finished on the other, and a refresh
//! token rotated on one is spent on both; both agree on a new user's subject id; a consent
//! revoked on one refuses a code issued on the other.

use http::StatusCode;
use postern_testkit::{RedisServer, TempDir};

use super::account::admin_revoke;
use super::rp::*;
use super::subjects::{IDENTITY, identity_token_sub, sign_in_to_client};
use super::{provider_in, stored_subject};
use crate::support::TestServer;

/// Two providers on one new Redis, with the test clients and `extra` TOML, sharing keys.
async fn two_replicas(extra: &str) -> (RedisServer, TempDir, TestServer, TestServer) {
    let redis = RedisServer::start();
    let keys = TempDir::new("oidc-replica-keys");
    let extra = format!(
        "[session]\nstore = \"redis\"\nredis_url = \"{}\"\n{}{extra}",
        redis.url(),
        clients("")
    );
    let a = provider_in(&keys, &extra).await;
    let b = provider_in(&keys, &extra).await;
    (redis, keys, a, b)
}

#[tokio::test]
async fn authorize_on_a_redeem_on_b_refresh_on_a() {
    let (_redis, _keys, a, b) = two_replicas("").await;
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

/// alice is removed and put back between two of B's reloads, while A saw both and retired
/// her: B never learns of it, yet the new alice's ID token on B carries the new `sub`, never
/// the old person's that B read before (the token endpoint's path reads the store each time).
#[tokio::test]
async fn a_replica_that_missed_a_retirement_hands_the_new_person_the_new_sub() {
    let (_redis, _keys, a, b) = two_replicas(IDENTITY).await;
    let old_alice = b.login("alice").await;
    let old = identity_token_sub(&b, &old_alice).await;
    let (from_client, _) = sign_in_to_client(&b, &old_alice).await;
    assert_eq!(from_client, old);

    let everyone = (*a.state.users()).clone();
    assert_eq!(a.reload_users(a.users_without("alice")).await, 1);
    assert_eq!(a.reload_users(everyone).await, 0);
    assert!(b.state.user("alice").is_some(), "B never saw her go");

    let new_alice = b.login("alice").await;
    let (sub, _) = sign_in_to_client(&b, &new_alice).await;
    assert_ne!(sub, old);
    assert_eq!(sub, stored_subject(&a, "alice").await);
    assert_eq!(identity_token_sub(&b, &new_alice).await, sub);
    assert_eq!(identity_token_sub(&a, &a.login("alice").await).await, sub);
}

/// A code issued on A, the consent revoked on B, the code redeemed on A: refused, because
/// the consent's generation lives in the store both read.
#[tokio::test]
async fn a_consent_revoked_on_one_replica_refuses_a_code_issued_on_the_other() {
    let (_redis, _keys, a, b) = two_replicas("").await;
    let cookie = a.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&a, &cookie, "basic", &pkce, &[]).await;
    let first = exchange(&a, "basic", &code, &pkce).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let code = code_for(&a, &cookie, "basic", &pkce, &[]).await;
    let said = admin_revoke(&b, "basic").await;
    assert!(said.contains("refresh tokens"), "{said}");
    let refused = exchange(&a, "basic", &code, &pkce).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.json()["error"], "invalid_grant");
    let refresh = first.json()["refresh_token"].as_str().unwrap().to_owned();
    let ended = a
        .post("/oidc/token")
        .header("authorization", &basic("basic"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .send()
        .await;
    assert_eq!(ended.json()["error"], "invalid_grant");
}
