//! A signed-in user the rules refuse, in real Chromium through each real proxy: every proxy,
//! nginx included, lands them on postern's "You don't have access" page, never on the proxy's
//! bare "403 Forbidden". The browser runs `tests/browser/refused.mjs` (playwright-core and
//! Debian's chromium, installed by `.ci/install-peers`); a missing one fails the test.

use std::path::Path;
use std::process::Command;

use crate::harness::portal::api_login_as;
use crate::harness::postern::BOB;
use crate::harness::proxy::ProxyKind;
use crate::harness::stack::Stack;

const RULES: &str = r#"
[[apps]]
name = "The App"
host = "app.example.com"
allow_groups = ["admins"]
"#;

pub async fn a_refused_browser_lands_on_postern_s_no_access_page(kind: ProxyKind) {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir()
            && Path::new("/usr/bin/chromium").is_file(),
        "playwright-core or /usr/bin/chromium is missing: run .ci/install-peers"
    );
    let stack = Stack::start_with(kind, RULES).await;
    let bob = api_login_as(&stack.postern, BOB).await;
    let app = stack.proxy.url("/reports");
    let output = Command::new("node")
        .arg(browser_dir.join("refused.mjs"))
        .current_dir(&browser_dir)
        .env("APP_URL", app.as_str())
        .env("SESSION_COOKIE", &bob)
        .output()
        .expect("node runs (install Node.js)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).expect("the script's JSON");
    assert_eq!(seen["heading"], "You don't have access", "{seen}");
    assert_eq!(seen["status"], 403, "{seen}");
    let url = seen["url"].as_str().unwrap_or_default();
    assert!(
        url.contains("/unauthorized?reason=user&app=The%20App"),
        "{seen}"
    );
    assert!(
        seen["body"]
            .as_str()
            .is_some_and(|body| body.contains("signed in as bob")),
        "{seen}"
    );
}
