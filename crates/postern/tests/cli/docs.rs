//! Rule: every endpoint, config key, env var and CLI flag is in docs/ with its default. These
//! tests read the sources of truth (the schema table, the router, `--help`) and fail when
//! docs/ misses any of them.

use std::path::PathBuf;

use postern_core::config::schema::KEYS;

use crate::support::run;

fn workspace_file(path: &str) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[test]
fn every_config_key_env_var_and_default_is_documented() {
    let docs = workspace_file("docs/configuration.md");
    let mut missing = Vec::new();
    for key in KEYS {
        let name = key.path.rsplit('.').next().unwrap();
        if !docs.contains(&format!("`{name}`")) && !docs.contains(&format!("`{}`", key.path)) {
            missing.push(format!("key {}", key.path));
        }
        if let Some(env) = key.env_name().filter(|env| !docs.contains(env)) {
            missing.push(format!("env var {env}"));
        }
        if !docs.contains(key.default) {
            missing.push(format!("default {} of {}", key.default, key.path));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md misses:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_route_is_documented() {
    let docs = workspace_file("docs/api.md");
    let router = workspace_file("crates/postern-server/src/router.rs");
    let body = &router[router.find("fn route(").unwrap()..router.find("fn check_route(").unwrap()];
    let mut missing = Vec::new();
    for literal in body
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|literal| literal.starts_with('/') && !literal.ends_with('/'))
    {
        if !docs.contains(&format!("{literal}`")) && !docs.contains(&format!("{literal} ")) {
            missing.push(literal.to_owned());
        }
    }
    for proxy in ["traefik", "caddy", "nginx", "envoy"] {
        if !docs.contains(&format!("/api/auth/{proxy}")) {
            missing.push(format!("/api/auth/{proxy}"));
        }
    }
    assert!(missing.is_empty(), "docs/api.md misses routes: {missing:?}");
}

#[test]
fn every_cli_command_and_flag_is_documented() {
    let docs = workspace_file("docs/configuration.md");
    let mut missing = Vec::new();
    for command in [
        &["serve"][..],
        &["hash-password"],
        &["config", "check"],
        &["healthcheck"],
        &["explain"],
        &["totp", "generate"],
        &["users", "unlock"],
        &["users", "revoke"],
    ] {
        let title = format!("postern {}", command.join(" "));
        if !docs.contains(&title) {
            missing.push(title.clone());
        }
        let mut args = command.to_vec();
        args.push("--help");
        let help = String::from_utf8(run(&args, "").stdout).unwrap();
        for flag in help
            .split_whitespace()
            .filter(|word| word.starts_with("--") && *word != "--help")
        {
            let flag = flag.trim_end_matches(|c: char| !c.is_alphanumeric());
            if !docs.contains(flag) {
                missing.push(format!("{title} {flag}"));
            }
        }
    }
    if !docs.contains("POSTERN_CONFIG") {
        missing.push("POSTERN_CONFIG".into());
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md misses:\n{}",
        missing.join("\n")
    );
}
