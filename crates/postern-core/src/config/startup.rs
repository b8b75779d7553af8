//! The settings that only take effect at start, as the merged file, env vars and flags gave
//! them, so a reload can say which of them changed and need a restart instead of keeping the
//! old values in silence. Only key names ever leave this module: values may be secrets.
//!
//! A key that names a file read at start (`secret_file`, `server.tls.cert_file`, an OAuth
//! provider's `client_secret_file`, `oidc.signing_keys`, ...) stands for the file's contents
//! too: a secret or certificate rotated in place, under the same path, is a change that needs a
//! restart like any other, and a reload says so.

use std::collections::BTreeMap;
use std::path::Path;

use sha2::{Digest, Sha256};
use toml::{Table, Value};

use super::schema;
use super::validate::resolve_path;

/// What a reload applies: the users and the access rules. Every other key is read at start.
const RELOADED: &[&str] = &["users", "apps", "access"];

#[derive(Clone, Default, PartialEq, Eq)]
pub struct StartupSettings(BTreeMap<String, String>);

impl std::fmt::Debug for StartupSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl StartupSettings {
    /// `base_dir`: the config file's folder, which relative paths resolve against.
    pub(super) fn of(table: &Table, base_dir: Option<&Path>) -> Self {
        let mut settings = BTreeMap::new();
        flatten(table, "", base_dir, &mut settings);
        Self(settings)
    }

    /// The keys set, unset or changed in `newer`: `ui.title`, `server.listen`, `oauth.github`.
    pub fn changed(&self, newer: &Self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .0
            .iter()
            .filter(|(key, value)| newer.0.get(*key) != Some(value))
            .map(|(key, _)| key.clone())
            .chain(
                newer
                    .0
                    .keys()
                    .filter(|key| !self.0.contains_key(*key))
                    .cloned(),
            )
            .collect();
        keys.sort();
        keys
    }
}

fn flatten(
    table: &Table,
    prefix: &str,
    base_dir: Option<&Path>,
    settings: &mut BTreeMap<String, String>,
) {
    for (name, value) in table {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if RELOADED.contains(&path.as_str()) {
            continue;
        }
        match value {
            // Sections hold keys; `oauth` holds one table per provider, named as a whole.
            Value::Table(inner) if schema::SECTIONS.contains(&path.as_str()) || path == "oauth" => {
                flatten(inner, &path, base_dir, settings);
            }
            other => {
                let mut text = other.to_string();
                add_file_contents(&path, other, base_dir, &mut text);
                settings.insert(path, text);
            }
        }
    }
}

/// Whether the key at `path` names files postern reads only at start. Not `users_file`: a
/// reload reads it again (only naming another file needs a restart).
fn names_files(path: &str) -> bool {
    (path.ends_with("_file") && path != "users_file") || path.ends_with("signing_keys")
}

/// Appends to `text` a fingerprint of every file `value` names (itself, when `path` names
/// files; the `*_file` keys of a table, such as an OAuth provider's), in order.
fn add_file_contents(path: &str, value: &Value, base_dir: Option<&Path>, text: &mut String) {
    match value {
        Value::String(file) if names_files(path) => text.push_str(&fingerprint(file, base_dir)),
        Value::Array(files) if names_files(path) => {
            for file in files.iter().filter_map(Value::as_str) {
                text.push_str(&fingerprint(file, base_dir));
            }
        }
        Value::Table(table) => {
            for (name, inner) in table {
                add_file_contents(name, inner, base_dir, text);
            }
        }
        _ => {}
    }
}

/// Files read for their fingerprint at most this big: secrets, keys and certificates are a
/// few KiB; anything larger stands by its size alone.
const MOST_FINGERPRINTED: u64 = 1 << 20;

/// ` sha256:<hex>` of the file's bytes without the line ends that close them (the loader
/// trims those off a secret, so adding or dropping a final newline changes nothing); for what
/// is not read (not a regular file, e.g. a FIFO that would block the read, or larger than
/// `MOST_FINGERPRINTED`) its size; ` unreadable` when it cannot be read (a reload that can
/// read it then counts as a change).
fn fingerprint(file: &str, base_dir: Option<&Path>) -> String {
    let path = resolve_path(base_dir, file);
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_file() && meta.len() <= MOST_FINGERPRINTED => {
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let end = bytes
                        .iter()
                        .rposition(|byte| !matches!(byte, b'\n' | b'\r'))
                        .map_or(0, |last| last + 1);
                    format!(" sha256:{:x}", Sha256::digest(&bytes[..end]))
                }
                Err(_) => " unreadable".to_owned(),
            }
        }
        Ok(meta) => format!(" {} bytes, not read", meta.len()),
        Err(_) => " unreadable".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> StartupSettings {
        StartupSettings::of(&text.parse::<Table>().unwrap(), None)
    }

    #[test]
    fn names_the_start_up_keys_that_changed_and_ignores_what_reloads() {
        let before = settings(
            "app_url = \"https://a.example.com\"\n[ui]\ntitle = \"one\"\n[access]\ndefault_policy = \"allow\"\n\
             [oauth.github]\nclient_id = \"a\"\n[[apps]]\nname = \"x\"\n",
        );
        let after = settings(
            "app_url = \"https://a.example.com\"\n[ui]\ntitle = \"two\"\n[server]\nlisten = \"0.0.0.0:1\"\n\
             [access]\ndefault_policy = \"deny\"\n[oauth.github]\nclient_id = \"b\"\n[[apps]]\nname = \"y\"\n",
        );
        assert_eq!(
            before.changed(&after),
            ["oauth.github", "server.listen", "ui.title"]
        );
        assert!(before.changed(&before.clone()).is_empty());
    }

    /// A file rotated in place (same path, new contents) is a change of its key, for a key
    /// of its own, a list of files and a file named inside an OAuth provider's table; not
    /// for `users_file`, which a reload reads again.
    #[test]
    fn a_file_rotated_under_the_same_path_is_a_change() {
        let dir = std::env::temp_dir().join(format!("postern-startup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, contents: &str| {
            let path = dir.join(name);
            std::fs::write(&path, contents).unwrap();
            path.display().to_string()
        };
        let (secret, key, client) = (
            file("secret", "one"),
            file("key.pem", "one"),
            file("client", "one"),
        );
        let users = file("users", "one");
        let text = format!(
            "secret_file = {secret:?}\nusers_file = {users:?}\n[oidc]\nsigning_keys = [{key:?}]\n\
             [oauth.github]\nclient_secret_file = {client:?}\n"
        );
        let before = settings(&text);
        assert!(before.changed(&settings(&text)).is_empty());
        file("secret", "one\r\n");
        assert!(
            before.changed(&settings(&text)).is_empty(),
            "a final newline is no change"
        );
        file("secret", "one ");
        assert_eq!(
            before.changed(&settings(&text)),
            ["secret_file"],
            "a final space is part of the secret, as the loader reads it"
        );
        file("secret", "one");
        file("secret", "two");
        file("key.pem", "two");
        file("client", "two");
        file("users", "two");
        let after = settings(&text);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            before.changed(&after),
            ["oauth.github", "oidc.signing_keys", "secret_file"]
        );
    }

    #[test]
    fn debug_shows_key_names_only() {
        let text = format!("{:?}", settings("secret = \"hunter2-hunter2\"\n"));
        assert!(
            text.contains("secret") && !text.contains("hunter2"),
            "{text}"
        );
    }
}
