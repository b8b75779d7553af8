//! Access rules and users reload with their files: on a change and on SIGHUP, validated first.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

fn status_app(policy: &str) -> String {
    format!("[[apps]]\nhost = \"status.example.com\"\npolicy = \"{policy}\"\n")
}

/// The status code traefik would get for https://status.example.com/.
fn check(port: u16) -> String {
    let answer = get(
        port,
        "/api/auth/traefik",
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "status.example.com"),
            ("X-Forwarded-Uri", "/"),
        ],
    )
    .unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

/// `POST /api/login` as `user` with the test password.
fn login(port: u16, user: &str) -> String {
    let body = format!("{{\"username\":\"{user}\",\"password\":\"{PASSWORD}\"}}");
    post_json(port, "/api/login", &body)
}

/// Writes a config that takes its users from `users` too; its path.
fn with_users_file(dir: &TempDir, port: u16, users: &std::path::Path) -> std::path::PathBuf {
    dir.write(
        "postern.toml",
        &config(port, &format!("users_file = \"{}\"\n", users.display())),
    )
}

fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn rules_follow_the_file_and_a_broken_file_changes_nothing() {
    let dir = TempDir::new("reload");
    let port = free_port();
    let path = dir.write("postern.toml", &config(port, &status_app("deny")));
    let running = Running::start(&dir, &path, port);
    assert_eq!(check(port), "403");

    dir.write("postern.toml", &config(port, &status_app("bypass")));
    wait_for("the new rules", Duration::from_secs(5), || {
        check(port) == "200"
    });

    // A broken file: logged, and the rules in force stay.
    dir.write(
        "postern.toml",
        &config(
            port,
            &format!("{}public_paths = [\"(\"]\n", status_app("one_factor")),
        ),
    );
    wait_for("the error in the log", Duration::from_secs(5), || {
        running
            .log_text()
            .contains("the new configuration is invalid")
    });
    assert_eq!(check(port), "200");
    assert!(
        running.log_text().contains("does not compile"),
        "{}",
        running.log_text()
    );

    // SIGHUP reloads on demand.
    dir.write("postern.toml", &config(port, &status_app("deny")));
    let status = Command::new("kill")
        .args(["-HUP", &running.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for("the rules after SIGHUP", Duration::from_secs(5), || {
        check(port) == "403"
    });
    assert!(
        running
            .log_text()
            .contains("SIGHUP: reloading the access rules and users")
    );
    assert!(
        running
            .log_text()
            .contains("access rules and users reloaded")
    );
}

#[test]
fn a_user_removed_from_the_users_file_loses_access_at_once() {
    let dir = TempDir::new("reload-users");
    let port = free_port();
    let users = dir.write("users.txt", &format!("carol:{HASH}\n"));
    let path = with_users_file(&dir, port, &users);
    let _running = Running::start(&dir, &path, port);
    let login = |user: &str| login(port, user);
    let answer = login("carol");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let cookie = answer
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: "))
        .and_then(|cookie| cookie.split(';').next())
        .unwrap()
        .to_owned();
    let session = || get(port, "/api/session", &[("Cookie", &cookie)]).unwrap();
    assert!(session().starts_with("HTTP/1.1 200"));
    dir.write("users.txt", &format!("dave:{HASH}\n"));
    wait_for("carol to be gone", Duration::from_secs(5), || {
        session().starts_with("HTTP/1.1 401")
    });
    assert!(login("dave").starts_with("HTTP/1.1 200"));
}

#[test]
fn a_reload_names_the_changed_keys_that_need_a_restart() {
    let dir = TempDir::new("reload-restart");
    let port = free_port();
    let with = |title: &str, policy: &str| {
        config(
            port,
            &format!("{}[ui]\ntitle = \"{title}\"\n", status_app(policy)),
        )
    };
    let path = dir.write("postern.toml", &with("First title", "deny"));
    let running = Running::start(&dir, &path, port);
    assert_eq!(check(port), "403");

    dir.write("postern.toml", &with("Second title", "bypass"));
    wait_for("the new rules", Duration::from_secs(5), || {
        check(port) == "200"
    });
    wait_for("the restart warning", Duration::from_secs(5), || {
        running.log_text().contains("read only at start")
    });
    let log = running.log_text();
    let warning = log
        .lines()
        .find(|line| line.contains("read only at start"))
        .unwrap();
    assert!(
        warning.contains("WARN") && warning.contains("ui.title"),
        "{warning}"
    );
    assert!(
        !warning.contains("apps") && !warning.contains("Second title"),
        "only the names of start-up keys: {warning}"
    );
    let login = get(port, "/login", &[]).unwrap();
    assert!(login.contains("First title"), "kept until a restart");
}

/// A users file written in two steps (its first line, a pause shorter than the watch's settle
/// time, then the rest) is never read half-written: the user in the second half is not taken
/// for removed, so they are not retired and their session stays. Once the file stops
/// changing, the watch reloads it.
/// `users_file` is read only at start: a config that names another file is refused whole
/// (its users would be in force while the watch and every password change kept the old
/// file), and says so; the users in force stay.
#[test]
fn a_config_that_names_another_users_file_waits_for_a_restart() {
    let dir = TempDir::new("reload-users-file");
    let port = free_port();
    let first = dir.write("users.txt", &format!("carol:{HASH}\n"));
    let second = dir.write("other-users.txt", &format!("dave:{HASH}\n"));
    let path = with_users_file(&dir, port, &first);
    let running = Running::start(&dir, &path, port);
    assert!(login(port, "carol").starts_with("HTTP/1.1 200"));
    with_users_file(&dir, port, &second);
    wait_for("the refusal", Duration::from_secs(5), || {
        running.log_text().contains("`users_file` changed")
    });
    assert!(login(port, "carol").starts_with("HTTP/1.1 200"));
    assert!(login(port, "dave").starts_with("HTTP/1.1 401"));
}

#[test]
fn a_users_file_written_in_two_steps_is_read_only_once_it_stops_changing() {
    let dir = TempDir::new("reload-settle");
    let port = free_port();
    let first_half = format!("carol:{HASH}\n");
    let second_half = format!("dave:{HASH}\n");
    let users = dir.write("users.txt", &format!("{first_half}{second_half}"));
    let path = with_users_file(&dir, port, &users);
    let running = Running::start(&dir, &path, port);
    let login = |user: &str| login(port, user);
    let answer = login("dave");
    let cookie = session_cookie(&answer).unwrap_or_else(|| panic!("{answer}"));
    assert_eq!(check_session(port, &cookie), 200);

    // Each round truncates the file to its first line and appends the rest 500 ms later (half
    // the settle time: a slow machine's late wake-up still leaves it short of a second), the
    // rounds 1,150 ms apart: they start at every 150 ms of the watch's one-second tick, so
    // some tick falls in a gap whatever its phase.
    for _ in 0..7 {
        std::fs::write(&users, &first_half).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&users)
            .unwrap();
        std::io::Write::write_all(&mut file, second_half.as_bytes()).unwrap();
        drop(file);
        std::thread::sleep(Duration::from_millis(650));
    }
    // The file stopped changing, with one more user: the watch takes it.
    std::fs::write(&users, format!("{first_half}{second_half}erin:{HASH}\n")).unwrap();
    // alice (in the config), carol, dave and erin.
    wait_for(
        "the reload of the whole file",
        Duration::from_secs(10),
        || {
            running
                .log_text()
                .lines()
                .any(|line| line.contains("users reloaded") && line.contains("users=4"))
        },
    );
    assert_eq!(status(&login("erin")), 200);
    let log = running.log_text();
    assert!(!log.contains("user.retired"), "{log}");
    assert_eq!(check_session(port, &cookie), 200, "{log}");
}

/// postern (embedded store) starts while its users file is being written: it reads only the
/// first half, and dave, who has records, is in the second. The start pass, which retires
/// local users with records who are missing, waits for the file to stop changing, so dave is
/// not retired; frank, in no version of the file, is.
#[test]
fn a_start_that_read_a_half_written_users_file_retires_nobody_of_its_second_half() {
    let dir = TempDir::new("reload-start-settle");
    let port = free_port();
    let first_half = format!("carol:{HASH}\n");
    // dave and frank are local users when their records are imported.
    let users = dir.write(
        "users.txt",
        &format!("{first_half}dave:{HASH}\nfrank:{HASH}\n"),
    );
    let path = with_users_file(&dir, port, &users);
    import_records(
        &dir.0.join("data"),
        &path,
        &[
            ("dave", "oidc-subject", "id", "daves-own-subject-id00"),
            ("frank", "oidc-subject", "id", "franks-own-subject-id0"),
        ],
    );
    std::fs::write(&users, &first_half).unwrap();
    let running = Running::start(&dir, &path, port);
    // Well inside the first second (a loaded machine may be slow to get here), and after the
    // start pass would have run at once.
    std::thread::sleep(Duration::from_millis(100));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&users)
        .unwrap();
    std::io::Write::write_all(&mut file, format!("dave:{HASH}\n").as_bytes()).unwrap();
    drop(file);

    wait_for_log(&running, "user=frank");
    std::thread::sleep(Duration::from_millis(300));
    let retired = retired_lines(&running);
    assert_eq!(retired.len(), 1, "{}", running.log_text());
    assert_eq!(status(&login(port, "dave")), 200);
}

