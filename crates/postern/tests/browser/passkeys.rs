//! Passkeys in headless Chromium with a virtual authenticator (`passkeys.mjs`), against two
//! postern replicas on one real redis-server: registered on A's account page, used on B,
//! renamed and removed on B's account page, with an OpenID client allowed and revoked there.
//! Screenshots land in `browser-artifacts/passkeys/`.

use std::path::Path;

use postern_testkit::RedisServer;

use super::{
    ONE_WALK, PASSWORD, Server, assert_screenshots, browser_dir, clear_screenshots, serve, walk,
    workspace,
};

/// The OpenID client the walk allows and revokes on the account page (public, explicit
/// consent); its redirect is answered inside the browser.
pub const CLIENT_REDIRECT: &str = "https://rp.example.com/cb";

/// A replica at `http://localhost:<port>` (WebAuthn needs a domain; localhost is a secure
/// context over plain HTTP), storing everything in `redis`, an OpenID Provider with the key
/// `dir/oidc.pem`; its log is `dir/<log>`.
fn replica(dir: &Path, log: &str, redis: &RedisServer, hash: &str) -> (Server, String) {
    let key = dir.join("oidc.pem");
    if !key.exists() {
        std::fs::write(&key, postern_core::oidc::keys::generate_p256_pem().unwrap()).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
    }
    let (server, port) = serve(dir, log, |port| {
        format!(
            "app_url = \"http://localhost:{port}\"\nsecret = \"a-browser-test-secret-long-enough-for-it\"\n\
             [server]\nlisten = \"127.0.0.1:{port}\"\n\
             [session]\nstore = \"redis\"\nredis_url = \"{}\"\n\
             [oidc]\nsigning_keys = [{:?}]\n\
             [[oidc.clients]]\nid = \"walk-app\"\npublic = true\nredirect_uris = [\"{CLIENT_REDIRECT}\"]\n\
             scopes = [\"openid\", \"profile\"]\nid_token_signed_response_alg = \"ES256\"\n\
             [[users]]\nname = \"pat\"\npassword_hash = \"{hash}\"\ndisplay_name = \"Pat Example\"\n",
            redis.url(),
            key.display().to_string()
        )
    });
    (server, format!("http://localhost:{port}"))
}

#[test]
fn passkeys_on_the_account_page_sign_in_with_and_without_a_password_and_on_another_replica() {
    let _one = ONE_WALK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    browser_dir();
    let dir = std::env::temp_dir().join(format!("postern-passkeys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let redis = RedisServer::start();
    let hash = postern_core::password::hash_password(PASSWORD.as_bytes()).unwrap();
    // `walk` shows `postern.log` on failure: replica A's.
    let (_a, url_a) = replica(&dir, "postern.log", &redis, &hash);
    let (_b, url_b) = replica(&dir, "replica-b.log", &redis, &hash);
    let artifacts = workspace().join("browser-artifacts/passkeys");
    clear_screenshots(&artifacts);
    let artifacts_text = artifacts.display().to_string();
    walk(
        "passkeys.mjs",
        &[
            ("POSTERN_A", &url_a),
            ("POSTERN_B", &url_b),
            ("POSTERN_USER", "pat"),
            ("POSTERN_PASSWORD", PASSWORD),
            ("CLIENT_REDIRECT", CLIENT_REDIRECT),
            ("ARTIFACTS", &artifacts_text),
        ],
        "passkeys: ok",
        &dir,
    );
    assert_screenshots(
        &artifacts,
        &[
            "account-passkeys",
            "reauth-passkey",
            "passkey-step",
            "login-passkey",
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
}
