//! A Redis outage logs one line when it starts, a summary every 10 s while it lasts, and one
//! when it ends: never a line per refused request. Real redis-server, stopped and resumed.

use std::time::{Duration, Instant};

use postern_testkit::RedisServer;

use crate::support::{PASSWORD, Running, TempDir, config, free_port, get, post_json};

fn check(port: u16, cookie: &str) -> String {
    get(
        port,
        "/api/auth/traefik",
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "app.example.com"),
            ("X-Forwarded-Uri", "/"),
            ("Accept", "application/json"),
            ("Cookie", &format!("postern_session={cookie}")),
        ],
    )
    .unwrap()
}

fn count(log: &str, event: &str) -> usize {
    log.lines()
        .filter(|line| line.contains(&format!("\"event\":\"{event}\"")))
        .count()
}

#[test]
fn an_outage_is_one_line_a_summary_every_10_s_and_one_line_at_the_end() {
    let mut redis = RedisServer::start();
    let dir = TempDir::new("outage");
    let port = free_port();
    let text = config(
        port,
        &format!(
            "[session]\nstore = \"redis\"\n[session.redis]\nnodes = [\"127.0.0.1:{}\"]\ntimeout = \"200ms\"\n[log]\nformat = \"json\"\n",
            redis.port
        ),
    );
    let path = dir.write("postern.toml", &text);
    let running = Running::start(&dir, &path, port);
    let signed_in = post_json(
        port,
        "/api/login",
        &format!("{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}"),
    );
    let session = signed_in
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: postern_session="))
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no session in:\n{signed_in}"))
        .to_owned();
    assert!(check(port, &session).starts_with("HTTP/1.1 200"));

    redis.stop();
    let refused = 30;
    for _ in 0..refused {
        let answer = check(port, &session);
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    }
    // Past one summary interval, still down.
    std::thread::sleep(Duration::from_secs(11));
    let during = running.log_text();
    assert_eq!(count(&during, "store.outage_started"), 1, "{during}");
    assert_eq!(count(&during, "store.outage_continues"), 1, "{during}");
    assert!(
        during.contains(&format!("\"failed_calls_total\":{refused}")),
        "{during}"
    );
    assert_eq!(
        during
            .lines()
            .filter(|line| line.contains("\"level\":\"ERROR\""))
            .count(),
        2,
        "one error line at the start and one summary, nothing per request:\n{during}"
    );

    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(15);
    // The session was in the stopped (memory-only) Redis: it is gone, so a 401 is the
    // store answering again.
    while !check(port, &session).starts_with("HTTP/1.1 401") {
        assert!(
            Instant::now() < deadline,
            "postern never reached Redis again"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = running.log_text();
    assert_eq!(count(&after, "store.outage_ended"), 1, "{after}");
    assert_eq!(count(&after, "store.outage_started"), 1, "{after}");
}
