use std::collections::HashMap;
use std::path::Path;

use super::*;

const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$cG9zdGVybmR1bW15c2FsdA$Lmj0zBZrgAqoUeVTqEBuo4+4/+Ho2eQYzxOuVEMYDJE";

fn minimal() -> String {
    format!(
        "app_url = \"https://auth.example.com\"\n[[users]]\nname = \"alice\"\npassword_hash = \"{HASH}\"\n"
    )
}

fn load_with(
    text: &str,
    env: &[(&str, &str)],
    cli: &[(&'static str, String)],
) -> Result<Config, ConfigProblems> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    load(&Sources {
        file: Some((text, Path::new("/etc/postern/postern.toml"))),
        env: &env,
        cli,
    })
}

#[test]
fn a_minimal_config_gets_the_documented_defaults() {
    let config = load_with(&minimal(), &[], &[]).unwrap();
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:3000");
    assert_eq!(config.session.cookie_name, "postern_session");
    assert_eq!(config.session.cookie_domain.as_deref(), Some("example.com"));
    assert!(config.session.secure_cookie);
    assert_eq!(
        config.session.policy,
        SessionPolicy {
            idle_timeout: 1800,
            max_lifetime: 43_200,
            remember_me_lifetime: 2_592_000
        }
    );
    assert!(config.secret.generated);
    assert_eq!(config.secret.bytes.len(), 32);
    assert_eq!(config.users.len(), 1);
    assert_eq!(
        config.portal_url("/login"),
        "https://auth.example.com/login"
    );
    assert!(
        config
            .trusted_proxies
            .contains("127.0.0.1".parse().unwrap())
    );
    assert!(config.trusted_proxies.contains("::1".parse().unwrap()));
}

#[test]
fn env_overrides_the_file_and_cli_overrides_env() {
    let text = format!("{}\n[server]\nlisten = \"127.0.0.1:1111\"\n", minimal());
    let env = [
        ("POSTERN_SERVER_LISTEN", "127.0.0.1:2222"),
        ("POSTERN_SESSION_IDLE_TIMEOUT", "5m"),
        ("POSTERN_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1"),
    ];
    let config = load_with(&text, &env, &[]).unwrap();
    assert_eq!(config.server.listen.port(), 2222);
    assert_eq!(config.session.policy.idle_timeout, 300);
    assert!(config.trusted_proxies.contains("10.9.8.7".parse().unwrap()));
    assert!(
        !config
            .trusted_proxies
            .contains("127.0.0.1".parse().unwrap())
    );
    let config = load_with(&text, &env, &[("server.listen", "127.0.0.1:3333".into())]).unwrap();
    assert_eq!(config.server.listen.port(), 3333);
}

#[test]
fn top_level_keys_come_from_env_too() {
    let text = format!("[[users]]\nname = \"alice\"\npassword_hash = \"{HASH}\"\n");
    let config = load_with(
        &text,
        &[
            ("POSTERN_APP_URL", "http://localhost:3000"),
            (
                "POSTERN_SECRET",
                "a-long-enough-secret-for-the-test-suite-123",
            ),
        ],
        &[],
    )
    .unwrap();
    assert_eq!(config.app_url.as_str(), "http://localhost:3000/");
    assert_eq!(
        config.session.cookie_domain, None,
        "localhost gets a host-only cookie"
    );
    assert!(!config.session.secure_cookie);
    assert!(!config.secret.generated);
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let text = "app_url = \"ftp://x/path\"\nsecret = \"short\"\ntrusted_proxies = [\"nonsense\"]\nlisten = 3\n\
         [server]\nlisten = \"nowhere\"\n[session]\nidle_timeout = \"forever\"\ncooky_name = \"x\"\n\
         [[users]]\nname = \"bad name\"\npassword_hash = \"plain\"\n".to_string();
    let problems = load_with(&text, &[("POSTERN_SESSION_SECURE_COOKIE", "maybe")], &[])
        .unwrap_err()
        .0;
    let joined = problems.join("\n");
    for expected in [
        "unknown key `listen`",
        "unknown key `session.cooky_name` (did you mean `session.cookie_name`?)",
        "`session.idle_timeout` must be a duration",
        "POSTERN_SESSION_SECURE_COOKIE: `maybe` is not true or false",
    ] {
        assert!(
            joined.contains(expected),
            "missing {expected:?} in:\n{joined}"
        );
    }
}

#[test]
fn semantic_problems_are_all_listed() {
    let text = "app_url = \"ftp://x/path\"\nsecret = \"short\"\ntrusted_proxies = [\"nonsense\"]\n\
         [server]\nlisten = \"nowhere\"\n[ui]\nprimary_color = \"red; } body {\"\n\
         [[users]]\nname = \"bad name\"\npassword_hash = \"plain\"\n"
        .to_string();
    let problems = load_with(&text, &[], &[]).unwrap_err().0;
    let joined = problems.join("\n");
    for expected in [
        "`app_url`",
        "at least 32",
        "`trusted_proxies`",
        "`server.listen`",
        "`ui.primary_color`",
        "name may not contain",
        "`password_hash`",
    ] {
        assert!(
            joined.contains(expected),
            "missing {expected:?} in:\n{joined}"
        );
    }
    assert!(problems.len() >= 7, "{problems:#?}");
}

#[test]
fn example_secrets_are_refused() {
    let text = format!(
        "secret = \"change-me-to-a-long-random-string-of-32-bytes-or-more\"\n{}",
        minimal()
    );
    let problems = load_with(&text, &[], &[]).unwrap_err().0;
    assert!(
        problems.iter().any(|p| p.contains("example value")),
        "{problems:?}"
    );
}

#[test]
fn cookie_domain_must_cover_the_portal() {
    let text = format!("{}[session]\ncookie_domain = \"other.com\"\n", minimal());
    let problems = load_with(&text, &[], &[]).unwrap_err().0;
    assert!(
        problems.iter().any(|p| p.contains("cookie_domain")),
        "{problems:?}"
    );
    let text = format!("{}[session]\ncookie_domain = \".Example.com\"\n", minimal());
    assert_eq!(
        load_with(&text, &[], &[])
            .unwrap()
            .session
            .cookie_domain
            .as_deref(),
        Some("example.com")
    );
}

#[test]
fn timeouts_must_be_ordered() {
    let text = format!(
        "{}[session]\nidle_timeout = \"2h\"\nmax_lifetime = \"1h\"\n",
        minimal()
    );
    let problems = load_with(&text, &[], &[]).unwrap_err().0;
    assert!(
        problems.iter().any(|p| p.contains("max_lifetime")),
        "{problems:?}"
    );
}

#[test]
fn a_config_without_users_is_refused() {
    let problems = load_with("app_url = \"https://auth.example.com\"\n", &[], &[])
        .unwrap_err()
        .0;
    assert!(
        problems.iter().any(|p| p.contains("no users")),
        "{problems:?}"
    );
}

#[test]
fn invalid_toml_is_a_problem_not_a_panic() {
    let problems = load_with("app_url = \"unterminated\n[[[", &[], &[])
        .unwrap_err()
        .0;
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("postern.toml"), "{problems:?}");
}

