//! A real `postern serve` on a free port, with one user (alice), stopped when the test ends.
//! Several of them can share one Redis store and one public `app_url` as replicas behind one
//! proxy (see replicas.rs). Ready means this process holds its port and answers its health
//! check; one whose port was taken meanwhile starts again on another (`ports.rs`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use http::StatusCode;
use url::Url;

use super::client::{Request, try_send};
use super::ports::on_a_free_port;
use super::process::{PortTaken, Process, wait_until_listening};
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
    process: Process,
    port: u16,
    app_url: Url,
    config: PathBuf,
    restarts: u32,
    dir: ScratchDir,
}

impl Postern {
    /// One postern with the memory store, serving its portal on a free port, with
    /// `extra_toml` (e.g. `[[apps]]` tables; `""` for none) added to its config.
    pub async fn start(extra_toml: &str) -> Self {
        on_a_free_port("postern", async |port| {
            Self::try_start_on(port, extra_toml).await
        })
        .await
    }

    /// `start` on `port` exactly, chosen beforehand (a provider must know the callback URL
    /// before postern runs): `Err` when another process took it first.
    pub async fn try_start_on(port: u16, extra_toml: &str) -> Result<Self, PortTaken> {
        Self::try_start_with(port, portal_url(port), extra_toml).await
    }

    /// A replica on a free port whose public portal is `app_url` (a proxy in front of
    /// several replicas), with `extra_toml` (e.g. `[session]` for Redis) added to its config.
    pub async fn start_replica(app_url: &Url, extra_toml: &str) -> Self {
        on_a_free_port("a postern replica", async |port| {
            Self::try_start_with(port, app_url.clone(), extra_toml).await
        })
        .await
    }

    async fn try_start_with(port: u16, app_url: Url, extra_toml: &str) -> Result<Self, PortTaken> {
        let dir = ScratchDir::new("postern");
        let config = dir.write("postern.toml", &config(port, &app_url, extra_toml));
        let process = launch(&dir, &config, 0, port).await?;
        Ok(Self {
            process,
            port,
            app_url,
            config,
            restarts: 0,
            dir,
        })
    }

    /// Stops the process with SIGTERM, as an orchestrator would during a rolling restart.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Starts a stopped process again on the same port with the same config; returns once it
    /// answers its health check. The port must stay (the proxy names it): while another
    /// process holds it, this tries again for up to 15 s.
    pub async fn start_again(&mut self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            self.restarts += 1;
            match launch(&self.dir, &self.config, self.restarts, self.port).await {
                Ok(process) => {
                    self.process = process;
                    return;
                }
                Err(PortTaken) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(PortTaken) => panic!(
                    "postern could not take its port {} again: another process holds it",
                    self.port
                ),
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the running process has logged so far.
    pub fn log_text(&self) -> String {
        self.process.log_text()
    }

    /// `app_url`: `http://auth.example.com:<port>`, or the proxy's portal for replicas.
    pub fn app_url(&self) -> Url {
        self.app_url.clone()
    }

    /// `path` on the public portal (through the proxy, for replicas).
    pub fn url(&self, path: &str) -> Url {
        self.app_url.join(path).expect("portal URL")
    }

    /// `path` on this process itself, bypassing any proxy.
    pub fn direct_url(&self, path: &str) -> Url {
        portal_url(self.port).join(path).expect("direct URL")
    }
}

/// Starts `postern serve` and waits until it holds `port` and gives its liveness answer. Each
/// start logs to its own file, so a restarted replica's first life stays readable.
async fn launch(
    dir: &ScratchDir,
    config: &std::path::Path,
    life: u32,
    port: u16,
) -> Result<Process, PortTaken> {
    let mut command = Command::new(binary());
    command
        .arg("serve")
        .arg("--config")
        .arg(config)
        .env("POSTERN_DATA_DIR", dir.join("data"))
        .env("RUST_BACKTRACE", "1");
    let log = dir.join(&format!("postern-{life}.log"));
    let mut process = Process::spawn(&format!("postern :{port}"), command, &log);
    let health = portal_url(port)
        .join("/api/healthcheck")
        .expect("healthcheck URL");
    wait_until_listening(
        &mut process,
        port,
        "postern /api/healthcheck",
        Duration::from_secs(20),
        async || try_get(&health).await == Some(StatusCode::OK),
    )
    .await?;
    Ok(process)
}

fn portal_url(port: u16) -> Url {
    Url::parse(&format!("http://{PORTAL_HOST}:{port}")).expect("portal URL")
}

/// `POSTERN_E2E_BINARY` runs the suite against another build (e.g. a release binary).
pub fn binary() -> PathBuf {
    std::env::var_os("POSTERN_E2E_BINARY").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_postern")),
        PathBuf::from,
    )
}

fn config(port: u16, app_url: &Url, extra_toml: &str) -> String {
    let app_url = app_url.as_str().trim_end_matches('/');
    format!(
        r#"app_url = "{app_url}"
secret = "a-test-secret-that-is-at-least-32-bytes-long"
trusted_proxies = ["127.0.0.1/32", "::1/128"]

[server]
listen = "127.0.0.1:{port}"

# Debug, with a line for every forward-auth answer: a scenario may search the whole log for
# the secrets it saw (the OIDC one does).
[log]
level = "debug"
checks = "all"

{extra_toml}

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
