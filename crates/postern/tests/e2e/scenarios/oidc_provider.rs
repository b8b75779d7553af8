//! postern as an OpenID Provider, driven by a certified relying-party library
//! (`openid-client` under node) against a real `postern serve`: discovery, the code flow
//! with PKCE, userinfo, refresh with rotation, introspection, revocation and end session.

use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::StatusCode;
use sha2::{Digest, Sha256};

use crate::harness::client::{Request, path_and_query, send_to};
use crate::harness::oidc::node;
use crate::harness::peers::workspace_root;
use crate::harness::portal::api_login;
use crate::harness::postern::Postern;

const SECRET: &str = "e2e-rp-client-secret";
const REDIRECT: &str = "https://rp.example.com/cb";
const BYE: &str = "https://rp.example.com/bye";

/// postern with the RSA test key and one confidential client `rp` (implicit consent, every
/// scope), and alice signed in: the provider and her session cookie.
async fn provider_with_rp() -> (Postern, String) {
    let rsa = workspace_root().join("crates/postern-core/src/oidc/keys/testdata/rsa-2048.pem");
    let hash = secret_hash();
    let extra = format!(
        "[oidc]\nsigning_keys = [{:?}]\n[[oidc.clients]]\nid = \"rp\"\nsecret_hash = \"{hash}\"\n\
         redirect_uris = [\"{REDIRECT}\"]\npost_logout_redirect_uris = [\"{BYE}\"]\n\
         consent = \"implicit\"\nscopes = [\"openid\", \"profile\", \"email\", \"groups\", \"offline_access\"]\n",
        rsa.display().to_string()
    );
    let postern = Postern::start(&extra).await;
    let session = api_login(&postern).await;
    (postern, session)
}

pub async fn openid_client_walks_the_whole_flow() {
    let (postern, session) = provider_with_rp().await;
    let folder = workspace_root().join("crates/postern/tests/e2e/oidc");
    assert!(
        folder.join("node_modules/openid-client").is_dir(),
        "openid-client is not installed in {}: run .ci/install-peers from the workspace root",
        folder.display()
    );
    let issuer = postern.app_url().as_str().trim_end_matches('/').to_owned();
    let output = Command::new(node())
        .arg(folder.join("rp-flow.mjs"))
        .current_dir(&folder)
        .env("ISSUER", &issuer)
        .env("CLIENT_ID", "rp")
        .env("CLIENT_SECRET", SECRET)
        .env("REDIRECT_URI", REDIRECT)
        .env("POST_LOGOUT_REDIRECT_URI", BYE)
        .env("COOKIE", &session)
        .output()
        .expect("run node");
    assert!(
        output.status.success(),
        "openid-client failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        postern.log_text()
    );
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(seen["issuer"], issuer.as_str());
    assert_eq!(seen["authorize_status"], 302);
    let sub = &seen["id_token_claims"]["sub"];
    assert_subject_id(sub);
    assert_eq!(seen["id_token_claims"]["aud"], "rp");
    assert_eq!(seen["userinfo"]["sub"], *sub);
    assert_eq!(seen["userinfo"]["preferred_username"], "alice");
    assert_eq!(seen["refresh_rotated"], true);
    assert_eq!(seen["refreshed_sub"], *sub);
    assert_eq!(seen["reused_refresh"], "invalid_grant");
    assert_eq!(seen["after_reuse"], false);
    assert_eq!(seen["introspected"]["active"], true);
    assert_eq!(seen["introspected"]["client_id"], "rp");
    assert_eq!(seen["after_revoke"], false);
    assert_eq!(seen["logout_location"], format!("{BYE}?state=bye-state"));
    // postern ran at debug with every check logged: nothing it issued or was sent in
    // confidence may be in a line.
    let log = postern.log_text();
    let secrets = seen["secrets"]
        .as_array()
        .expect("the flow lists what it was issued");
    assert_eq!(secrets.len(), 11, "{secrets:?}");
    for secret in secrets
        .iter()
        .map(|s| s.as_str().expect("a string"))
        .chain([SECRET])
    {
        assert!(secret.len() >= 16, "too short to look for: {secret:?}");
        assert!(
            !log.contains(secret),
            "{secret:?} is in postern's log:\n{log}"
        );
    }
}