/// The parser's own message quotes the line; a config problem never does (it may hold a
/// secret, and a failed reload logs it).
#[test]
fn a_syntax_error_on_a_secret_s_line_does_not_print_the_secret() {
    let text = "app_url = \"https://auth.example.com\"\nsecret = \"do-not-print-me\\q\"\n";
    let problems = load_with(text, &[], &[]).unwrap_err().0;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("line 2, column"), "{problems:?}");
    assert!(!problems[0].contains("do-not-print-me"), "{problems:?}");
}

#[test]
fn every_key_has_an_env_name_except_tables() {
    for key in schema::KEYS {
        match key.kind {
            schema::Kind::Tables | schema::Kind::NamedTables => {
                assert!(key.env_name().is_none());
            }
            _ => assert!(key.env_name().unwrap().starts_with("POSTERN_")),
        }
    }
    assert_eq!(
        schema::find("server.tls.cert_file")
            .unwrap()
            .env_name()
            .unwrap(),
        "POSTERN_SERVER_TLS_CERT_FILE"
    );
}

#[test]
fn unknown_keys_and_type_errors_do_not_hide_the_other_problems() {
    let text = "app_url = \"ftp://x\"\nsecret = \"short\"\nbogus = 1\n[session]\nmax_sessions = -5\nidle_timeout = \"1s\"\n\
                [[users]]\nname = \"alice\"\npassword_hash = \"plain\"\nshoe_size = 44\n[[users]]\nname = \"bob\"\n";
    let problems = load_with(text, &[], &[]).unwrap_err().0;
    let joined = problems.join("\n");
    for expected in [
        "unknown key `bogus`",
        "`session.max_sessions` must be a whole number, 0 or more",
        "[[users]] #1: unknown key `shoe_size`",
        "[[users]] #2: `password_hash` is required",
        "`app_url`",
        "at least 32",
        "`session.idle_timeout` must be at least 1m",
        "`password_hash`: not an argon2 or bcrypt hash",
    ] {
        assert!(
            joined.contains(expected),
            "missing {expected:?} in:\n{joined}"
        );
    }
    assert_eq!(
        problems.iter().filter(|p| p.contains("bogus")).count(),
        1,
        "each problem once: {problems:#?}"
    );
}

