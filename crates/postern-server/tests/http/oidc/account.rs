//! The OpenID clients a user allowed, on the account page: listed with their scopes and date,
//! and revoked there (CSRF, an audit event), which also ends the refresh tokens the client
//! holds for the user; `users consents --revoke` calls the same function.

use http::StatusCode;

use super::rp::*;
use crate::support::*;

/// alice allows `spa` on its consent page; the tokens of the exchange.
pub(super) async fn consent_to_spa(server: &TestServer, cookie: &str) -> serde_json::Value {
    let pkce = Pkce::new();
    let page = server
        .get(&authorize_path("spa", &pkce, &[]))
        .header("cookie", cookie)
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let allowed = answer_consent(server, cookie, &page, "allow").await;
    let code = back_at_client(&allowed)["code"].clone();
    let tokens = spa_exchange(server, &code, &pkce).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    tokens.json()
}

/// The code exchange of the public client `spa`.
async fn spa_exchange(server: &TestServer, code: &str, pkce: &Pkce) -> TestResponse {
    server
        .post("/oidc/token")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &pkce.verifier),
            ("client_id", "spa"),
        ])
        .send()
        .await
}

/// `postern users consents alice --revoke CLIENT`, on `server`'s store; what it says.
pub async fn admin_revoke(server: &TestServer, client: &str) -> String {
    postern_server::admin::revoke_consent_user(
        &server.state.store,
        &server.state.users(),
        "alice",
        client,
    )
    .await
    .unwrap()
}

/// A silent authorization of `spa` finds no consent.
async fn asks_for_consent_again(server: &TestServer, cookie: &str) {
    let silent = server
        .get(&authorize_path("spa", &Pkce::new(), &[("prompt", "none")]))
        .header("cookie", cookie)
        .send()
        .await;
    assert_eq!(back_at_client(&silent)["error"], "consent_required");
}

pub(super) async fn refresh(server: &TestServer, client: &str, token: &str) -> TestResponse {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    let mut request = server.post("/oidc/token");
    if client == "spa" {
        form.push(("client_id", "spa"));
    } else {
        request = request.header("authorization", &basic(client));
    }
    request.form(&form).send().await
}

pub(super) async fn revoke(
    server: &TestServer,
    cookie: &str,
    csrf: &str,
    client: &str,
) -> TestResponse {
    server
        .post("/account/consent-revoke")
        .header("cookie", cookie)
        .browser()
        .form(&[("csrf", csrf), ("client", client)])
        .send()
        .await
}

#[tokio::test]
async fn the_account_page_lists_the_clients_allowed_and_revoking_ends_their_refresh_tokens() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let before = server.account_page(&cookie).await;
    assert!(
        before.body.contains("id=\"consents-none\""),
        "{}",
        before.body
    );

    let tokens = consent_to_spa(&server, &cookie).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    let page = server.account_page(&cookie).await;
    assert!(page.body.contains("id=\"consent-list\""), "{}", page.body);
    assert!(page.body.contains("<p class=\"session-title\">spa</p>"));
    assert!(
        page.body
            .contains("It may read: openid profile offline_access.")
    );
    assert!(
        page.body.contains(" UTC. It may read"),
        "a date: {}",
        page.body
    );

    // Without the session's CSRF token nothing is revoked.
    let forged = revoke(&server, &cookie, "forged", "spa").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("Form expired"));
    let unknown = revoke(&server, &cookie, &page.hidden_field("csrf"), "gitea").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.body.contains("That app has no access to revoke."));
    let still = refresh(&server, "spa", &refresh_token).await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.body);
    let rotated = still.json()["refresh_token"].as_str().unwrap().to_owned();
    let rotated_access = still.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        userinfo(&server, &access_token).await.status,
        StatusCode::OK
    );

    // Revoking needs no recent sign-in, only the CSRF token.
    let revoked = revoke(&server, &cookie, &page.hidden_field("csrf"), "spa").await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);
    assert_eq!(
        revoked.header("location"),
        Some("/account?done=consent-revoked#consents")
    );
    let after = server.account_page(&cookie).await;
    assert!(
        after.body.contains("id=\"consents-none\""),
        "{}",
        after.body
    );
    let refused = refresh(&server, "spa", &rotated).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.json()["error"], "invalid_grant");
    assert_eq!(
        userinfo(&server, &rotated_access).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The client asks for consent again.
    asks_for_consent_again(&server, &cookie).await;
}

#[tokio::test]
async fn an_implicit_client_with_offline_access_is_listed_and_the_admin_command_ends_it_too() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "basic", &pkce, &[]).await;
    let tokens = exchange(&server, "basic", &code, &pkce).await.json();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let page = server.account_page(&cookie).await;
    assert!(page.body.contains("<p class=\"session-title\">basic</p>"));
    assert!(
        page.body
            .contains("It may read: openid profile email groups offline_access.")
    );
    // bob sees none of alice's.
    let bob = server.login("bob").await;
    assert!(
        server
            .account_page(&bob)
            .await
            .body
            .contains("consents-none")
    );

    let said = admin_revoke(&server, "basic").await;
    assert!(said.contains("refresh tokens"), "{said}");
    let refused = refresh(&server, "basic", &refresh_token).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        server
            .account_page(&cookie)
            .await
            .body
            .contains("consents-none")
    );
}

