//! `postern store backup|export|import` as an operator uses them: a backup taken while
//! sign-ins run restores into a fresh data directory with every session it holds; users'
//! durable data moves embedded -> Redis -> embedded; bad input gets a clear message and its
//! own exit code.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postern_testkit::RedisServer;

use crate::embedded::{check, embedded_config, sign_in, status_of, stop};
use crate::support::*;

fn store(args: &[&str], config: &Path, stdin: &str) -> std::process::Output {
    let mut all = vec!["store"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--config", config.to_str().unwrap()]);
    // POSTERN_DATA_DIR, as for the server: the `data` folder beside the config.
    run_in(&config.parent().unwrap().join("data"), &all, stdin)
}

fn succeeded(output: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    format!("{}{stderr}", String::from_utf8_lossy(&output.stdout))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A sign-in and when its answer arrived.
struct Acknowledged {
    cookie: String,
    at: Instant,
}

#[test]
fn a_backup_taken_under_load_restores_every_session_it_holds() {
    let dir = TempDir::new("backup-load");
    let port = free_port();
    let path = embedded_config(&dir, port);
    let running = Running::start(&dir, &path, port);

    let stopping = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::<Acknowledged>::new()));
    let load: Vec<_> = (0..3)
        .map(|_| {
            let (stopping, acknowledged) = (Arc::clone(&stopping), Arc::clone(&acknowledged));
            std::thread::spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    let cookie = sign_in(port);
                    acknowledged.lock().unwrap().push(Acknowledged {
                        cookie,
                        at: Instant::now(),
                    });
                }
            })
        })
        .collect();
    let wait_for = |count: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while acknowledged.lock().unwrap().len() < count {
            assert!(Instant::now() < deadline, "the sign-ins do not go on");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for(6);
    let backup = dir.0.join("backups/postern.redb");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
    let started = Instant::now();
    let output = store(&["backup", backup.to_str().unwrap()], &path, "");
    let finished = Instant::now();
    let said = succeeded(&output);
    let before = acknowledged.lock().unwrap().len();
    wait_for(before + 6);
    stopping.store(true, Ordering::Relaxed);
    for thread in load {
        thread.join().unwrap();
    }
    stop(running);
    let in_backup: usize = said
        .split("backup of ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no session count in: {said}"));
    assert!(
        in_backup >= 6,
        "the sessions acknowledged before it: {said}"
    );
    assert_eq!(mode(&backup), 0o600, "it holds sessions and hashes");
    // Stopped, the command copies the file itself: every session acknowledged is in it.
    let stopped = dir.0.join("backups/stopped.redb");
    let said_stopped = succeeded(&store(&["backup", stopped.to_str().unwrap()], &path, ""));
    let total = acknowledged.lock().unwrap().len();
    assert!(
        said_stopped.contains(&format!("backup of {total} live session(s)")),
        "{said_stopped}"
    );

    // Restore = copy the file into a fresh data directory while postern is stopped.
    let fresh = TempDir::new("backup-restore");
    std::fs::create_dir_all(fresh.0.join("data")).unwrap();
    std::fs::copy(&backup, fresh.0.join("data/postern.redb")).unwrap();
    let fresh_port = free_port();
    let fresh_path = embedded_config(&fresh, fresh_port);
    let restored = Running::start(&fresh, &fresh_path, fresh_port);
    let acknowledged = acknowledged.lock().unwrap();
    let mut live = 0;
    for signed_in in acknowledged.iter() {
        let status = check(restored.port, &signed_in.cookie);
        if signed_in.at < started {
            assert_eq!(status, "200", "acknowledged before the backup began");
        }
        if signed_in.at > finished {
            assert_eq!(status, "401", "signed in after the backup was written");
        }
        if status == "200" {
            live += 1;
        }
    }
    assert!(
        acknowledged.iter().any(|signed_in| signed_in.at > finished),
        "sign-ins went on after the backup"
    );
    assert_eq!(
        live, in_backup,
        "every session of the backup is there, and no other ({said})"
    );
    stop(restored);
}

/// Alice's password, changed through the API: the durable record that must move.
const NEW_PASSWORD: &str = "a brand new long passphrase";

fn change_password(port: u16) {
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
    let answer = exchange_json(
        port,
        "/api/change-password",
        &format!("Bearer {access}"),
        &format!("{{\"current_password\":\"{PASSWORD}\",\"new_password\":\"{NEW_PASSWORD}\"}}"),
    );
    assert_eq!(status_of(&answer), "200", "{answer}");
}

