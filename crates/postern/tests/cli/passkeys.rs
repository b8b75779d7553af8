//! `postern users passkeys NAME [--remove ID]`: lists a user's passkeys and removes one,
//! through the running postern's admin channel and, while it is stopped, on the data file.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

// The HTTP tests' software authenticator; this test only registers (no assertions).
#[allow(dead_code)]
#[path = "../../../postern-server/tests/http/passkeys/authenticator.rs"]
mod authenticator;

/// A raw HTTP/1.1 request with a JSON body and extra headers; the status and the JSON body.
fn call(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, answer)
}

fn body_of(answer: &str) -> Value {
    serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap()
}

/// Signs alice in with her password and registers a passkey; returns its id.
fn register(port: u16) -> String {
    let login = post_json(
        port,
        "/api/login",
        &format!("{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}"),
    );
    let cookie = login
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: postern_session="))
        .and_then(|rest| rest.split(';').next())
        .map(|value| format!("postern_session={value}"))
        .unwrap_or_else(|| panic!("{login}"));
    let csrf = get(port, "/api/csrf", &[("Cookie", &cookie)]).unwrap();
    let csrf = body_of(&csrf)["csrfToken"].as_str().unwrap().to_owned();
    let headers = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
    let (status, begin) = call(port, "POST", "/api/webauthn/register/begin", &headers, "{}");
    assert_eq!(status, "200", "{begin}");
    let origin = format!("http://127.0.0.1:{port}");
    let mut key = authenticator::SoftAuthenticator::new(&origin, "127.0.0.1");
    let credential = key.register(&body_of(&begin));
    let body = json!({ "name": "Laptop", "credential": credential }).to_string();
    let (status, done) = call(
        port,
        "POST",
        "/api/webauthn/register/finish",
        &headers,
        &body,
    );
    assert_eq!(status, "201", "{done}");
    authenticator::b64(&key.credential_id)
}

fn passkeys(dir: &TempDir, config: &std::path::Path, extra: &[&str]) -> String {
    let mut args = vec![
        "users",
        "passkeys",
        "alice",
        "--config",
        config.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = run_in(&dir.0.join("data"), &args, "");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn users_passkeys_lists_and_removes_while_running_and_while_stopped() {
    let dir = TempDir::new("users-passkeys");
    let port = free_port();
    let extra = format!(
        "data_dir = \"{}\"\n[session]\nstore = \"embedded\"\n",
        dir.0.join("data").display()
    );
    let path = dir.write("postern.toml", &config(port, &extra));
    let mut running = Running::start(&dir, &path, port);
    let first = register(port);
    // Through the admin channel of the running postern.
    let listed = passkeys(&dir, &path, &[]);
    assert!(
        listed.contains(&first) && listed.contains("\"Laptop\"") && listed.contains("never used"),
        "{listed}"
    );
    assert!(passkeys(&dir, &path, &["--remove", "no-such-id"]).contains("nothing removed"));
    assert!(passkeys(&dir, &path, &["--remove", &first]).contains("removed passkey"));
    assert!(passkeys(&dir, &path, &[]).contains("alice has no passkey"));
    let second = register(port);
    running.terminate();
    assert_eq!(running.wait_exit(Duration::from_secs(10)), Some(0));
    // On the data file while postern is stopped.
    assert!(passkeys(&dir, &path, &[]).contains(&second));
    assert!(passkeys(&dir, &path, &["--remove", &second]).contains("removed passkey"));
    assert!(passkeys(&dir, &path, &[]).contains("alice has no passkey"));
}
