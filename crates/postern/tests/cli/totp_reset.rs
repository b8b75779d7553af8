//! `postern users totp-reset`: a TOTP secret a user set up on the account page outlives a
//! restart (it is in the embedded store's file), and the command removes it while postern is
//! stopped, so the user signs in with the password only again; while postern runs, the same
//! command reaches it through the admin channel.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use postern_core::totp::TotpKey;

use crate::support::*;

fn status_of(answer: &str) -> &str {
    answer.split_whitespace().nth(1).unwrap_or_default()
}

/// The text between `marker` and the next `until` in `text`.
fn between<'a>(text: &'a str, marker: &str, until: char) -> &'a str {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {text}"))
        + marker.len();
    let end = text[start..].find(until).unwrap();
    &text[start..start + end]
}

/// A raw HTTP/1.1 POST of a form with a cookie; the whole answer as text.
fn post_form(port: u16, path: &str, cookie: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: {cookie}\r\n\
         Accept: text/html\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// alice's password sign-in: whether it asks for a TOTP code, and the session cookie if not.
fn sign_in(port: u16) -> (bool, Option<String>) {
    let answer = post_json(
        port,
        "/api/login",
        &format!("{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}"),
    );
    assert_eq!(status_of(&answer), "200", "{answer}");
    let cookie = answer
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: postern_session="))
        .and_then(|rest| rest.split(';').next())
        .map(|value| format!("postern_session={value}"));
    (answer.contains("\"totpPending\":true"), cookie)
}

fn totp_reset(dir: &TempDir, config: &std::path::Path) -> std::process::Output {
    let args = [
        "users",
        "totp-reset",
        "alice",
        "--config",
        config.to_str().unwrap(),
    ];
    run_in(&dir.0.join("data"), &args, "")
}

fn stop(mut running: Running) {
    running.terminate();
    assert_eq!(running.wait_exit(Duration::from_secs(10)), Some(0));
}

/// Sets up TOTP on alice's account page with a fresh password sign-in.
fn enrol_totp(port: u16) {
    let (pending, cookie) = sign_in(port);
    assert!(!pending);
    let cookie = cookie.unwrap();
    let page = get(port, "/account", &[("Cookie", &cookie)]).unwrap();
    let csrf = between(&page, "name=\"csrf\" value=\"", '"').to_owned();
    let setup = post_form(
        port,
        "/account/totp-setup",
        &cookie,
        &format!("csrf={csrf}"),
    );
    assert_eq!(status_of(&setup), "200", "{setup}");
    let secret = between(&setup, "id=\"totp-secret\">", '<').replace(' ', "");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let code = TotpKey::parse(&secret).unwrap().code_at(now);
    let confirmed = post_form(
        port,
        "/account/totp-confirm",
        &cookie,
        &format!("csrf={csrf}&code={code}"),
    );
    assert_eq!(status_of(&confirmed), "303", "{confirmed}");
}

fn reset_says(dir: &TempDir, config: &std::path::Path, expected: &str) {
    let reset = totp_reset(dir, config);
    let stdout = String::from_utf8_lossy(&reset.stdout).into_owned();
    assert_eq!(
        reset.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    assert!(stdout.contains(expected), "{stdout}");
}

#[test]
fn a_self_enrolled_secret_outlives_a_restart_and_totp_reset_removes_it() {
    let dir = TempDir::new("totp-reset");
    let port = free_port();
    let extra = format!(
        "data_dir = \"{}\"\n[session]\nstore = \"embedded\"\n",
        dir.0.join("data").display()
    );
    let path = dir.write("postern.toml", &config(port, &extra));
    let running = Running::start(&dir, &path, port);
    enrol_totp(port);
    stop(running);

    let running = Running::start(&dir, &path, port);
    assert!(sign_in(port).0, "the secret outlived the restart");
    // While postern runs, the command goes through its admin channel and holds at once.
    reset_says(&dir, &path, "reset TOTP of alice");
    assert!(!sign_in(port).0, "the password alone signs in at once");
    enrol_totp(port);
    stop(running);

    // While postern is stopped, the command opens the data file itself.
    reset_says(&dir, &path, "reset TOTP of alice");
    reset_says(&dir, &path, "nothing removed");

    let running = Running::start(&dir, &path, port);
    assert!(!sign_in(port).0, "the password alone signs in again");
    stop(running);
}
