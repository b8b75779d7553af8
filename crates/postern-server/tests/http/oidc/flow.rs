//! What the conformance plan does not cover: consent, client rules, PKCE for public clients,
//! revocation, introspection and end session.

use http::StatusCode;

use super::rp::*;
use super::stored_subject;

#[tokio::test]
async fn a_public_client_needs_pkce_and_explicit_consent_is_asked_once() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let without = server
        .get(&authorize_path(
            "spa",
            &pkce,
            &[("code_challenge", ""), ("code_challenge_method", "")],
        ))
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(back_at_client(&without)["error"], "invalid_request");
    let silent = server
        .get(&authorize_path("spa", &pkce, &[("prompt", "none")]))
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(back_at_client(&silent)["error"], "consent_required");
    let page = server
        .get(&authorize_path("spa", &pkce, &[]))
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("your name"), "{}", page.body);
    assert!(
        !page.body.contains("email address"),
        "a scope spa may not have: {}",
        page.body
    );
    let allowed = answer_consent(&server, &cookie, &page, "allow").await;
    let code = back_at_client(&allowed)["code"].clone();
    let tokens = server
        .post("/oidc/token")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
            ("client_id", "spa"),
        ])
        .send()
        .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    // Remembered: the next request goes straight back with a code.
    code_for(&server, &cookie, "spa", &Pkce::new(), &[]).await;
    // The consent form cannot be replayed, nor posted without the session's CSRF token.
    let replay = answer_consent(&server, &cookie, &page, "allow").await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn consent_denied_goes_back_as_access_denied() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let page = server
        .get(&authorize_path("spa", &Pkce::new(), &[]))
        .header("cookie", &cookie)
        .send()
        .await;
    let denied = answer_consent(&server, &cookie, &page, "deny").await;
    assert_eq!(back_at_client(&denied)["error"], "access_denied");
    let forged = server
        .post("/oidc/consent")
        .header("cookie", &cookie)
        .form(&[
            ("csrf", "forged"),
            ("request", &page.hidden_field("request")),
            ("decision", "allow"),
        ])
        .send()
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_client_s_user_rules_refuse_others() {
    let (server, _keys) = start().await;
    let alice = server.login("alice").await;
    let refused = server
        .get(&authorize_path("ops", &Pkce::new(), &[]))
        .header("cookie", &alice)
        .send()
        .await;
    assert_eq!(back_at_client(&refused)["error"], "access_denied");
    let bob = server.login("bob").await;
    code_for(&server, &bob, "ops", &Pkce::new(), &[]).await;
}

