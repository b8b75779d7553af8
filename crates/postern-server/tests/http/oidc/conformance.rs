//! The checks of the OpenID Foundation's Basic OP conformance plan, one test per module,
//! each named after it and asserting what the module asserts.

use http::StatusCode;

use super::rp::*;
use super::stored_subject;
use crate::support::*;

/// oidcc-server: the code flow end to end, and the ID token as Core 3.1.3.7 checks it.
#[tokio::test]
async fn oidcc_server() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "basic", &pkce, &[]).await;
    let response = exchange(&server, "basic", &code, &pkce).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let tokens = response.json();
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_u64().unwrap() > 0);
    let claims = verified_id_token(&server, tokens["id_token"].as_str().unwrap(), "basic").await;
    assert_eq!(claims["sub"], stored_subject(&server, "alice").await);
    assert_eq!(claims["nonce"], "n0nce");
    assert!(claims["auth_time"].as_u64().unwrap() <= claims["iat"].as_u64().unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    let info = userinfo(&server, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info.status, StatusCode::OK);
    assert_eq!(info.json()["sub"], claims["sub"]);
}

/// oidcc-idtoken-signature: RS256 by default, verifiable with the published key.
#[tokio::test]
async fn oidcc_idtoken_signature() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "basic", &pkce, &[]).await;
    let tokens = exchange(&server, "basic", &code, &pkce).await.json();
    let token = tokens["id_token"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(token).unwrap().alg,
        jsonwebtoken::Algorithm::RS256
    );
    verified_id_token(&server, token, "basic").await;
    // One flipped character of the signature, and it no longer verifies.
    let mut forged = token.to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(&server.get("/oidc/jwks").send().await.body).unwrap();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(set.find(&kid).unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["basic"]);
    assert!(jsonwebtoken::decode::<serde_json::Value>(&forged, &key, &validation).is_err());
}

async fn access_token(server: &TestServer, scope: &str) -> String {
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(server, &cookie, "basic", &pkce, &[("scope", scope)]).await;
    let tokens = exchange(server, "basic", &code, &pkce).await.json();
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// oidcc-userinfo-get.
#[tokio::test]
async fn oidcc_userinfo_get() {
    let (server, _keys) = start().await;
    let token = access_token(&server, "openid profile").await;
    let info = userinfo(&server, &token).await;
    assert_eq!(info.status, StatusCode::OK);
    assert_eq!(info.json()["preferred_username"], "alice");
}

/// oidcc-userinfo-post-header.
#[tokio::test]
async fn oidcc_userinfo_post_header() {
    let (server, _keys) = start().await;
    let token = access_token(&server, "openid").await;
    let info = server
        .post("/oidc/userinfo")
        .header("authorization", &format!("Bearer {token}"))
        .send()
        .await;
    assert_eq!(info.status, StatusCode::OK);
    assert_eq!(info.json()["sub"], stored_subject(&server, "alice").await);
}

/// oidcc-userinfo-post-body.
#[tokio::test]
async fn oidcc_userinfo_post_body() {
    let (server, _keys) = start().await;
    let token = access_token(&server, "openid").await;
    let info = server
        .post("/oidc/userinfo")
        .form(&[("access_token", &token)])
        .send()
        .await;
    assert_eq!(info.status, StatusCode::OK);
    assert_eq!(info.json()["sub"], stored_subject(&server, "alice").await);
    let bad = server
        .post("/oidc/userinfo")
        .form(&[("access_token", "not-a-token")])
        .send()
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert!(
        bad.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
}

/// oidcc-ensure-request-without-nonce-succeeds-for-code-flow.
#[tokio::test]
async fn oidcc_ensure_request_without_nonce_succeeds_for_code_flow() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "basic", &pkce, &[("nonce", "")]).await;
    let tokens = exchange(&server, "basic", &code, &pkce).await.json();
    let claims = verified_id_token(&server, tokens["id_token"].as_str().unwrap(), "basic").await;
    assert!(claims.get("nonce").is_none(), "{claims}");
}

async fn claims_for_scope(scope: &str) -> serde_json::Value {
    let (server, _keys) = start().await;
    let token = access_token(&server, scope).await;
    userinfo(&server, &token).await.json()
}

