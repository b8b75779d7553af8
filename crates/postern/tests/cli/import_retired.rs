//! `postern store import` of an export taken before a user was retired: nothing of the person
//! retired comes back, neither while the name is out of the users nor once someone new has it,
//! on Redis (where no start retires anything again) and on the embedded store.

use std::path::{Path, PathBuf};

use crate::oidc::{identity_token_sub, on_embedded, on_redis, stop, wait_for_reloads, wait_until};
use crate::support::*;

fn both() -> String {
    format!("carol:{HASH}\ndave:{HASH}\n")
}

fn dave_only() -> String {
    format!("dave:{HASH}\n")
}

/// `postern store ARGS --config PATH`, which must succeed; what it said.
fn store(dir: &TempDir, path: &Path, args: &[&str]) -> String {
    let path = path.display().to_string();
    let mut all = vec!["store"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--config", &path]);
    let done = run_in(&dir.0.join("data"), &all, "");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(done.status.success(), "{said}");
    said
}

fn export(dir: &TempDir, path: &Path, name: &str) -> PathBuf {
    let file = dir.0.join(name);
    store(dir, path, &["export", file.to_str().unwrap()]);
    file
}

/// The lines of carol's records in a fresh export.
fn carols_records(dir: &TempDir, path: &Path) -> Vec<String> {
    let file = export(dir, path, "now.jsonl");
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter(|line| line.contains("\"user\":\"carol\""))
        .map(str::to_owned)
        .collect()
}

fn reload_to(dir: &TempDir, running: &Running, users: &str) {
    let seen = running.log_text().matches("users reloaded").count();
    dir.write("users.txt", users);
    wait_for_reloads(running, seen);
}

fn assert_skipped_as(said: &str, why: &str) {
    assert!(
        said.contains(&format!("of 1 user(s) {why}")) && said.trim_end().ends_with("carol"),
        "{said}"
    );
}

const NOT_IN_FORCE: &str = "not among the users in force";
const RETIRED_SINCE: &str = "retired after this export was taken";

#[test]
fn on_redis_an_old_export_brings_nothing_of_a_retired_user_back() {
    let redis = postern_testkit::RedisServer::start();
    let dir = TempDir::new("import-retired-redis");
    dir.write("users.txt", &both());
    let port = free_port();
    let path = on_redis(&dir, port, redis.port);
    let running = Running::start(&dir, &path, port);
    let carol = identity_token_sub(port, "carol");
    let dave = identity_token_sub(port, "dave");
    let old = export(&dir, &path, "old.jsonl");

    dir.write("users.txt", &dave_only());
    wait_until(&running, "carol retired on reload", "user.retired");
    // The command reads the users file as it is now: carol is not in it.
    let said = store(&dir, &path, &["import", old.to_str().unwrap()]);
    assert_skipped_as(&said, NOT_IN_FORCE);
    assert_eq!(carols_records(&dir, &path).len(), 1, "her retirement alone");

    // Someone new is carol now: the old export still holds the person retired.
    reload_to(&dir, &running, &both());
    let said = store(&dir, &path, &["import", old.to_str().unwrap()]);
    assert_skipped_as(&said, RETIRED_SINCE);
    assert_ne!(identity_token_sub(port, "carol"), carol);
    assert_eq!(identity_token_sub(port, "dave"), dave);

    // An export taken after her retirement moves the new carol's records as any other.
    let newer = export(&dir, &path, "newer.jsonl");
    let said = store(&dir, &path, &["import", newer.to_str().unwrap()]);
    assert!(!said.contains("skipped"), "{said}");
}

#[test]
fn on_the_embedded_store_an_old_export_brings_nothing_of_a_retired_user_back() {
    let dir = TempDir::new("import-retired-embedded");
    dir.write("users.txt", &both());
    let port = free_port();
    let path = on_embedded(&dir, port);
    let mut running = Running::start(&dir, &path, port);
    let carol = identity_token_sub(port, "carol");
    // Through the admin channel, both ways, while postern runs.
    let old = export(&dir, &path, "old.jsonl");
    dir.write("users.txt", &dave_only());
    wait_until(&running, "carol retired on reload", "user.retired");
    let said = store(&dir, &path, &["import", old.to_str().unwrap()]);
    assert_skipped_as(&said, NOT_IN_FORCE);
    stop(&mut running);

    // Stopped, carol put back: the command opens the data file and sees her retirement.
    dir.write("users.txt", &both());
    let said = store(&dir, &path, &["import", old.to_str().unwrap()]);
    assert_skipped_as(&said, RETIRED_SINCE);
    assert_eq!(carols_records(&dir, &path).len(), 1, "her retirement alone");
    let _running = Running::start(&dir, &path, port);
    assert_ne!(identity_token_sub(port, "carol"), carol);
}
