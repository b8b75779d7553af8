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
