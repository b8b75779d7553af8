//! postern as an OpenID Provider, driven by a certified relying-party library
//! (`openid-client` under node) against a real `postern serve`: discovery, the code flow
//! with PKCE, userinfo, refresh with rotation, introspection, revocation and end session.

use std::process::Command;

use crate::harness::oidc::node;
use crate::harness::peers::workspace_root;
use crate::harness::portal::api_login;
use crate::harness::ports::free_port;
use crate::harness::postern::Postern;

const SECRET: &str = "e2e-rp-client-secret";
const REDIRECT: &str = "https://rp.example.com/cb";
const BYE: &str = "https://rp.example.com/bye";

pub async fn openid_client_walks_the_whole_flow() {
    let rsa = workspace_root().join("crates/postern-core/src/oidc/keys/testdata/rsa-2048.pem");
    let hash = secret_hash();
    let extra = format!(
        "[oidc]\nsigning_keys = [{:?}]\n[[oidc.clients]]\nid = \"rp\"\nsecret_hash = \"{hash}\"\n\
         redirect_uris = [\"{REDIRECT}\"]\npost_logout_redirect_uris = [\"{BYE}\"]\n\
         consent = \"implicit\"\nscopes = [\"openid\", \"profile\", \"email\", \"groups\", \"offline_access\"]\n",
        rsa.display().to_string()
    );
    let postern = Postern::start_on(free_port(), &extra).await;
    let session = api_login(&postern).await;
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
    assert_eq!(seen["id_token_claims"]["sub"], "alice");
    assert_eq!(seen["id_token_claims"]["aud"], "rp");
    assert_eq!(seen["userinfo"]["sub"], "alice");
    assert_eq!(seen["userinfo"]["preferred_username"], "alice");
    assert_eq!(seen["refresh_rotated"], true);
    assert_eq!(seen["refreshed_sub"], "alice");
    assert_eq!(seen["reused_refresh"], "invalid_grant");
    assert_eq!(seen["after_reuse"], false);
    assert_eq!(seen["introspected"]["active"], true);
    assert_eq!(seen["introspected"]["client_id"], "rp");
    assert_eq!(seen["after_revoke"], false);
    assert_eq!(seen["logout_location"], format!("{BYE}?state=bye-state"));
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