#[test]
fn the_session_cookie_cannot_take_the_login_forms_cookie_name() {
    let text = format!("{}[session]\ncookie_name = \"postern_csrf\"\n", minimal());
    let problems = load_with(&text, &[], &[]).unwrap_err().0;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("login form uses that cookie")),
        "{problems:?}"
    );
}

#[test]
fn shared_emails_and_weak_totp_secrets_are_refused() {
    let text = format!(
        "{}email = \"alice@example.com\"\n[[users]]\nname = \"bob\"\npassword_hash = \"{HASH}\"\nemail = \"ALICE@example.com\"\ntotp_secret = \"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\"\n[[users]]\nname = \"carol\"\npassword_hash = \"{HASH}\"\ntotp_secret = \"JBSWY3DPEHPK3PXP\"\n",
        minimal()
    );
    let problems = load_with(&text, &[], &[]).unwrap_err().0;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("belongs to more than one user")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`totp_secret` is shorter than 128 bits")),
        "{problems:?}"
    );
}

#[test]
fn a_toml_users_file_holds_full_users() {
    let dir = std::env::temp_dir().join(format!("postern-users-toml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("users.toml"),
        format!("[[users]]\nname = \"carol\"\npassword_hash = \"{HASH}\"\nemail = \"carol@example.com\"\ngroups = [\"ops\"]\n"),
    )
    .unwrap();
    let config = load(&Sources {
        file: Some((
            &format!("users_file = \"users.toml\"\n{}", minimal()),
            &dir.join("postern.toml"),
        )),
        env: &HashMap::<String, String>::new(),
        cli: &[],
    })
    .unwrap();
    let carol = config.users.get("carol").unwrap();
    assert_eq!(carol.groups, ["ops"]);
    assert!(carol.from_users_file);
    assert!(!config.users.get("alice").unwrap().from_users_file);
    std::fs::write(
        dir.join("users.toml"),
        "[[users]]\nname = \"dave\"\npassword_hash = \"plain\"\nhobby = 1\n",
    )
    .unwrap();
    let problems = load(&Sources {
        file: Some((
            &format!("users_file = \"users.toml\"\n{}", minimal()),
            &dir.join("postern.toml"),
        )),
        env: &HashMap::<String, String>::new(),
        cli: &[],
    })
    .unwrap_err()
    .0;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("users.toml") && p.contains("hobby")),
        "{problems:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn misspelt_postern_env_vars_are_refused_with_a_hint() {
    let env = [
        ("POSTERN_SERVER_LISTN", "127.0.0.1:1"),
        ("POSTERN_CONFIG", "/etc/postern/postern.toml"),
        ("POSTERN_LOG_LEVEL", "debug"),
        ("PATH", "/usr/bin"),
    ];
    let problems = load_with(&minimal(), &env, &[]).unwrap_err().0;
    assert_eq!(
        problems,
        vec![
            "unknown environment variable `POSTERN_SERVER_LISTN` (did you mean `POSTERN_SERVER_LISTEN`?)"
                .to_owned()
        ]
    );
}

#[test]
fn kubernetes_service_link_variables_are_not_refused() {
    // What the kubelet injects for the Services `postern` (deploy/k8s) and `postern-redis`.
    let env = [
        ("POSTERN_SERVICE_HOST", "10.0.0.7"),
        ("POSTERN_SERVICE_PORT", "3000"),
        ("POSTERN_SERVICE_PORT_HTTP", "3000"),
        ("POSTERN_PORT", "tcp://10.0.0.7:3000"),
        ("POSTERN_PORT_3000_TCP", "tcp://10.0.0.7:3000"),
        ("POSTERN_PORT_3000_TCP_PROTO", "tcp"),
        ("POSTERN_PORT_3000_TCP_PORT", "3000"),
        ("POSTERN_PORT_3000_TCP_ADDR", "10.0.0.7"),
        ("POSTERN_REDIS_SERVICE_HOST", "10.0.0.8"),
        ("POSTERN_REDIS_PORT_6379_TCP_ADDR", "10.0.0.8"),
    ];
    assert!(load_with(&minimal(), &env, &[]).is_ok());
    // A misspelling next to them is still refused.
    let env = [
        ("POSTERN_PORT_3000_TCP", "x"),
        ("POSTERN_SERVER_PORT_X", "1"),
    ];
    let problems = load_with(&minimal(), &env, &[]).unwrap_err().0;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("POSTERN_SERVER_PORT_X"),
        "{problems:?}"
    );
}

