//! `kill -9` of a postern on the embedded store in the middle of a mixed load (sign-ins,
//! sign-outs, refresh-token rotations, token families revoked by a logout, recovery codes
//! used, failed sign-ins), at a different moment each round: after a restart every change that
//! was acknowledged to a client is there, and nothing acknowledged as undone is back.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::support::*;

/// `max_failures_per_user`: the failed sign-ins of the load stay well under it.
const USER_LIMIT: usize = 60;
const MAX_LOAD_FAILURES: usize = 25;
/// Refresh-token rotations in a row on one login (they need no argon2: cheap operations).
const ROTATIONS: usize = 10;

fn body_json(answer: &str) -> serde_json::Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_default()
}

fn credentials(user: &str, password: &str) -> String {
    format!("{{\"username\":\"{user}\",\"password\":\"{password}\"}}")
}

/// Requests of the load that got an answer (all rounds).
static ANSWERED: AtomicUsize = AtomicUsize::new(0);

/// `exchange`, counted in `ANSWERED` when answered.
fn ask(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<String> {
    let answer = exchange(port, method, path, headers, body);
    if answer.is_some() {
        ANSWERED.fetch_add(1, Ordering::Relaxed);
    }
    answer
}

/// A bearer check of `/api/auth/traefik`.
fn check_bearer(port: u16, access_token: &str) -> u16 {
    let bearer = format!("Bearer {access_token}");
    let headers = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "app.example.com"),
        ("Authorization", bearer.as_str()),
    ];
    exchange(port, "GET", "/api/auth/traefik", &headers, "").map_or(0, |a| status(&a))
}

/// The TOTP user's `[[users]]` table and its ten recovery codes, from `postern totp generate`
/// (once per test run: it hashes each code with argon2).
struct TotpUser {
    table: String,
    codes: Vec<String>,
}

fn totp_user() -> &'static TotpUser {
    static USER: OnceLock<TotpUser> = OnceLock::new();
    USER.get_or_init(|| {
        let out = run(&["totp", "generate", "--user", "tess"], "");
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        let fields = text
            .split("In the user's [[users]] table:")
            .nth(1)
            .and_then(|rest| rest.split("Or as the third field").next())
            .unwrap_or_else(|| panic!("no [[users]] fields in:\n{text}"));
        let codes: Vec<String> = text
            .split("Shown only now:")
            .nth(1)
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        assert_eq!(codes.len(), 10, "{text}");
        TotpUser {
            table: format!(
                "[[users]]\nname = \"tess\"\npassword_hash = \"{HASH}\"\n{}",
                fields.trim()
            ),
            codes,
        }
    })
}

/// A headless sign-in of tess with a recovery code in place of a TOTP code, from `client`.
fn sign_in_with_recovery_code(port: u16, code: &str, client: &str) -> Option<String> {
    let body = format!("{{\"username\":\"tess\",\"password\":\"{PASSWORD}\",\"code\":\"{code}\"}}");
    ask(
        port,
        "POST",
        "/api/auth/login",
        &[("X-Forwarded-For", client)],
        &body,
    )
}

/// What clients were told, and so must hold after the crash.
#[derive(Default)]
struct Acknowledged {
    signed_in: Vec<String>,
    signed_out: Vec<String>,
    /// Refresh tokens a rotation spent.
    spent: Vec<String>,
    /// Access tokens a rotation handed out (their family was never revoked).
    fresh: Vec<String>,
    /// Access and refresh tokens of families a logout revoked.
    revoked: Vec<(String, String)>,
    /// Recovery codes not handed to any client yet, and those a sign-in accepted.
    unused_codes: Vec<String>,
    used_codes: Vec<String>,
    failures: usize,
}

/// `POST /api/auth/login` as alice: the access and refresh tokens.
fn token_pair(port: u16) -> Option<(String, String)> {
    let pair = ask(
        port,
        "POST",
        "/api/auth/login",
        &[],
        &credentials("alice", PASSWORD),
    )?;
    let json = body_json(&pair);
    Some((
        json["access_token"].as_str()?.to_owned(),
        json["refresh_token"].as_str()?.to_owned(),
    ))
}

