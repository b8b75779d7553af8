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

/// Each algorithm's key loads, signs a token its own JWK verifies, and a running postern
/// publishes both in its JWKS; the default is RS256 (RSA 3072), what clients get unless they
/// ask for ES256.
#[test]
fn generate_key_makes_rsa_and_p256_keys_that_sign_and_are_published() {
    let dir = TempDir::new("oidc-key-algs");
    let mut kids = Vec::new();
    for (flags, algorithm, words) in [
        (
            &[][..],
            jsonwebtoken::Algorithm::RS256,
            "an RSA 3072 (RS256) key",
        ),
        (
            &["--alg", "ES256"][..],
            jsonwebtoken::Algorithm::ES256,
            "a P-256 (ES256) key",
        ),
    ] {
        let path = dir.0.join(format!("{algorithm:?}.pem"));
        let path_text = path.display().to_string();
        let mut args = vec!["oidc", "generate-key", "--out", &path_text];
        args.extend_from_slice(flags);
        let output = run(&args, "");
        assert!(output.status.success(), "{output:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains(words),
            "{output:?}"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let key =
            postern_core::oidc::keys::SigningKey::from_pem(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(key.algorithm, algorithm);
        if algorithm == jsonwebtoken::Algorithm::RS256 {
            let modulus = match &key.jwk().algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) => rsa.n.clone(),
                other => panic!("not an RSA JWK: {other:?}"),
            };
            // 3072 bits = 384 bytes = 512 base64url characters.
            assert_eq!(modulus.len(), 512, "{modulus}");
        }
        let signed = key
            .sign(&serde_json::json!({"sub": "x", "aud": "y"}))
            .unwrap();
        let mut validation = jsonwebtoken::Validation::new(algorithm);
        validation.set_audience(&["y"]);
        validation.required_spec_claims.clear();
        let decoding = jsonwebtoken::DecodingKey::from_jwk(key.jwk()).unwrap();
        jsonwebtoken::decode::<serde_json::Value>(&signed, &decoding, &validation).unwrap();
        kids.push((key.kid, path_text));
    }
    let port = free_port();
    let config = dir.write(
        "postern.toml",
        &config(
            port,
            &format!(
                "[oidc]\nsigning_keys = [{:?}, {:?}]\n",
                kids[0].1, kids[1].1
            ),
        ),
    );
    let _running = Running::start(&dir, &config, port);
    let answer = get(port, "/oidc/jwks", &[]).unwrap();
    assert_eq!(status(&answer), 200, "{answer}");
    for (kid, _) in &kids {
        assert!(
            answer.contains(&format!("\"kid\":\"{kid}\"")),
            "{kid}: {answer}"
        );
    }
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
    // Kept without scopes, only for its generation (codes issued before are refused).
    let left = runtime
        .block_on(store.user_record("alice", kind, "grafana"))
        .unwrap()
        .expect("the revoked consent is kept for its generation");
    let left: serde_json::Value = serde_json::from_slice(&left).unwrap();
    assert_eq!(left["revoked"], true, "{left}");
    assert_eq!(left["generation"], 1, "{left}");
    assert_eq!(left["scopes"], serde_json::json!([]), "{left}");
    let none = run(&["users", "consents", "alice", "--config", &path], "");
    assert!(String::from_utf8_lossy(&none.stdout).contains("no OpenID client"));
}

/// Signs `user` in and returns the `sub` of the identity token a check then carries.
pub(crate) fn identity_token_sub(port: u16, user: &str) -> String {
    use base64::Engine;
    let body = format!("{{\"username\":\"{user}\",\"password\":\"{PASSWORD}\"}}");
    let login = post_json(port, "/api/login", &body);
    let cookie = session_cookie(&login).unwrap_or_else(|| panic!("{login}"));
    let headers = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "app.example.com"),
        ("X-Forwarded-Uri", "/"),
        ("Cookie", cookie.as_str()),
    ];
    let answer = exchange(port, "GET", "/api/auth/traefik", &headers, "").unwrap();
    assert_eq!(status(&answer), 200, "{answer}");
    let token = answer
        .lines()
        .find_map(|line| line.strip_prefix("remote-jwt: "))
        .unwrap_or_else(|| panic!("no identity token: {answer}"));
    let payload = token.trim().split('.').nth(1).unwrap();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    let sub = claims["sub"].as_str().unwrap().to_owned();
    assert_eq!(claims["preferred_username"], user);
    assert_eq!(sub.len(), 22, "{sub}");
    sub
}

