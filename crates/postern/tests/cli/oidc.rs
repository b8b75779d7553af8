//! `postern oidc generate-key`, and `config check` on `[oidc]`.

use std::os::unix::fs::PermissionsExt;

use crate::support::*;

#[test]
fn generate_key_writes_an_owner_only_key_that_config_check_accepts() {
    let dir = TempDir::new("oidc-key");
    let key = dir.0.join("oidc.pem");
    let key_text = key.display().to_string();
    let output = run(&["oidc", "generate-key", "--out", &key_text], "");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let kid = postern_core::oidc::keys::SigningKey::from_pem(&std::fs::read(&key).unwrap())
        .unwrap()
        .kid;
    assert!(stdout.contains(&kid), "{stdout}");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Never over an existing file: the old key may still sign tokens in use.
    let before = std::fs::read(&key).unwrap();
    let again = run(&["oidc", "generate-key", "--out", &key_text], "");
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(std::fs::read(&key).unwrap(), before);

    let config = dir.write(
        "postern.toml",
        &format!(
            "{}\n[oidc]\nsigning_keys = [{key_text:?}]\n[identity_token]\nheader = \"Remote-Jwt\"\n",
            config(free_port(), "")
        ),
    );
    let checked = run(
        &["config", "check", "--config", &config.display().to_string()],
        "",
    );
    assert!(checked.status.success(), "{checked:?}");
}

#[test]
fn config_check_refuses_a_provider_without_a_usable_key() {
    let dir = TempDir::new("oidc-nokey");
    let bad = dir.write(
        "bad.pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    for oidc in [
        "[oidc]\nrequire_pkce = true\n".to_owned(),
        format!("[oidc]\nsigning_keys = [{:?}]\n", bad.display().to_string()),
    ] {
        let config = dir.write(
            "postern.toml",
            &format!("{}\n{oidc}", config(free_port(), "")),
        );
        let checked = run(
            &["config", "check", "--config", &config.display().to_string()],
            "",
        );
        assert_eq!(checked.status.code(), Some(64), "{checked:?}");
        assert!(
            String::from_utf8_lossy(&checked.stderr).contains("signing_keys"),
            "{checked:?}"
        );
    }
}

#[test]
fn users_consents_lists_and_takes_back_what_a_user_allowed() {
    let redis = postern_testkit::RedisServer::start();
    let dir = TempDir::new("oidc-consents");
    let extra = format!(
        "[session]\nstore = \"redis\"\nredis_url = \"{}\"\n",
        redis.url()
    );
    let path = dir.write("postern.toml", &config(free_port(), &extra));
    let path = path.display().to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let loaded = postern_core::config::load(&postern_core::config::Sources {
        file: Some((
            &std::fs::read_to_string(&path).unwrap(),
            std::path::Path::new(&path),
        )),
        env: &postern_core::config::NoEnv,
        cli: &[],
    })
    .unwrap();
    let postern_core::config::StoreKind::Redis(redis_config) = &loaded.session.store else {
        panic!("not redis");
    };
    let store = runtime.block_on(async { postern_store::Store::redis(redis_config).unwrap() });
    let kind = postern_store::RecordKind::OidcConsent;
    runtime
        .block_on(store.put_user_record(
            "alice",
            kind,
            "grafana",
            br#"["openid","email"]"#.to_vec(),
        ))
        .unwrap();
    let listed = run(&["users", "consents", "alice", "--config", &path], "");
    assert!(listed.status.success(), "{listed:?}");
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).trim(),
        "grafana: openid email"
    );
    let revoked = run(
        &[
            "users", "consents", "alice", "--revoke", "grafana", "--config", &path,
        ],
        "",
    );
    assert!(revoked.status.success(), "{revoked:?}");
    let left = runtime
        .block_on(store.user_record("alice", kind, "grafana"))
        .unwrap();
    assert_eq!(left, None);
    let none = run(&["users", "consents", "alice", "--config", &path], "");
    assert!(String::from_utf8_lossy(&none.stdout).contains("no OpenID client"));
}
