//! A browser can hold several session cookies (one `session.cookie_domain` set and a host-only
//! one from before it was set, or one a sibling subdomain set) and sends them all, oldest
//! first. The first live session among them is the request's; signing in or out ends them all.

use http::StatusCode;

use crate::support::*;

/// A well-formed session cookie whose session has ended (signed out).
async fn ended_session(server: &TestServer, user: &str) -> String {
    let cookie = server.login(user).await;
    server.logout(&cookie).await;
    cookie
}

/// The user `/api/auth/traefik` lets through with `cookies`, if any.
async fn checked_user(server: &TestServer, cookies: &str) -> Option<String> {
    let response = server
        .get("/api/auth/traefik")
        .forwarded("GET", "/")
        .header("cookie", cookies)
        .send()
        .await;
    (response.status == StatusCode::OK).then(|| {
        response
            .header("remote-user")
            .unwrap_or_default()
            .to_owned()
    })
}

#[tokio::test]
async fn a_stale_session_cookie_sent_first_does_not_hide_a_live_one() {
    let server = TestServer::start().await;
    let old = ended_session(&server, "alice").await;
    let new = server.login("alice").await;
    let both = format!("{old}; {new}");
    assert_eq!(checked_user(&server, &both).await.as_deref(), Some("alice"));
    let status = server
        .get("/api/status")
        .header("cookie", &both)
        .send()
        .await;
    assert_eq!(status.json()["isLoggedIn"], true, "{}", status.body);
    // The login page sees the sign-in too, instead of asking for it again.
    let page = server
        .get("/login")
        .header("cookie", &both)
        .browser()
        .send()
        .await;
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
}

/// Malformed values are no cookie (they never reach the store) and do not count.
#[tokio::test]
async fn at_most_three_well_formed_session_cookies_are_looked_up() {
    let server = TestServer::start().await;
    let mut ended = Vec::new();
    for _ in 0..3 {
        ended.push(ended_session(&server, "alice").await);
    }
    let live = server.login("bob").await;
    let junk = "postern_session=junk; postern_session=";
    let two_then_live = format!("{junk}; {}; {junk}; {}; {live}", ended[0], ended[1]);
    assert_eq!(
        checked_user(&server, &two_then_live).await.as_deref(),
        Some("bob")
    );
    let three_then_live = format!("{}; {live}", ended.join("; "));
    assert_eq!(checked_user(&server, &three_then_live).await, None);
}

#[tokio::test]
async fn signing_out_ends_every_session_the_browser_s_cookies_name() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let bob = server.login("bob").await;
    let both = format!("{alice}; {bob}");
    // The CSRF token is the first live session's: alice's.
    server.logout(&both).await;
    assert_eq!(checked_user(&server, &alice).await, None);
    assert_eq!(
        checked_user(&server, &bob).await,
        None,
        "bob's session ended too"
    );
    assert_eq!(checked_user(&server, &both).await, None);
}

#[tokio::test]
async fn signing_in_ends_every_session_the_browser_held() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let bob = server.login("bob").await;
    let response = server
        .post("/api/login")
        .header("cookie", &format!("{alice}; {bob}"))
        .json(&format!(
            "{{\"username\":\"bob\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let new = response.session_cookie().expect("signed in");
    assert_eq!(checked_user(&server, &alice).await, None);
    assert_eq!(checked_user(&server, &bob).await, None);
    assert_eq!(checked_user(&server, &new).await.as_deref(), Some("bob"));
}