/// oidcc-scope-profile.
#[tokio::test]
async fn oidcc_scope_profile() {
    let claims = claims_for_scope("openid profile").await;
    assert_eq!(claims["name"], "Alice Example");
    assert_eq!(claims["preferred_username"], "alice");
    assert!(claims.get("email").is_none(), "{claims}");
}

/// oidcc-scope-email.
#[tokio::test]
async fn oidcc_scope_email() {
    let claims = claims_for_scope("openid email").await;
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["email_verified"], true);
    assert!(claims.get("name").is_none(), "{claims}");
}

/// oidcc-scope-all.
#[tokio::test]
async fn oidcc_scope_all() {
    let claims = claims_for_scope("openid profile email groups").await;
    for claim in [
        "sub",
        "name",
        "preferred_username",
        "email",
        "email_verified",
        "groups",
    ] {
        assert!(claims.get(claim).is_some(), "{claim} missing: {claims}");
    }
}

/// oidcc-ensure-other-scope-order-succeeds.
#[tokio::test]
async fn oidcc_ensure_other_scope_order_succeeds() {
    let claims = claims_for_scope("email openid").await;
    assert_eq!(claims["email"], "alice@example.com");
}

/// oidcc-prompt-login: a signed-in user is asked to sign in again, and the new sign-in's
/// `auth_time` is the one in the ID token.
#[tokio::test]
async fn oidcc_prompt_login() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let response = server
        .get(&authorize_path("basic", &pkce, &[("prompt", "login")]))
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::FOUND);
    let location = response.header("location").unwrap();
    assert!(
        location.starts_with("https://auth.example.com/login?redirect_uri="),
        "{location}"
    );
    assert!(location.ends_with("&prompt=login"), "{location}");
    // The login page shows its form although the browser is signed in.
    let login_page = server
        .get(&location.replace("https://auth.example.com", ""))
        .header("cookie", &cookie)
        .browser()
        .send()
        .await;
    assert_eq!(login_page.status, StatusCode::OK);
    // Signed in again, the way back gives a code.
    let back = response.query_of_location()["redirect_uri"].clone();
    let fresh = server.login("alice").await;
    let again = server
        .get(&back.replace("https://auth.example.com", ""))
        .header("cookie", &fresh)
        .send()
        .await;
    let code = back_at_client(&again)["code"].clone();
    let tokens = exchange(&server, "basic", &code, &pkce).await.json();
    let claims = verified_id_token(&server, tokens["id_token"].as_str().unwrap(), "basic").await;
    let asked_at: u64 = back
        .split("postern_signed_in_after=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(claims["auth_time"].as_u64().unwrap() >= asked_at);
    // The old session's sign-in does not satisfy the way back.
    let stale = server
        .get(&back.replace("https://auth.example.com", ""))
        .header("cookie", &cookie)
        .send()
        .await;
    assert!(
        stale
            .header("location")
            .is_some_and(|l| l.starts_with("https://auth.example.com/login")),
        "{:?}",
        stale.header("location")
    );
}

/// What postern adds to the way back from its login page stands for the sign-in asked for:
/// written by anyone else (a client, the browser), it is refused, so neither `prompt=login`
/// nor `max_age` can be skipped with a stale session.
#[tokio::test]
async fn the_marks_of_the_way_back_cannot_be_written_by_the_client() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    for extra in [
        vec![("prompt", "login"), ("postern_signed_in_after", "0")],
        vec![("max_age", "0"), ("postern_signed_in_after", "0")],
        vec![
            ("prompt", "login"),
            ("postern_signed_in_after", "0"),
            ("postern_mark", &"0".repeat(64)),
        ],
    ] {
        let response = server
            .get(&authorize_path("basic", &pkce, &extra))
            .header("cookie", &cookie)
            .send()
            .await;
        let query = back_at_client(&response);
        assert_eq!(query["error"], "invalid_request", "{extra:?}: {query:?}");
        assert!(!query.contains_key("code"));
    }
    // Real marks, from a way back postern wrote, carried over to another request.
    let asked = server
        .get(&authorize_path("basic", &pkce, &[("prompt", "login")]))
        .send()
        .await;
    let back = asked.query_of_location()["redirect_uri"].clone();
    let marks: Vec<(String, String)> = url::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .into_owned()
        .filter(|(name, _)| name.starts_with("postern_"))
        .collect();
    assert!(
        marks.iter().any(|(name, _)| name == "postern_mark"),
        "{back}"
    );
    let mut extra: Vec<(&str, &str)> = vec![("prompt", "login"), ("state", "another")];
    extra.extend(
        marks
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str())),
    );
    let replayed = server
        .get(&authorize_path("basic", &pkce, &extra))
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(back_at_client(&replayed)["error"], "invalid_request");
}

