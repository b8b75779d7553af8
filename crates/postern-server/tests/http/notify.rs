//! `[notify] webhook_url`: the fifth failed sign-in in a row on an account POSTs one
//! `auth.suspicious` notice, retried when the webhook fails, with no secret in it.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::support::*;

/// A webhook on 127.0.0.1 that records every body and answers the statuses it is given, in
/// order (the last one from then on).
pub struct Webhook {
    pub port: u16,
    received: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Webhook {
    pub async fn start(statuses: Vec<u16>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(statuses));
        let (seen, answers) = (Arc::clone(&received), Arc::clone(&statuses));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (seen, answers) = (Arc::clone(&seen), Arc::clone(&answers));
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (seen, answers) = (Arc::clone(&seen), Arc::clone(&answers));
                        async move {
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            seen.lock()
                                .unwrap()
                                .push(serde_json::from_slice(&body).unwrap());
                            let mut answers = answers.lock().unwrap();
                            let status = if answers.len() > 1 {
                                answers.remove(0)
                            } else {
                                answers[0]
                            };
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::new()))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { port, received }
    }

    pub async fn wait_for(&self, count: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let received = self.received.lock().unwrap().clone();
            if received.len() >= count || Instant::now() > deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The `event`, `user` and `message` of each notice received.
pub fn events(received: &[serde_json::Value]) -> Vec<(&str, &str, &str)> {
    received
        .iter()
        .map(|notice| {
            (
                notice["event"].as_str().unwrap(),
                notice["user"].as_str().unwrap(),
                notice["message"].as_str().unwrap(),
            )
        })
        .collect()
}

async fn fail_logins(server: &TestServer, times: usize) {
    for n in 0..times {
        let response = server
            .post("/api/login")
            .header("x-forwarded-for", &format!("198.51.100.{n}"))
            .json("{\"username\":\"alice\",\"password\":\"a wrong secret guess\"}")
            .send()
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
}

fn server_text(port: u16) -> String {
    server_text_with(port, "")
}

/// `server_text` with `limits` (TOML lines) in a `[limits]` table.
fn server_text_with(port: u16, limits: &str) -> String {
    config_text(
        "https://auth.example.com",
        &format!(
            "trusted_proxies = [\"127.0.0.1/32\"]\n[notify]\nwebhook_url = \"http://127.0.0.1:{port}/hooks/postern\"\n[limits]\n{limits}"
        ),
    )
}

/// Every notice the server sent, once none is on its way any more: each notice a request
/// causes is started before its answer comes back, so nothing can come after this.
async fn all_notices(server: &TestServer, webhook: &Webhook) -> Vec<serde_json::Value> {
    tokio::time::timeout(Duration::from_secs(60), server.state.notifier.settled())
        .await
        .expect("the notices settle");
    webhook.received.lock().unwrap().clone()
}

/// The `user`, `ip` and `count` of each notice, in the order received.
fn who_and_count(received: &[serde_json::Value]) -> Vec<(String, String, u64)> {
    received
        .iter()
        .map(|notice| {
            assert_eq!(notice["event"], "auth.suspicious", "{notice}");
            (
                notice["user"].as_str().unwrap().to_owned(),
                notice["ip"].as_str().unwrap().to_owned(),
                notice["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_fifth_failure_in_a_row_notifies_once_without_secrets() {
    let webhook = Webhook::start(vec![200]).await;
    let server = TestServer::with_config(&server_text(webhook.port)).await;
    fail_logins(&server, 7).await;
    let received = all_notices(&server, &webhook).await;
    assert_eq!(received.len(), 1, "{received:?}");
    let notice = &received[0];
    assert_eq!(notice["event"], "auth.suspicious");
    assert_eq!(notice["user"], "alice");
    assert_eq!(notice["count"], 5);
    assert_eq!(notice["ip"], "198.51.100.4");
    assert_eq!(notice["method"], "login.failed");
    assert!(
        !notice.to_string().contains("a wrong secret guess"),
        "a password in the notice"
    );
}

#[tokio::test]
async fn a_failing_webhook_is_retried() {
    let webhook = Webhook::start(vec![500, 503, 200]).await;
    let server = TestServer::with_config(&server_text(webhook.port)).await;
    fail_logins(&server, 5).await;
    let received = webhook.wait_for(3).await;
    assert_eq!(received.len(), 3, "{received:?}");
    assert!(
        received
            .iter()
            .all(|notice| notice["event"] == "auth.suspicious")
    );
}

#[tokio::test]
async fn a_webhook_url_must_be_https_or_loopback() {
    let text = config_text(
        "https://auth.example.com",
        "[notify]\nwebhook_url = \"http://hooks.example.com/t0ken\"",
    );
    let problems = postern_core::config::load(&postern_core::config::Sources {
        file: Some((&text, std::path::Path::new("test.toml"))),
        env: &postern_core::config::NoEnv,
        cli: &[],
    })
    .unwrap_err()
    .0;
    assert!(
        problems.iter().any(|p| p.contains("notify.webhook_url")),
        "{problems:?}"
    );
    assert!(
        !problems.iter().any(|p| p.contains("t0ken")),
        "the URL was repeated: {problems:?}"
    );
}

/// An account that reaches its cap of failures in a row (here 3, below the fifth failure that
/// would otherwise notify) is reported once, at the failure that locks it, with the cap as the
/// count.
#[tokio::test]
async fn reaching_the_cap_of_failures_in_a_row_notifies_once_naming_the_account() {
    let webhook = Webhook::start(vec![200]).await;
    let server = TestServer::with_config(&server_text_with(
        webhook.port,
        "max_consecutive_failures_per_user = 3",
    ))
    .await;
    fail_logins(&server, 3).await;
    let received = all_notices(&server, &webhook).await;
    assert_eq!(
        who_and_count(&received),
        [("alice".to_owned(), "198.51.100.2".to_owned(), 3)]
    );
    assert_eq!(received[0]["method"], "login.failed");
}

/// With the cap off (0) failures in a row are not counted, so they never reach it: the fifth
/// failure on the account is the one notice, as without a cap.
#[tokio::test]
async fn with_the_cap_off_the_fifth_failure_is_the_one_notice() {
    let webhook = Webhook::start(vec![200]).await;
    let server = TestServer::with_config(&server_text_with(
        webhook.port,
        "max_consecutive_failures_per_user = 0",
    ))
    .await;
    fail_logins(&server, 7).await;
    let received = all_notices(&server, &webhook).await;
    assert_eq!(
        who_and_count(&received),
        [("alice".to_owned(), "198.51.100.4".to_owned(), 5)]
    );
}

/// A client trying names that do not exist (one failure on each) is reported once, when its
/// own failures reach five, naming no account.
#[tokio::test]
async fn a_client_spraying_unknown_names_notifies_once_naming_no_account() {
    let webhook = Webhook::start(vec![200]).await;
    let server = TestServer::with_config(&server_text(webhook.port)).await;
    for n in 0..5 {
        let response = server
            .post("/api/login")
            .header("x-forwarded-for", "203.0.113.50")
            .json(&format!(
                "{{\"username\":\"nobody{n}\",\"password\":\"a guess\"}}"
            ))
            .send()
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "guess {n}");
    }
    let received = all_notices(&server, &webhook).await;
    assert_eq!(
        who_and_count(&received),
        [(String::new(), "203.0.113.50".to_owned(), 5)]
    );
    assert_eq!(received[0]["method"], "login.failed");
}
