//! `serve` and `healthcheck` against a real process.

use std::net::TcpStream;
use std::time::Duration;

use crate::support::*;

#[test]
fn serve_answers_health_and_healthcheck_agrees() {
    let dir = TempDir::new("serve");
    let port = free_port();
    let path = dir.write("postern.toml", &config(port, ""));
    let server = Running::start(&dir, &path, port);
    let url = format!("http://127.0.0.1:{port}/api/healthcheck");
    assert_eq!(
        run(&["healthcheck", "--url", &url], "").status.code(),
        Some(0)
    );
    assert_eq!(
        run(&["healthcheck", "--config", path.to_str().unwrap()], "")
            .status
            .code(),
        Some(0)
    );
    assert!(
        server.log_text().contains("postern is ready"),
        "{}",
        server.log_text()
    );
}

#[test]
fn serve_listen_elsewhere_than_app_url_says_where_it_listens_and_warns() {
    let dir = TempDir::new("serve-elsewhere");
    let app_port = free_port();
    let listen_port = free_port();
    let path = dir.write("postern.toml", &config(app_port, ""));
    let listen = format!("127.0.0.1:{listen_port}");
    let server = Running::start_with(&dir, &path, &["--listen", &listen], listen_port);
    let log = server.log_text();
    assert!(
        log.contains(&format!("listening on http://127.0.0.1:{listen_port}")),
        "{log}"
    );
    let warning = log
        .lines()
        .find(|line| line.contains("WARN") && line.contains("app_url"))
        .unwrap_or_else(|| panic!("no warning about app_url:\n{log}"));
    assert!(
        warning.contains(&format!("port {app_port}"))
            && warning.contains(&format!("port {listen_port}")),
        "{warning}"
    );
    // `/` sends the browser on to the login page where postern really answers.
    let home = get(listen_port, "/", &[("accept", "text/html")]).unwrap();
    assert!(home.starts_with("HTTP/1.1 302"), "{home}");
    assert!(home.contains("\r\nlocation: login\r\n"), "{home}");
}

#[test]
fn serve_where_app_url_points_does_not_warn() {
    let dir = TempDir::new("serve-same");
    let port = free_port();
    let path = dir.write("postern.toml", &config(port, ""));
    let server = Running::start(&dir, &path, port);
    let log = server.log_text();
    assert!(
        log.contains(&format!("listening on http://127.0.0.1:{port}")),
        "{log}"
    );
    assert!(
        !log.lines()
            .any(|line| line.contains("WARN") && line.contains("listens on port")),
        "{log}"
    );
}

