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

/// Alice's access token from `POST /api/auth/login`.
async fn token_login(server: &TestServer) -> String {
    let login = server
        .post("/api/auth/login")
        .json(&format!(
            "{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await;
    login.json()["access_token"].as_str().unwrap().to_owned()
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
    let access = token_login(&server).await;
    let token = ticket(&server, ("authorization", &format!("Bearer {access}"))).await;
    assert_eq!(redeem(&server, &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_ticket_dies_with_the_token_family_it_came_from() {
    let server = TestServer::start().await;
    let access = token_login(&server).await;
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
    server.logout(&cookie).await;
    let refused = redeem(&server, &token).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(refused.session_cookie().is_none());
}

/// A ticket's session continues the sign-in the ticket was issued for: it says the user signed
/// in when they did (so it never passes for a fresh sign-in, such as OpenID's `prompt=login`
/// asks for) and it ends when that sign-in ends. Tickets redeemed one after another never
/// stretch a stolen session past its absolute end.
#[tokio::test]
async fn a_ticket_s_session_is_no_newer_and_lives_no_longer_than_its_origin() {
    let server = TestServer::start().await;
    let cookie = server.login("alice").await;
    // Signed in ten minutes ago, and ending in ten minutes: sooner than a new session would.
    server.age_session(&cookie).await;
    let key = session_key(&cookie);
    let mut ending = server.session_record(&cookie).await;
    ending.expires_at = unix_now() + 600;
    let ttl = std::time::Duration::from_secs(600);
    server
        .state
        .store
        .put_session(&key, &ending, ttl)
        .await
        .unwrap();
    let origin = server.session_record(&cookie).await;
    let mut holder = cookie;
    for _ in 0..2 {
        let token = ticket(&server, ("cookie", &holder)).await;
        let redeemed = redeem(&server, &token).await;
        assert_eq!(redeemed.status, StatusCode::OK, "{}", redeemed.body);
        holder = redeemed.session_cookie().unwrap();
        let continued = server.session_record(&holder).await;
        assert_eq!(continued.created_at, origin.created_at);
        assert_eq!(
            continued.expires_at, origin.expires_at,
            "not now + max_lifetime"
        );
        assert!(continued.idle_deadline <= continued.expires_at);
    }
}

/// A bearer token's ticket: the session ends with the token family and says the login's time.
#[tokio::test]
async fn a_bearer_ticket_s_session_ends_with_the_token_family() {
    let config = config_text(
        "http://localhost",
        "[api]\naccess_token_ttl = \"10m\"\nrefresh_token_ttl = \"1h\"\n",
    );
    let server = TestServer::with_config(&config).await;
    let before = unix_now();
    let access = token_login(&server).await;
    let after = unix_now();
    let token = ticket(&server, ("authorization", &format!("Bearer {access}"))).await;
    let redeemed = redeem(&server, &token).await;
    assert_eq!(redeemed.status, StatusCode::OK, "{}", redeemed.body);
    let continued = server
        .session_record(&redeemed.session_cookie().unwrap())
        .await;
    assert!(
        (before..=after).contains(&continued.created_at),
        "{continued:?}"
    );
    assert!(continued.expires_at <= after + 3600, "{continued:?}");
}

/// The sign-in a ticket continues can end before the ticket is redeemed: a bearer token's
/// family reaches its absolute end (`refresh_token_ttl` after the login) inside the ticket's
/// two minutes. Nothing else about the ticket is void then (no session to miss, the family
/// not revoked, the password unchanged), so the origin's end alone must refuse it.
#[tokio::test]
async fn a_ticket_whose_sign_in_has_ended_is_refused() {
    let server = TestServer::start().await;
    let access = token_login(&server).await;
    let token = ticket(&server, ("authorization", &format!("Bearer {access}"))).await;
    // The stored ticket, as it would read had its family's end passed since it was issued.
    let id = format!(
        "ticket:{}",
        postern_core::token::TokenHash::of(token.as_bytes()).to_hex()
    );
    let store = &server.state.store;
    let stored = store.take_value(&id).await.unwrap().expect("the ticket");
    let mut record: serde_json::Value = serde_json::from_slice(&stored).unwrap();
    assert!(record["origin"]["ends_by"].as_u64().unwrap() > unix_now() + 60);
    record["origin"]["ends_by"] = (unix_now() - 1).into();
    let ttl = std::time::Duration::from_secs(120);
    let ended = serde_json::to_vec(&record).unwrap();
    store.put_value(&id, ended, ttl).await.unwrap();
    let refused = redeem(&server, &token).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(refused.session_cookie().is_none());

    // The same ticket with its end still ahead is redeemed: only the end refused it.
    let token = ticket(&server, ("authorization", &format!("Bearer {access}"))).await;
    let redeemed = redeem(&server, &token).await;
    assert_eq!(redeemed.status, StatusCode::OK, "{}", redeemed.body);
}
