//! Signing out ends the session on the server; it needs the session's CSRF token.

use http::{Method, StatusCode};

use crate::support::*;

#[tokio::test]
async fn logout_needs_the_csrf_token_in_any_of_its_places() {
    let server = TestServer::start().await;
    for header in ["x-csrf-token", "x-csrf"] {
        let cookie = server.login("alice").await;
        let refused = server
            .post("/api/logout")
            .header("cookie", &cookie)
            .send()
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(refused.json()["message"], "Invalid CSRF token");
        let csrf = server.csrf(&cookie).await;
        let response = server
            .post("/api/logout")
            .header("cookie", &cookie)
            .header(header, &csrf)
            .send()
            .await;
        assert_eq!(response.status, StatusCode::OK, "{header}");
        assert_eq!(
            response.json(),
            serde_json::json!({"status": 200, "message": "Logged out"})
        );
        let expired = response
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("postern_session="))
            .unwrap();
        assert!(expired.contains("Max-Age=0"), "{expired}");
        assert_eq!(
            server
                .get("/api/session")
                .header("cookie", &cookie)
                .send()
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test]
async fn the_form_field_carries_the_token_too() {
    let server = TestServer::start().await;
    let cookie = server.login("alice").await;
    let csrf = server.csrf(&cookie).await;
    let response = server
        .post("/api/logout")
        .header("cookie", &cookie)
        .form(&[("csrf", &csrf)])
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
}

#[tokio::test]
async fn delete_session_is_logout() {
    let server = TestServer::start().await;
    let cookie = server.login("alice").await;
    let refused = server
        .request(Method::DELETE, "/api/session")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let csrf = server.csrf(&cookie).await;
    let response = server
        .request(Method::DELETE, "/api/session")
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        server
            .get("/api/session")
            .header("cookie", &cookie)
            .send()
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn logout_is_idempotent() {
    let server = TestServer::start().await;
    for cookie in ["", "postern_session=gone", &server.login("alice").await] {
        let csrf = if cookie.len() > 30 {
            server.csrf(cookie).await
        } else {
            String::new()
        };
        for _ in 0..2 {
            let response = server
                .post("/api/logout")
                .header("cookie", cookie)
                .header("x-csrf-token", &csrf)
                .send()
                .await;
            assert_eq!(response.status, StatusCode::OK);
        }
    }
}

#[tokio::test]
async fn the_logout_page_posts_a_form_that_lands_on_login() {
    let server = TestServer::start().await;
    let cookie = server.login("alice").await;
    let page = server
        .get("/logout")
        .browser()
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("alice"));
    let csrf = page.hidden_field("csrf");
    let response = server
        .post("/logout")
        .header("cookie", &cookie)
        .form(&[("csrf", &csrf)])
        .send()
        .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER);
    assert_eq!(
        response.header("location"),
        Some("https://auth.example.com/login?logged_out=1")
    );
    assert_eq!(
        server
            .get("/api/session")
            .header("cookie", &cookie)
            .send()
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    let after = server
        .get("/logout")
        .browser()
        .header("cookie", &cookie)
        .send()
        .await;
    assert!(after.body.contains("You are signed out"));
    let login = server.get("/login?logged_out=1").browser().send().await;
    assert!(login.body.contains("You have been signed out"));
}

#[tokio::test]
async fn a_forged_logout_form_does_nothing() {
    let server = TestServer::start().await;
    let cookie = server.login("alice").await;
    let response = server
        .post("/logout")
        .header("cookie", &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    assert_eq!(
        server
            .get("/api/session")
            .header("cookie", &cookie)
            .send()
            .await
            .status,
        StatusCode::OK
    );
}