/// `prompt=consent` asks again after the login page too: the way back carries it.
#[tokio::test]
async fn prompt_consent_survives_the_login_page() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    super::account::consent_to_spa(&server, &cookie).await;
    let pkce = Pkce::new();
    let response = server
        .get(&authorize_path("spa", &pkce, &[("prompt", "consent")]))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::FOUND, "{}", response.body);
    let back = response.query_of_location()["redirect_uri"].clone();
    assert!(!back.contains("prompt="), "{back}");
    let asked = server
        .get(&back.replace("https://auth.example.com", ""))
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(
        asked.status,
        StatusCode::OK,
        "the consent page: {}",
        asked.body
    );
    assert!(asked.body.contains("name=\"decision\""), "{}", asked.body);
}

/// oidcc-prompt-none-not-logged-in.
#[tokio::test]
async fn oidcc_prompt_none_not_logged_in() {
    let (server, _keys) = start().await;
    let response = server
        .get(&authorize_path(
            "basic",
            &Pkce::new(),
            &[("prompt", "none")],
        ))
        .send()
        .await;
    let query = back_at_client(&response);
    assert_eq!(query["error"], "login_required");
    assert_eq!(query["state"], "st4te");
}

/// oidcc-prompt-none-logged-in.
#[tokio::test]
async fn oidcc_prompt_none_logged_in() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "basic", &pkce, &[("prompt", "none")]).await;
    assert_eq!(
        exchange(&server, "basic", &code, &pkce).await.status,
        StatusCode::OK
    );
}

/// oidcc-max-age-1: a sign-in older than max_age is not reused.
#[tokio::test]
async fn oidcc_max_age_1() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let response = server
        .get(&authorize_path("basic", &Pkce::new(), &[("max_age", "1")]))
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::FOUND);
    assert!(
        response
            .header("location")
            .unwrap()
            .starts_with("https://auth.example.com/login?")
    );
}

/// oidcc-max-age-10000: a recent sign-in is reused, and `auth_time` is in the ID token.
#[tokio::test]
async fn oidcc_max_age_10000() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "basic", &pkce, &[("max_age", "10000")]).await;
    let tokens = exchange(&server, "basic", &code, &pkce).await.json();
    let claims = verified_id_token(&server, tokens["id_token"].as_str().unwrap(), "basic").await;
    assert!(claims["auth_time"].is_u64());
}

/// oidcc-ensure-request-with-unknown-parameter-succeeds.
#[tokio::test]
async fn oidcc_ensure_request_with_unknown_parameter_succeeds() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let extra = [("extra_parameter", "value"), ("ui_locales", "de-CH")];
    let code = code_for(&server, &cookie, "basic", &pkce, &extra).await;
    assert_eq!(
        exchange(&server, "basic", &code, &pkce).await.status,
        StatusCode::OK
    );
}

/// oidcc-id-token-hint: a hint for the signed-in user is honoured silently.
#[tokio::test]
async fn oidcc_id_token_hint() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "basic", &pkce, &[]).await;
    let tokens = exchange(&server, "basic", &code, &pkce).await.json();
    let hint = tokens["id_token"].as_str().unwrap();
    let pkce = Pkce::new();
    let extra = [("id_token_hint", hint), ("prompt", "none")];
    let code = code_for(&server, &cookie, "basic", &pkce, &extra).await;
    assert_eq!(
        exchange(&server, "basic", &code, &pkce).await.status,
        StatusCode::OK
    );
    // A hint naming someone else: with prompt=none, login_required.
    let bob = server.login("bob").await;
    let response = server
        .get(&authorize_path("basic", &Pkce::new(), &extra))
        .header("cookie", &bob)
        .send()
        .await;
    assert_eq!(back_at_client(&response)["error"], "login_required");
}

/// oidcc-login-hint: accepted (postern's login form does not prefill).
#[tokio::test]
async fn oidcc_login_hint() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "basic", &pkce, &[("login_hint", "alice")]).await;
    assert_eq!(
        exchange(&server, "basic", &code, &pkce).await.status,
        StatusCode::OK
    );
}

