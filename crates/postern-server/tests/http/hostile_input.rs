//! Bad input gets a clear answer and the server keeps serving.

use std::time::{Duration, Instant};

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused_clearly() {
    let server = TestServer::start().await;
    let big = server
        .post("/api/login")
        .header("content-type", "application/json")
        .raw_body(vec![b'a'; 64 * 1024])
        .send()
        .await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
    for body in [
        "",
        "{",
        "[]",
        "{\"username\": 5}",
        "\u{0}\u{1}",
        "{\"password\":\"x\"}",
    ] {
        let response = server.post("/api/login").json(body).send().await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{body:?}: {}",
            response.body
        );
        assert_eq!(response.json()["status"], 400);
    }
    let form = server
        .post("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .raw_body(b"%%%=%%%&&=".to_vec())
        .send()
        .await;
    assert!(form.status.is_client_error(), "{}", form.status);
    assert_eq!(
        server.get("/api/healthcheck").send().await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn non_text_header_values_do_not_break_the_check() {
    let server = TestServer::start().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /api/auth/traefik HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: caf\xe9.example.com\r\nCookie: postern_session=\xff\xfe\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn garbage_on_the_wire_ends_only_that_connection() {
    let server = TestServer::start().await;
    for garbage in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"\r\n\r\n\r\n",
        &[0u8; 512],
    ] {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        let _ = stream.write_all(garbage).await;
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut sink)).await;
    }
    assert_eq!(
        server.get("/api/healthcheck").send().await.status,
        StatusCode::OK
    );
}

/// With a 1 s header read timeout, a client that sends `start` and then nothing more is cut
/// off well within 5 s.
async fn assert_cut_off_when_it_stalls_after(start: &[u8]) {
    let server = server_with_header_read_timeout("1s").await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(start).await.unwrap();
    let started = Instant::now();
    let mut sink = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut sink)).await;
    assert!(closed.is_ok(), "the connection was still open after 10s");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    assert_cut_off_when_it_stalls_after(b"GET /api/healthcheck HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await;
}

#[tokio::test]
async fn a_client_that_sends_nothing_is_cut_off() {
    assert_cut_off_when_it_stalls_after(b"").await;
}

/// The header read timeout bounds the whole head, not the pause between two bytes: a client
/// that trickles a byte every 200 ms is cut off about 1 s after it opened, not never.
#[tokio::test]
async fn a_client_that_trickles_its_headers_is_cut_off() {
    let server = server_with_header_read_timeout("1s").await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let head = b"GET /api/healthcheck HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed_after = None;
    for byte in head {
        if stream.write_all(&[*byte]).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut probe = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut probe)).await {
            Ok(Ok(0) | Err(_)) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Ok(Ok(_)) => panic!("the server answered a head that never ended"),
            Err(_) => {}
        }
    }
    let closed_after = closed_after.expect("still open after the whole trickle (about 12 s)");
    assert!(
        closed_after >= Duration::from_millis(900) && closed_after < Duration::from_secs(5),
        "closed after {closed_after:?}"
    );
}

/// After an answer, the wait for the next request on a keep-alive connection is bounded by the
/// same timeout; the answer itself arrives whole.
#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout() {
    let server = server_with_header_read_timeout("1s").await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..3 {
        // Requests that follow each other within the timeout keep the connection open.
        stream
            .write_all(b"GET /api/healthcheck HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = [0u8; 512];
        let read = stream.read(&mut answer).await.unwrap();
        assert!(
            answer[..read].starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&answer[..read])
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let idle_from = Instant::now();
    let mut sink = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut sink)).await;
    assert!(
        closed.is_ok(),
        "the idle connection was still open after 10s"
    );
    assert!(sink.is_empty(), "{}", String::from_utf8_lossy(&sink));
    // 600 ms of the timeout had passed when the wait began.
    assert!(
        idle_from.elapsed() < Duration::from_secs(3),
        "closed after {:?}",
        idle_from.elapsed()
    );
}

#[tokio::test]
async fn a_client_that_stalls_inside_the_http2_preface_is_cut_off() {
    assert_cut_off_when_it_stalls_after(b"PRI * HTTP/2.0\r\n").await;
}

#[tokio::test]
async fn huge_headers_are_refused_not_fatal() {
    let server = TestServer::start().await;
    let response = server
        .get("/api/auth/traefik")
        .header("cookie", &"a=b; ".repeat(40_000))
        .forwarded("GET", "/")
        .send_raw()
        .await;
    assert!(response.is_err() || response.is_ok_and(|status| status.is_client_error()));
    assert_eq!(
        server.get("/api/healthcheck").send().await.status,
        StatusCode::OK
    );
}
