//! Discovery and the JWKS: present with `[oidc]`, 404 without it.

use http::StatusCode;
use jsonwebtoken::jwk::JwkSet;

use super::provider;
use crate::support::*;

#[tokio::test]
async fn discovery_names_every_endpoint_under_the_issuer() {
    let (server, _keys) = provider("").await;
    let response = server.get("/.well-known/openid-configuration").send().await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let document = response.json();
    assert_eq!(document["issuer"], "https://auth.example.com");
    for (key, path) in [
        ("authorization_endpoint", "/oidc/authorize"),
        ("token_endpoint", "/oidc/token"),
        ("userinfo_endpoint", "/oidc/userinfo"),
        ("jwks_uri", "/oidc/jwks"),
        ("revocation_endpoint", "/oidc/revoke"),
        ("introspection_endpoint", "/oidc/introspect"),
        ("end_session_endpoint", "/oidc/logout"),
    ] {
        assert_eq!(
            document[key],
            format!("https://auth.example.com{path}"),
            "{key}"
        );
    }
    assert_eq!(
        document["response_types_supported"],
        serde_json::json!(["code"])
    );
    assert_eq!(
        document["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    // The keys' algorithms, the signing one first.
    assert_eq!(
        document["id_token_signing_alg_values_supported"],
        serde_json::json!(["ES256", "RS256"])
    );
    assert_eq!(document["request_parameter_supported"], false);
    // RFC 9207: every authorization answer names its issuer.
    assert_eq!(
        document["authorization_response_iss_parameter_supported"],
        true
    );
}

#[tokio::test]
async fn the_jwks_publishes_every_key_with_its_kid() {
    let (server, _keys) = provider("").await;
    let response = server.get("/oidc/jwks").send().await;
    assert_eq!(response.status, StatusCode::OK);
    let set: JwkSet = serde_json::from_str(&response.body).unwrap();
    assert_eq!(set.keys.len(), 2);
    let kids: Vec<&str> = set
        .keys
        .iter()
        .map(|key| key.common.key_id.as_deref().unwrap())
        .collect();
    assert_eq!(
        kids[0],
        server.state.config.oidc.as_ref().unwrap().keys.first().kid
    );
    assert_ne!(kids[0], kids[1]);
    assert!(
        !response.body.contains("\"d\""),
        "a private part: {}",
        response.body
    );
}

#[tokio::test]
async fn without_oidc_there_is_nothing_to_discover() {
    let server = TestServer::start().await;
    for path in ["/.well-known/openid-configuration", "/oidc/jwks"] {
        assert_eq!(
            server.get(path).send().await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}
