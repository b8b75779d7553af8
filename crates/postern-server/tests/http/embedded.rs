//! The embedded store when its file cannot be written at run time: changes fail closed (a
//! sign-in answers 503), sessions already committed keep passing checks, and writes work again
//! once the file can be written, without a restart.

use std::time::{Duration, Instant};

use http::StatusCode;
use postern_server::AppState;
use postern_store::embedded::DATA_FILE;
use postern_store::{EmbeddedStore, Store};
use postern_testkit::TempDir;

use crate::support::*;

async fn check(server: &TestServer, cookie: &str) -> StatusCode {
    server
        .get("/api/auth/traefik")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .header("cookie", cookie)
        .send()
        .await
        .status
}

async fn sign_in(server: &TestServer) -> TestResponse {
    server
        .post("/api/login")
        .json(&format!(
            "{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await
}

#[tokio::test]
async fn a_read_only_data_file_fails_changes_closed_keeps_checks_and_recovers() {
    let dir = TempDir::new("http-read-only");
    let store = EmbeddedStore::open(dir.path(), 1000).unwrap();
    let config = load(&config_text("https://auth.example.com", ""));
    let server = TestServer::with_state(AppState::new(config, Store::Embedded(store))).await;
    let cookie = server.login("alice").await;
    assert_eq!(check(&server, &cookie).await, StatusCode::OK);

    let read_only = Immutable::set(&dir.path().join(DATA_FILE));
    for _ in 0..3 {
        let refused = sign_in(&server).await;
        assert_eq!(
            refused.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            refused.body
        );
        assert!(refused.session_cookie().is_none());
        assert_eq!(
            check(&server, &cookie).await,
            StatusCode::OK,
            "a committed session is still checked"
        );
    }

    drop(read_only);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = sign_in(&server).await;
        if answer.status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sign-ins did not recover: {} {}",
            answer.status,
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(check(&server, &cookie).await, StatusCode::OK);
}
