//! `[identity_token]`: the signed identity on allowed forward-auth answers, verified here with
//! nothing but the JWKS postern publishes.

use http::StatusCode;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};

use super::{provider, stored_subject};
use crate::support::*;

const ON: &str = "[identity_token]\nheader = \"Remote-Jwt\"\n\
    [[apps]]\nhost = \"app.example.com\"\n\
    [[apps]]\nhost = \"quiet.example.com\"\nidentity_token = false\n\
    [[apps]]\nhost = \"open.example.com\"\npolicy = \"bypass\"\n";

fn check(server: &TestServer, host: &str) -> TestRequest {
    server
        .get("/api/auth/traefik")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", host)
        .header("x-forwarded-uri", "/")
        .header("x-forwarded-method", "GET")
}

async fn signed_in(server: &TestServer, cookie: &str, host: &str) -> TestResponse {
    check(server, host).header("cookie", cookie).send().await
}

pub async fn verify(server: &TestServer, token: &str, audience: &str) -> serde_json::Value {
    let set: JwkSet = serde_json::from_str(&server.get("/oidc/jwks").send().await.body).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = set.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&["https://auth.example.com"]);
    jsonwebtoken::decode::<serde_json::Value>(
        token,
        &DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims
}

#[tokio::test]
async fn an_allowed_answer_carries_a_token_for_the_app_s_host() {
    let (server, _keys) = provider(ON).await;
    let cookie = server.login("alice").await;
    let response = signed_in(&server, &cookie, "app.example.com").await;
    assert_eq!(response.status, StatusCode::OK);
    let token = response.header("remote-jwt").expect("the identity token");
    let claims = verify(&server, token, "app.example.com").await;
    assert_eq!(claims["sub"], stored_subject(&server, "alice").await);
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["name"], "Alice Example");
    assert_eq!(claims["groups"], serde_json::json!(["admins", "dev"]));
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        60
    );
    // Within the same second the same token comes back (signed once).
    let again = signed_in(&server, &cookie, "app.example.com").await;
    let second = again.header("remote-jwt").unwrap();
    let third_claims = verify(&server, second, "app.example.com").await;
    if third_claims["iat"] == claims["iat"] {
        assert_eq!(second, token);
    }
}

#[tokio::test]
async fn no_token_for_an_app_that_opted_out_for_anonymous_passes_or_refusals() {
    let (server, _keys) = provider(ON).await;
    let cookie = server.login("alice").await;
    let quiet = signed_in(&server, &cookie, "quiet.example.com").await;
    assert_eq!(quiet.status, StatusCode::OK);
    assert_eq!(quiet.header("remote-jwt"), None);
    let open = check(&server, "open.example.com").send().await;
    assert_eq!(open.status, StatusCode::OK);
    assert_eq!(open.header("remote-jwt"), None);
    let anonymous = check(&server, "app.example.com").send().await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.header("remote-jwt"), None);
}

#[tokio::test]
async fn without_identity_token_no_answer_carries_one() {
    let (server, _keys) = provider("").await;
    let cookie = server.login("alice").await;
    let response = signed_in(&server, &cookie, "app.example.com").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("remote-jwt"), None);
}

/// An app that opted out costs no subject id: its checks neither look one up nor mint one (a
/// check reads the session and nothing else). The first check of an app that takes tokens
/// mints it.
#[tokio::test]
async fn a_check_of_an_app_that_opted_out_mints_no_subject_id() {
    let (server, _keys) = provider(ON).await;
    let cookie = server.login("alice").await;
    let quiet = signed_in(&server, &cookie, "quiet.example.com").await;
    assert_eq!(quiet.status, StatusCode::OK);
    let stored = server
        .state
        .store
        .user_record("alice", postern_store::RecordKind::OidcSubject, "id")
        .await
        .unwrap();
    assert_eq!(stored, None, "a subject id for an app that gets no token");
    let app = signed_in(&server, &cookie, "app.example.com").await;
    let claims = verify(
        &server,
        app.header("remote-jwt").unwrap(),
        "app.example.com",
    )
    .await;
    assert_eq!(claims["sub"], stored_subject(&server, "alice").await);
}

/// The identity token every app behind the proxy receives is signed with the provider's keys,
/// but it is no ID token: as an `id_token_hint` it signs nobody out without asking.
#[tokio::test]
async fn an_identity_token_is_no_id_token_hint_for_logout() {
    let (server, _keys) = provider(ON).await;
    let cookie = server.login("alice").await;
    let response = signed_in(&server, &cookie, "app.example.com").await;
    let token = response.header("remote-jwt").expect("the identity token");
    let logout = server
        .get(&format!("/oidc/logout?id_token_hint={token}"))
        .header("cookie", &cookie)
        .browser()
        .send()
        .await;
    assert!(
        !logout
            .header("location")
            .is_some_and(|location| location.contains("logged_out")),
        "{:?} {}",
        logout.header("location"),
        logout.body
    );
    assert_still_signed_in(&server, &cookie).await;
}

/// Nor when a client's id is also an app's host: the identity token names that host as its
/// audience, but it was issued to no client (no `azp`), so it proves nothing about the user's
/// client and signs nobody out.
#[tokio::test]
async fn an_identity_token_is_no_hint_even_for_a_client_named_like_the_app() {
    let client = format!(
        "[[oidc.clients]]\nid = \"app.example.com\"\nsecret_hash = \"{}\"\n\
         redirect_uris = [\"https://app.example.com/cb\"]\n\
         post_logout_redirect_uris = [\"https://app.example.com/bye\"]\n",
        super::rp::secret_hash()
    );
    let (server, _keys) = provider(&format!("{ON}{client}")).await;
    let cookie = server.login("alice").await;
    let response = signed_in(&server, &cookie, "app.example.com").await;
    let token = response.header("remote-jwt").expect("the identity token");
    let logout = server
        .get(&format!(
            "/oidc/logout?id_token_hint={token}&client_id=app.example.com&post_logout_redirect_uri=https%3A%2F%2Fapp.example.com%2Fbye"
        ))
        .header("cookie", &cookie)
        .browser()
        .send()
        .await;
    assert_eq!(
        logout.header("location"),
        Some("https://auth.example.com/logout"),
        "asked to confirm, not signed out: {}",
        logout.body
    );
    assert_still_signed_in(&server, &cookie).await;
}

async fn assert_still_signed_in(server: &TestServer, cookie: &str) {
    let session = server
        .get("/api/session")
        .header("cookie", cookie)
        .send()
        .await;
    assert_eq!(session.status, StatusCode::OK, "still signed in");
}