/// Without `offline_access` an exchange yields one access token and no refresh token; the
/// consent notes its family all the same, so "Revoke" ends it now, not at its expiry.
#[tokio::test]
async fn revoking_ends_an_access_token_issued_without_offline_access() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(
        &server,
        &cookie,
        "basic",
        &pkce,
        &[("scope", "openid profile")],
    )
    .await;
    let tokens = exchange(&server, "basic", &code, &pkce).await.json();
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        userinfo(&server, &access_token).await.status,
        StatusCode::OK
    );
    // Listed, so the user can take it back although the client holds no refresh token.
    let page = server.account_page(&cookie).await;
    assert!(
        page.body.contains("<p class=\"session-title\">basic</p>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("It may read: openid profile."),
        "{}",
        page.body
    );

    let revoked = revoke(&server, &cookie, &page.hidden_field("csrf"), "basic").await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);
    assert_eq!(
        userinfo(&server, &access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let introspected = introspect(&server, "basic", &access_token).await;
    assert_eq!(introspected["active"], false, "{introspected}");
}

#[tokio::test]
async fn a_code_issued_before_the_consent_was_revoked_is_refused() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    consent_to_spa(&server, &cookie).await;
    // Two codes issued while the consent stands, neither redeemed yet.
    let (first, second) = (Pkce::new(), Pkce::new());
    let first_code = code_for(&server, &cookie, "spa", &first, &[]).await;
    let second_code = code_for(&server, &cookie, "spa", &second, &[]).await;
    let csrf = server.account_page(&cookie).await.hidden_field("csrf");
    let revoked = revoke(&server, &cookie, &csrf, "spa").await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);

    let refused = spa_exchange(&server, &first_code, &first).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.json()["error"], "invalid_grant");
    // The refused exchange gave the client no consent back.
    let page = server.account_page(&cookie).await;
    assert!(page.body.contains("id=\"consents-none\""), "{}", page.body);
    asks_for_consent_again(&server, &cookie).await;

    // Allowed again: new codes work, the one from before the revocation still does not.
    let tokens = consent_to_spa(&server, &cookie).await;
    assert!(tokens["refresh_token"].is_string());
    let still = spa_exchange(&server, &second_code, &second).await;
    assert_eq!(still.status, StatusCode::BAD_REQUEST, "{}", still.body);
    assert_eq!(still.json()["error"], "invalid_grant");
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "spa", &pkce, &[]).await;
    let fresh = spa_exchange(&server, &code, &pkce).await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
}

#[tokio::test]
async fn an_implicit_clients_code_from_before_the_admin_revoked_it_is_refused() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "basic", &pkce, &[]).await;
    assert_eq!(
        exchange(&server, "basic", &code, &pkce).await.status,
        StatusCode::OK
    );
    // A code, then the administrator's revocation, then the exchange: refused, no family.
    let (early, late) = (Pkce::new(), Pkce::new());
    let early_code = code_for(&server, &cookie, "basic", &early, &[]).await;
    let access_only = code_for(
        &server,
        &cookie,
        "basic",
        &late,
        &[("scope", "openid profile")],
    )
    .await;
    admin_revoke(&server, "basic").await;
    for (code, pkce) in [(&early_code, &early), (&access_only, &late)] {
        let refused = exchange(&server, "basic", code, pkce).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.json()["error"], "invalid_grant");
    }
    let page = server.account_page(&cookie).await;
    assert!(page.body.contains("id=\"consents-none\""), "{}", page.body);
    // Implicit consent: a code issued after the revocation works, and is listed again.
    let pkce = Pkce::new();
    let code = code_for(&server, &cookie, "basic", &pkce, &[]).await;
    let tokens = exchange(&server, "basic", &code, &pkce).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    let page = server.account_page(&cookie).await;
    assert!(page.body.contains("<p class=\"session-title\">basic</p>"));
}

#[tokio::test]
async fn without_the_provider_the_page_has_no_consents_part() {
    let server = TestServer::start().await;
    let cookie = server.login("alice").await;
    assert!(
        !server
            .account_page(&cookie)
            .await
            .body
            .contains("id=\"consents\"")
    );
}

/// A consent notes at most `MAX_FAMILIES` (100) token families: the 101st code exchange ends
/// the oldest family, whose refresh and access tokens stop working, and the others still work.
#[tokio::test]
async fn the_oldest_token_family_ends_when_a_consent_holds_too_many() {
    // 202 requests to the UI routes, beyond the default per-IP rate.
    let unlimited = "[limits]\napi_rate = 100000\napi_burst = 100000\n";
    let (server, _dir) = super::provider(&clients(unlimited)).await;
    let cookie = server.login("alice").await;
    let mut families = Vec::new();
    for _ in 0..101 {
        let pkce = Pkce::new();
        let code = code_for(&server, &cookie, "basic", &pkce, &[]).await;
        let tokens = exchange(&server, "basic", &code, &pkce).await;
        assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
        let tokens = tokens.json();
        let token = |name: &str| tokens[name].as_str().unwrap().to_owned();
        families.push((token("access_token"), token("refresh_token")));
    }
    let (oldest_access, oldest_refresh) = &families[0];
    assert_eq!(
        introspect(&server, "basic", oldest_access).await["active"],
        false
    );
    let refused = refresh(&server, "basic", oldest_refresh).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert_eq!(refused.json()["error"], "invalid_grant");
    for (access, refresh_token) in [&families[1], &families[100]] {
        assert_eq!(introspect(&server, "basic", access).await["active"], true);
        let rotated = refresh(&server, "basic", refresh_token).await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    }
}