/// The watch reads the files once more when they held still since the start. If that read
/// fails although neither file changed (here the `secret_file` is gone), it is reported as a
/// failed reload, and what postern started with stays in force.
#[test]
fn a_start_config_that_no_longer_reads_as_valid_is_reported_and_kept() {
    let dir = TempDir::new("reload-start-invalid");
    let port = free_port();
    let secret = dir.write("secret.txt", "a-cli-test-secret-that-is-long-enough\n");
    let path = dir.write(
        "postern.toml",
        &config(port, &status_app("deny")).replace(
            "secret = \"a-cli-test-secret-that-is-long-enough\"",
            &format!("secret_file = \"{}\"", secret.display()),
        ),
    );
    let running = Running::start(&dir, &path, port);
    // Before the watch's first look, an interval after the start.
    std::fs::remove_file(&secret).unwrap();

    wait_for_log(&running, "the new configuration is invalid");
    let log = running.log_text();
    assert!(log.contains("`secret_file`"), "{log}");
    assert_eq!(check(port), "403");
}

/// The same change made while postern starts (here while its Redis is paused, so the start
/// waits on the store's ping): the watch's first look at the files comes after the start, so
/// it reads the new config as the start's, and must still refuse it, not put the other file's
/// users in force unannounced.
#[test]
fn a_users_file_named_while_postern_starts_waits_for_a_restart_too() {
    let redis = postern_testkit::RedisServer::start();
    let dir = TempDir::new("reload-users-file-at-start");
    let port = free_port();
    let first = dir.write("users.txt", &format!("carol:{HASH}\n"));
    let second = dir.write("other-users.txt", &format!("dave:{HASH}\n"));
    let on_redis = |users: &std::path::Path| {
        config(
            port,
            &format!(
                "users_file = \"{}\"\n[session]\nstore = \"redis\"\n[session.redis]\n\
                 nodes = [\"127.0.0.1:{}\"]\ntimeout = \"10s\"\n",
                users.display(),
                redis.port
            ),
        )
    };
    let path = dir.write("postern.toml", &on_redis(&first));
    postern_testkit::redis_cli(redis.port, &["CLIENT", "PAUSE", "3000", "ALL"]);
    let swap = {
        let (path, text) = (path.clone(), on_redis(&second));
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1000));
            std::fs::write(path, text).unwrap();
        })
    };
    let running = Running::start(&dir, &path, port);
    swap.join().unwrap();
    wait_for("the refusal", Duration::from_secs(10), || {
        running.log_text().contains("`users_file` changed")
    });
    assert!(login(port, "carol").starts_with("HTTP/1.1 200"));
    assert!(login(port, "dave").starts_with("HTTP/1.1 401"));
    assert!(
        !running.log_text().contains("user.retired"),
        "{}",
        running.log_text()
    );
}