/// `sub` is never handed to another person: a user removed from `users_file` (seen by a
/// reload, or by a start after an edit made while postern was stopped) and created again is a
/// new subject; the others keep theirs, also across restarts (embedded store).
#[test]
fn a_user_removed_and_created_again_gets_a_new_sub_after_a_reload_or_a_restart() {
    let dir = TempDir::new("oidc-subjects");
    let both = format!("carol:{HASH}\ndave:{HASH}\n");
    let dave_only = format!("dave:{HASH}\n");
    dir.write("users.txt", &both);
    let port = free_port();
    let path = on_embedded(&dir, port);
    let mut running = Running::start(&dir, &path, port);
    let carol = identity_token_sub(port, "carol");
    let dave = identity_token_sub(port, "dave");
    assert_ne!(carol, dave);
    assert_eq!(identity_token_sub(port, "carol"), carol, "stable");

    // Removed and put back, with a reload seeing each change.
    dir.write("users.txt", &dave_only);
    wait_until(&running, "carol retired on reload", "user.retired");
    let reloads = |running: &Running| running.log_text().matches("users reloaded").count();
    let seen = reloads(&running);
    dir.write("users.txt", &both);
    for _ in 0..200 {
        if reloads(&running) > seen {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let after_reload = identity_token_sub(port, "carol");
    assert_ne!(after_reload, carol);
    assert_eq!(identity_token_sub(port, "dave"), dave);

    // Removed while postern is stopped: the next start retires her, id and records.
    stop(&mut running);
    let data = dir.0.join("data");
    let path_text = path.display().to_string();
    let revoked = run_in(
        &data,
        &["users", "revoke", "carol", "--config", &path_text],
        "",
    );
    assert!(revoked.status.success(), "{revoked:?}");
    let carols = || {
        let export = run_in(&data, &["store", "export", "--config", &path_text], "");
        assert!(export.status.success(), "{export:?}");
        String::from_utf8_lossy(&export.stdout)
            .lines()
            .filter(|line| line.contains("\"user\":\"carol\""))
            .count()
    };
    assert_eq!(carols(), 2, "her subject id and credentials record");
    dir.write("users.txt", &dave_only);
    let mut running = Running::start(&dir, &path, port);
    wait_until(&running, "carol retired at start", "user.retired");
    stop(&mut running);
    assert_eq!(
        carols(),
        1,
        "nothing of hers is left but the revocation in her credentials record's place"
    );
    dir.write("users.txt", &both);
    let running = Running::start(&dir, &path, port);
    let after_restart = identity_token_sub(port, "carol");
    assert_ne!(after_restart, after_reload);
    assert_ne!(after_restart, carol);
    assert_eq!(
        identity_token_sub(port, "dave"),
        dave,
        "kept across restarts"
    );
    drop(running);
}

/// A postern on the embedded store whose users come from `users.txt` in `dir`, with an
/// identity token; its config path.
pub(crate) fn on_embedded(dir: &TempDir, port: u16) -> std::path::PathBuf {
    with_identity_token(dir, port, "")
}

/// A postern on the Redis at `redis_port` whose users come from `users.txt` in `dir`, with an
/// identity token; its config path.
pub(crate) fn on_redis(dir: &TempDir, port: u16, redis_port: u16) -> std::path::PathBuf {
    with_identity_token(
        dir,
        port,
        &format!(
            "[session]\nstore = \"redis\"\n[session.redis]\nnodes = [\"127.0.0.1:{redis_port}\"]\n"
        ),
    )
}

fn with_identity_token(dir: &TempDir, port: u16, store: &str) -> std::path::PathBuf {
    let key = dir.0.join("oidc.pem");
    let key_text = key.display().to_string();
    if !key.exists() {
        let made = run(&["oidc", "generate-key", "--out", &key_text], "");
        assert!(made.status.success(), "{made:?}");
    }
    let users = dir.0.join("users.txt");
    dir.write(
        "postern.toml",
        &config(
            port,
            &format!(
                "users_file = \"{}\"\n[oidc]\nsigning_keys = [{key_text:?}]\n\
                 [identity_token]\nheader = \"Remote-Jwt\"\n{store}",
                users.display()
            ),
        ),
    )
}

/// Replicas share a Redis: one started with an older users file, which lacks a user, must not
/// destroy that user's records (a start there retires nothing); a removal a reload sees does.
#[test]
fn on_redis_a_start_without_a_user_retires_nothing_but_a_reload_that_removes_them_does() {
    let redis = postern_testkit::RedisServer::start();
    let dir = TempDir::new("retire-redis");
    let both = format!("carol:{HASH}\ndave:{HASH}\n");
    let dave_only = format!("dave:{HASH}\n");
    dir.write("users.txt", &both);
    let port = free_port();
    let path = on_redis(&dir, port, redis.port);
    let mut running = Running::start(&dir, &path, port);
    let carol = identity_token_sub(port, "carol");
    stop(&mut running);

    // A replica (or a restart) with a users file that lacks carol.
    dir.write("users.txt", &dave_only);
    let mut stale = Running::start(&dir, &path, port);
    identity_token_sub(port, "dave");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        !stale.log_text().contains("user.retired"),
        "{}",
        stale.log_text()
    );
    stop(&mut stale);
    dir.write("users.txt", &both);
    let running = Running::start(&dir, &path, port);
    assert_eq!(identity_token_sub(port, "carol"), carol, "kept");

    // A reload that sees carol go retires her.
    dir.write("users.txt", &dave_only);
    wait_until(&running, "carol retired on reload", "user.retired");
    let seen = running.log_text().matches("users reloaded").count();
    dir.write("users.txt", &both);
    wait_for_reloads(&running, seen);
    assert_ne!(identity_token_sub(port, "carol"), carol);
}

/// A retirement the store cut short (Redis stalled past its timeout) is noted and finished on
/// a later try: carol's old `sub` never comes back.
#[test]
fn a_retirement_cut_short_by_the_store_is_finished_later() {
    let redis = postern_testkit::RedisServer::start();
    let dir = TempDir::new("retire-retry");
    let both = format!("carol:{HASH}\ndave:{HASH}\n");
    dir.write("users.txt", &both);
    let port = free_port();
    let path = on_redis(&dir, port, redis.port);
    let running = Running::start(&dir, &path, port);
    let carol = identity_token_sub(port, "carol");

    // Every command waits 4 s: longer than postern's Redis timeout (1 s).
    postern_testkit::redis_cli(redis.port, &["CLIENT", "PAUSE", "4000", "ALL"]);
    dir.write("users.txt", &format!("dave:{HASH}\n"));
    wait_until(
        &running,
        "the retirement to fail",
        "removed users could not be retired yet",
    );
    assert!(!running.log_text().contains("user.retired"));
    // The next try (30 s later) finishes it.
    for _ in 0..900 {
        if running.log_text().contains("user.retired") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        running.log_text().contains("user.retired"),
        "{}",
        running.log_text()
    );
    let seen = running.log_text().matches("users reloaded").count();
    dir.write("users.txt", &both);
    wait_for_reloads(&running, seen);
    assert_ne!(identity_token_sub(port, "carol"), carol);
}

pub(crate) fn wait_for_reloads(running: &Running, seen: usize) {
    for _ in 0..200 {
        if running.log_text().matches("users reloaded").count() > seen {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no reload: {}", running.log_text());
}

pub(crate) fn stop(running: &mut Running) {
    running.terminate();
    assert!(
        running
            .wait_exit(std::time::Duration::from_secs(10))
            .is_some(),
        "postern did not stop"
    );
}

pub(crate) fn wait_until(running: &Running, what: &str, log_line: &str) {
    for _ in 0..200 {
        if running.log_text().contains(log_line) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}: {}", running.log_text());
}
