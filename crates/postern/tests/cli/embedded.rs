//! The embedded store as an operator meets it: sessions that outlive a restart, one process
//! per data directory (exit 64 naming the holder), `postern users` on the file while postern
//! is stopped and through the admin channel while it runs, and a damaged file refused with
//! the way out.

use std::path::Path;
use std::time::Duration;

use crate::support::*;

pub(crate) fn status_of(answer: &str) -> &str {
    answer.split_whitespace().nth(1).unwrap_or_default()
}

/// A config on the embedded store in `<dir>/data`.
pub(crate) fn embedded_config(dir: &TempDir, port: u16) -> std::path::PathBuf {
    let data = dir.0.join("data");
    let extra = format!(
        "data_dir = \"{}\"\n[session]\nstore = \"embedded\"\n",
        data.display()
    );
    dir.write("postern.toml", &config(port, &extra))
}

pub(crate) fn sign_in(port: u16) -> String {
    let answer = post_json(
        port,
        "/api/login",
        &format!("{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}"),
    );
    assert_eq!(status_of(&answer), "200", "{answer}");
    answer
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: postern_session="))
        .and_then(|rest| rest.split(';').next())
        .map(|value| format!("postern_session={value}"))
        .unwrap()
}

pub(crate) fn check(port: u16, cookie: &str) -> String {
    let headers = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "app.example.com"),
        ("Cookie", cookie),
    ];
    status_of(&get(port, "/api/auth/traefik", &headers).unwrap()).to_owned()
}

pub(crate) fn stop(mut running: Running) {
    running.terminate();
    assert_eq!(running.wait_exit(Duration::from_secs(10)), Some(0));
}

pub(crate) fn users(dir: &TempDir, action: &str, config: &Path) -> std::process::Output {
    run_in(
        &dir.0.join("data"),
        &[
            "users",
            action,
            "alice",
            "--config",
            config.to_str().unwrap(),
        ],
        "",
    )
}

#[test]
fn sessions_outlive_a_restart_and_users_commands_work_while_postern_is_stopped() {
    let dir = TempDir::new("embedded-restart");
    let port = free_port();
    let path = embedded_config(&dir, port);
    let running = Running::start(&dir, &path, port);
    assert!(
        running.log_text().contains("embedded store"),
        "{}",
        running.log_text()
    );
    let cookie = sign_in(port);
    assert_eq!(check(port, &cookie), "200");

    stop(running);

    let running = Running::start(&dir, &path, port);
    assert_eq!(
        check(port, &cookie),
        "200",
        "the session outlived the restart"
    );
    stop(running);

    let revoked = users(&dir, "revoke", &path);
    assert_eq!(
        revoked.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    assert!(String::from_utf8_lossy(&revoked.stdout).contains("1 session(s) ended"));
    assert_eq!(users(&dir, "unlock", &path).status.code(), Some(0));

    let running = Running::start(&dir, &path, port);
    assert_eq!(check(port, &cookie), "401", "revoked while stopped");
    stop(running);
}

#[test]
fn a_second_serve_on_the_same_data_dir_exits_64_naming_the_holder() {
    let dir = TempDir::new("embedded-lock");
    let port = free_port();
    let path = embedded_config(&dir, port);
    let running = Running::start(&dir, &path, port);
    let second = run_in(
        &dir.0.join("data"),
        &[
            "serve",
            "--config",
            path.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
        ],
        "",
    );
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains(&dir.0.join("data").display().to_string())
            && stderr.contains(&format!("pid {}", running.child.id())),
        "{stderr}"
    );
    // The first one was not disturbed.
    let cookie = sign_in(port);
    assert_eq!(check(port, &cookie), "200");
    stop(running);
}

