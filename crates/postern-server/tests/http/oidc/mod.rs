//! postern as an OpenID Provider: the published documents and the identity token for
//! forward-auth upstreams.

mod account;
mod conformance;
mod flow;
mod identity_token;
mod published;
mod replicas;
mod rp;

use postern_testkit::TempDir;

use crate::support::*;

/// A server with `[oidc]` (a new P-256 key first, the RSA test key second) and `extra` TOML.
pub async fn provider(extra: &str) -> (TestServer, TempDir) {
    let dir = TempDir::new("oidc-keys");
    (provider_in(&dir, extra).await, dir)
}

/// `provider` with its keys in `dir` (written once: replicas share them).
pub async fn provider_in(dir: &TempDir, extra: &str) -> TestServer {
    let es256 = dir.path().join("es256.pem");
    if !es256.exists() {
        dir.write(
            "es256.pem",
            &postern_core::oidc::keys::generate_p256_pem().unwrap(),
        );
    }
    let rsa = format!(
        "{}/../postern-core/src/oidc/keys/testdata/rsa-2048.pem",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = config_text(
        "https://auth.example.com",
        &format!(
            "[oidc]\nsigning_keys = [{:?}, {rsa:?}]\n{extra}",
            es256.display().to_string()
        ),
    );
    TestServer::with_config(&text).await
}
