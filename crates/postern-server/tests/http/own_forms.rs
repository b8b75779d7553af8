//! The forms of postern's own pages refuse a POST the browser says another site sent
//! (`Sec-Fetch-Site`), even with a valid CSRF token: a sibling subdomain can plant a
//! pre-session cookie and learn that token.

use http::StatusCode;

use crate::support::*;

/// What a sibling subdomain's page can prepare: a pre-session cookie it planted, and the
/// login form's CSRF token for it (read from the login page it fetched with that cookie).
async fn planted_login_form(server: &TestServer) -> (String, String) {
    let page = server.get("/login").browser().send().await;
    assert_eq!(page.status, StatusCode::OK);
    let planted = page.cookie("postern_csrf").expect("a pre-session cookie");
    (planted, page.hidden_field("csrf"))
}

async fn post_login(server: &TestServer, fetch_site: Option<&str>) -> TestResponse {
    let (planted, csrf) = planted_login_form(server).await;
    let mut request = server
        .post("/login")
        .header("cookie", &planted)
        .browser()
        .form(&[("username", "bob"), ("password", PASSWORD), ("csrf", &csrf)]);
    if let Some(site) = fetch_site {
        request = request.header("sec-fetch-site", site);
    }
    request.send().await
}

#[tokio::test]
async fn a_login_form_another_site_sent_is_refused_though_its_token_is_valid() {
    let server = TestServer::start().await;
    for site in ["same-site", "cross-site"] {
        let response = post_login(&server, Some(site)).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{site}");
        assert!(
            response
                .body
                .contains("This form was sent from another site"),
            "{site}: {}",
            response.body
        );
        assert!(response.session_cookie().is_none(), "{site}: signed in");
    }
    // The same form from postern's own page, or from a browser that says nothing, signs in.
    for site in [Some("same-origin"), Some("none"), None] {
        let response = post_login(&server, site).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{site:?}");
        assert!(response.session_cookie().is_some(), "{site:?}");
    }
}

/// Every own form refuses first, before its body or session is read: the answer is the same
/// 403 page with no cookie, signed in or not.
#[tokio::test]
async fn every_own_form_refuses_another_site() {
    let server = TestServer::start().await;
    let cookie = server.login("alice").await;
    for path in [
        "/login",
        "/logout",
        "/totp",
        "/account/password",
        "/account/end-other-sessions",
        "/oidc/consent",
    ] {
        let response = server
            .post(path)
            .header("cookie", &cookie)
            .header("sec-fetch-site", "same-site")
            .browser()
            .form(&[("csrf", "whatever")])
            .send()
            .await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            response
                .body
                .contains("This form was sent from another site"),
            "{path}: {}",
            response.body
        );
    }
    // Still signed in: the refused logout ended nothing.
    let status = server
        .get("/api/status")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(status.json()["isLoggedIn"], true);
}

/// The JSON API and the provider's endpoints, which other sites' scripts and apps call, keep
/// their own rules.
#[tokio::test]
async fn the_json_login_is_not_an_own_form() {
    let server = TestServer::start().await;
    let response = server
        .post("/api/login")
        .header("sec-fetch-site", "same-site")
        .json(&format!(
            "{{\"username\":\"bob\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
}

/// Relying parties and providers send browsers to these from their own sites: the own-form
/// refusal must never reach them.
#[tokio::test]
async fn the_provider_s_and_callback_routes_take_requests_from_other_sites() {
    let server = TestServer::start().await;
    for (method, path) in [
        ("POST", "/oidc/authorize"),
        ("GET", "/oidc/authorize"),
        ("POST", "/oidc/logout"),
        ("GET", "/oidc/logout"),
        ("POST", "/oidc/token"),
        ("GET", "/api/oauth/callback/github?code=x&state=y"),
        ("POST", "/api/ticket/redeem"),
        ("POST", "/api/logout"),
    ] {
        let response = server
            .request(method.parse().unwrap(), path)
            .header("sec-fetch-site", "cross-site")
            .browser()
            .form(&[("x", "y")])
            .send()
            .await;
        assert!(
            !response
                .body
                .contains("This form was sent from another site"),
            "{method} {path}: {} {}",
            response.status,
            response.body
        );
    }
}