#[test]
fn a_damaged_data_file_is_refused_with_the_way_out() {
    let dir = TempDir::new("embedded-damaged");
    let port = free_port();
    let path = embedded_config(&dir, port);
    std::fs::create_dir_all(dir.0.join("data")).unwrap();
    let file = dir.write("data/postern.redb", &"garbage ".repeat(1000));
    let output = run_in(
        &dir.0.join("data"),
        &["serve", "--config", path.to_str().unwrap()],
        "",
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains(&file.display().to_string())
            && stderr.contains("restore a backup")
            && stderr.contains("move the file aside"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "garbage ".repeat(1000),
        "the file is left as it was"
    );
}

#[test]
fn users_commands_reach_a_running_postern_through_its_owner_only_socket() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = TempDir::new("embedded-channel");
    let port = free_port();
    let path = embedded_config(&dir, port);
    let running = Running::start(&dir, &path, port);
    let socket_dir = dir.0.join("data/admin");
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket_dir), 0o700);
    assert_eq!(mode(&socket_dir.join("postern.sock")), 0o600);

    let cookie = sign_in(port);
    let second = sign_in(port);
    assert_eq!(check(port, &cookie), "200");
    // The name in another case: the server spells it as the config does.
    let revoked = run_in(
        &dir.0.join("data"),
        &[
            "users",
            "revoke",
            "ALICE",
            "--config",
            path.to_str().unwrap(),
        ],
        "",
    );
    let stdout = String::from_utf8_lossy(&revoked.stdout);
    assert_eq!(
        revoked.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    assert!(
        stdout.contains("revoked alice: 2 session(s) ended"),
        "{stdout}"
    );
    // At once, with no restart: the running server did it.
    assert_eq!(check(port, &cookie), "401");
    assert_eq!(check(port, &second), "401");

    for _ in 0..3 {
        post_json(
            port,
            "/api/login",
            "{\"username\":\"alice\",\"password\":\"wrong\"}",
        );
    }
    let unlocked = users(&dir, "unlock", &path);
    assert_eq!(unlocked.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&unlocked.stdout).contains("unlocked alice"));
    assert!(
        running.log_text().contains("answer=\"revoked alice"),
        "each admin request is logged: {}",
        running.log_text()
    );
    // What a request names goes into the log escaped: a line break in it writes no line of
    // its own (here one the shipped fail2ban filter would match).
    let forged = "alice\nFORGED  INFO audit: event=\"login.failed\" ip=192.0.2.1";
    run_in(
        &dir.0.join("data"),
        &[
            "users",
            "revoke",
            forged,
            "--config",
            path.to_str().unwrap(),
        ],
        "",
    );
    wait_for_log(&running, "FORGED");
    assert!(
        !running
            .log_text()
            .lines()
            .any(|line| line.starts_with("FORGED")),
        "{}",
        running.log_text()
    );

    // A socket left by a postern killed with -9 is not a running postern: the command opens
    // the file, and the next start replaces the socket.
    let mut running = running;
    running.child.kill().unwrap();
    running.child.wait().unwrap();
    assert!(socket_dir.join("postern.sock").exists());
    let revoked = users(&dir, "revoke", &path);
    assert_eq!(
        revoked.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let running = Running::start(&dir, &path, port);
    assert_eq!(users(&dir, "unlock", &path).status.code(), Some(0));
    stop(running);
}

/// The socket's permissions keep other users out; behind them, postern checks the peer's uid
/// itself. Widened permissions (a mistaken chmod) must not open it: a process of another user
/// is refused. Runs a client as `nobody` (uid 65534) with `setpriv`, so it needs root.
#[test]
fn the_admin_channel_refuses_a_process_of_another_user() {
    use std::os::unix::fs::PermissionsExt as _;

    let root = std::process::Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&root.stdout).trim(),
        "0",
        "this test runs a client as another user: run it as root"
    );
    let dir = TempDir::new("embedded-peer");
    let port = free_port();
    let path = embedded_config(&dir, port);
    let running = Running::start(&dir, &path, port);
    let cookie = sign_in(port);
    let widen = |path: &Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    widen(&dir.0, 0o755);
    widen(&dir.0.join("data"), 0o755);
    widen(&dir.0.join("data/admin"), 0o755);
    widen(&dir.0.join("data/admin/postern.sock"), 0o666);
    widen(&path, 0o644);
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BINARY])
        .args([
            "users",
            "revoke",
            "alice",
            "--config",
            path.to_str().unwrap(),
        ])
        .env_remove("POSTERN_CONFIG")
        .env("POSTERN_DATA_DIR", dir.0.join("data"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("only postern's own user or root may use the admin channel"),
        "{stderr}"
    );
    assert_eq!(check(port, &cookie), "200", "nothing was revoked");
    assert!(
        running
            .log_text()
            .contains("admin channel: refused a process of another user"),
        "{}",
        running.log_text()
    );
    stop(running);
}

/// The channel is a convenience: when its socket cannot be made, postern still serves, says
/// why, and the commands name the process that holds the folder.
#[test]
fn without_its_socket_postern_serves_and_the_commands_name_the_holder() {
    let dir = TempDir::new("embedded-no-socket");
    let port = free_port();
    let path = embedded_config(&dir, port);
    std::fs::create_dir_all(dir.0.join("data/admin")).unwrap();
    dir.write("data/admin/postern.sock", "not a socket");
    let running = Running::start(&dir, &path, port);
    assert!(
        running.log_text().contains("cannot open the admin channel"),
        "{}",
        running.log_text()
    );
    let cookie = sign_in(port);
    let refused = users(&dir, "revoke", &path);
    let stderr = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {}", running.child.id())),
        "{stderr}"
    );
    assert_eq!(check(port, &cookie), "200");
    stop(running);
}
