//! postern as an OpenID Provider: the published documents and the identity token for
//! forward-auth upstreams.

mod account;
mod conformance;
mod ended;
mod flow;
pub(crate) mod identity_token;
mod published;
mod replicas;
mod retired;
mod rotation;
pub(crate) mod rp;
mod subjects;

use postern_testkit::TempDir;

use crate::support::*;

/// The subject id (`sub`) the store holds for `user`: 128 random bits, base64url, never the
/// name.
pub async fn stored_subject(server: &TestServer, user: &str) -> String {
    let stored = server
        .state
        .store
        .user_record(user, postern_store::RecordKind::OidcSubject, "id")
        .await
        .unwrap()
        .expect("a subject id is stored once the user needed one");
    let id = String::from_utf8(stored).unwrap();
    assert_eq!(id.len(), 22, "{id}");
    assert!(!id.to_lowercase().contains(&user.to_lowercase()), "{id}");
    id
}

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
