//! The listener's check lane (`listener/check_lane.rs`): checks answered without hyper, and
//! every other request, and everything after it, answered by hyper. Raw bytes on one socket,
//! so that what the lane hands over, and where the next request starts, is what is tested.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// A check as traefik sends it, with `extra` header lines (each ending in CRLF).
fn check(cookie: &str, extra: &str) -> String {
    format!(
        "GET /api/auth/traefik HTTP/1.1\r\nHost: auth.example.com\r\nX-Forwarded-Proto: https\r\n\
         X-Forwarded-Host: app.example.com\r\nX-Forwarded-Uri: /\r\nX-Forwarded-Method: GET\r\n\
         Cookie: {cookie}\r\n{extra}\r\n"
    )
}

/// A request the lane does not answer, after which the server closes: every exchange ends
/// with it, so that reading to the end reads every answer.
const CLOSING: &str = "GET /api/healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[derive(Debug)]
struct Answer {
    status: u16,
    /// The head, with `date` left out (it differs from one second to the next).
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (found, value) = line.split_once(": ")?;
            found.eq_ignore_ascii_case(name).then_some(value)
        })
    }
}

/// Writes `bytes` on one connection and reads until the server closes it.
async fn exchange(server: &TestServer, bytes: &[u8]) -> Vec<Answer> {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut read = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut read))
        .await
        .expect("the server did not close the connection within 10s")
        .unwrap();
    split_answers(&read)
}

fn split_answers(mut bytes: &[u8]) -> Vec<Answer> {
    let mut answers = Vec::new();
    while !bytes.is_empty() {
        let end = bytes
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(bytes)));
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let status = head[9..12].parse().unwrap();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .map_or(0, |length| length.parse().unwrap());
        let body = String::from_utf8_lossy(&bytes[end + 4..end + 4 + length]).into_owned();
        let head = head
            .lines()
            .filter(|line| !line.starts_with("date: "))
            .collect::<Vec<_>>()
            .join("\n");
        answers.push(Answer { status, head, body });
        bytes = &bytes[end + 4 + length..];
    }
    answers
}

fn statuses(answers: &[Answer]) -> Vec<u16> {
    answers.iter().map(|answer| answer.status).collect()
}

#[tokio::test]
async fn pipelined_checks_are_answered_in_order_on_one_connection() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let bytes = [
        check(&alice, ""),
        check("postern_session=nothing", ""),
        check(&alice, "Content-Length: 0\r\nConnection: keep-alive\r\n"),
        CLOSING.to_owned(),
    ]
    .concat();
    let answers = exchange(&server, bytes.as_bytes()).await;
    assert_eq!(statuses(&answers), [200, 401, 200, 200]);
    assert_eq!(answers[0].header("remote-user"), Some("alice"));
    assert_eq!(answers[0].header("cache-control"), Some("no-store"));
    assert_eq!(answers[0].header("content-length"), Some("0"));
    assert_eq!(answers[2].header("remote-user"), Some("alice"));
    assert!(
        answers[1].body.contains("\"status\":401"),
        "{}",
        answers[1].body
    );
}

/// The same checks, answered by the lane on one connection and by hyper on another (where a
/// request before them sent the connection to hyper), read the same apart from `date`.
#[tokio::test]
async fn the_lane_answers_checks_as_hyper_does() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let checks = [
        check(&alice, ""),
        check("postern_session=nothing", ""),
        check("postern_session=nothing", "Accept: text/html\r\n"),
        check(&alice, "X-Forwarded-Uri: /admin\r\n"),
        "GET /api/auth/nginx HTTP/1.1\r\nHost: x\r\nX-Original-URL: https://app.example.com/a\r\n\
         X-Original-Method: GET\r\nAccept: text/html\r\n\r\n"
            .to_owned(),
        format!(
            "POST /api/auth/envoy/some/path?x=1 HTTP/1.1\r\nHost: app.example.com\r\n\
             X-Forwarded-Proto: https\r\nCookie: {alice}\r\n\r\n"
        ),
        "GET /api/auth/caddy HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U6d3Jvbmc=\r\n\r\n"
            .to_owned(),
    ]
    .concat();
    let lane = exchange(&server, format!("{checks}{CLOSING}").as_bytes()).await;
    let hyper = exchange(
        &server,
        format!("GET /api/healthcheck HTTP/1.1\r\nHost: x\r\n\r\n{checks}{CLOSING}").as_bytes(),
    )
    .await;
    assert_eq!(lane.len(), 8);
    assert_eq!(hyper.len(), 9);
    for (through_lane, through_hyper) in lane.iter().zip(&hyper[1..]) {
        assert_eq!(through_lane.head, through_hyper.head);
        assert_eq!(through_lane.body, through_hyper.body);
    }
    assert_eq!(statuses(&lane), [200, 401, 302, 200, 401, 200, 400, 200]);
}

/// A check that announces a body is hyper's, which reads the body as a body: a request inside
/// it is never answered as one.
#[tokio::test]
async fn a_body_is_never_read_as_the_next_request() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let hidden = check(&alice, "");
    let with_length = format!(
        "{}{hidden}",
        check(
            "postern_session=nothing",
            &format!("Content-Length: {}\r\n", hidden.len())
        )
    );
    let chunked = format!(
        "{}{:x}\r\n{hidden}\r\n0\r\n\r\n",
        check("postern_session=nothing", "Transfer-Encoding: chunked\r\n"),
        hidden.len()
    );
    for (name, bytes) in [("content-length", with_length), ("chunked", chunked)] {
        let answers = exchange(&server, format!("{bytes}{CLOSING}").as_bytes()).await;
        // hyper reads the unread body away, or closes the connection: either way the check
        // inside it is never answered.
        assert_eq!(
            answers.first().map(|answer| answer.status),
            Some(401),
            "{name}"
        );
        assert!(answers.len() <= 2, "{name}: {answers:?}");
        assert!(
            answers
                .iter()
                .all(|answer| answer.header("remote-user").is_none()),
            "{name}: {answers:?}"
        );
    }
}

