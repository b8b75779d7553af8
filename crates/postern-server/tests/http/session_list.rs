//! A user's own sessions: listed with their device, ended one by one or all but this one.

use http::StatusCode;

use crate::support::*;

async fn login_with_agent(server: &TestServer, user: &str, agent: &str) -> String {
    let response = server
        .post("/api/login")
        .header("user-agent", agent)
        .json(&format!(
            "{{\"username\":\"{user}\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    response.session_cookie().unwrap()
}

#[tokio::test]
async fn sessions_are_listed_with_their_device_and_ended_on_request() {
    let server = TestServer::start().await;
    let laptop = login_with_agent(&server, "alice", "Laptop Browser/1.0").await;
    let phone = login_with_agent(&server, "alice", "Phone\tBrowser/2.0").await;
    let bob = login_with_agent(&server, "bob", "Bob/1.0").await;

    let listed = server
        .get("/api/sessions")
        .header("cookie", &laptop)
        .send()
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    let sessions = listed.json()["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["userAgent"], "Laptop Browser/1.0");
    assert_eq!(current[0]["ip"], "127.0.0.1");
    let other = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(
        other["userAgent"], "PhoneBrowser/2.0",
        "control characters are dropped"
    );
    let other_id = other["id"].as_str().unwrap().to_owned();

    // Without the CSRF token nothing ends.
    let no_csrf = server
        .request(http::Method::DELETE, &format!("/api/sessions/{other_id}"))
        .header("cookie", &laptop)
        .send()
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let csrf = server.csrf(&laptop).await;
    // Another user's session cannot be named.
    let bob_sessions = server
        .get("/api/sessions")
        .header("cookie", &bob)
        .send()
        .await;
    let bob_id = bob_sessions.json()["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let foreign = server
        .request(http::Method::DELETE, &format!("/api/sessions/{bob_id}"))
        .header("cookie", &laptop)
        .header("x-csrf-token", &csrf)
        .send()
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(
        server
            .get("/api/session")
            .header("cookie", &bob)
            .send()
            .await
            .status,
        StatusCode::OK
    );

    let ended = server
        .request(http::Method::DELETE, &format!("/api/sessions/{other_id}"))
        .header("cookie", &laptop)
        .header("x-csrf-token", &csrf)
        .send()
        .await;
    assert_eq!(ended.status, StatusCode::OK);
    assert_eq!(
        server
            .get("/api/session")
            .header("cookie", &phone)
            .send()
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server
            .get("/api/session")
            .header("cookie", &laptop)
            .send()
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn ending_all_others_keeps_this_one() {
    let server = TestServer::start().await;
    let here = server.login("alice").await;
    let others = [server.login("alice").await, server.login("alice").await];
    let csrf = server.csrf(&here).await;
    let ended = server
        .request(http::Method::DELETE, "/api/sessions")
        .header("cookie", &here)
        .header("x-csrf-token", &csrf)
        .send()
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.body);
    assert_eq!(ended.json()["ended"], 2);
    for other in &others {
        assert_eq!(
            server
                .get("/api/session")
                .header("cookie", other)
                .send()
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        server
            .get("/api/session")
            .header("cookie", &here)
            .send()
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        server.get("/api/sessions").send().await.status,
        StatusCode::UNAUTHORIZED
    );
}

async fn signed_in(server: &TestServer, cookie: &str) -> bool {
    let status = server
        .get("/api/status")
        .header("cookie", cookie)
        .send()
        .await;
    status.json()["isLoggedIn"] == true
}

/// One user keeps at most `session.max_sessions_per_user` sessions: a sign-in past it ends the
/// oldest, and the newest stay. 0 turns the cap off.
#[tokio::test]
async fn a_sign_in_past_the_per_user_cap_ends_the_oldest_session() {
    let capped = TestServer::with_config(&config_text(
        "http://localhost",
        "[session]\nmax_sessions_per_user = 3\n",
    ))
    .await;
    let mut cookies = Vec::new();
    for _ in 0..5 {
        cookies.push(capped.login("alice").await);
        // Sign-in times a second apart: the oldest is the first.
        tokio::time::sleep(std::time::Duration::from_millis(1_050)).await;
    }
    let bob = capped.login("bob").await;
    let mut states = Vec::new();
    for cookie in cookies {
        states.push(signed_in(&capped, &cookie).await);
    }
    assert_eq!(states, [false, false, true, true, true]);
    assert!(
        signed_in(&capped, &bob).await,
        "another user's session is untouched"
    );

    let uncapped = TestServer::with_config(&config_text(
        "http://localhost",
        "[session]\nmax_sessions_per_user = 0\n",
    ))
    .await;
    let mut cookies = Vec::new();
    for _ in 0..5 {
        cookies.push(uncapped.login("alice").await);
    }
    for cookie in cookies {
        assert!(signed_in(&uncapped, &cookie).await);
    }
}
