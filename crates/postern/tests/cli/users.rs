//! `postern users unlock` and `postern users revoke`, against a running postern and a real
//! redis-server: the change reaches the server through the store; and what a revocation
//! leaves in the embedded store for the next start.

use postern_testkit::RedisServer;

use crate::support::*;

fn status_of(answer: &str) -> &str {
    answer.split_whitespace().nth(1).unwrap_or_default()
}

fn login(port: u16, password: &str) -> String {
    post_json(
        port,
        "/api/login",
        &format!("{{\"username\":\"alice\",\"password\":\"{password}\"}}"),
    )
}

#[test]
fn unlock_and_revoke_act_on_the_shared_store() {
    let redis = RedisServer::start();
    let dir = TempDir::new("users-cli");
    let port = free_port();
    let extra = format!(
        "[session]\nstore = \"redis\"\nredis_url = \"{}\"\n[limits]\nmax_failures_per_ip = 100\nmax_failures_per_user = 3\n",
        redis.url()
    );
    let path = dir.write("postern.toml", &config(port, &extra));
    let _running = Running::start(&dir, &path, port);

    // A session and a bearer token, then revoke: both stop working.
    let answer = login(port, PASSWORD);
    assert_eq!(status_of(&answer), "200", "{answer}");
    let cookie = answer
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: postern_session="))
        .and_then(|rest| rest.split(';').next())
        .map(|value| format!("postern_session={value}"))
        .unwrap();
    let tokens = post_json(
        port,
        "/api/auth/login",
        &format!("{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}"),
    );
    let body = tokens.split("\r\n\r\n").nth(1).unwrap();
    let access = serde_json::from_str::<serde_json::Value>(body).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bearer = format!("Bearer {access}");
    let check = |headers: &[(&str, &str)]| {
        let mut all = vec![
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "app.example.com"),
        ];
        all.extend_from_slice(headers);
        status_of(&get(port, "/api/auth/traefik", &all).unwrap()).to_owned()
    };
    assert_eq!(check(&[("Cookie", &cookie)]), "200");
    assert_eq!(check(&[("Authorization", &bearer)]), "200");
    let revoked = run(
        &[
            "users",
            "revoke",
            "alice",
            "--config",
            path.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(
        revoked.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    assert!(String::from_utf8_lossy(&revoked.stdout).contains("1 session(s) ended"));
    assert_eq!(check(&[("Cookie", &cookie)]), "401");
    assert_eq!(check(&[("Authorization", &bearer)]), "401");

    // Three wrong passwords lock the account; unlock opens it again.
    for _ in 0..3 {
        assert_eq!(status_of(&login(port, "wrong")), "401");
    }
    assert_eq!(status_of(&login(port, PASSWORD)), "429");
    let unlocked = run(
        &[
            "users",
            "unlock",
            "alice",
            "--config",
            path.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(
        unlocked.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&unlocked.stderr)
    );
    assert_eq!(status_of(&login(port, PASSWORD)), "200");
}

#[test]
fn with_the_memory_store_the_commands_say_why_they_cannot() {
    let dir = TempDir::new("users-memory");
    let extra = "[session]\nstore = \"memory\"\n";
    let path = dir.write("postern.toml", &config(free_port(), extra));
    let output = run(
        &[
            "users",
            "revoke",
            "alice",
            "--config",
            path.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("memory store"));
}

/// `users revoke` on the name of a user who is not a local one (a provider's user, known only
/// through their sessions) ends their sessions and tokens, and the revocation it keeps is no
/// local user's record: the next start on the embedded store retires nothing of theirs, so the
/// provider user's consents stay (while it does retire frank, a removed local user).
#[test]
fn revoking_a_provider_users_name_makes_no_local_user_to_retire_at_the_next_start() {
    let dir = TempDir::new("revoke-provider-user");
    let port = free_port();
    // frank is a local user when his records are imported, and removed before the start.
    let users = dir.write("users.txt", &format!("frank:{HASH}\n"));
    let config_path = dir.write(
        "postern.toml",
        &config(port, &format!("users_file = \"{}\"\n", users.display())),
    );
    let path = config_path.display().to_string();
    let data = dir.0.join("data");
    let consent =
        r#"{"scopes":["openid"],"granted_at":1,"families":[],"sub":"erins-own-subject-id00"}"#;
    import_records(
        &data,
        &config_path,
        &[
            ("erin", "oidc_consent", "grafana", consent),
            (
                "provider:github:erin",
                "oidc-subject",
                "id",
                "erins-own-subject-id00",
            ),
            ("frank", "oidc-subject", "id", "franks-own-subject-id0"),
        ],
    );
    let revoked = run_in(&data, &["users", "revoke", "erin", "--config", &path], "");
    assert!(revoked.status.success(), "{revoked:?}");
    std::fs::write(&users, "").unwrap();

    let mut running = Running::start(&dir, &config_path, port);
    // The start pass ran once frank is retired (and any other name of the same pass a moment
    // later).
    wait_for_log(&running, "user=frank");
    std::thread::sleep(std::time::Duration::from_millis(300));
    running.terminate();
    assert!(
        running
            .wait_exit(std::time::Duration::from_secs(10))
            .is_some()
    );
    let retired = retired_lines(&running);
    assert_eq!(retired.len(), 1, "{retired:?}");
    assert!(retired[0].contains("user=frank"), "{retired:?}");
    let export = run_in(&data, &["store", "export", "--config", &path], "");
    assert!(export.status.success(), "{export:?}");
    let export = String::from_utf8_lossy(&export.stdout);
    assert!(
        export.contains(r#""user":"erin","kind":"oidc_consent""#),
        "{export}"
    );
}
