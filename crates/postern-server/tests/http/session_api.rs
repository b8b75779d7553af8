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
