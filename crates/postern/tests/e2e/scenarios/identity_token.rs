//! The signed identity (`[identity_token] header = "Remote-Jwt"`) through each real proxy: the
//! app gets postern's token and never a client's, and a separate JOSE library (node `jose`)
//! verifies it through the JWKS URL that postern's discovery document names.

use std::process::Command;

use http::StatusCode;

use crate::harness::client::Request;
use crate::harness::oidc::node;
use crate::harness::peers::workspace_root;
use crate::harness::portal::api_login;
use crate::harness::postern::binary;
use crate::harness::proxy::ProxyKind;
use crate::harness::scratch::ScratchDir;
use crate::harness::stack::Stack;
use crate::harness::upstream::Echo;

const APP_HOST: &str = "app.example.com";

pub async fn the_app_gets_postern_s_token_and_jose_verifies_it(kind: ProxyKind) {
    let keys = ScratchDir::new("keys");
    let es256 = keys.join("oidc-es256.pem");
    let made = Command::new(binary())
        .args(["oidc", "generate-key", "--alg", "ES256", "--out"])
        .arg(&es256)
        .output()
        .expect("postern oidc generate-key");
    assert!(made.status.success(), "generate-key: {made:?}");
    // A second key, published but not signing: the verifier must pick the right one by kid.
    let rsa = workspace_root().join("crates/postern-core/src/oidc/keys/testdata/rsa-2048.pem");
    let extra = format!(
        "[oidc]\nsigning_keys = [{:?}, {:?}]\n[identity_token]\nheader = \"Remote-Jwt\"\n",
        es256.display().to_string(),
        rsa.display().to_string()
    );
    let stack = Stack::start_with(kind, &extra).await;
    let session = api_login(&stack.postern).await;
    let response = stack
        .proxy
        .send(
            Request::get("/whoami")
                .browser()
                .cookie(&session)
                .header("Remote-Jwt", "forged.by.client")
                .header("Remote_Jwt", "forged.by.client"),
        )
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.describe());
    let echo = Echo::parse(&response.json());
    let tokens = echo.values("remote-jwt");
    assert_eq!(tokens.len(), 1, "the app got {tokens:?}");
    assert!(echo.values("remote_jwt").is_empty(), "{}", response.text());
    assert!(
        !response.text().contains("forged.by.client"),
        "{}",
        response.text()
    );

    let discovery = stack
        .postern
        .url("/.well-known/openid-configuration")
        .to_string();
    let verified = verify(&discovery, &tokens[0], APP_HOST).unwrap_or_else(|err| {
        panic!(
            "jose refused postern's token: {err}\n{}",
            stack.postern.log_text()
        )
    });
    let payload = &verified["payload"];
    let issuer = stack
        .postern
        .app_url()
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    assert_eq!(payload["iss"], issuer.as_str());
    super::oidc_provider::assert_subject_id(&payload["sub"]);
    assert_eq!(payload["preferred_username"], "alice");
    assert_eq!(payload["aud"], APP_HOST);
    assert_eq!(payload["amr"], serde_json::json!(["pwd"]));
    assert!(payload["groups"].is_array(), "{payload}");
    let lifetime = payload["exp"].as_u64().unwrap() - payload["iat"].as_u64().unwrap();
    assert!(lifetime <= 60, "lives {lifetime} s");
    assert_eq!(verified["header"]["alg"], "ES256");

    // The same token is refused by an app that checks for its own host, and a tampered one
    // by everyone.
    let other = verify(&discovery, &tokens[0], "other.example.com").unwrap_err();
    assert!(other.contains("aud"), "{other}");
    let mut tampered = tokens[0].clone();
    tampered.insert_str(tampered.find('.').unwrap() + 1, "e30");
    assert!(verify(&discovery, &tampered, APP_HOST).is_err());

    // Without a session, a client's token never reaches the app.
    let anonymous = stack
        .proxy
        .send(
            Request::get("/whoami")
                .api_client()
                .header("Remote-Jwt", "forged.by.client"),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(stack.upstream.hits(), 1);
}

/// `Ok(JSON of header and payload)`, or jose's reason for refusing.
fn verify(discovery: &str, token: &str, audience: &str) -> Result<serde_json::Value, String> {
    let folder = workspace_root().join("crates/postern/tests/e2e/oidc");
    assert!(
        folder.join("node_modules/jose").is_dir(),
        "jose is not installed in {}: run .ci/install-peers from the workspace root",
        folder.display()
    );
    let output = Command::new(node())
        .arg(folder.join("verify-identity.mjs"))
        .args([discovery, token, audience])
        .current_dir(&folder)
        .output()
        .expect("run node");
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).expect("the script prints JSON"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}
