//! Two replicas on one Redis: a flow begun on one is finished on the other, and a refresh
//! token rotated on one is spent on both.

use http::StatusCode;
use postern_testkit::{RedisServer, TempDir};

use super::provider_in;
use super::rp::*;

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
