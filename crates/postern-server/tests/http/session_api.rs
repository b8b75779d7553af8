//! Who am I, is my session valid, keep it alive, and health.

use http::StatusCode;

use crate::support::*;

#[tokio::test]
async fn status_says_who_is_signed_in() {
    let server = TestServer::start().await;
    let anonymous = server.get("/api/status").send().await;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert_eq!(anonymous.json()["isLoggedIn"], false);
    assert_eq!(anonymous.json()["totpPending"], false);
    let cookie = server.login("alice").await;
    let signed_in = server
        .get("/api/status")
        .header("cookie", &cookie)
        .send()
        .await
        .json();
    assert_eq!(signed_in["status"], 200);
    assert_eq!(signed_in["isLoggedIn"], true);
    assert_eq!(signed_in["username"], "alice");
    assert_eq!(signed_in["email"], "alice@example.com");
    assert_eq!(signed_in["groups"], serde_json::json!(["admins", "dev"]));
}

#[tokio::test]
async fn session_answers_200_or_401() {
    let server = TestServer::start().await;
    assert_eq!(
        server.get("/api/session").send().await.status,
        StatusCode::UNAUTHORIZED
    );
    let cookie = server.login("alice").await;
    let response = server
        .get("/api/session")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let body = response.json();
    assert_eq!(body["username"], "alice");
    let created = body["createdAt"].as_u64().unwrap();
    assert_eq!(body["idleExpiresAt"].as_u64().unwrap(), created + 1800);
    assert_eq!(body["expiresAt"].as_u64().unwrap(), created + 43_200);
}

