//! The postern configs shipped under deploy/ for several replicas pass `postern config check`,
//! so a renamed or removed key cannot leave them broken. Their secret and users file are
//! mounted at run time (compose secret, Kubernetes Secret); here env vars point those two keys
//! at local files instead, as the env layer allows for any key.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::support::{BINARY, HASH, TempDir};

fn workspace_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// `postern config check` on `config`, with the mounted files replaced by local ones.
fn check_with_local_secrets(config: &std::path::Path) -> Output {
    let dir = TempDir::new("shipped");
    let secret = dir.write(
        "secret",
        "9f2c1e7b5a3d8c6f0e4b2a1d7c5e3f9a8b6d4c2e0f1a3b5c7d9e2f4a6b8c0d1e\n",
    );
    let users = dir.write("users", &format!("alice:{HASH}\n"));
    Command::new(BINARY)
        .args(["config", "check", "--config"])
        .arg(config)
        .env_remove("POSTERN_CONFIG")
        .env("POSTERN_SECRET_FILE", &secret)
        .env("POSTERN_USERS_FILE", &users)
        .output()
        .unwrap()
}

fn assert_valid_redis_config(what: &str, output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("redis store"),
        "{what} fails `postern config check` ({}):\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_compose_config_is_valid() {
    let output = check_with_local_secrets(&workspace_file("deploy/compose/postern.toml"));
    assert_valid_redis_config("deploy/compose/postern.toml", &output);
}

#[test]
fn the_kubernetes_configmap_holds_a_valid_config() {
    let manifest = std::fs::read_to_string(workspace_file("deploy/k8s/configmap.yaml")).unwrap();
    let dir = TempDir::new("configmap");
    let config = dir.write("postern.toml", &block_scalar(&manifest, "postern.toml"));
    let output = check_with_local_secrets(&config);
    assert_valid_redis_config("the postern.toml in deploy/k8s/configmap.yaml", &output);
}

/// The text of a YAML literal block (`key: |`): the lines indented deeper than the key, with
/// that indentation removed. Enough for the one ConfigMap, without a YAML parser.
pub fn block_scalar(yaml: &str, key: &str) -> String {
    let mut lines = yaml.lines();
    let header = lines
        .by_ref()
        .find(|line| line.trim_start() == format!("{key}: |"))
        .unwrap_or_else(|| panic!("no `{key}: |` block"));
    let key_indent = header.len() - header.trim_start().len();
    let body: Vec<&str> = lines
        .take_while(|line| {
            line.trim().is_empty() || line.len() - line.trim_start().len() > key_indent
        })
        .collect();
    let indent = body
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    body.iter()
        .map(|line| line.get(indent..).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn the_packaged_config_is_valid() {
    let output = check_with_local_secrets(&workspace_file("deploy/debian/postern.toml"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("memory store"),
        "deploy/debian/postern.toml fails `postern config check` ({}):\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_traefik_compose_config_is_valid() {
    let output = Command::new(BINARY)
        .args(["config", "check", "--config"])
        .arg(workspace_file("deploy/traefik/postern.toml"))
        .env_remove("POSTERN_CONFIG")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every `./file` a compose file in deploy/ mounts is in deploy/ next to it, or the file's
/// own instructions make it (`... > users` in a comment).
#[test]
fn every_file_a_compose_file_mounts_is_shipped() {
    let deploy = workspace_file("deploy");
    let mut missing = Vec::new();
    for folder in std::fs::read_dir(&deploy).unwrap() {
        let folder = folder.unwrap().path();
        let compose = folder.join("docker-compose.yml");
        let Ok(text) = std::fs::read_to_string(&compose) else {
            continue;
        };
        for line in text.lines().map(str::trim) {
            let Some(mount) = line.strip_prefix("- ./") else {
                continue;
            };
            let source = mount.split(':').next().unwrap_or_default();
            let made_by_the_user = text.lines().any(|line| {
                line.trim_start().starts_with('#') && line.contains(&format!("> {source}"))
            });
            if !folder.join(source).exists() && !made_by_the_user {
                missing.push(format!("{}: ./{source}", compose.display()));
            }
        }
    }
    assert!(missing.is_empty(), "mounted but not shipped: {missing:?}");
}
