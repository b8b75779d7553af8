//! One-time tickets: issued to a signed-in caller, redeemed once for a session cookie.

use http::StatusCode;

use crate::support::*;

async fn ticket(server: &TestServer, credential: (&str, &str)) -> String {
    let response = server
        .get("/api/ws-token")
        .header(credential.0, credential.1)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    assert_eq!(response.json()["expiresIn"], 120);
    response.json()["token"].as_str().unwrap().to_owned()
}

async fn redeem(server: &TestServer, token: &str) -> TestResponse {
    server
        .post("/api/ticket/redeem")
        .json(&format!("{{\"token\":\"{token}\"}}"))
        .send()
        .await
}

#[tokio::test]
async fn a_ticket_becomes_a_session_once() {
    let server = TestServer::start().await;
    let cookie = server.login("alice").await;
    let token = ticket(&server, ("cookie", &cookie)).await;
    assert!(token.len() >= 43, "{token}");
    let first = redeem(&server, &token).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let session = first.session_cookie().expect("a session cookie");
    assert_ne!(session, cookie, "the redeemer gets its own session");
    let who = server
        .get("/api/status")
        .header("cookie", &session)
        .send()
        .await;
    assert_eq!(who.json()["username"], "alice");
    let second = redeem(&server, &token).await;
    assert_eq!(second.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tickets_need_a_signed_in_caller_and_a_json_same_origin_redeem() {
    let server = TestServer::start().await;
    assert_eq!(
        server.get("/api/ws-token").send().await.status,
        StatusCode::UNAUTHORIZED
    );
    let cookie = server.login("alice").await;
    let token = ticket(&server, ("cookie", &cookie)).await;
    let form = server
        .post("/api/ticket/redeem")
        .form(&[("token", &token)])
        .send()
        .await;
    assert_eq!(form.status, StatusCode::FORBIDDEN);
    let cross_site = server
        .post("/api/ticket/redeem")
        .header("origin", "https://evil.example")
        .json(&format!("{{\"token\":\"{token}\"}}"))
        .send()
        .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    // Neither refusal spent it.
    assert_eq!(redeem(&server, &token).await.status, StatusCode::OK);
    for bad in ["", "x", &"a".repeat(300)] {
        assert_eq!(
            redeem(&server, bad).await.status,
            StatusCode::UNAUTHORIZED,
            "{bad:.20}"
        );
    }
}

#[tokio::test]
async fn a_bearer_token_can_ask_for_a_ticket() {
    let server = TestServer::start().await;
    let login = server
        .post("/api/auth/login")
        .json(&format!(
            "{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await;
    let access = login.json()["access_token"].as_str().unwrap().to_owned();
    let token = ticket(&server, ("authorization", &format!("Bearer {access}"))).await;
    assert_eq!(redeem(&server, &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_ticket_dies_with_the_token_family_it_came_from() {
    let server = TestServer::start().await;
    let login = server
        .post("/api/auth/login")
        .json(&format!(
            "{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await;
    let access = login.json()["access_token"].as_str().unwrap().to_owned();
    let bearer = format!("Bearer {access}");
    let token = ticket(&server, ("authorization", &bearer)).await;
    let out = server
        .post("/api/logout")
        .header("authorization", &bearer)
        .send()
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(
        redeem(&server, &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Ending the session a ticket was asked for with (logout, the sessions list, "sign out
/// everywhere else") ends the ticket too: else whoever held a stolen cookie could keep a ticket
/// and sign in again after the owner ended every session.
#[tokio::test]
async fn a_ticket_dies_with_the_session_it_came_from() {
    let server = TestServer::start().await;
    let cookie = server.login("alice").await;
    let token = ticket(&server, ("cookie", &cookie)).await;
    let csrf = server.csrf(&cookie).await;
    let out = server
        .post("/api/logout")
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await;
    assert_eq!(out.status, StatusCode::OK, "{}", out.body);
    let refused = redeem(&server, &token).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(refused.session_cookie().is_none());
}