#[tokio::test]
async fn a_check_after_another_request_and_a_request_after_checks_are_both_answered() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let bytes = [
        check(&alice, ""),
        "GET /api/status HTTP/1.1\r\nHost: x\r\n".to_owned() + &format!("Cookie: {alice}\r\n\r\n"),
        check(&alice, ""),
        CLOSING.to_owned(),
    ]
    .concat();
    let answers = exchange(&server, bytes.as_bytes()).await;
    assert_eq!(statuses(&answers), [200, 200, 200, 200]);
    assert_eq!(answers[0].header("remote-user"), Some("alice"));
    assert!(answers[1].body.contains("alice"), "{}", answers[1].body);
    assert_eq!(answers[2].header("remote-user"), Some("alice"));
}

/// HTTP/1.0, `Connection: close`, `HEAD` and `Expect` are hyper's: each is answered as hyper
/// answers it, and the first two close the connection after the answer.
#[tokio::test]
async fn what_asks_more_of_the_connection_is_left_to_hyper() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let old = check(&alice, "").replacen("HTTP/1.1", "HTTP/1.0", 1);
    let answers = exchange(&server, old.as_bytes()).await;
    assert_eq!(statuses(&answers), [200]);
    let closing = check(&alice, "Connection: close\r\n") + &check(&alice, "");
    let answers = exchange(&server, closing.as_bytes()).await;
    assert_eq!(statuses(&answers), [200], "nothing after the close is read");
    // Signed out, so that the answer to a GET would have a body: hyper sends its length and
    // no body, and the next answer follows the head at once.
    let head = check("postern_session=none", "").replacen("GET", "HEAD", 1);
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(format!("{head}{CLOSING}").as_bytes())
        .await
        .unwrap();
    let mut read = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut read))
        .await
        .expect("the server did not close the connection within 10s")
        .unwrap();
    let read = String::from_utf8_lossy(&read);
    let (first, rest) = read.split_once("\r\n\r\n").unwrap();
    assert!(first.starts_with("HTTP/1.1 401"), "{read}");
    assert!(!first.contains("content-length: 0"), "{read}");
    assert!(rest.starts_with("HTTP/1.1 200"), "{read}");
    let expect = check(&alice, "Expect: 100-continue\r\n");
    let answers = exchange(&server, format!("{expect}{CLOSING}").as_bytes()).await;
    assert_eq!(statuses(&answers), [200, 200]);
    assert_eq!(answers[0].header("remote-user"), Some("alice"));
}

#[tokio::test]
async fn a_head_that_does_not_parse_is_refused_by_hyper() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let bytes = check(&alice, "") + "GET /api/auth/traefik HTTP/1.1\r\nBad Header\r\n\r\n";
    let answers = exchange(&server, bytes.as_bytes()).await;
    assert_eq!(statuses(&answers), [200, 400]);
}

/// Pipelined checks can fill more than the first read buffer (8 KiB): the lane answers every
/// one, and a head larger than the whole buffer is hyper's to refuse.
#[tokio::test]
async fn many_and_large_heads() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let padding = format!("X-Padding: {}\r\n", "p".repeat(2_000));
    let many = std::iter::repeat_n(check(&alice, &padding), 40).collect::<String>();
    let answers = exchange(&server, format!("{many}{CLOSING}").as_bytes()).await;
    assert_eq!(answers.len(), 41);
    assert!(answers.iter().all(|answer| answer.status == 200));
    let huge = check(&alice, &format!("X-Huge: {}\r\n", "h".repeat(70_000)));
    let answers = exchange(&server, huge.as_bytes()).await;
    assert_eq!(statuses(&answers), [431]);
}

/// The lane waits for a proxy's next check under the same header read timeout as hyper.
#[tokio::test]
async fn an_idle_proxy_connection_is_closed_after_the_header_read_timeout() {
    let server = server_with_header_read_timeout("1s").await;
    let alice = server.login("alice").await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..3 {
        stream
            .write_all(check(&alice, "").as_bytes())
            .await
            .unwrap();
        let mut answer = [0u8; 1024];
        let read = stream.read(&mut answer).await.unwrap();
        assert!(answer[..read].starts_with(b"HTTP/1.1 200"));
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
    assert!(
        idle_from.elapsed() < Duration::from_secs(3),
        "{:?}",
        idle_from.elapsed()
    );
}

/// A head that arrives in pieces is answered once whole, and the next one after it too.
#[tokio::test]
async fn a_check_sent_in_pieces_is_answered_once_whole() {
    let server = TestServer::start().await;
    let alice = server.login("alice").await;
    let bytes = format!("{}{}{CLOSING}", check(&alice, ""), check(&alice, ""));
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for piece in bytes.as_bytes().chunks(bytes.len() / 5 + 1) {
        stream.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let mut read = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut read))
        .await
        .expect("the server did not close the connection within 10s")
        .unwrap();
    let answers = split_answers(&read);
    assert_eq!(statuses(&answers), [200, 200, 200]);
    assert_eq!(answers[1].header("remote-user"), Some("alice"));
}
