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
    config_text(
        "https://auth.example.com",
        &format!(
            "trusted_proxies = [\"127.0.0.1/32\"]\n[notify]\nwebhook_url = \"http://127.0.0.1:{port}/hooks/postern\""
        ),
    )
}

#[tokio::test]
async fn the_fifth_failure_in_a_row_notifies_once_without_secrets() {
    let webhook = Webhook::start(vec![200]).await;
    let server = TestServer::with_config(&server_text(webhook.port)).await;
    fail_logins(&server, 7).await;
    // Every notice those failures could cause was started before their answers came back:
    // once none is on its way any more, the webhook has all there will ever be.
    tokio::time::timeout(Duration::from_secs(60), server.state.notifier.settled())
        .await
        .expect("the notices settle");
    let received = webhook.received.lock().unwrap().clone();
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