#[test]
fn healthcheck_fails_when_nothing_answers() {
    let port = free_port();
    let output = run(
        &[
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{port}/api/healthcheck"),
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn sigterm_stops_the_server_gracefully() {
    let dir = TempDir::new("sigterm");
    let port = free_port();
    let path = dir.write("postern.toml", &config(port, ""));
    let mut server = Running::start(&dir, &path, port);
    // An idle keep-alive connection (as proxies keep) must not hold the shutdown up.
    let _idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    server.terminate();
    assert_eq!(
        server.wait_exit(Duration::from_secs(5)),
        Some(0),
        "{}",
        server.log_text()
    );
    assert!(server.log_text().contains("SIGTERM"));
}

#[test]
fn an_invalid_config_exits_64_before_binding() {
    let dir = TempDir::new("serve-bad");
    let port = free_port();
    let path = dir.write("postern.toml", &config(port, "bogus_key = 1"));
    let output = run(&["serve", "--config", path.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("bogus_key"));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing may listen after a config error"
    );
}

#[test]
fn a_busy_port_is_a_clear_failure() {
    let dir = TempDir::new("serve-busy");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let path = dir.write("postern.toml", &config(port, ""));
    let output = run(&["serve", "--config", path.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot listen"));
}

#[test]
fn cli_flags_override_env_and_file() {
    let dir = TempDir::new("serve-flags");
    let file_port = free_port();
    let flag_port = free_port();
    let path = dir.write("postern.toml", &config(file_port, ""));
    let log = dir.0.join("log");
    let mut child = std::process::Command::new(BINARY)
        .args([
            "serve",
            "--config",
            path.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{flag_port}"),
        ])
        .env("POSTERN_SERVER_LISTEN", format!("127.0.0.1:{file_port}"))
        .env("POSTERN_DATA_DIR", dir.0.join("data"))
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut healthy = false;
    for _ in 0..250 {
        if get(flag_port, "/api/healthcheck", &[]).is_ok_and(|a| a.starts_with("HTTP/1.1 200")) {
            healthy = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        healthy,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn an_untrusted_forwarder_is_warned_about_once() {
    let dir = TempDir::new("untrusted");
    let port = free_port();
    let path = dir.write(
        "postern.toml",
        &config(port, "trusted_proxies = [\"10.0.0.0/8\"]"),
    );
    let server = Running::start(&dir, &path, port);
    for _ in 0..3 {
        let answer = get(
            port,
            "/api/auth/traefik",
            &[
                ("X-Forwarded-For", "6.6.6.6"),
                ("X-Forwarded-Proto", "https"),
                ("X-Forwarded-Host", "a.example.com"),
            ],
        )
        .unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 401"),
            "answered normally: {answer}"
        );
    }
    let log = server.log_text();
    assert_eq!(log.matches("outside `trusted_proxies`").count(), 1, "{log}");
}

#[test]
fn healthcheck_speaks_https_to_a_tls_listener() {
    let dir = TempDir::new("tls");
    let ca = postern_testkit::TestCa::new();
    let (cert, key) = ca.issue_files("postern", &["localhost"]);
    let port = free_port();
    let tls = format!(
        "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let text = config(port, "").replace("[[users]]", &format!("{tls}[[users]]"));
    let path = dir.write("postern.toml", &text);
    let log = dir.0.join("log");
    let mut child = std::process::Command::new(BINARY)
        .args(["serve", "--config", path.to_str().unwrap()])
        .env("POSTERN_DATA_DIR", dir.0.join("data"))
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}/api/healthcheck");
    let mut healthy = false;
    for _ in 0..250 {
        if run(&["healthcheck", "--url", &url], "").status.success() {
            healthy = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let from_config = run(&["healthcheck", "--config", path.to_str().unwrap()], "")
        .status
        .code();
    let plain = run(
        &[
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{port}/api/healthcheck"),
        ],
        "",
    )
    .status
    .code();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        healthy,
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert_eq!(from_config, Some(0), "the default URL follows [server.tls]");
    assert_eq!(plain, Some(1), "plain HTTP to a TLS port is not healthy");
}

#[test]
fn tls_material_that_does_not_parse_is_a_config_error() {
    let dir = TempDir::new("tls-bad");
    let cert = dir.write("cert.pem", "not a certificate");
    let key = dir.write("key.pem", "not a key");
    let port = free_port();
    let tls = format!(
        "[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let path = dir.write(
        "postern.toml",
        &config(port, "").replace("[[users]]", &format!("{tls}[[users]]")),
    );
    let check = run(&["config", "check", "--config", path.to_str().unwrap()], "");
    assert_eq!(check.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&check.stderr).contains("[server.tls]"));
    let serve = run(&["serve", "--config", path.to_str().unwrap()], "");
    assert_eq!(serve.status.code(), Some(64));
}

#[test]
fn a_return_address_postern_will_not_follow_is_explained_once_in_the_log() {
    let dir = TempDir::new("serve-refusal");
    let port = free_port();
    let path = dir.write("postern.toml", &config(port, ""));
    let server = Running::start(&dir, &path, port);
    for _ in 0..3 {
        let answer = get(
            port,
            "/api/auth/traefik",
            &[
                ("Accept", "text/html"),
                ("X-Forwarded-Proto", "http"),
                ("X-Forwarded-Host", "127.0.0.1:8080"),
                ("X-Forwarded-Uri", "/dashboard"),
            ],
        )
        .unwrap();
        assert!(
            answer.contains("postern-notice: http://127.0.0.1:8080 is not http://127.0.0.1:"),
            "{answer}"
        );
    }
    let log = server.log_text();
    let explained: Vec<&str> = log
        .lines()
        .filter(|line| line.contains("a sign-in will not return to this app"))
        .collect();
    assert_eq!(explained.len(), 1, "once per host:\n{log}");
    assert!(
        explained[0].contains("WARN") && explained[0].contains("127.0.0.1"),
        "{}",
        explained[0]
    );
}
