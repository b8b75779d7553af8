//! Passkeys in headless Chromium with a virtual authenticator (`passkeys.mjs`), against two
//! postern replicas on one real redis-server: registered on A, used on B. Screenshots land in
//! `browser-artifacts/passkeys/`.

use std::path::Path;
use std::process::{Command, Stdio};

use postern_testkit::RedisServer;

use super::{BINARY, PASSWORD, Server, free_port, remove_screenshots, wait_for_port, workspace};

/// A replica at `http://localhost:<port>` (WebAuthn needs a domain; localhost is a secure
/// context over plain HTTP), storing everything in `redis`.
fn replica(dir: &Path, name: &str, redis: &RedisServer, hash: &str) -> (Server, String) {
    let port = free_port();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "app_url = \"http://localhost:{port}\"\nsecret = \"a-browser-test-secret-long-enough-for-it\"\n\
             [server]\nlisten = \"127.0.0.1:{port}\"\n\
             [session]\nstore = \"redis\"\nredis_url = \"{}\"\n\
             [[users]]\nname = \"pat\"\npassword_hash = \"{hash}\"\ndisplay_name = \"Pat Example\"\n",
            redis.url()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let server = Server(
        Command::new(BINARY)
            .args(["serve", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    wait_for_port(port, name);
    (server, format!("http://localhost:{port}"))
}

#[test]
fn passkeys_register_sign_in_with_and_without_a_password_and_on_another_replica() {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        here.join("node_modules/playwright-core").is_dir()
            && here.join("node_modules/axe-core").is_dir()
            && Path::new("/usr/bin/chromium").is_file(),
        "playwright-core, axe-core or /usr/bin/chromium is missing: run .ci/install-peers"
    );
    let dir = std::env::temp_dir().join(format!("postern-passkeys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let redis = RedisServer::start();
    let hash = postern_core::password::hash_password(PASSWORD.as_bytes()).unwrap();
    let (_a, url_a) = replica(&dir, "a", &redis, &hash);
    let (_b, url_b) = replica(&dir, "b", &redis, &hash);
    let artifacts = workspace().join("browser-artifacts/passkeys");
    remove_screenshots(&artifacts);
    let output = Command::new("node")
        .arg(here.join("passkeys.mjs"))
        .current_dir(&here)
        .env("POSTERN_A", &url_a)
        .env("POSTERN_B", &url_b)
        .env("POSTERN_USER", "pat")
        .env("POSTERN_PASSWORD", PASSWORD)
        .env("ARTIFACTS", &artifacts)
        .output()
        .expect("node runs (install Node.js)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let logs = ["a", "b"]
        .map(|name| std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default());
    assert!(
        output.status.success() && stdout.contains("passkeys: ok"),
        "the passkey walk failed:\n{stdout}\n{stderr}\nreplica A:\n{}\nreplica B:\n{}",
        logs[0],
        logs[1]
    );
    for size in ["desktop", "phone"] {
        for scheme in ["light", "dark"] {
            for page in ["passkey-step", "login-passkey"] {
                let shot = artifacts.join(format!("{size}-{scheme}-{page}.png"));
                assert!(
                    std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000),
                    "no screenshot {}",
                    shot.display()
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