/// oidcc-ensure-registered-redirect-uri: an unregistered redirect_uri is shown an error page,
/// never redirected to.
#[tokio::test]
async fn oidcc_ensure_registered_redirect_uri() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    for uri in [
        "https://evil.example.com/cb",
        "https://rp.example.com/cb/extra",
        "https://rp.example.com/cb?x=1",
    ] {
        let response = server
            .get(&authorize_path(
                "basic",
                &Pkce::new(),
                &[("redirect_uri", uri)],
            ))
            .header("cookie", &cookie)
            .send()
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(response.header("location"), None);
    }
}

/// oidcc-ensure-redirect-uri-in-authorization-request.
#[tokio::test]
async fn oidcc_ensure_redirect_uri_in_authorization_request() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let response = server
        .get(
            &authorize_path("basic", &Pkce::new(), &[("redirect_uri", "")])
                .replace(&format!("redirect_uri={}&", urlencode(REDIRECT)), ""),
        )
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.body
    );
    assert_eq!(response.header("location"), None);
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("x", text)]).unwrap()[2..].to_owned()
}

async fn code_reuse(wait: std::time::Duration) {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "basic", &pkce, &[]).await;
    let first = exchange(&server, "basic", &code, &pkce).await;
    assert_eq!(first.status, StatusCode::OK);
    let access = first.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(&server, &access).await.status, StatusCode::OK);
    tokio::time::sleep(wait).await;
    let second = exchange(&server, "basic", &code, &pkce).await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST);
    assert_eq!(second.json()["error"], "invalid_grant");
    // What the first use got is revoked.
    assert_eq!(
        userinfo(&server, &access).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// oidcc-codereuse.
#[tokio::test]
async fn oidcc_codereuse() {
    code_reuse(std::time::Duration::ZERO).await;
}

/// oidcc-codereuse-30seconds (the wait is the module's; the code itself lives 60 s).
#[tokio::test]
async fn oidcc_codereuse_30seconds() {
    code_reuse(std::time::Duration::from_secs(30)).await;
}

/// oidcc-server-client-secret-post.
#[tokio::test]
async fn oidcc_server_client_secret_post() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "post", &pkce, &[("scope", "openid")]).await;
    let response = server
        .post("/oidc/token")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
            ("client_id", "post"),
            ("client_secret", SECRET),
        ])
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    // The same client by Basic is not its registered method.
    let code = code_for(&server, &cookie, "post", &pkce, &[("scope", "openid")]).await;
    let wrong_method = exchange(&server, "post", &code, &pkce).await;
    assert_eq!(wrong_method.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_method.json()["error"], "invalid_client");
}

/// oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported.
#[tokio::test]
async fn oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let response = server
        .get(&authorize_path(
            "basic",
            &Pkce::new(),
            &[("request", "eyJhbGciOiJub25lIn0.e30.")],
        ))
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(back_at_client(&response)["error"], "request_not_supported");
    let discovery = server
        .get("/.well-known/openid-configuration")
        .send()
        .await
        .json();
    assert_eq!(discovery["request_parameter_supported"], false);
}

/// oidcc-refresh-token: rotated on every use; a rotated token used again revokes the family.
#[tokio::test]
async fn oidcc_refresh_token() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "basic", &pkce, &[]).await;
    let tokens = exchange(&server, "basic", &code, &pkce).await.json();
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |token: String| {
        let server = &server;
        async move {
            server
                .post("/oidc/token")
                .header("authorization", &basic("basic"))
                .form(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
                .send()
                .await
        }
    };
    let rotated = refresh(first.clone()).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let rotated = rotated.json();
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let claims = verified_id_token(&server, rotated["id_token"].as_str().unwrap(), "basic").await;
    assert_eq!(claims["sub"], stored_subject(&server, "alice").await);
    let access = rotated["access_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo(&server, &access).await.status, StatusCode::OK);
    // The first token again: refused, and the whole family with it.
    let reused = refresh(first).await;
    assert_eq!(reused.json()["error"], "invalid_grant");
    assert_eq!(refresh(second).await.json()["error"], "invalid_grant");
    assert_eq!(
        userinfo(&server, &access).await.status,
        StatusCode::UNAUTHORIZED
    );
}
