//! The protocol of a plain connection: HTTP/1.1, or HTTP/2 with prior knowledge (h2c), told
//! apart by the connection's first bytes; and that shutdown does not wait for a client that
//! sends nothing (`hostile_input` has the header read timeout).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use postern_server::{AppState, Server};
use postern_store::Store;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::support::*;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn healthcheck(uri: &str) -> Request<Empty<Bytes>> {
    Request::get(uri)
        .header("host", "auth.example.com")
        .body(Empty::new())
        .unwrap()
}

#[tokio::test]
async fn serves_http2_with_prior_knowledge_on_a_plain_connection() {
    let server = TestServer::start().await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    for _ in 0..2 {
        let response = sender
            .send_request(healthcheck("http://auth.example.com/api/healthcheck"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.version(), http::Version::HTTP_2);
    }
}

#[tokio::test]
async fn serves_several_http1_requests_on_one_keep_alive_connection() {
    let server = TestServer::start().await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    for _ in 0..3 {
        sender.ready().await.unwrap();
        let response = sender
            .send_request(healthcheck("/api/healthcheck"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.version(), http::Version::HTTP_11);
    }
}

#[tokio::test]
async fn a_preface_that_arrives_in_pieces_is_still_http2() {
    let server = TestServer::start().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for piece in [&PREFACE[..1], &PREFACE[1..10], &PREFACE[10..]] {
        stream.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
    stream
        .write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
        .await
        .unwrap();
    let mut frame_head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut frame_head))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame_head[3], 4, "the server's first frame is its SETTINGS");
}

#[tokio::test]
async fn a_request_that_starts_like_the_preface_is_still_http1() {
    let server = TestServer::start().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/1.1\r\nHost: auth.example.com\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(answer.starts_with(b"HTTP/1.1 "), "{answer:?}");
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_client_that_sends_nothing() {
    let text = config_text("https://auth.example.com", "").replace(
        "[server]\n",
        "[server]\nheader_read_timeout = \"30s\"\nshutdown_timeout = \"30s\"\n",
    );
    let config = load(&text);
    let store = Store::memory(config.session.max_sessions);
    let server = Server::bind(Arc::new(AppState::new(config, store)))
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(server.run(shutdown.clone()));
    let _silent = TcpStream::connect(addr).await.unwrap();
    // The listener accepts in order: once a later connection is answered, the silent one is
    // accepted and held by a connection task.
    let mut probe = TcpStream::connect(addr).await.unwrap();
    probe
        .write_all(b"GET /api/healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    probe.read_to_end(&mut answer).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    let started = Instant::now();
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the server still waited after 5s")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Reads until the server closes the connection; how long that took from `since`.
pub async fn closed_after<S>(mut stream: S, since: Instant, limit: Duration) -> Duration
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut sink = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut sink)).await {
        Ok(_) => since.elapsed(),
        Err(_) => panic!("the connection was still open after {limit:?}"),
    }
}

#[tokio::test]
async fn preface_only_http2_connections_are_closed_after_the_header_read_timeout() {
    let server = server_with_header_read_timeout("2s").await;
    let opened = Instant::now();
    let mut streams = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream.write_all(PREFACE).await.unwrap();
        streams.push(stream);
    }
    let waits: Vec<_> = streams
        .into_iter()
        .map(|stream| tokio::spawn(closed_after(stream, opened, Duration::from_secs(30))))
        .collect();
    let mut lifetimes = Vec::new();
    for wait in waits {
        lifetimes.push(wait.await.unwrap());
    }
    // Served as HTTP/2 and held open until the timeout, not refused at once.
    let shortest = lifetimes.iter().min().unwrap();
    assert!(*shortest >= Duration::from_millis(1500), "{shortest:?}");
}

#[tokio::test]
async fn an_idle_http2_client_that_answers_pings_is_closed_too() {
    let server = server_with_header_read_timeout("1s").await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let response = sender
        .send_request(healthcheck("http://auth.example.com/api/healthcheck"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answered = Instant::now();
    tokio::time::timeout(Duration::from_secs(15), connection)
        .await
        .expect("the idle HTTP/2 connection was still open after 15 s")
        .unwrap()
        .unwrap();
    assert!(answered.elapsed() >= Duration::from_millis(900));
}