#[tokio::test]
async fn keepalive_needs_csrf_and_moves_only_the_idle_deadline() {
    let server = TestServer::start().await;
    let cookie = server.login("alice").await;
    let refused = server
        .post("/api/session/keepalive")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let csrf = server.csrf(&cookie).await;
    let response = server
        .post("/api/session/keepalive")
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    let body = response.json();
    assert_eq!(body["message"], "Session extended");
    let before = server
        .get("/api/session")
        .header("cookie", &cookie)
        .send()
        .await
        .json();
    assert_eq!(body["expiresAt"], before["expiresAt"]);
    assert!(
        body["idleExpiresAt"].as_u64().unwrap() >= before["createdAt"].as_u64().unwrap() + 1800
    );
    let anonymous = server
        .post("/api/session/keepalive")
        .header("x-csrf-token", &csrf)
        .send()
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn csrf_tokens_belong_to_one_session() {
    let server = TestServer::start().await;
    assert_eq!(
        server.get("/api/csrf").send().await.status,
        StatusCode::UNAUTHORIZED
    );
    let alice = server.login("alice").await;
    let bob = server.login("bob").await;
    let alices_token = server.csrf(&alice).await;
    let response = server
        .post("/api/logout")
        .header("cookie", &bob)
        .header("x-csrf-token", &alices_token)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn health_endpoints_answer() {
    let server = TestServer::start().await;
    for path in ["/api/healthcheck", "/api/healthz"] {
        assert_eq!(
            server.get(path).send().await.json(),
            serde_json::json!({"status": 200, "message": "OK"}),
            "{path}"
        );
    }
    for path in ["/health", "/api/health"] {
        let body = server.get(path).send().await.json();
        assert_eq!(body["status"], 200);
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    }
    let ready = server.get("/api/ready").send().await;
    assert_eq!(ready.status, StatusCode::OK);
}

/// Rewrites a session's deadlines in the store, which keeps the record for another minute:
/// only the server's own liveness check can then refuse it.
async fn set_deadlines(server: &TestServer, cookie: &str, idle: u64, absolute: u64) {
    let key = session_key(cookie);
    let stored = server.state.store.get_session(&key).await.unwrap().unwrap();
    let mut record = std::sync::Arc::unwrap_or_clone(stored);
    record.idle_deadline = idle;
    record.expires_at = absolute;
    server
        .state
        .store
        .put_session(&key, &record, std::time::Duration::from_secs(60))
        .await
        .unwrap();
}

/// What a session cookie gets: `GET /api/session`, and the check path's answer.
async fn answers(server: &TestServer, cookie: &str) -> (StatusCode, StatusCode) {
    let session = server
        .get("/api/session")
        .header("cookie", cookie)
        .send()
        .await;
    let check = server
        .get("/api/auth/traefik")
        .forwarded("GET", "/")
        .header("cookie", cookie)
        .send()
        .await;
    (session.status, check.status)
}

#[tokio::test]
async fn the_server_ends_a_session_past_its_idle_or_absolute_deadline() {
    let server = TestServer::start().await;
    let live = (StatusCode::OK, StatusCode::OK);
    let ended = (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED);
    let now = unix_now();

    let idle = server.login("alice").await;
    assert_eq!(answers(&server, &idle).await, live);
    // Deadlines still ahead, written the same way: the session lives on.
    set_deadlines(&server, &idle, now + 120, now + 3600).await;
    assert_eq!(answers(&server, &idle).await, live);
    set_deadlines(&server, &idle, now.saturating_sub(1), now + 3600).await;
    assert_eq!(answers(&server, &idle).await, ended, "idle deadline passed");

    let absolute = server.login("alice").await;
    set_deadlines(&server, &absolute, now + 120, now.saturating_sub(1)).await;
    assert_eq!(
        answers(&server, &absolute).await,
        ended,
        "absolute deadline passed"
    );
}

/// A check of a session whose idle deadline was last moved more than a tenth of the idle window
/// ago moves it to a full window from now (after the answer, so the test waits for the write);
/// the absolute deadline stays.
#[tokio::test]
async fn a_check_moves_a_due_idle_deadline_and_never_the_absolute_one() {
    let server = TestServer::start().await;
    let cookie = server.login("alice").await;
    let now = unix_now();
    // Last moved 800 s ago (idle window 1800 s): due, as 800 s is past a tenth of the window.
    set_deadlines(&server, &cookie, now + 1000, now + 3600).await;
    assert_eq!(
        answers(&server, &cookie).await,
        (StatusCode::OK, StatusCode::OK)
    );
    let key = session_key(&cookie);
    let waited_since = std::time::Instant::now();
    let moved = loop {
        let record = server.state.store.get_session(&key).await.unwrap().unwrap();
        if record.idle_deadline != now + 1000 {
            break record;
        }
        assert!(
            waited_since.elapsed() < std::time::Duration::from_secs(30),
            "the check never moved the idle deadline"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(
        moved.idle_deadline >= now + 1800 && moved.idle_deadline <= unix_now() + 1800,
        "moved to a full window from the check: {} (now {now})",
        moved.idle_deadline
    );
    assert_eq!(
        moved.expires_at,
        now + 3600,
        "the absolute deadline never moves"
    );
}

#[tokio::test]
async fn keepalive_on_a_remember_me_session_moves_nothing() {
    let server = TestServer::start().await;
    let login = server
        .post("/api/login")
        .json(&format!(
            "{{\"username\":\"alice\",\"password\":\"{PASSWORD}\",\"rememberMe\":true}}"
        ))
        .send()
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let cookie = login.session_cookie().unwrap();
    let before = server
        .get("/api/session")
        .header("cookie", &cookie)
        .send()
        .await
        .json();
    assert_eq!(before["rememberMe"], true);
    assert_eq!(
        before["idleExpiresAt"], before["expiresAt"],
        "no idle timeout"
    );
    let csrf = server.csrf(&cookie).await;
    let kept = server
        .post("/api/session/keepalive")
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    let body = kept.json();
    assert_eq!(body["message"], "Session has no idle timeout");
    assert_eq!(body["rememberMe"], true);
    assert_eq!(body["expiresAt"], before["expiresAt"]);
    assert_eq!(body["idleExpiresAt"], before["idleExpiresAt"]);
}
