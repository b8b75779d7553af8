//! `kill -9` of a postern on the embedded store in the middle of a mixed load (sign-ins,
//! sign-outs, refresh-token rotations, failed sign-ins), at a different moment each round:
//! after a restart every change that was acknowledged to a client is there, and nothing
//! acknowledged as undone is back.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;

/// `max_failures_per_user`: the failed sign-ins of the load stay well under it.
const USER_LIMIT: usize = 60;
const MAX_LOAD_FAILURES: usize = 25;

/// One raw HTTP/1.1 exchange; `None` when the server went away before the status line.
fn exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    answer.starts_with("HTTP/1.1 ").then_some(answer)
}

fn status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn body_json(answer: &str) -> serde_json::Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_default()
}

fn credentials(user: &str, password: &str) -> String {
    format!("{{\"username\":\"{user}\",\"password\":\"{password}\"}}")
}

fn session_cookie(answer: &str) -> Option<String> {
    answer
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: postern_session="))
        .and_then(|rest| rest.split(';').next())
        .map(|value| format!("postern_session={value}"))
}

fn check(port: u16, cookie: &str) -> u16 {
    let headers = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "app.example.com"),
        ("Cookie", cookie),
    ];
    exchange(port, "GET", "/api/auth/traefik", &headers, "").map_or(0, |a| status(&a))
}

/// What clients were told, and so must hold after the crash.
#[derive(Default)]
struct Acknowledged {
    signed_in: Vec<String>,
    signed_out: Vec<String>,
    /// Refresh tokens a rotation spent.
    spent: Vec<String>,
    /// Refresh tokens a rotation handed out.
    fresh: Vec<String>,
    failures: usize,
}

fn one_operation(port: u16, turn: usize, seen: &Mutex<Acknowledged>) {
    match turn % 4 {
        0 => {
            if let Some(answer) = exchange(
                port,
                "POST",
                "/api/login",
                &[],
                &credentials("alice", PASSWORD),
            ) && status(&answer) == 200
                && let Some(cookie) = session_cookie(&answer)
            {
                seen.lock().unwrap().signed_in.push(cookie);
            }
        }
        1 => {
            // Every other session is ended, so both kinds are there to check after the crash.
            let Some(cookie) = ({
                let mut seen = seen.lock().unwrap();
                let keep = seen.signed_in.len() / 2;
                (seen.signed_in.len() > keep + 1).then(|| seen.signed_in.remove(keep))
            }) else {
                return;
            };
            let Some(csrf) = exchange(port, "GET", "/api/csrf", &[("Cookie", &cookie)], "") else {
                return;
            };
            let token = body_json(&csrf)["csrfToken"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let headers = [
                ("Cookie", cookie.as_str()),
                ("X-CSRF-Token", token.as_str()),
            ];
            match exchange(port, "POST", "/api/logout", &headers, "{}") {
                Some(answer) if status(&answer) < 300 => {
                    seen.lock().unwrap().signed_out.push(cookie);
                }
                // Not acknowledged: either outcome is allowed.
                _ => {}
            }
        }
        2 => {
            let Some(pair) = exchange(
                port,
                "POST",
                "/api/auth/login",
                &[],
                &credentials("alice", PASSWORD),
            ) else {
                return;
            };
            let Some(old) = body_json(&pair)["refresh_token"]
                .as_str()
                .map(str::to_owned)
            else {
                return;
            };
            let body = format!("{{\"refresh_token\":\"{old}\"}}");
            if let Some(answer) = exchange(port, "POST", "/api/auth/refresh", &[], &body)
                && status(&answer) == 200
                && let Some(new) = body_json(&answer)["refresh_token"].as_str()
            {
                let mut seen = seen.lock().unwrap();
                seen.spent.push(old);
                seen.fresh.push(new.to_owned());
            }
        }
        _ => {
            if seen.lock().unwrap().failures >= MAX_LOAD_FAILURES {
                return;
            }
            if let Some(answer) = exchange(
                port,
                "POST",
                "/api/login",
                &[],
                &credentials("ghost", "wrong"),
            ) && status(&answer) == 401
            {
                seen.lock().unwrap().failures += 1;
            }
        }
    }
}

/// A pseudo-random delay from the clock: a different kill moment each round and each run.
fn random_millis(low: u64, high: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    low + u64::from(nanos) % (high - low)
}

fn crash_round(round: usize) {
    let dir = TempDir::new(&format!("kill9-{round}"));
    let port = free_port();
    let extra = format!(
        "data_dir = \"{}\"\n[limits]\nmax_failures_per_ip = 100\nmax_failures_per_user = {USER_LIMIT}\n\
         api_rate = 100000\napi_burst = 100000\n",
        dir.0.join("data").display()
    );
    let path = dir.write("postern.toml", &config(port, &extra));
    let mut running = Running::start(&dir, &path, port);
    let seen = Arc::new(Mutex::new(Acknowledged::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let (seen, stop) = (Arc::clone(&seen), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut turn = client;
                while !stop.load(Ordering::Relaxed) {
                    one_operation(port, turn, &seen);
                    turn += 1;
                }
            })
        })
        .collect();
    let delay = random_millis(1000, 3000);
    std::thread::sleep(Duration::from_millis(delay));
    running.child.kill().unwrap();
    running.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    eprintln!(
        "round {round}: killed after {delay} ms; acknowledged {} sign-ins, {} sign-outs, {} rotations, {} failures",
        seen.signed_in.len() + seen.signed_out.len(),
        seen.signed_out.len(),
        seen.spent.len(),
        seen.failures
    );

    let _restarted = Running::start(&dir, &path, port);
    for cookie in &seen.signed_in {
        assert_eq!(
            check(port, cookie),
            200,
            "round {round}: an acknowledged sign-in was lost"
        );
    }
    for cookie in &seen.signed_out {
        assert_eq!(
            check(port, cookie),
            401,
            "round {round}: an acknowledged sign-out came back"
        );
    }
    // Each replay is a failure for its client address, and a fast machine acknowledges more
    // rotations than `max_failures_per_ip` allows (at most 100), so each comes from an address
    // of its own through the trusted loopback proxy: the answer is then the token's, never
    // the address limit's 429.
    for (index, token) in seen.spent.iter().enumerate() {
        let body = format!("{{\"refresh_token\":\"{token}\"}}");
        let client = format!("10.9.{}.{}", index / 250, index % 250 + 1);
        let headers = [("X-Forwarded-For", client.as_str())];
        let answer = exchange(port, "POST", "/api/auth/refresh", &headers, &body).unwrap();
        assert_eq!(
            status(&answer),
            401,
            "round {round}: a spent refresh token worked again"
        );
    }
    // Failures counted before the crash still count: the lock comes at most
    // USER_LIMIT - failures attempts later.
    let mut more = 0;
    loop {
        let answer = exchange(
            port,
            "POST",
            "/api/login",
            &[],
            &credentials("ghost", "wrong"),
        )
        .unwrap();
        match status(&answer) {
            401 => more += 1,
            429 => break,
            other => panic!("round {round}: {other}"),
        }
        assert!(more <= USER_LIMIT, "round {round}: never locked");
    }
    assert!(
        more <= USER_LIMIT - seen.failures,
        "round {round}: {} acknowledged failures, yet {more} more before the lock",
        seen.failures
    );
}

#[test]
fn kill_9_during_mixed_load_loses_no_acknowledged_change() {
    for round in 0..3 {
        crash_round(round);
    }
}