#[tokio::test]
async fn introspection_and_revocation_answer_for_the_client_s_own_tokens() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "basic", &pkce, &[]).await;
    let tokens = exchange(&server, "basic", &code, &pkce).await.json();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let active = introspect(&server, "basic", &access).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["sub"], stored_subject(&server, "alice").await);
    assert_eq!(active["client_id"], "basic");
    assert_eq!(introspect(&server, "basic", &refresh).await["active"], true);
    // Another client learns nothing.
    assert_eq!(introspect(&server, "ops", &access).await["active"], false);
    let unauthenticated = server
        .post("/oidc/introspect")
        .form(&[("token", &access)])
        .send()
        .await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
    // Revoking the refresh token ends the family, the access token included.
    let revoked = server
        .post("/oidc/revoke")
        .header("authorization", &basic("basic"))
        .form(&[("token", &refresh), ("token_type_hint", "refresh_token")])
        .send()
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(introspect(&server, "basic", &access).await["active"], false);
    assert_eq!(
        userinfo(&server, &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    let unknown = server
        .post("/oidc/revoke")
        .header("authorization", &basic("basic"))
        .form(&[("token", "never-issued")])
        .send()
        .await;
    assert_eq!(unknown.status, StatusCode::OK);
}

#[tokio::test]
async fn end_session_signs_out_and_goes_to_a_registered_address_only() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "basic", &pkce, &[]).await;
    let tokens = exchange(&server, "basic", &code, &pkce).await.json();
    let hint = tokens["id_token"].as_str().unwrap();
    let unregistered = server
        .get(&format!(
            "/oidc/logout?{}",
            serde_urlencoded::to_string([
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", "https://evil.example.com/")
            ])
            .unwrap()
        ))
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(unregistered.status, StatusCode::BAD_REQUEST);
    // Without a hint: to the sign-out page, which asks.
    let unhinted = server
        .get("/oidc/logout")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(
        unhinted.header("location"),
        Some("https://auth.example.com/logout")
    );
    let out = server
        .get(&format!(
            "/oidc/logout?{}",
            serde_urlencoded::to_string([
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", BYE),
                ("state", "s1")
            ])
            .unwrap()
        ))
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(out.status, StatusCode::FOUND);
    assert_eq!(out.header("location"), Some(&*format!("{BYE}?state=s1")));
    let status = server
        .get("/api/session")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(status.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_body_postern_does_not_read_is_the_client_s_error_not_the_store_s() {
    let (server, _keys) = start().await;
    for path in [
        "/oidc/token",
        "/oidc/revoke",
        "/oidc/introspect",
        "/oidc/userinfo",
    ] {
        let oversized = server
            .post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .raw_body(vec![b'a'; 64 * 1024])
            .send()
            .await;
        assert_eq!(oversized.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert_eq!(oversized.json()["error"], "invalid_request", "{path}");
    }
}

/// A confidential client with `require_pkce = false`/`true` of its own, redirecting to REDIRECT.
fn client_with_pkce(id: &str, required: bool) -> String {
    format!(
        "[[oidc.clients]]\nid = \"{id}\"\nsecret_hash = \"{}\"\nredirect_uris = [\"{REDIRECT}\"]\n\
         consent = \"implicit\"\nrequire_pkce = {required}\n",
        secret_hash()
    )
}

/// `require_pkce` per client: its own value wins over `[oidc] require_pkce`, either way.
#[tokio::test]
async fn require_pkce_is_the_client_s_own_else_the_provider_s() {
    const WITHOUT_PKCE: &[(&str, &str)] = &[("code_challenge", ""), ("code_challenge_method", "")];
    let refused = |response: &crate::support::TestResponse| {
        back_at_client(response).get("error").map(String::as_str) == Some("invalid_request")
    };
    for (provider_requires, client) in [(true, "legacy"), (false, "basic")] {
        let extra = format!(
            "require_pkce = {provider_requires}\n{}{}{}",
            clients(""),
            client_with_pkce("legacy", false),
            client_with_pkce("strict", true)
        );
        let (server, _keys) = super::provider(&extra).await;
        let cookie = server.login("alice").await;
        let ask = |client: &str| {
            server
                .get(&authorize_path(client, &Pkce::new(), WITHOUT_PKCE))
                .header("cookie", &cookie)
                .send()
        };
        assert!(
            refused(&ask("strict").await),
            "strict, provider {provider_requires}"
        );
        assert_eq!(
            refused(&ask("basic").await),
            provider_requires,
            "basic follows the provider"
        );
        // The client that may skip PKCE gets a code and redeems it without a verifier.
        let code = code_for(&server, &cookie, client, &Pkce::new(), WITHOUT_PKCE).await;
        let tokens = server
            .post("/oidc/token")
            .header("authorization", &basic(client))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
            ])
            .send()
            .await;
        assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    }
}

/// A refresh (and userinfo) reads the user and the client's rules as they are now: a local
/// user's groups changed by a reload reach the claims, and a user a client's `allow_groups` no
/// longer admits gets no more tokens from an earlier sign-in.
#[tokio::test]
async fn a_refresh_reads_the_user_and_the_clients_rules_as_they_are_now() {
    let team = format!(
        "[[oidc.clients]]\nid = \"team\"\nsecret_hash = \"{}\"\nredirect_uris = [\"{REDIRECT}\"]\n\
         consent = \"implicit\"\nscopes = [\"openid\", \"groups\", \"offline_access\"]\n\
         allow_groups = [\"admins\"]\n",
        secret_hash()
    );
    let (server, _keys) = super::provider(&clients(&team)).await;
    let cookie = server.login("alice").await;
    let mut tokens = Vec::new();
    for client in ["basic", "team"] {
        let pkce = Pkce::new();
        let scope = [("scope", "openid groups offline_access")];
        let code = code_for(&server, &cookie, client, &pkce, &scope).await;
        let issued = exchange(&server, client, &code, &pkce).await;
        assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
        tokens.push(issued.json());
    }
    let token = |at: usize, name: &str| tokens[at][name].as_str().unwrap().to_owned();
    let groups = |response: &crate::support::TestResponse| response.json()["groups"].clone();
    assert_eq!(
        groups(&userinfo(&server, &token(0, "access_token")).await),
        serde_json::json!(["admins", "dev"])
    );

    // What `postern serve` does when the users file takes alice out of `admins`.
    let text = crate::support::config_text(ISSUER, "")
        .replace("groups = [\"admins\", \"dev\"]", "groups = [\"dev\"]");
    let reloaded = crate::support::load(&text);
    server.state.replace_live(reloaded.access, reloaded.users);

    let now = userinfo(&server, &token(0, "access_token")).await;
    assert_eq!(groups(&now), serde_json::json!(["dev"]), "{}", now.body);
    let refreshed = super::account::refresh(&server, "basic", &token(0, "refresh_token")).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
    let id_token = refreshed.json()["id_token"].as_str().unwrap().to_owned();
    let claims = verified_id_token(&server, &id_token, "basic").await;
    assert_eq!(claims["groups"], serde_json::json!(["dev"]));

    let refused = super::account::refresh(&server, "team", &token(1, "refresh_token")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.json()["error"], "invalid_grant");
    let gone = userinfo(&server, &token(1, "access_token")).await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED, "{}", gone.body);
    let described = introspect(&server, "team", &token(1, "access_token")).await;
    assert_eq!(described["active"], false, "{described}");
    let still = introspect(&server, "basic", &token(0, "access_token")).await;
    assert_eq!(still["active"], true, "{still}");
}

