//! A real `postern serve` on a free port, with one user (alice), stopped when the test ends.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use http::StatusCode;
use url::Url;

use super::client::{Request, try_send};
use super::process::{Process, wait_until};
use super::scratch::ScratchDir;

pub const ALICE: &str = "alice";
pub const ALICE_PASSWORD: &str = "alice-e2e-password";
/// A second user in no group, with alice's password, for rules that tell users apart.
pub const BOB: &str = "bob";
pub const SESSION_COOKIE: &str = "postern_session";
pub const CSRF_COOKIE: &str = "postern_csrf";

/// argon2id of ALICE_PASSWORD with the documented cost (m=19456, t=2, p=1), made once so the
/// tests do not depend on postern's own hashing code.
const ALICE_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$GSDBB9uLHU5o/VTNSiKnWQ$fmdqC7LYow1LsmtPU/lIo9Wv0kgKdSyNX/q9WZilmAQ";

/// postern's portal hostname, as in the deploy/ examples. Its parent (`example.com`) becomes
/// the cookie domain, so the login may send the browser back to `app.example.com` on the
/// proxy's port: with an IP `app_url` only the portal's own port would be an allowed target.
pub const PORTAL_HOST: &str = "auth.example.com";

pub struct Postern {
    // Field order matters: the process stops (and prints its log on failure) before its
    // directory goes away.
    _process: Process,
    port: u16,
    _dir: ScratchDir,
}

impl Postern {
    /// On `port`, chosen beforehand (a provider must know the callback URL before postern
    /// runs), with `extra` TOML appended to the config (e.g. `[[apps]]` tables; `""` for none).
    pub async fn start_on(port: u16, extra: &str) -> Self {
        let dir = ScratchDir::new("postern");
        let config = dir.write("postern.toml", &format!("{}{extra}", config(port)));
        let mut command = Command::new(binary());
        command
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env("RUST_BACKTRACE", "1");
        let mut process = Process::spawn("postern", command, &dir.join("postern.log"));
        let health = portal_url(port)
            .join("/api/healthcheck")
            .expect("healthcheck URL");
        wait_until(
            &mut process,
            "postern /api/healthcheck",
            Duration::from_secs(20),
            async || try_get(&health).await == Some(StatusCode::OK),
        )
        .await;
        Self {
            _process: process,
            port,
            _dir: dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `app_url`: `http://auth.example.com:<port>`.
    pub fn app_url(&self) -> Url {
        portal_url(self.port)
    }

    pub fn url(&self, path: &str) -> Url {
        self.app_url().join(path).expect("portal URL")
    }
}

fn portal_url(port: u16) -> Url {
    Url::parse(&format!("http://{PORTAL_HOST}:{port}")).expect("portal URL")
}

/// `POSTERN_E2E_BINARY` runs the suite against another build (e.g. a release binary).
fn binary() -> PathBuf {
    std::env::var_os("POSTERN_E2E_BINARY").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_postern")),
        PathBuf::from,
    )
}

fn config(port: u16) -> String {
    format!(
        r#"app_url = "http://{PORTAL_HOST}:{port}"
secret = "a-test-secret-that-is-at-least-32-bytes-long"
trusted_proxies = ["127.0.0.1/32", "::1/128"]

[server]
listen = "127.0.0.1:{port}"

[log]
level = "debug"

[[users]]
name = "{ALICE}"
password_hash = "{ALICE_HASH}"
email = "alice@example.com"
display_name = "Alice Example"
groups = ["admins", "dev"]

[[users]]
name = "{BOB}"
password_hash = "{ALICE_HASH}"
"#
    )
}

async fn try_get(url: &Url) -> Option<StatusCode> {
    let port = url.port_or_known_default()?;
    let host = format!("{}:{port}", url.host_str()?);
    try_send(port, &host, Request::get(url.path()))
        .await
        .ok()
        .map(|response| response.status)
}