fn one_operation(port: u16, turn: usize, seen: &Mutex<Acknowledged>) {
    match turn % 6 {
        0 => {
            if let Some(answer) = ask(
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
            let Some(csrf) = ask(port, "GET", "/api/csrf", &[("Cookie", &cookie)], "") else {
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
            match ask(port, "POST", "/api/logout", &headers, "{}") {
                Some(answer) if status(&answer) < 300 => {
                    seen.lock().unwrap().signed_out.push(cookie);
                }
                // Not acknowledged: either outcome is allowed.
                _ => {}
            }
        }
        2 => {
            // A chain of rotations in one family: each spends the token before.
            let Some((_, mut old)) = token_pair(port) else {
                return;
            };
            for _ in 0..ROTATIONS {
                let body = format!("{{\"refresh_token\":\"{old}\"}}");
                let Some(answer) = ask(port, "POST", "/api/auth/refresh", &[], &body) else {
                    return;
                };
                let json = body_json(&answer);
                let (Some(access), Some(new)) = (
                    json["access_token"].as_str(),
                    json["refresh_token"].as_str(),
                ) else {
                    return;
                };
                let mut seen = seen.lock().unwrap();
                seen.spent.push(std::mem::replace(&mut old, new.to_owned()));
                seen.fresh.push(access.to_owned());
            }
        }
        3 => {
            let Some((access, refresh)) = token_pair(port) else {
                return;
            };
            let bearer = format!("Bearer {access}");
            if let Some(answer) = ask(
                port,
                "POST",
                "/api/logout",
                &[("Authorization", bearer.as_str())],
                "{}",
            ) && status(&answer) == 200
            {
                seen.lock().unwrap().revoked.push((access, refresh));
            }
        }
        4 => {
            let Some(code) = seen.lock().unwrap().unused_codes.pop() else {
                return;
            };
            // A code whose answer was lost may or may not be spent: it is not checked.
            if let Some(answer) = sign_in_with_recovery_code(port, &code, "10.8.0.1")
                && status(&answer) == 200
            {
                seen.lock().unwrap().used_codes.push(code);
            }
        }
        _ => {
            if seen.lock().unwrap().failures >= MAX_LOAD_FAILURES {
                return;
            }
            if let Some(answer) = ask(
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

fn crash_round(round: usize) -> usize {
    let dir = TempDir::new(&format!("kill9-{round}"));
    let port = free_port();
    let extra = format!(
        "data_dir = \"{}\"\n[limits]\nmax_failures_per_ip = 100\nmax_failures_per_user = {USER_LIMIT}\n\
         api_rate = 100000\napi_burst = 100000\n",
        dir.0.join("data").display()
    );
    let tess = totp_user();
    let text = format!("{}\n{}\n", config(port, &extra), tess.table);
    let path = dir.write("postern.toml", &text);
    let mut running = Running::start(&dir, &path, port);
    // The first code is never handed out: after the crash it must still work, so a refusal
    // of the used ones is theirs, not the account's.
    let (never_used, codes) = tess.codes.split_first().unwrap();
    let seen = Arc::new(Mutex::new(Acknowledged {
        unused_codes: codes.to_vec(),
        ..Acknowledged::default()
    }));
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
    let delay = random_millis(2000, 5000);
    std::thread::sleep(Duration::from_millis(delay));
    running.child.kill().unwrap();
    running.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let operations = ANSWERED.swap(0, Ordering::Relaxed);
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    eprintln!(
        "round {round}: killed after {delay} ms, {operations} requests answered; acknowledged {} sign-ins, {} sign-outs, {} rotations, {} revoked families, {} recovery codes, {} failures",
        seen.signed_in.len() + seen.signed_out.len(),
        seen.signed_out.len(),
        seen.spent.len(),
        seen.revoked.len(),
        seen.used_codes.len(),
        seen.failures
    );
    let restarted = Running::start(&dir, &path, port);
    acknowledged_changes_hold(round, restarted.port, &seen, never_used);
    operations
}

/// Checks, after the restart, what `seen` says was acknowledged.
fn acknowledged_changes_hold(round: usize, port: u16, seen: &Acknowledged, never_used: &str) {
    for cookie in &seen.signed_in {
        assert_eq!(
            check_session(port, cookie),
            200,
            "round {round}: an acknowledged sign-in was lost"
        );
    }
    for cookie in &seen.signed_out {
        assert_eq!(
            check_session(port, cookie),
            401,
            "round {round}: an acknowledged sign-out came back"
        );
    }
    // Before any replay below revokes their families.
    for access in &seen.fresh {
        assert_eq!(
            check_bearer(port, access),
            200,
            "round {round}: an access token of an acknowledged rotation was refused"
        );
    }
    // Each replay is a failure for its client address, and a fast machine acknowledges more
    // rotations than `max_failures_per_ip` allows (at most 100), so each comes from an address
    // of its own through the trusted loopback proxy: the answer is then the token's, never
    // the address limit's 429.
    let mut addresses =
        (0..).map(|index: usize| format!("10.9.{}.{}", index / 250, index % 250 + 1));
    let mut refresh = |token: &str| {
        let body = format!("{{\"refresh_token\":\"{token}\"}}");
        let client = addresses.next().unwrap();
        let headers = [("X-Forwarded-For", client.as_str())];
        status(&exchange(port, "POST", "/api/auth/refresh", &headers, &body).unwrap())
    };
    for token in &seen.spent {
        assert_eq!(
            refresh(token),
            401,
            "round {round}: a spent refresh token worked again"
        );
    }
    for (access, refresh_token) in &seen.revoked {
        assert_eq!(
            check_bearer(port, access),
            401,
            "round {round}: an access token of a revoked family worked again"
        );
        assert_eq!(
            refresh(refresh_token),
            401,
            "round {round}: a refresh token of a revoked family worked again"
        );
    }
    for (index, code) in seen.used_codes.iter().enumerate() {
        let client = format!("10.10.0.{}", index + 1);
        let answer = sign_in_with_recovery_code(port, code, &client).unwrap();
        assert_eq!(
            status(&answer),
            401,
            "round {round}: a used recovery code worked again:\n{answer}"
        );
    }
    let answer = sign_in_with_recovery_code(port, never_used, "10.10.1.1").unwrap();
    assert_eq!(
        status(&answer),
        200,
        "round {round}: an unused recovery code was refused:\n{answer}"
    );
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
    let operations: usize = (0..3).map(crash_round).sum();
    eprintln!("{operations} requests of the load answered in all");
}
