//! The check lane against hyper, fuzzed: a random run of pipelined requests (checks and
//! other requests, with bodies, `Connection` wishes, HTTP/1.0, `HEAD`, broken lines) is sent
//! in one write or in pieces, once on a fresh connection, where the lane answers the checks
//! it understands, and once
//! after a request that hands the connection to hyper at once. Both must read the same
//! answers, in the same order, apart from `Date`. `POSTERN_FUZZ_CASES` scales the run
//! (docs/testing.md).

use std::time::Duration;

use postern_testkit::fuzz_config;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

use crate::support::*;

/// Two round trips of a few requests each.
const WEIGHT: u32 = 8;

/// What hands a connection to hyper before anything else is sent.
const TO_HYPER: &str = "GET /api/healthcheck HTTP/1.1\r\nHost: x\r\n\r\n";
const CLOSING: &str = "GET /api/healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

fn target() -> impl Strategy<Value = &'static str> {
    prop::sample::select(
        &[
            "/api/auth/traefik",
            "/api/auth/caddy",
            "/api/auth/nginx",
            "/api/auth/envoy/app/path?x=1",
            "/api/auth/unknown",
            "/api/healthcheck",
            "http://auth.example.com/api/auth/traefik",
        ][..],
    )
}

/// Header lines beyond the forwarded ones, and the body they announce, if any.
fn extra() -> impl Strategy<Value = (String, String)> {
    let body = "[a-zA-Z /:\r\n]{0,40}";
    prop_oneof![
        4 => Just((String::new(), String::new())),
        1 => Just(("Content-Length: 0\r\n".to_owned(), String::new())),
        1 => body.prop_map(|body| (format!("Content-Length: {}\r\n", body.len()), body)),
        1 => body.prop_map(|body| (
            "Transfer-Encoding: chunked\r\n".to_owned(),
            format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len()),
        )),
        1 => prop::sample::select(&[
            "Connection: close\r\n",
            "Connection: keep-alive\r\n",
            "Connection: Upgrade\r\nUpgrade: websocket\r\n",
            "Expect: 100-continue\r\n",
            "TE: trailers\r\n",
            "Content-Length: 0\r\nContent-Length: 0\r\n",
            "X-Obs: caf\u{e9}\r\n",
            "Broken line\r\n",
            "Accept: text/html\r\n",
            "Authorization: Basic YWxpY2U6d3Jvbmc=\r\n",
            // Headers a check reads, sent again or in another case: the lane keeps names as
            // sent, hyper's map lower-cases them.
            "x-forwarded-host: other.example.com\r\nHOST: other.example.com\r\n",
            "COOKIE: postern_session=none\r\n",
            "X-FORWARDED-FOR: 10.0.0.9\r\nx-forwarded-for: 10.0.0.8\r\n",
            "Accept: text/html\r\naUtHoRiZaTiOn: Bearer not-a-token\r\n",
            "ACCEPT: text/html\r\n",
        ][..])
        .prop_map(|line| (line.to_owned(), String::new())),
    ]
}

fn request(alice: String) -> impl Strategy<Value = String> {
    (
        prop::sample::select(&["GET", "POST", "HEAD", "DELETE"][..]),
        target(),
        prop::sample::select(&["HTTP/1.1", "HTTP/1.1", "HTTP/1.1", "HTTP/1.0"][..]),
        any::<bool>(),
        extra(),
        any::<bool>(),
    )
        .prop_map(
            move |(method, target, version, signed_in, (extra, body), lower)| {
                let cookie = if signed_in {
                    alice.as_str()
                } else {
                    "postern_session=none"
                };
                // The names as nginx sends them, or in lower case as HTTP/2-minded proxies do.
                let forwarded: String = [
                    ("Host", "app.example.com"),
                    ("X-Forwarded-Proto", "https"),
                    ("X-Forwarded-Host", "app.example.com"),
                    ("X-Forwarded-Uri", "/"),
                    ("X-Forwarded-Method", "GET"),
                    ("X-Original-URL", "https://app.example.com/"),
                    ("Cookie", cookie),
                ]
                .iter()
                .map(|(name, value)| {
                    let name = if lower {
                        name.to_ascii_lowercase()
                    } else {
                        (*name).to_owned()
                    };
                    format!("{name}: {value}\r\n")
                })
                .collect();
                format!("{method} {target} {version}\r\n{forwarded}{extra}\r\n{body}")
            },
        )
}

/// What the server answered on one connection until it closed it, `Date` lines left out.
/// The bytes go in pieces of `piece` bytes a millisecond apart (0: all at once), so heads
/// also arrive split where they may.
async fn answers(server: &TestServer, bytes: &[u8], piece: usize) -> String {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    // A server that closes early may refuse the rest: what it answered is still read.
    for part in bytes.chunks(if piece == 0 {
        bytes.len().max(1)
    } else {
        piece
    }) {
        if stream.write_all(part).await.is_err() {
            break;
        }
        if piece > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let mut read = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut read)).await;
    String::from_utf8_lossy(&read)
        .split("\r\n")
        .filter(|line| !line.starts_with("date: "))
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// `answers` without the first answer (the health check's: its head and its body).
fn after_first_answer(answers: &str) -> &str {
    let Some((head, rest)) = answers.split_once("\r\n\r\n") else {
        return "";
    };
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .and_then(|length| length.parse::<usize>().ok())
        .unwrap_or(0);
    rest.get(length..).unwrap_or("")
}

#[test]
fn the_lane_and_hyper_answer_any_run_of_requests_alike() {
    let runtime = Runtime::new().unwrap();
    let server = runtime.block_on(TestServer::with_config(&config_text(
        "https://auth.example.com",
        "[limits]\napi_rate = 100000\napi_burst = 100000\n",
    )));
    let alice = runtime.block_on(server.login("alice"));
    let mut runner = TestRunner::new(fuzz_config(WEIGHT));
    runner
        .run(
            &(
                proptest::collection::vec(request(alice), 1..5),
                prop_oneof![Just(0usize), 40usize..400],
            ),
            |(requests, piece)| {
                let run = requests.concat();
                let (lane, hyper) = runtime.block_on(async {
                    let lane = answers(&server, format!("{run}{CLOSING}").as_bytes(), piece).await;
                    let hyper = answers(
                        &server,
                        format!("{TO_HYPER}{run}{CLOSING}").as_bytes(),
                        piece,
                    )
                    .await;
                    (lane, hyper)
                });
                let hyper = after_first_answer(&hyper);
                if piece == 0 {
                    prop_assert_eq!(lane.as_str(), hyper, "{}", run);
                } else {
                    // In pieces, whether hyper reads an unread body away or closes depends on
                    // when the body arrives, on either connection: the two agree as far as
                    // both go. (All at once, they agree whole.)
                    prop_assert!(
                        lane.starts_with(hyper) || hyper.starts_with(lane.as_str()),
                        "{run}\nlane: {lane}\nhyper: {hyper}"
                    );
                }
                Ok::<(), TestCaseError>(())
            },
        )
        .unwrap();
}
