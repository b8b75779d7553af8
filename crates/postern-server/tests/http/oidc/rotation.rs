//! Key rotation as docs/oidc-provider.md describes it: add the new key first (it signs from
//! then on, the old one stays published), and remove the old key once nothing it signed is
//! still in use. A token signed with the old key verifies through the JWKS, and passes as an
//! `id_token_hint`, while both keys are configured; after the removal it does neither.
//! The three configurations share one Redis, as a restart of every replica would.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use postern_testkit::{RedisServer, TempDir};

use super::rp::*;
use crate::support::*;

/// A client whose ID tokens are ES256, so the P-256 keys below sign them.
fn es256_client() -> String {
    format!(
        "[[oidc.clients]]\nid = \"es\"\nsecret_hash = \"{}\"\nredirect_uris = [\"{REDIRECT}\"]\n\
         consent = \"implicit\"\nid_token_signed_response_alg = \"ES256\"\n",
        secret_hash()
    )
}

async fn server_with_keys(redis: &RedisServer, keys: &[&std::path::Path]) -> TestServer {
    let keys: Vec<String> = keys
        .iter()
        .map(|key| format!("{:?}", key.display().to_string()))
        .collect();
    let text = config_text(
        ISSUER,
        &format!(
            "[session]\nstore = \"redis\"\nredis_url = \"{}\"\n[oidc]\nsigning_keys = [{}]\n{}",
            redis.url(),
            keys.join(", "),
            es256_client()
        ),
    );
    TestServer::with_config(&text).await
}

/// A new ID token for alice from `server`.
async fn id_token(server: &TestServer) -> String {
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(server, &cookie, "es", &pkce, &[]).await;
    let tokens = exchange(server, "es", &code, &pkce).await.json();
    tokens["id_token"].as_str().unwrap().to_owned()
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Whether `token` verifies with the key its `kid` names in `server`'s JWKS, as an RP checks.
async fn verifies(server: &TestServer, token: &str) -> bool {
    let set: JwkSet = serde_json::from_str(&server.get("/oidc/jwks").send().await.body).unwrap();
    let Some(jwk) = set.find(&kid(token)) else {
        return false;
    };
    let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["es"]);
    validation.set_issuer(&[ISSUER]);
    jsonwebtoken::decode::<serde_json::Value>(
        token,
        &DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .is_ok()
}

/// What `/oidc/authorize?prompt=none` with `hint` answers alice's session on `server`: a code,
/// or the error.
async fn silent_with_hint(server: &TestServer, hint: &str) -> Result<String, String> {
    let cookie = server.login("alice").await;
    let response = server
        .get(&authorize_path(
            "es",
            &Pkce::new(),
            &[("prompt", "none"), ("id_token_hint", hint)],
        ))
        .header("cookie", &cookie)
        .send()
        .await;
    let query = back_at_client(&response);
    query
        .get("code")
        .cloned()
        .ok_or_else(|| query.get("error").cloned().unwrap_or_default())
}

#[tokio::test]
async fn the_old_key_s_tokens_verify_while_both_keys_are_configured_and_not_after() {
    let redis = RedisServer::start();
    let dir = TempDir::new("oidc-rotation");
    let generate = || postern_core::oidc::keys::generate_p256_pem().unwrap();
    let old_key = dir.write("old.pem", &generate());
    let new_key = dir.write("new.pem", &generate());

    let before = server_with_keys(&redis, &[&old_key]).await;
    let old_token = id_token(&before).await;
    assert!(verifies(&before, &old_token).await);
    drop(before);

    // The new key first: it signs from now on; the old one is still published.
    let both = server_with_keys(&redis, &[&new_key, &old_key]).await;
    let new_token = id_token(&both).await;
    assert_ne!(kid(&new_token), kid(&old_token), "the new key signs");
    assert!(verifies(&both, &new_token).await);
    assert!(
        verifies(&both, &old_token).await,
        "the old key's token still verifies"
    );
    assert!(silent_with_hint(&both, &old_token).await.is_ok());
    drop(both);

    // The old key removed: its tokens no longer verify, and are no hint; the new key's do.
    let after = server_with_keys(&redis, &[&new_key]).await;
    assert!(!verifies(&after, &old_token).await);
    assert_eq!(
        silent_with_hint(&after, &old_token).await,
        Err("invalid_request".to_owned())
    );
    assert!(verifies(&after, &new_token).await);
    assert!(silent_with_hint(&after, &new_token).await.is_ok());
    assert_eq!(
        verified_id_token(&after, &id_token(&after).await, "es").await["aud"],
        "es"
    );
}
