//! `--version`, `hash-password`, `config check`.

use crate::support::*;

#[test]
fn version_names_the_release() {
    let output = run(&["--version"], "");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("postern {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn hash_password_prints_a_verifiable_argon2id_hash() {
    let output = run(&["hash-password"], "s3cret pass\n");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let hash = String::from_utf8(output.stdout).unwrap();
    let hash = hash.trim();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(
        postern_core::password::verify_password(hash, b"s3cret pass"),
        "the newline is not part of the password"
    );
    assert!(!postern_core::password::verify_password(
        hash,
        b"s3cret pass\n"
    ));
}

#[test]
fn hash_password_refuses_an_empty_password() {
    let output = run(&["hash-password"], "\n");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("empty"));
}

#[test]
fn config_check_warns_about_an_app_outside_the_cookie_domain() {
    let dir = TempDir::new("check-cookie-domain");
    let text = config(3000, "").replace("http://127.0.0.1:3000", "https://auth.example.com")
        + "[[apps]]\nname = \"grafana\"\nhost = \"grafana.other.org\"\n";
    let path = dir.write("postern.toml", &text);
    let output = run(&["config", "check", "--config", path.to_str().unwrap()], "");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("postern: warning: app `grafana` (grafana.other.org)")
            && stderr.contains("cookie domain is example.com"),
        "{stderr}"
    );
}

/// A secret file every user may read is valid, with a warning that says how to shut it.
#[test]
fn config_check_warns_about_a_secret_file_every_user_may_read() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = TempDir::new("check-secret-mode");
    let secret = dir.write("secret", "a-secret-file-that-is-long-enough-for-postern");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = config(3000, "secret_file = \"secret\"\n")
        .replace("secret = \"a-cli-test-secret-that-is-long-enough\"\n", "");
    let path = dir.write("postern.toml", &text);
    let check = || run(&["config", "check", "--config", path.to_str().unwrap()], "");
    let output = check();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("postern: warning: `secret_file`")
            && stderr.contains("is mode 644")
            && stderr.contains("chmod o-rwx"),
        "{stderr}"
    );
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
    let output = check();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn config_check_accepts_a_valid_file() {
    let dir = TempDir::new("check-ok");
    let path = dir.write("postern.toml", &config(3000, ""));
    let output = run(&["config", "check", "--config", path.to_str().unwrap()], "");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("configuration is valid"));
}

#[test]
fn config_check_refuses_an_rp_id_app_url_is_not_inside() {
    let dir = TempDir::new("check-rp-id");
    let text = config(3000, "").replace("http://127.0.0.1:3000", "https://auth.example.com")
        + "[webauthn]\nrp_id = \"example.org\"\n";
    let path = dir.write("postern.toml", &text);
    let output = run(&["config", "check", "--config", path.to_str().unwrap()], "");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("`webauthn.rp_id` = \"example.org\" must be app_url's host `auth.example.com` or a parent domain"),
        "{stderr}"
    );
    let inside = text.replace("example.org", "example.com");
    let path = dir.write("postern.toml", &inside);
    let output = run(&["config", "check", "--config", path.to_str().unwrap()], "");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn config_check_lists_every_problem_and_exits_64() {
    let dir = TempDir::new("check-bad");
    let path = dir.write(
        "postern.toml",
        "app_url = \"nope\"\nsecret = \"short\"\nusers_file = \"missing.txt\"\n[session]\nidle_timeout = \"soon\"\ncookie_nam = \"x\"\n",
    );
    let output = run(&["config", "check", "--config", path.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "session.idle_timeout",
        "cookie_nam",
        "did you mean `session.cookie_name`",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn config_check_refuses_an_oauth_provider_nobody_may_use() {
    let dir = TempDir::new("check-oauth");
    let path = dir.write(
        "postern.toml",
        "app_url = \"https://auth.example.com\"\n[oauth.keycloak]\nissuer = \"https://id.example.com/realms/main\"\nclient_id = \"postern\"\nclient_secret = \"s\"\n",
    );
    let output = run(&["config", "check", "--config", path.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[oauth.keycloak]: nobody may sign in") && stderr.contains("allow_all"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("no users"),
        "a provider replaces users: {stderr}"
    );
}

#[test]
fn semantic_problems_are_listed_together() {
    let dir = TempDir::new("check-semantic");
    let path = dir.write(
        "postern.toml",
        "app_url = \"nope\"\nsecret = \"short\"\nusers_file = \"missing.txt\"\n",
    );
    let output = run(&["config", "check", "--config", path.to_str().unwrap()], "");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in ["`app_url`", "at least 32", "missing.txt"] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn the_config_can_come_from_env_alone() {
    let output = std::process::Command::new(BINARY)
        .args(["config", "check"])
        .env_remove("POSTERN_CONFIG")
        .env("POSTERN_APP_URL", "https://auth.example.com")
        .env("POSTERN_SERVER_LISTEN", "0.0.0.0:9999")
        .env("POSTERN_USERS_FILE", "/nonexistent/users")
        .output()
        .unwrap();
    // The users file is missing: exit 64, and the env-provided values were read.
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/users"));
}

#[test]
fn postern_config_names_the_file() {
    let dir = TempDir::new("check-env-file");
    let path = dir.write("postern.toml", &config(3000, ""));
    let output = std::process::Command::new(BINARY)
        .args(["config", "check"])
        .env("POSTERN_CONFIG", &path)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn totp_generate_prints_a_usable_secret_and_recovery_codes_with_their_hashes() {
    let output = run(
        &["totp", "generate", "--user", "alice", "--issuer", "My Home"],
        "",
    );
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8(output.stdout).unwrap();
    let secret = text
        .lines()
        .find_map(|line| line.strip_prefix("secret: "))
        .expect("a secret line");
    assert!(
        postern_core::totp::TotpKey::parse(secret).is_ok(),
        "{secret}"
    );
    assert!(text.contains(&format!(
        "otpauth://totp/My%20Home:alice?secret={secret}&issuer=My%20Home"
    )));
    assert!(text.contains(&format!("alice:<password hash>:{secret}")));
    assert!(text.contains('█'), "no QR code drawn");
    let codes: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|line| line.len() == 11 && line.as_bytes()[5] == b'-')
        .collect();
    assert_eq!(codes.len(), 10, "{text}");
    let hashes: Vec<&str> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix('"'))
        .filter_map(|line| line.strip_suffix("\","))
        .collect();
    assert_eq!(hashes.len(), 10);
    for (code, hash) in codes.iter().zip(&hashes) {
        assert!(
            postern_core::password::verify_password(hash, code.as_bytes()),
            "{code}"
        );
    }
    let bad = run(&["totp", "generate", "--user", "a:b"], "");
    assert_eq!(bad.status.code(), Some(2));
}
