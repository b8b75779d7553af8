//! A small relying party for the flow tests: the clients postern is configured with, the
//! authorization request, the code exchange and the checks an RP makes on the ID token.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::StatusCode;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use postern_testkit::TempDir;
use sha2::{Digest, Sha256};

use super::provider;
use crate::support::*;

pub const SECRET: &str = "rp-client-secret-of-some-length";
pub const REDIRECT: &str = "https://rp.example.com/cb";
pub const BYE: &str = "https://rp.example.com/bye";
pub const ISSUER: &str = "https://auth.example.com";

pub fn secret_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| postern_core::password::hash_password(SECRET.as_bytes()).unwrap())
}

/// `basic` (client_secret_basic, implicit consent), `post` (client_secret_post), `spa`
/// (public, explicit consent) and `ops` (only the admins group, two factors).
pub fn clients(extra: &str) -> String {
    let hash = secret_hash();
    format!(
        "[[oidc.clients]]\nid = \"basic\"\nsecret_hash = \"{hash}\"\nredirect_uris = [\"{REDIRECT}\"]\n\
         post_logout_redirect_uris = [\"{BYE}\"]\nconsent = \"implicit\"\n\
         scopes = [\"openid\", \"profile\", \"email\", \"groups\", \"offline_access\"]\n\
         [[oidc.clients]]\nid = \"post\"\nsecret_hash = \"{hash}\"\nredirect_uris = [\"{REDIRECT}\"]\n\
         token_endpoint_auth_method = \"client_secret_post\"\nconsent = \"implicit\"\n\
         [[oidc.clients]]\nid = \"spa\"\npublic = true\nredirect_uris = [\"{REDIRECT}\"]\n\
         scopes = [\"openid\", \"profile\", \"offline_access\"]\n\
         [[oidc.clients]]\nid = \"ops\"\nsecret_hash = \"{hash}\"\nredirect_uris = [\"{REDIRECT}\"]\n\
         consent = \"implicit\"\nallow_groups = [\"nobody-is-here\"]\nallow_users = [\"bob\"]\n{extra}"
    )
}

pub async fn start() -> (TestServer, TempDir) {
    provider(&clients("")).await
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        Self::of(postern_core::token::random_text::<32>())
    }

    /// The S256 challenge of `verifier`, whatever its shape.
    pub fn of(verifier: String) -> Self {
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// An authorization request of `client` with `extra` parameters (which replace the defaults).
pub fn authorize_path(client: &str, pkce: &Pkce, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("client_id", client),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile email groups offline_access"),
        ("state", "st4te"),
        ("nonce", "n0nce"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ];
    params.retain(|(name, _)| !extra.iter().any(|(replaced, _)| replaced == name));
    params.extend(extra.iter().filter(|(_, value)| !value.is_empty()));
    format!(
        "/oidc/authorize?{}",
        serde_urlencoded::to_string(&params).unwrap()
    )
}

/// The query of the redirect back to the client (asserting it goes there).
pub fn back_at_client(response: &TestResponse) -> HashMap<String, String> {
    assert_eq!(response.status, StatusCode::FOUND, "{}", response.body);
    let location = response.header("location").unwrap();
    assert!(location.starts_with(&format!("{REDIRECT}?")), "{location}");
    response.query_of_location()
}

/// Signs alice in, asks for a code as `client`, returns the code.
pub async fn code_for(
    server: &TestServer,
    cookie: &str,
    client: &str,
    pkce: &Pkce,
    extra: &[(&str, &str)],
) -> String {
    let response = server
        .get(&authorize_path(client, pkce, extra))
        .header("cookie", cookie)
        .send()
        .await;
    let query = back_at_client(&response);
    assert_eq!(query.get("state").map(String::as_str), Some("st4te"));
    assert_eq!(query.get("iss").map(String::as_str), Some(ISSUER));
    query
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code: {query:?}"))
}

/// Answers the consent `page` with `decision` (`allow` or `deny`), with its own CSRF token.
pub async fn answer_consent(
    server: &TestServer,
    cookie: &str,
    page: &TestResponse,
    decision: &str,
) -> TestResponse {
    server
        .post("/oidc/consent")
        .header("cookie", cookie)
        .form(&[
            ("csrf", &page.hidden_field("csrf")),
            ("request", &page.hidden_field("request")),
            ("decision", decision),
        ])
        .send()
        .await
}

pub fn basic(client: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{client}:{SECRET}")))
}

/// The code exchange with client_secret_basic.
pub async fn exchange(server: &TestServer, client: &str, code: &str, pkce: &Pkce) -> TestResponse {
    server
        .post("/oidc/token")
        .header("authorization", &basic(client))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
        ])
        .send()
        .await
}

/// The ID token's claims after the checks of Core 3.1.3.7: signature by a key in the JWKS,
/// `iss`, `aud`, `exp`, `iat`.
pub async fn verified_id_token(
    server: &TestServer,
    token: &str,
    client: &str,
) -> serde_json::Value {
    let set: JwkSet = serde_json::from_str(&server.get("/oidc/jwks").send().await.body).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("the kid is in the JWKS");
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[client]);
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap_or_else(|err| panic!("the ID token does not verify: {err}"))
    .claims;
    assert_eq!(claims["azp"], client);
    claims
}

/// `POST /oidc/introspect` of `token`, authenticated as `client`: the answer's JSON.
pub async fn introspect(server: &TestServer, client: &str, token: &str) -> serde_json::Value {
    server
        .post("/oidc/introspect")
        .header("authorization", &basic(client))
        .form(&[("token", token)])
        .send()
        .await
        .json()
}

pub async fn userinfo(server: &TestServer, access_token: &str) -> TestResponse {
    server
        .get("/oidc/userinfo")
        .header("authorization", &format!("Bearer {access_token}"))
        .send()
        .await
}