/// SECRET's hash, from the binary under test (`postern hash-password`).
fn secret_hash() -> String {
    let mut child = Command::new(crate::harness::postern::binary())
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("postern hash-password");
    use std::io::Write as _;
    writeln!(child.stdin.take().unwrap(), "{SECRET}").unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Headless Chromium from a client's authorization request through postern's login form and
/// its consent page (axe-core: no WCAG 2.1 AA violation) back to the client with a code that
/// the token endpoint exchanges.
pub async fn chromium_walks_sign_in_and_consent() {
    let rsa = workspace_root().join("crates/postern-core/src/oidc/keys/testdata/rsa-2048.pem");
    let hash = secret_hash();
    let extra = format!(
        "[oidc]\nsigning_keys = [{:?}]\n[[oidc.clients]]\nid = \"rp\"\nsecret_hash = \"{hash}\"\n\
         redirect_uris = [\"{REDIRECT}\"]\n",
        rsa.display().to_string()
    );
    let postern = Postern::start(&extra).await;
    let verifier = "a-pkce-verifier-of-enough-length-for-rfc-7636-43-chars";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let query = [
        ("client_id", "rp"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile email"),
        ("state", "chromium-state"),
        ("nonce", "chromium-nonce"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let mut authorize = postern.url("/oidc/authorize");
    authorize.query_pairs_mut().extend_pairs(query);
    let browser = workspace_root().join("crates/postern/tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir()
            && std::path::Path::new("/usr/bin/chromium").is_file(),
        "playwright-core or /usr/bin/chromium is missing: run .ci/install-peers"
    );
    let output = Command::new(node())
        .arg(browser.join("consent.mjs"))
        .current_dir(&browser)
        .env("AUTHORIZE_URL", authorize.as_str())
        .env("USER", crate::harness::postern::ALICE)
        .env("PASSWORD", crate::harness::postern::ALICE_PASSWORD)
        .env("REDIRECT_PREFIX", REDIRECT)
        .env("ARTIFACTS", workspace_root().join("browser-artifacts"))
        .output()
        .expect("run node");
    assert!(
        output.status.success(),
        "the consent walk failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        postern.log_text()
    );
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(seen["violations"], serde_json::json!([]), "{seen}");
    let consent = seen["consent"].as_str().unwrap();
    assert!(
        consent.contains("your email address") && consent.contains("rp"),
        "{consent}"
    );
    let landed = url::Url::parse(seen["landed"].as_str().unwrap()).unwrap();
    let params: std::collections::HashMap<String, String> =
        landed.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "chromium-state");
    let token_url = postern.url("/oidc/token");
    let exchanged = send_to(
        &token_url,
        Request::post(&path_and_query(&token_url))
            .header(
                "Authorization",
                &format!("Basic {}", STANDARD.encode(format!("rp:{SECRET}"))),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", params["code"].as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
            ]),
    )
    .await;
    assert_eq!(exchanged.status, StatusCode::OK, "{}", exchanged.describe());
    assert!(exchanged.json()["id_token"].is_string());
}

/// The second relying party, in Python (Authlib): the same code flow, the ID token verified
/// through the JWKS, userinfo and a refresh.
pub async fn authlib_walks_the_code_flow() {
    let (postern, session) = provider_with_rp().await;
    let folder = workspace_root().join("crates/postern/tests/e2e/oidc");
    let python = folder.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "Authlib's venv is missing in {}: run .ci/install-peers from the workspace root",
        folder.display()
    );
    let issuer = postern.app_url().as_str().trim_end_matches('/').to_owned();
    let output = Command::new(python)
        .arg(folder.join("rp_flow.py"))
        .env("ISSUER", &issuer)
        .env("CLIENT_ID", "rp")
        .env("CLIENT_SECRET", SECRET)
        .env("REDIRECT_URI", REDIRECT)
        .env("COOKIE", &session)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "Authlib failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        postern.log_text()
    );
    let seen: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(seen["issuer"], issuer.as_str());
    assert_eq!(seen["authorize_status"], 302);
    assert_subject_id(&seen["id_token_claims"]["sub"]);
    assert_eq!(seen["userinfo"]["sub"], seen["id_token_claims"]["sub"]);
    assert_eq!(seen["userinfo"]["email"], "alice@example.com");
    assert_eq!(seen["refresh_rotated"], true);
}

/// `sub` as postern draws it: 128 random bits in base64url, never the user name.
pub fn assert_subject_id(sub: &serde_json::Value) {
    let sub = sub.as_str().unwrap_or_else(|| panic!("no sub: {sub}"));
    assert_eq!(sub.len(), 22, "{sub}");
    assert!(
        sub.bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'),
        "{sub}"
    );
    assert!(!sub.to_lowercase().contains("alice"), "{sub}");
}