/// The client's rules are read again when the consent page is answered and when the code is
/// exchanged: a user taken off its lists in between gets no code, and no ID token.
#[tokio::test]
async fn a_user_taken_off_a_client_after_the_consent_page_or_the_code_gets_nothing() {
    let hash = secret_hash();
    let teams = format!(
        "[[oidc.clients]]\nid = \"asks\"\nsecret_hash = \"{hash}\"\nredirect_uris = [\"{REDIRECT}\"]\n\
         allow_groups = [\"admins\"]\n\
         [[oidc.clients]]\nid = \"team\"\nsecret_hash = \"{hash}\"\nredirect_uris = [\"{REDIRECT}\"]\n\
         consent = \"implicit\"\nallow_groups = [\"admins\"]\n"
    );
    let (server, _keys) = super::provider(&clients(&teams)).await;
    let cookie = server.login("alice").await;
    let out_of_admins = || {
        let text = crate::support::config_text(ISSUER, "")
            .replace("groups = [\"admins\", \"dev\"]", "groups = [\"dev\"]");
        let reloaded = crate::support::load(&text);
        server.state.replace_live(reloaded.access, reloaded.users);
    };
    let page = server
        .get(&authorize_path(
            "asks",
            &Pkce::new(),
            &[("scope", "openid")],
        ))
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "the consent page: {}",
        page.body
    );
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "team", &pkce, &[("scope", "openid")]).await;

    out_of_admins();
    let answered = answer_consent(&server, &cookie, &page, "allow").await;
    let back = back_at_client(&answered);
    assert_eq!(back.get("error").map(String::as_str), Some("access_denied"));
    assert!(!back.contains_key("code"), "{back:?}");
    let exchanged = exchange(&server, "team", &code, &pkce).await;
    assert_eq!(
        exchanged.status,
        StatusCode::BAD_REQUEST,
        "{}",
        exchanged.body
    );
    assert_eq!(exchanged.json()["error"], "invalid_grant");
}

/// A code verifier is 43 to 128 unreserved characters (RFC 7636 4.1): a shorter one, or one
/// with other characters, is refused even when its hash is the challenge.
#[tokio::test]
async fn a_code_verifier_of_the_wrong_shape_is_refused() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    for verifier in [
        "short".to_owned(),
        format!("{}!", "a".repeat(43)),
        "a".repeat(129),
    ] {
        let pkce = Pkce::of(verifier);
        let code = code_for(&server, &cookie, "basic", &pkce, &[]).await;
        let refused = exchange(&server, "basic", &code, &pkce).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(
            refused.json()["error"],
            "invalid_grant",
            "{}",
            pkce.verifier
        );
    }
    let pkce = Pkce::of("a".repeat(128));
    let code = code_for(&server, &cookie, "basic", &pkce, &[]).await;
    assert_eq!(
        exchange(&server, "basic", &code, &pkce).await.status,
        StatusCode::OK
    );
}

/// A refresh may narrow the scope; narrowed to leave `openid` out, it is plain OAuth, and its
/// answer carries no ID token.
#[tokio::test]
async fn a_refresh_narrowed_without_openid_gets_no_id_token() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let (_, tokens) = super::subjects::sign_in_to_client(&server, &cookie).await;
    let narrowed = server
        .post("/oidc/token")
        .header("authorization", &basic("basic"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("scope", "profile offline_access"),
        ])
        .send()
        .await;
    assert_eq!(narrowed.status, StatusCode::OK, "{}", narrowed.body);
    let answer = narrowed.json();
    assert_eq!(answer["scope"], "profile offline_access");
    assert!(answer.get("id_token").is_none(), "{answer}");
    assert!(answer["access_token"].is_string());
}

