//! The router called in-process (`postern_server::handle` with an in-memory body): HEAD
//! answers like GET wherever GET works, and a method a path does not serve gets 405 with
//! `Allow`; a body that stalls, breaks or passes 16 KiB gets 408, 400 or 413. One test also
//! goes over TCP, where hyper leaves HEAD's body out.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use postern_server::AppState;
use postern_store::Store;

use crate::support::*;

const PEER: &str = "127.0.0.1:40000";

/// Enough request tokens for the whole table from one client.
fn state() -> Arc<AppState> {
    let config = load(&config_text(
        "https://auth.example.com",
        "[limits]\napi_burst = 1000",
    ));
    let store = Store::memory(config.session.max_sessions);
    Arc::new(AppState::new(config, store))
}

async fn call(
    state: &Arc<AppState>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response<Bytes> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "auth.example.com");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let peer: SocketAddr = PEER.parse().unwrap();
    let response = postern_server::handle(Arc::clone(state), peer, request).await;
    let (parts, body) = response.into_parts();
    Response::from_parts(parts, body.collect().await.unwrap().to_bytes())
}

async fn session_cookie(state: &Arc<AppState>) -> String {
    let body = format!("{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}");
    let response = call(
        state,
        Method::POST,
        "/api/login",
        &[("content-type", "application/json")],
        &body,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap())
        .find(|value| value.starts_with("postern_session="))
        .unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// The headers that say what an answer is (not the per-request ones such as `Set-Cookie`).
fn kind(headers: &HeaderMap) -> Vec<(String, String)> {
    [
        "content-type",
        "location",
        "allow",
        "cache-control",
        "remote-user",
    ]
    .into_iter()
    .filter_map(|name| {
        let value = headers.get(name)?.to_str().ok()?;
        Some((name.to_owned(), value.to_owned()))
    })
    .collect()
}

#[tokio::test]
async fn head_answers_like_get_wherever_get_works() {
    let state = state();
    let cookie = session_cookie(&state).await;
    let stylesheet = state.assets.stylesheet_url.clone();
    let check_headers = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "app.example.com"),
        ("x-forwarded-uri", "/"),
        ("x-forwarded-method", "GET"),
    ];
    let mut paths: Vec<(&str, Vec<(&str, &str)>)> = [
        "/",
        "/login",
        "/logout",
        "/totp",
        "/unauthorized",
        "/api/status",
        "/api/csrf",
        "/api/session",
        "/api/sessions",
        "/api/healthcheck",
        "/api/healthz",
        "/health",
        "/api/health",
        "/api/ready",
        stylesheet.as_str(),
    ]
    .into_iter()
    .map(|path| (path, vec![]))
    .collect();
    paths.push(("/api/auth/traefik", check_headers.to_vec()));
    for (path, extra) in paths {
        for signed_in in [false, true] {
            let mut headers = extra.clone();
            if signed_in {
                headers.push(("cookie", cookie.as_str()));
            }
            let get = call(&state, Method::GET, path, &headers, "").await;
            let head = call(&state, Method::HEAD, path, &headers, "").await;
            assert_ne!(get.status(), StatusCode::METHOD_NOT_ALLOWED, "GET {path}");
            assert_eq!(
                head.status(),
                get.status(),
                "HEAD {path} (signed in: {signed_in})"
            );
            assert_eq!(kind(head.headers()), kind(get.headers()), "HEAD {path}");
        }
    }
}

#[tokio::test]
async fn a_method_a_path_does_not_serve_gets_405_with_allow() {
    let state = state();
    for (method, path, allow) in [
        (Method::PUT, "/", "GET, HEAD"),
        (Method::DELETE, "/login", "GET, HEAD, POST"),
        (Method::PATCH, "/logout", "GET, HEAD, POST"),
        (Method::POST, "/api/status", "GET, HEAD"),
        (Method::GET, "/api/login", "POST"),
        (Method::GET, "/api/auth/login", "POST"),
        (Method::GET, "/api/auth/refresh", "POST"),
        (Method::POST, "/api/session", "GET, HEAD, DELETE"),
        (Method::PUT, "/api/sessions", "GET, HEAD, DELETE"),
        (Method::GET, "/api/sessions/0123", "DELETE"),
        (Method::HEAD, "/api/oauth/login/github", "GET"),
        (Method::HEAD, "/api/ws-token", "GET"),
        (Method::POST, "/api/ws-token", "GET"),
        (Method::OPTIONS, "/api/ready", "GET, HEAD"),
    ] {
        let response = call(&state, method.clone(), path, &[], "").await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(
            response.headers().get("allow").unwrap(),
            allow,
            "{method} {path}"
        );
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["message"], "Method Not Allowed");
    }
}

#[tokio::test]
async fn head_over_tcp_has_get_headers_and_no_body() {
    let server = TestServer::start().await;
    for path in ["/login", "/api/status", "/api/healthcheck"] {
        let get = server.get(path).send().await;
        let head = server.request(Method::HEAD, path).send().await;
        assert_eq!(head.status, get.status, "{path}");
        assert_eq!(head.header("content-type"), get.header("content-type"));
        assert!(!get.body.is_empty(), "{path}");
        assert!(head.body.is_empty(), "HEAD {path}: {}", head.body);
    }
}

/// A body whose bytes never come.
struct Stalled;

impl hyper::body::Body for Stalled {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

/// Tokio's clock is paused: the ten seconds a body may take pass as soon as nothing else can
/// run, so the test waits on the timeout itself, not on the wall clock.
#[tokio::test(start_paused = true)]
async fn a_body_that_stalls_gets_408() {
    let state = state();
    for path in ["/api/login", "/login", "/api/auth/refresh"] {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("host", "auth.example.com")
            .header("content-type", "application/json")
            .body(Stalled)
            .unwrap();
        let peer: SocketAddr = PEER.parse().unwrap();
        let answered = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            postern_server::handle(Arc::clone(&state), peer, request),
        )
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer within a minute"));
        assert_eq!(answered.status(), StatusCode::REQUEST_TIMEOUT, "{path}");
    }
}

/// A body whose stream breaks (a client gone mid-body, a chunk hyper cannot decode).
struct Broken;

impl hyper::body::Body for Broken {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(Some(Err(std::io::Error::other("connection reset"))))
    }
}

#[tokio::test]
async fn a_body_that_breaks_is_400_not_413() {
    let state = state();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/login")
        .header("host", "auth.example.com")
        .header("content-type", "application/json")
        .body(Broken)
        .unwrap();
    let peer: SocketAddr = PEER.parse().unwrap();
    let response = postern_server::handle(Arc::clone(&state), peer, request).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["message"], "Could not read the request body");
}

/// A sign-in of exactly 16 KiB (the limit) is read; one byte more is 413.
#[tokio::test]
async fn a_body_of_16_kib_is_read_and_one_byte_more_is_413() {
    let state = state();
    let credentials = format!("{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}");
    for (size, status) in [
        (16 * 1024, StatusCode::OK),
        (16 * 1024 + 1, StatusCode::PAYLOAD_TOO_LARGE),
    ] {
        // JSON allows white space after the value: the padding changes nothing else.
        let body = format!("{credentials:<size$}");
        assert_eq!(body.len(), size);
        let response = call(
            &state,
            Method::POST,
            "/api/login",
            &[("content-type", "application/json")],
            &body,
        )
        .await;
        assert_eq!(response.status(), status, "{size} bytes");
    }
}
