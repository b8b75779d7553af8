//! The files that hold secrets, and whether every user of the machine may read them. `config
//! check` prints and `serve` logs a warning for each (`Config::warnings`); it does not refuse:
//! Kubernetes mounts secrets readable by all unless `defaultMode` says otherwise, and a
//! refusal there would only stop postern from starting. A file its group may read is not
//! warned about: root-owned and readable by postern's group is how the Debian package keeps
//! the users file.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use super::validate::resolve_path;

/// Keys that name one file holding a secret (password hashes count: they can be cracked).
const ONE_FILE: &[&str] = &[
    "secret_file",
    "users_file",
    "server.tls.key_file",
    "session.redis.password_file",
    "metrics.token_file",
];

/// `(key, path)` of every secret file the merged configuration names: `ONE_FILE`, each
/// provider's `oauth.<id>.client_secret_file` and each of `oidc.signing_keys`. Relative paths
/// resolve against `base_dir`, as the loader resolves them.
pub(super) fn named(table: &Table, base_dir: Option<&Path>) -> Vec<(String, PathBuf)> {
    let resolve = |file: &str| resolve_path(base_dir, file);
    let at = |path: &str| -> Option<&Value> {
        let mut parts = path.split('.');
        let first = table.get(parts.next()?)?;
        parts.try_fold(first, |value, part| value.as_table()?.get(part))
    };
    let mut files: Vec<(String, PathBuf)> = ONE_FILE
        .iter()
        .filter_map(|key| Some(((*key).to_owned(), resolve(at(key)?.as_str()?))))
        .collect();
    if let Some(providers) = at("oauth").and_then(Value::as_table) {
        for (id, provider) in providers {
            if let Some(file) = provider.get("client_secret_file").and_then(Value::as_str) {
                files.push((format!("oauth.{id}.client_secret_file"), resolve(file)));
            }
        }
    }
    if let Some(keys) = at("oidc.signing_keys").and_then(Value::as_array) {
        for file in keys.iter().filter_map(Value::as_str) {
            files.push(("oidc.signing_keys".to_owned(), resolve(file)));
        }
    }
    files
}

/// A warning for each file of `files` that every user of the machine may read or write.
pub fn readable_by_everyone(files: &[(String, PathBuf)]) -> Vec<String> {
    files
        .iter()
        .filter_map(|(key, path)| {
            let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
            // No chmod is suggested alone: in a container the file may reach postern's user
            // through those very bits, and taking them off without a chown first locks it out.
            (mode & 0o007 != 0).then(|| {
                format!(
                    "`{key}` {} is mode {mode:o}: every user of this machine may read the secret in it. Give it to postern's user or group (chown), then take the others' access off (chmod o-rwx)",
                    path.display(),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_secret_file_and_warns_for_the_readable_ones() {
        let dir = std::env::temp_dir().join(format!("postern-secret-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, mode: u32| {
            let path = dir.join(name);
            std::fs::write(&path, "s").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        file("secret", 0o644);
        file("client", 0o600);
        file("key.pem", 0o604);
        file("users", 0o640);
        let table: Table = "secret_file = \"secret\"\nusers_file = \"users\"\n[oauth.github]\nclient_secret_file = \"client\"\n\
             [oidc]\nsigning_keys = [\"key.pem\"]\n[ui]\ntitle = \"x\"\n"
            .parse()
            .unwrap();
        let files = named(&table, Some(&dir));
        let keys: Vec<&str> = files.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "secret_file",
                "users_file",
                "oauth.github.client_secret_file",
                "oidc.signing_keys"
            ]
        );
        assert_eq!(files[0].1, dir.join("secret"));
        let warnings = readable_by_everyone(&files);
        std::fs::remove_dir_all(&dir).unwrap();
        // The users file its group may read (0640) is no warning.
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("`secret_file`") && warnings[0].contains("mode 644"));
        assert!(warnings[0].contains("chmod o-rwx"), "{}", warnings[0]);
        assert!(warnings[1].starts_with("`oidc.signing_keys`") && warnings[1].contains("mode 604"));
    }
}