#[test]
fn kubernetes_and_docker_link_variables_of_a_postern_service_are_not_config() {
    let env = [
        ("POSTERN_SERVICE_HOST", "10.0.0.7"),
        ("POSTERN_SERVICE_PORT", "80"),
        ("POSTERN_SERVICE_PORT_HTTP", "80"),
        ("POSTERN_PORT", "tcp://10.0.0.7:80"),
        ("POSTERN_PORT_80_TCP", "tcp://10.0.0.7:80"),
        ("POSTERN_PORT_80_TCP_PROTO", "tcp"),
        ("POSTERN_PORT_80_TCP_PORT", "80"),
        ("POSTERN_PORT_80_TCP_ADDR", "10.0.0.7"),
        ("POSTERN_NAME", "/web/postern"),
        ("POSTERN_ENV_TZ", "UTC"),
    ];
    assert!(load_with(&minimal(), &env, &[]).is_ok());
    let problems = load_with(&minimal(), &[("POSTERN_PORTS", "1")], &[])
        .unwrap_err()
        .0;
    assert!(problems[0].contains("`POSTERN_PORTS`"), "{problems:?}");
}

#[test]
fn provider_env_vars_are_known_only_for_declared_providers() {
    let text = format!(
        "{}[oauth.github]\nclient_id = \"a\"\nallow_all = true\n",
        minimal()
    );
    let declared = [("POSTERN_OAUTH_GITHUB_CLIENT_SECRET", "s")];
    assert!(load_with(&text, &declared, &[]).is_ok());
    let undeclared = [("POSTERN_OAUTH_GITLAB_CLIENT_SECRET", "s")];
    let problems = load_with(&text, &undeclared, &[]).unwrap_err().0;
    assert!(
        problems[0].contains("`POSTERN_OAUTH_GITLAB_CLIENT_SECRET` (did you mean `POSTERN_OAUTH_GITHUB_CLIENT_SECRET`?)"),
        "{problems:?}"
    );
}

#[test]
fn apps_outside_the_cookie_domain_are_warned_about() {
    let text = format!(
        "{}[[apps]]\nhost = \"wiki.example.com\"\n[[apps]]\nname = \"grafana\"\nhost = \"grafana.other.org\"\n",
        minimal()
    );
    let warnings = load_with(&text, &[], &[]).unwrap().warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("app `grafana` (grafana.other.org)")
            && warnings[0].contains("cookie domain is example.com"),
        "{}",
        warnings[0]
    );
}

#[test]
fn metrics_are_off_and_checks_are_not_logged_by_default() {
    let config = load_with(&minimal(), &[], &[]).unwrap();
    assert_eq!(config.metrics.listen, None);
    assert_eq!(config.metrics.token, None);
    assert_eq!(config.log.checks, CheckLogging::None);
}

#[test]
fn metrics_listen_token_file_and_log_checks_are_read_and_checked() {
    let dir = std::env::temp_dir().join(format!("postern-metrics-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token = dir.join("token");
    std::fs::write(&token, "a-metrics-token-of-32-characters\n").unwrap();
    let text = format!(
        "{}[metrics]\nlisten = \"127.0.0.1:9464\"\ntoken_file = \"{}\"\n[log]\nchecks = \"denied\"\n",
        minimal(),
        token.display()
    );
    let config = load_with(&text, &[], &[]).unwrap();
    assert_eq!(config.metrics.listen.unwrap().to_string(), "127.0.0.1:9464");
    assert_eq!(
        config.metrics.token.as_deref(),
        Some(&b"a-metrics-token-of-32-characters"[..])
    );
    assert_eq!(config.log.checks, CheckLogging::Denied);
    assert!(!format!("{:?}", config.metrics).contains("a-metrics-token"));

    std::fs::write(&token, "short\n").unwrap();
    let bad = format!(
        "{}[metrics]\nlisten = \"metrics.local:9464\"\ntoken_file = \"{}\"\n[log]\nchecks = \"some\"\n",
        minimal(),
        token.display()
    );
    let problems = load_with(&bad, &[], &[]).unwrap_err().0;
    for expected in ["`metrics.listen`", "at least 16", "`log.checks`"] {
        assert!(
            problems.iter().any(|problem| problem.contains(expected)),
            "{expected} in {problems:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_session_lifetime_past_ten_years_is_a_problem_not_a_panic_at_sign_in() {
    let text = format!(
        "{}[session]\nidle_timeout = \"18446744073709551615\"\nmax_lifetime = \"18446744073709551615\"\n\
         remember_me_lifetime = \"18446744073709551615\"\n",
        minimal()
    );
    let problems = load_with(&text, &[], &[]).unwrap_err().0;
    assert!(
        problems.iter().any(|p| p.contains("at most 3650d")),
        "{problems:?}"
    );
    let ten_years = format!("{}[session]\nremember_me_lifetime = \"3650d\"\n", minimal());
    assert!(load_with(&ten_years, &[], &[]).is_ok());
}
