//! The defaults of the config keys, typed. Each default is written once, in `schema::KEYS`
//! (which docs/configuration.md is checked against); validation reads it from there. A default
//! that does not parse as its key's type is a mistake in that table: the tests below parse every
//! one, so it cannot ship, and the fallbacks here (zero, empty) are never reached.

use std::time::Duration;

use super::schema;
use crate::duration::HumanDuration;

/// The default text of `path`, as the schema states it.
fn stated(path: &str) -> &'static str {
    schema::find(path).map_or("", |key| key.default)
}

pub fn text(path: &str) -> String {
    stated(path).to_owned()
}

/// An integer default, in the type its key is read into.
pub fn int<T: TryFrom<u64> + Default>(path: &str) -> T {
    stated(path)
        .parse::<u64>()
        .ok()
        .and_then(|value| T::try_from(value).ok())
        .unwrap_or_default()
}

pub fn bool(path: &str) -> bool {
    stated(path) == "true"
}

pub fn duration(path: &str) -> Duration {
    stated(path)
        .parse::<HumanDuration>()
        .map_or(Duration::ZERO, |parsed| parsed.0)
}

/// A list default, written as a TOML array (`["127.0.0.1/32", "::1/128"]`).
pub fn list(path: &str) -> Vec<String> {
    toml::from_str::<ListDefault>(&format!("value = {}", stated(path)))
        .map(|parsed| parsed.value)
        .unwrap_or_default()
}

#[derive(serde::Deserialize)]
struct ListDefault {
    value: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::schema::Kind;

    /// True for a default that names a value (not "(none)", "(required)", "(parent ...)").
    fn is_value(default: &str) -> bool {
        !default.starts_with('(')
    }

    #[test]
    fn every_stated_default_parses_as_its_keys_type() {
        for key in schema::KEYS.iter().filter(|key| is_value(key.default)) {
            let parses = match key.kind {
                Kind::Int => key.default.parse::<u64>().is_ok(),
                Kind::Bool => matches!(key.default, "true" | "false"),
                Kind::Duration => key.default.parse::<HumanDuration>().is_ok(),
                Kind::List => {
                    toml::from_str::<ListDefault>(&format!("value = {}", key.default)).is_ok()
                }
                Kind::Str | Kind::Secret => !key.default.is_empty(),
                Kind::Tables | Kind::Table | Kind::NamedTables => true,
            };
            assert!(parses, "{}: default {:?}", key.path, key.default);
        }
    }

    #[test]
    fn typed_defaults_read_the_table() {
        assert_eq!(int::<u64>("limits.max_failures_per_ip"), 5);
        assert_eq!(int::<usize>("session.redis.client_cache_size"), 100_000);
        assert_eq!(
            duration("session.idle_timeout"),
            Duration::from_secs(30 * 60)
        );
        assert_eq!(
            duration("api.refresh_token_ttl"),
            Duration::from_secs(7 * 86_400)
        );
        assert!(!bool("api.basic_auth"));
        assert_eq!(text("server.listen"), "127.0.0.1:3000");
        assert_eq!(list("trusted_proxies"), ["127.0.0.1/32", "::1/128"]);
        assert_eq!(int::<u64>("no.such.key"), 0);
    }
}
