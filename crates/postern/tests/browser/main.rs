//! Real headless Chromium (Debian's `chromium`, driven by npm `playwright-core`, both installed
//! by `.ci/install-peers`) walks the password + TOTP sign-in, the signed-in, "no access" and
//! sign-out pages, and the OpenID Connect sign-in through a real oidc-provider; a sibling
//! subdomain's login form, refused (`sibling.mjs`); and the account
//! page with a user's own TOTP set-up; and passkeys with a virtual authenticator on two replicas
//! (`passkeys.rs`); in light and dark colour schemes on a desktop and a
//! phone window, with axe-core (npm) auditing every postern page for WCAG 2.1 AA. Screenshots
//! of every page land in `browser-artifacts/` at the workspace root (each walk empties its own
//! at its start; the account walk's are in `browser-artifacts/account/`). A missing node,
//! package or browser fails the test; it is never skipped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use postern_testkit::{free_port, listens_on, said_port_taken};

const BINARY: &str = env!("CARGO_BIN_EXE_postern");
const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const PASSWORD: &str = "correct horse battery staple";

/// One walk at a time: each runs a Chromium and a postern, and the machine may be small.
static ONE_WALK: Mutex<()> = Mutex::new(());

mod passkeys;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A server exited because another process took its port first (it was found free a moment
/// before, and no server here can be handed its listening socket).
struct PortTaken;

/// How many fresh ports a start tries.
const ATTEMPTS: usize = 5;

/// Runs `command` (its output to `log`) and waits until the process itself holds the socket
/// listening on `port`: another process answering there never counts.
fn start_listening(
    mut command: Command,
    log: &Path,
    port: u16,
    what: &str,
) -> Result<Server, PortTaken> {
    let output = std::fs::File::create(log).unwrap();
    let mut server = Server(
        command
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .unwrap_or_else(|err| panic!("{what} does not run: {err}")),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if server.0.try_wait().unwrap().is_some() {
            let said = std::fs::read_to_string(log).unwrap_or_default();
            if said_port_taken(&said) {
                return Err(PortTaken);
            }
            panic!("{what} exited before it listened on {port}:\n{said}");
        }
        if listens_on(server.0.id(), port) {
            return Ok(server);
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `start` on a free port, and again on a fresh one each time that port was taken.
fn on_a_free_port<T>(what: &str, mut start: impl FnMut(u16) -> Result<T, PortTaken>) -> T {
    for _ in 0..ATTEMPTS {
        if let Ok(started) = start(free_port()) {
            return started;
        }
    }
    panic!("{what}: every one of {ATTEMPTS} free ports was taken by another process first");
}

/// The walks' folder; fails the test when a part is missing.
fn browser_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        here.join("node_modules/playwright-core").is_dir()
            && here.join("node_modules/axe-core").is_dir()
            && Path::new("/usr/bin/chromium").is_file(),
        "playwright-core, axe-core or /usr/bin/chromium is missing: run .ci/install-peers"
    );
    here
}

/// Empties `dir` of its screenshots (`*.png`), leaving folders of other walks alone: an old
/// screenshot must not pass for a page that was not shown.
fn clear_screenshots(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().extension().is_some_and(|ext| ext == "png") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Starts `postern serve` on `port` with the config `config_for(port)` (written to `dir`), its
/// data and its log (`log`) under `dir`; waits until it holds `port`.
fn try_serve(
    dir: &Path,
    log: &str,
    port: u16,
    config_for: impl Fn(u16) -> String,
) -> Result<Server, PortTaken> {
    let config = dir.join(format!("{log}.toml"));
    std::fs::write(&config, config_for(port)).unwrap();
    let mut command = Command::new(BINARY);
    command
        .args(["serve", "--config"])
        .arg(&config)
        .env("POSTERN_DATA_DIR", dir.join(format!("{log}.data")))
        .stdin(Stdio::null());
    start_listening(command, &dir.join(log), port, "postern")
}

/// `try_serve` on a free port; returns the server and its port.
fn serve(dir: &Path, log: &str, config_for: impl Fn(u16) -> String) -> (Server, u16) {
    on_a_free_port("postern", |port| {
        try_serve(dir, log, port, &config_for).map(|server| (server, port))
    })
}

/// The OpenID provider (npm `oidc-provider`) on a free port, with one client whose only
/// redirect URI is `redirect_uri`; returns it and its port.
fn oidc_provider(dir: &Path, redirect_uri: &str) -> (Server, u16) {
    let oidc_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/oidc");
    assert!(
        oidc_dir.join("node_modules/oidc-provider").is_dir(),
        "oidc-provider is missing: run .ci/install-peers"
    );
    on_a_free_port("the OpenID provider", |port| {
        let mut command = Command::new("node");
        command
            .arg(oidc_dir.join("provider.mjs"))
            .current_dir(&oidc_dir)
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_CLIENT_ID", "postern-browser")
            .env("OIDC_CLIENT_SECRET", "browser-test-client-secret")
            .env("OIDC_REDIRECT_URI", redirect_uri)
            .stdin(Stdio::null());
        let log = dir.join("oidc-provider.log");
        start_listening(command, &log, port, "the OpenID provider (node)")
            .map(|server| (server, port))
    })
}

/// Runs the walk `script` with `env`; it must end by printing `ok_line`. On failure the
/// message holds its output and postern's log (`dir/postern.log`).
fn walk(script: &str, env: &[(&str, &str)], ok_line: &str, dir: &Path) {
    let here = browser_dir();
    let output = Command::new("node")
        .arg(here.join(script))
        .current_dir(&here)
        .envs(env.iter().copied())
        .output()
        .expect("node runs (install Node.js)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(ok_line),
        "{script} failed:\n{stdout}\n{stderr}\npostern log:\n{}",
        std::fs::read_to_string(dir.join("postern.log")).unwrap_or_default()
    );
}

/// Every page's screenshot in each window size and scheme is in `artifacts`.
fn assert_screenshots(artifacts: &Path, pages: &[&str]) {
    for size in ["desktop-light", "desktop-dark", "phone-light", "phone-dark"] {
        for page in pages {
            let shot = artifacts.join(format!("{size}-{page}.png"));
            assert!(
                std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000),
                "no screenshot {}",
                shot.display()
            );
        }
    }
}

#[test]
fn password_totp_and_oidc_sign_in_through_the_pages_on_desktop_and_phone() {
    let _one = ONE_WALK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Fails before anything starts when a part is missing.
    browser_dir();
    let dir = std::env::temp_dir().join(format!("postern-browser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hash = postern_core::password::hash_password(PASSWORD.as_bytes()).unwrap();
    let config = |port: u16, oidc_port: u16| {
        format!(
            "app_url = \"http://127.0.0.1:{port}\"\nsecret = \"a-browser-test-secret-long-enough-for-it\"\n\
             [limits]\nmax_failures_per_ip = 50\n\
             [server]\nlisten = \"127.0.0.1:{port}\"\n\
             [[users]]\nname = \"tess\"\npassword_hash = \"{hash}\"\ndisplay_name = \"Tess Example\"\n\
             totp_secret = \"{SECRET}\"\n\
             [[users]]\nname = \"tom\"\npassword_hash = \"{hash}\"\ntotp_secret = \"{SECRET}\"\n\
             [oauth.generic]\nissuer = \"http://127.0.0.1:{oidc_port}\"\nclient_id = \"postern-browser\"\n\
             client_secret = \"browser-test-client-secret\"\nscopes = [\"openid\", \"email\", \"profile\", \"groups\"]\n\
             allowed_groups = [\"staff\"]\nlabel = \"Example ID\"\n"
        )
    };
    // The provider knows postern's callback before postern runs: when another process takes
    // postern's port first, both start again with the next one.
    let (_provider, _server, port) = on_a_free_port("postern after its provider", |port| {
        let callback = format!("http://127.0.0.1:{port}/api/oauth/callback/generic");
        let (provider, oidc_port) = oidc_provider(&dir, &callback);
        let server = try_serve(&dir, "postern.log", port, |port| config(port, oidc_port))?;
        Ok((provider, server, port))
    });
    let artifacts = workspace().join("browser-artifacts");
    clear_screenshots(&artifacts);
    let url = format!("http://127.0.0.1:{port}");
    let artifacts_text = artifacts.display().to_string();
    walk(
        "walk.mjs",
        &[
            ("POSTERN_URL", &url),
            ("POSTERN_USERS", "tess,tom"),
            ("POSTERN_PASSWORD", PASSWORD),
            ("POSTERN_TOTP_SECRET", SECRET),
            ("ARTIFACTS", &artifacts_text),
            ("OIDC_USER", "carol"),
        ],
        "walk: ok",
        &dir,
    );
    assert_screenshots(
        &artifacts,
        &[
            "01-login",
            "02-login-error",
            "03-totp",
            "04-totp-error",
            "05-signed-in",
            "06-logout",
            "07-unauthorized",
            "08-signed-out",
            "09-provider-login",
            "10-signed-in-oidc",
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_account_page_sets_up_totp_in_chromium_on_desktop_and_phone() {
    let _one = ONE_WALK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Fails before anything starts when a part is missing.
    browser_dir();
    let dir = std::env::temp_dir().join(format!("postern-account-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hash = postern_core::password::hash_password(PASSWORD.as_bytes()).unwrap();
    let users = ["ann", "ben", "cat", "dan"];
    let (_server, port) = serve(&dir, "postern.log", |port| {
        let mut config = format!(
            "app_url = \"http://127.0.0.1:{port}\"\nsecret = \"an-account-test-secret-long-enough-for-it\"\n\
             [limits]\nmax_failures_per_ip = 50\n[server]\nlisten = \"127.0.0.1:{port}\"\n"
        );
        for user in users {
            config.push_str(&format!(
                "[[users]]\nname = \"{user}\"\npassword_hash = \"{hash}\"\n\
                 display_name = \"{user} Example\"\nemail = \"{user}@example.com\"\ngroups = [\"staff\"]\n"
            ));
        }
        config
    });
    let artifacts = workspace().join("browser-artifacts/account");
    clear_screenshots(&artifacts);
    let url = format!("http://127.0.0.1:{port}");
    let artifacts_text = artifacts.display().to_string();
    walk(
        "account.mjs",
        &[
            ("POSTERN_URL", &url),
            ("POSTERN_USERS", &users.join(",")),
            ("POSTERN_PASSWORD", PASSWORD),
            ("ARTIFACTS", &artifacts_text),
        ],
        "account walk: ok",
        &dir,
    );
    assert_screenshots(
        &artifacts,
        &[
            "11-account",
            "12-account-totp-setup",
            "13-account-totp-on",
            "14-account-recovery-codes",
            "15-account-totp-off",
            "16-account-reauth",
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A page on a sibling subdomain plants a pre-session cookie for the whole domain and posts
/// postern's login form with the attacker's credentials and that cookie's CSRF token (login
/// CSRF): real Chromium says `Sec-Fetch-Site: same-site`, and postern refuses the form. The
/// same browser then signs in from postern's own page.
#[test]
fn a_sibling_subdomain_s_login_form_is_refused_in_chromium() {
    let _one = ONE_WALK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let here = browser_dir();
    let dir = std::env::temp_dir().join(format!("postern-sibling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let hash = postern_core::password::hash_password(PASSWORD.as_bytes()).unwrap();
    // HTTPS on both sides: browsers send `Sec-Fetch-Site` to secure origins only.
    let ca = postern_testkit::TestCa::new();
    let (cert, key) = ca.issue_files("postern", &["auth.example.com"]);
    let (sibling_cert, sibling_key) = ca.issue_files("sibling", &["evil.example.com"]);
    let (_server, port) = serve(&dir, "postern.log", |port| {
        format!(
            "app_url = \"https://auth.example.com:{port}\"\nsecret = \"a-sibling-test-secret-long-enough-for-it\"\n\
             [server]\nlisten = \"127.0.0.1:{port}\"\n\
             [server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n\
             [[users]]\nname = \"mallory\"\npassword_hash = \"{hash}\"\n",
            cert.display(),
            key.display()
        )
    });
    let output = Command::new("node")
        .arg(here.join("sibling.mjs"))
        .current_dir(&here)
        .env("POSTERN_URL", format!("https://auth.example.com:{port}"))
        .env("POSTERN_DIRECT", format!("https://127.0.0.1:{port}"))
        .env("SIBLING_CERT", &sibling_cert)
        .env("SIBLING_KEY", &sibling_key)
        .env("USER", "mallory")
        .env("PASSWORD", PASSWORD)
        .output()
        .expect("node runs (install Node.js)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let log = std::fs::read_to_string(dir.join("postern.log")).unwrap_or_default();
    assert!(
        output.status.success(),
        "sibling.mjs failed:\n{stdout}\n{}\npostern log:\n{log}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let attacked = &seen["attacked"];
    assert_eq!(attacked["sessions"], 0, "signed in by the sibling: {seen}");
    assert_eq!(attacked["heading"], "Forbidden", "{seen}");
    assert!(
        attacked["body"]
            .as_str()
            .unwrap()
            .contains("This form was sent from another site"),
        "{seen}"
    );
    assert_eq!(seen["own"]["sessions"], 1, "{seen}");
    let _ = std::fs::remove_dir_all(&dir);
}
