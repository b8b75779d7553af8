//! Every commented block in deploy/ works when a user uncomments it (the proxies' portal
//! blocks are loaded by the e2e suite, in real nginx, traefik and caddy): here the postern
//! configs, through `postern config check`, and the fail2ban jail, through `fail2ban-client -t`.

use std::path::PathBuf;
use std::process::Command;

use crate::support::{BINARY, HASH, TempDir};

fn deploy_file(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Uncomments the one commented block whose first line is `# {first}` (any indent): it and
/// the lines after it with the same `# ` prefix.
fn uncomment(text: &str, first: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| {
            lines[i]
                .trim_start()
                .strip_prefix("# ")
                .is_some_and(|rest| rest.trim_end() == first)
        })
        .collect();
    assert_eq!(starts.len(), 1, "one commented block starting `# {first}`");
    let indent = &lines[starts[0]][..lines[starts[0]].len() - lines[starts[0]].trim_start().len()];
    let prefix = format!("{indent}# ");
    let mut in_block = true;
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            if i < starts[0] || !in_block {
                return (*line).to_owned();
            }
            match line.strip_prefix(&prefix) {
                Some(rest) => format!("{indent}{rest}"),
                None => {
                    in_block = false;
                    (*line).to_owned()
                }
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// `postern config check` on `text`, with local files for what deploy/ mounts.
fn config_check(dir: &TempDir, text: &str) -> (bool, String) {
    let secret = dir.write(
        "secret",
        "9f2c1e7b5a3d8c6f0e4b2a1d7c5e3f9a8b6d4c2e0f1a3b5c7d9e2f4a\n",
    );
    let users = dir.write("users", &format!("alice:{HASH}\n"));
    let redis_password = dir.write("redis-password", "a-redis-password\n");
    let config = dir.write("postern.toml", text);
    let output = Command::new(BINARY)
        .args(["config", "check", "--config"])
        .arg(&config)
        .env_remove("POSTERN_CONFIG")
        .env("POSTERN_SECRET_FILE", &secret)
        .env("POSTERN_USERS_FILE", &users)
        .env("POSTERN_SESSION_REDIS_PASSWORD_FILE", &redis_password)
        .output()
        .unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn the_compose_config_s_commented_timeout_works_uncommented() {
    let dir = TempDir::new("variant-compose");
    let text = uncomment(
        &deploy_file("compose/postern.toml"),
        "timeout = \"1s\"                     # default: a check answers 503 when Redis is slower",
    );
    let (valid, said) = config_check(&dir, &text);
    assert!(valid, "{said}");
}

#[test]
fn the_configmap_s_commented_blocks_work_uncommented() {
    let manifest = deploy_file("k8s/configmap.yaml");
    let password = uncomment(&manifest, "password_file = \"/run/secrets/redis/password\"");
    // Sentinel: as its comment says, the single server's `nodes` line goes.
    let sentinel = uncomment(&manifest, "mode = \"sentinel\"")
        .replace("nodes = [\"redis-0.redis:6379\"]\n", "");
    for (what, manifest) in [("password_file", password), ("sentinel", sentinel)] {
        let dir = TempDir::new(&format!("variant-k8s-{what}"));
        let text = super::shipped_configs::block_scalar(&manifest, "postern.toml");
        let (valid, said) = config_check(&dir, &text);
        assert!(valid, "{what}:\n{text}\n{said}");
    }
}

#[test]
fn the_fail2ban_file_jail_works_uncommented() {
    let dir = TempDir::new("variant-fail2ban");
    let log = dir.write("postern.log", "");
    let jail = uncomment(
        &deploy_file("fail2ban/jail.d/postern.conf"),
        "[postern-file]",
    )
    .replace("/var/log/postern/postern.log", log.to_str().unwrap());
    let conf = dir.0.join("fail2ban");
    let copied = Command::new("cp")
        .args(["-r", "/etc/fail2ban"])
        .arg(&conf)
        .status()
        .expect("fail2ban (Debian's package) is needed: run .ci/install-peers");
    assert!(copied.success());
    for entry in std::fs::read_dir(conf.join("jail.d")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    std::fs::write(
        conf.join("filter.d/postern.conf"),
        deploy_file("fail2ban/filter.d/postern.conf"),
    )
    .unwrap();
    std::fs::write(conf.join("jail.d/postern.conf"), &jail).unwrap();
    let test = Command::new("fail2ban-client")
        .arg("-c")
        .arg(&conf)
        .arg("-t")
        .output()
        .unwrap();
    assert!(
        test.status.success(),
        "{jail}\n{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    let dump = Command::new("fail2ban-client")
        .arg("-c")
        .arg(&conf)
        .arg("-d")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&dump.stdout).contains("['add', 'postern-file',"),
        "the file jail is loaded"
    );
}