fn exchange_json(port: u16, path: &str, authorization: &str, body: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: {authorization}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn signs_in_with(port: u16, password: &str) -> bool {
    let answer = post_json(
        port,
        "/api/login",
        &format!("{{\"username\":\"alice\",\"password\":\"{password}\"}}"),
    );
    status_of(&answer) == "200"
}

/// The record lines of an export (the header names the store it came from).
fn records_of(export: &Path) -> Vec<String> {
    std::fs::read_to_string(export)
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

fn redis_config(dir: &TempDir, port: u16, redis: &RedisServer) -> PathBuf {
    let extra = format!(
        "[session]\nstore = \"redis\"\nredis_url = \"{}\"\n",
        redis.url()
    );
    dir.write("postern.toml", &config(port, &extra))
}

#[test]
fn durable_data_moves_embedded_to_redis_and_back() {
    // Embedded, running: the password changes, and the export goes through the admin channel.
    let first = TempDir::new("export-embedded");
    let port = free_port();
    let first_config = embedded_config(&first, port);
    let running = Running::start(&first, &first_config, port);
    change_password(port);
    let exported = first.0.join("users.jsonl");
    let said = succeeded(&store(
        &["export", exported.to_str().unwrap()],
        &first_config,
        "",
    ));
    assert!(said.contains("exported 1 user record(s)"), "{said}");
    stop(running);
    assert_eq!(mode(&exported), 0o600, "it holds password hashes");
    // Stopped, the command reads the file itself: the same export.
    let direct = first.0.join("direct.jsonl");
    succeeded(&store(
        &["export", direct.to_str().unwrap()],
        &first_config,
        "",
    ));
    assert_eq!(
        std::fs::read_to_string(&direct).unwrap(),
        std::fs::read_to_string(&exported).unwrap()
    );
    let header = std::fs::read_to_string(&exported).unwrap();
    assert!(
        header.starts_with(
            "{\"format\":\"postern-user-records\",\"version\":1,\"store\":\"embedded\",\"records\":1}\n"
        ),
        "{header}"
    );

    // Into Redis (opened by the command itself), where a server then signs alice in with it.
    let redis = RedisServer::start();
    let second = TempDir::new("import-redis");
    let redis_port = free_port();
    let second_config = redis_config(&second, redis_port, &redis);
    let said = succeeded(&store(
        &["import", exported.to_str().unwrap()],
        &second_config,
        "",
    ));
    assert!(said.contains("imported 1 user record(s)"), "{said}");
    let on_redis = Running::start(&second, &second_config, redis_port);
    assert!(signs_in_with(redis_port, NEW_PASSWORD));
    assert!(!signs_in_with(redis_port, PASSWORD));
    stop(on_redis);
    // Out of Redis to stdout, the same records.
    let from_redis = store(&["export"], &second_config, "");
    succeeded(&from_redis);
    let back = second.write(
        "from-redis.jsonl",
        &String::from_utf8(from_redis.stdout.clone()).unwrap(),
    );
    assert_eq!(records_of(&back), records_of(&exported));

    // Into a fresh embedded store while it is stopped, from stdin.
    let third = TempDir::new("import-embedded");
    let third_port = free_port();
    let third_config = embedded_config(&third, third_port);
    let said = succeeded(&store(
        &["import", "-"],
        &third_config,
        &std::fs::read_to_string(&back).unwrap(),
    ));
    assert!(said.contains("imported 1 user record(s)"), "{said}");
    let restored = Running::start(&third, &third_config, third_port);
    assert!(signs_in_with(third_port, NEW_PASSWORD));
    assert!(!signs_in_with(third_port, PASSWORD));
    // And again while it runs, through the admin channel: the same file changes nothing.
    let said = succeeded(&store(
        &["import", back.to_str().unwrap()],
        &third_config,
        "",
    ));
    assert!(said.contains("imported 1 user record(s)"), "{said}");
    assert!(signs_in_with(third_port, NEW_PASSWORD));
    stop(restored);
}

#[test]
fn bad_input_gets_a_clear_message_and_its_own_exit_code() {
    let dir = TempDir::new("store-bad-input");
    let path = embedded_config(&dir, free_port());
    let refused = |output: std::process::Output, code: i32, words: &str| {
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(code), "{stderr}");
        assert!(stderr.contains(words), "expected {words:?} in: {stderr}");
    };
    refused(
        store(&["restore", "x"], &path, ""),
        2,
        "unrecognized subcommand",
    );
    refused(
        store(
            &["import", dir.0.join("missing.jsonl").to_str().unwrap()],
            &path,
            "",
        ),
        66,
        "cannot read",
    );
    let newer = dir.write(
        "newer.jsonl",
        "{\"format\":\"postern-user-records\",\"version\":9,\"store\":\"embedded\",\"records\":0}\n",
    );
    refused(
        store(&["import", newer.to_str().unwrap()], &path, ""),
        65,
        "written by a newer postern",
    );
    let foreign = dir.write("foreign.jsonl", "user,password\nalice,x\n");
    refused(
        store(&["import", foreign.to_str().unwrap()], &path, ""),
        65,
        "line 1: not an export of postern users' data",
    );
    refused(
        store(
            &["backup", dir.0.join("no/such/dir/b.redb").to_str().unwrap()],
            &path,
            "",
        ),
        73,
        "cannot write",
    );
    assert!(
        !dir.0.join("data").exists(),
        "a refused command opened no store"
    );

    let memory = TempDir::new("store-memory");
    let memory_path = memory.write(
        "postern.toml",
        &config(free_port(), "[session]\nstore = \"memory\"\n"),
    );
    refused(store(&["export"], &memory_path, ""), 1, "memory store");
    refused(
        store(
            &["backup", memory.0.join("b.redb").to_str().unwrap()],
            &memory_path,
            "",
        ),
        1,
        "embedded store's data file",
    );
}

/// Run as root on a stopped postern whose folder belongs to postern's user, a command leaves
/// the data file it created to that user, so the postern that starts next can open it.
#[test]
fn a_command_run_as_root_leaves_the_data_file_to_the_folders_owner() {
    use std::os::unix::fs::MetadataExt as _;

    let root = std::process::Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&root.stdout).trim(),
        "0",
        "this test needs root to own files as another user"
    );
    let dir = TempDir::new("store-owner");
    let data = dir.0.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(65534), Some(65534)).unwrap();
    let path = embedded_config(&dir, free_port());
    let export = dir.write(
        "empty.jsonl",
        "{\"format\":\"postern-user-records\",\"version\":1,\"store\":\"redis\",\"records\":0}\n",
    );
    succeeded(&store(&["import", export.to_str().unwrap()], &path, ""));
    for name in ["postern.redb", "postern.pid"] {
        let owner = std::fs::metadata(data.join(name)).unwrap().uid();
        assert_eq!(owner, 65534, "{name} belongs to the folder's owner");
    }
}