/// RFC 6750 2.3: an access token in a query string ends up in logs; userinfo takes it only
/// in the `Authorization` header or a POST form body.
#[tokio::test]
async fn userinfo_takes_no_access_token_from_a_query_string() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "basic", &pkce, &[]).await;
    let access = exchange(&server, "basic", &code, &pkce).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let in_query = server
        .get(&format!("/oidc/userinfo?access_token={access}"))
        .send()
        .await;
    assert_eq!(
        in_query.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        in_query.body
    );
    let in_body = server
        .post("/oidc/userinfo")
        .form(&[("access_token", access.as_str())])
        .send()
        .await;
    assert_eq!(in_body.status, StatusCode::OK, "{}", in_body.body);
}

/// A client secret is a password to the token endpoint: wrong ones count against the caller's
/// address under the failed-login limits (then even the right one waits), and never lock the
/// client out for callers elsewhere.
#[tokio::test]
async fn wrong_client_secrets_are_limited_like_wrong_passwords() {
    use base64::Engine as _;
    let (server, _keys) = start().await;
    let introspect = |from: &'static str, secret: &str| {
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("basic:{secret}"));
        server
            .post("/oidc/introspect")
            .header("x-forwarded-for", from)
            .header("authorization", &format!("Basic {credentials}"))
            .form(&[("token", "nothing")])
    };
    for guess in 0..5 {
        let wrong = introspect("192.0.2.7", &format!("guess-{guess}"))
            .send()
            .await;
        assert_eq!(
            wrong.status,
            StatusCode::UNAUTHORIZED,
            "guess {guess}: {}",
            wrong.body
        );
    }
    let limited = introspect("192.0.2.7", SECRET).send().await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert!(limited.header("retry-after").is_some());
    let elsewhere = introspect("192.0.2.8", SECRET).send().await;
    assert_eq!(elsewhere.status, StatusCode::OK, "{}", elsewhere.body);
    assert_eq!(elsewhere.json()["active"], false);
}

/// `state` and `nonce` are kept with every pending consent and code: over 2,048 bytes, or with
/// a control character, they are refused before anything is stored. A `state` postern cannot
/// send back gets the error page; a `nonce`, the client's `invalid_request`.
#[tokio::test]
async fn an_oversized_or_multi_line_state_or_nonce_is_refused_before_it_is_kept() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let long = "s".repeat(2049);
    for state in [long.as_str(), "a\nb", "tab\there"] {
        let refused = server
            .get(&authorize_path("spa", &pkce, &[("state", state)]))
            .header("cookie", &cookie)
            .send()
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert!(refused.header("location").is_none());
        assert!(
            refused.body.contains("state postern cannot keep"),
            "{}",
            refused.body
        );
    }
    for nonce in [long.as_str(), "a\r\nb"] {
        let refused = server
            .get(&authorize_path("spa", &pkce, &[("nonce", nonce)]))
            .header("cookie", &cookie)
            .send()
            .await;
        let back = back_at_client(&refused);
        assert_eq!(back["error"], "invalid_request");
        assert_eq!(back["state"], "st4te");
    }
    // At the bound, both are kept and the consent page is shown.
    let longest = "s".repeat(2048);
    let page = server
        .get(&authorize_path(
            "spa",
            &pkce,
            &[("state", &longest), ("nonce", &longest)],
        ))
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}

/// A parameter given twice is refused, at the authorization endpoint (its error page: the
/// client is not known yet) and at the token endpoint (`invalid_request`).
#[tokio::test]
async fn a_repeated_parameter_is_refused() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    // The registered address twice: the same value, so only the repetition can refuse it.
    let twice = format!(
        "{}&redirect_uri=https%3A%2F%2Frp.example.com%2Fcb",
        authorize_path("basic", &pkce, &[])
    );
    let refused = server.get(&twice).header("cookie", &cookie).send().await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(refused.header("location").is_none());
    let token = server
        .post("/oidc/token")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", "spa"),
            ("client_id", "basic"),
        ])
        .send()
        .await;
    assert_eq!(token.status, StatusCode::BAD_REQUEST, "{}", token.body);
    assert_eq!(token.json()["error"], "invalid_request");
    // Once each, the same request goes through; `resource` may repeat (RFC 8707).
    code_for(&server, &cookie, "basic", &pkce, &[]).await;
    let resources = format!(
        "{}&resource=https%3A%2F%2Fa.example.com&resource=https%3A%2F%2Fb.example.com",
        authorize_path("basic", &pkce, &[])
    );
    let back = server
        .get(&resources)
        .header("cookie", &cookie)
        .send()
        .await;
    assert!(back_at_client(&back).contains_key("code"), "{}", back.body);
}
