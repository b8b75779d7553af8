//! The settings that only take effect at start, as the merged file, env vars and flags gave
//! them, so a reload can say which of them changed and need a restart instead of keeping the
//! old values in silence. Only key names ever leave this module: values may be secrets.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::schema;

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
    pub(super) fn of(table: &Table) -> Self {
        let mut settings = BTreeMap::new();
        flatten(table, "", &mut settings);
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

fn flatten(table: &Table, prefix: &str, settings: &mut BTreeMap<String, String>) {
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
                flatten(inner, &path, settings);
            }
            other => {
                settings.insert(path, other.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> StartupSettings {
        StartupSettings::of(&text.parse::<Table>().unwrap())
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

    #[test]
    fn debug_shows_key_names_only() {
        let text = format!("{:?}", settings("secret = \"hunter2-hunter2\"\n"));
        assert!(
            text.contains("secret") && !text.contains("hunter2"),
            "{text}"
        );
    }
}
