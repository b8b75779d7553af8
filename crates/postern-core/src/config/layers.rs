//! Builds one TOML table from the file, the env vars and the CLI flags, checking every key
//! against the schema on the way (unknown keys and wrong types are all reported).

use toml::{Table, Value};

use super::Sources;
use super::schema::{self, Kind};
use crate::duration::HumanDuration;

pub(super) fn merge(sources: &Sources<'_>, problems: &mut Vec<String>) -> Option<Table> {
    let mut table = match sources.file {
        Some((text, path)) => match text.parse::<Table>() {
            Ok(table) => table,
            Err(err) => {
                let why = super::syntax_error::describe(&err, text);
                problems.push(format!("{}: {why}", path.display()));
                return None;
            }
        },
        None => Table::new(),
    };
    check_table(&mut table, "", problems);
    for key in schema::KEYS {
        let Some(env_name) = key.env_name() else {
            continue;
        };
        if let Some(text) = sources.env.var(&env_name) {
            match typed_value(key.kind, &text) {
                Ok(value) => insert(&mut table, key.path, value),
                Err(why) => problems.push(format!("{env_name}: {why}")),
            }
        }
    }
    overlay_provider_env(&mut table, sources, problems);
    refuse_unknown_env(&table, sources, problems);
    for (path, text) in sources.cli {
        match schema::find(path).map(|key| typed_value(key.kind, text)) {
            Some(Ok(value)) => insert(&mut table, path, value),
            Some(Err(why)) => problems.push(format!(
                "--{}: {why}",
                path.rsplit('.').next().unwrap_or(path)
            )),
            None => problems.push(format!("internal: CLI flag for unknown key `{path}`")),
        }
    }
    Some(table)
}

/// `POSTERN_OAUTH_<ID>_<KEY>` for each provider the file declares (ids upper-cased, `-` as
/// `_`), so a client secret can come from the environment. Ids are open-ended, so only declared
/// ones are looked up.
fn overlay_provider_env(table: &mut Table, sources: &Sources<'_>, problems: &mut Vec<String>) {
    let Some(Value::Table(providers)) = table.get_mut("oauth") else {
        return;
    };
    for (id, provider) in providers.iter_mut() {
        let Value::Table(fields) = provider else {
            continue;
        };
        for (key, _, kind) in OAUTH_KEYS {
            let env_name = provider_env_name(id, key);
            if let Some(text) = sources.env.var(&env_name) {
                match typed_value(*kind, &text) {
                    Ok(value) => {
                        fields.insert((*key).to_owned(), value);
                    }
                    Err(why) => problems.push(format!("{env_name}: {why}")),
                }
            }
        }
    }
}

/// A misspelt `POSTERN_*` variable is refused like a misspelt key, not silently ignored.
/// Known: every key's variable, `POSTERN_CONFIG`, and the provider variables of the ids the
/// file declares.
fn refuse_unknown_env(table: &Table, sources: &Sources<'_>, problems: &mut Vec<String>) {
    let mut known: Vec<String> = schema::KEYS
        .iter()
        .filter_map(schema::Key::env_name)
        .collect();
    known.push("POSTERN_CONFIG".to_owned());
    // Not postern's, but named so by its own project: the postern address in
    // deploy/caddy/Caddyfile, and the test suite's store switch.
    known.extend(["POSTERN_UPSTREAM", "POSTERN_TEST_STORE"].map(str::to_owned));
    if let Some(Value::Table(providers)) = table.get("oauth") {
        for id in providers.keys() {
            known.extend(
                OAUTH_KEYS
                    .iter()
                    .map(|(key, _, _)| provider_env_name(id, key)),
            );
        }
    }
    let mut unknown: Vec<String> = sources
        .env
        .names()
        .into_iter()
        .filter(|name| {
            name.starts_with("POSTERN_")
                && !known.contains(name)
                && !is_kubernetes_service_link(name)
                && !is_docker_link(name)
        })
        .collect();
    unknown.sort();
    for name in unknown {
        let hint = schema::closest(&name, known.iter().map(String::as_str))
            .map(|known| format!(" (did you mean `{known}`?)"))
            .unwrap_or_default();
        problems.push(format!("unknown environment variable `{name}`{hint}"));
    }
}

/// Kubernetes gives every pod `<SERVICE>_SERVICE_HOST`, `<SERVICE>_SERVICE_PORT[_<name>]`,
/// `<SERVICE>_PORT` and `<SERVICE>_PORT_<port>_<TCP|UDP|SCTP>[_PROTO|_PORT|_ADDR]` for every
/// Service in its namespace (`enableServiceLinks`, on by default): a Service called `postern`
/// (deploy/k8s) or `postern-redis` makes `POSTERN_*` variables postern never asked for. No key's
/// variable has these shapes, so they are no misspelling and must not stop the pod.
fn is_kubernetes_service_link(name: &str) -> bool {
    if name.ends_with("_SERVICE_HOST") || name.ends_with("_PORT") {
        return true;
    }
    if let Some((_, rest)) = name.split_once("_SERVICE_PORT") {
        return rest.is_empty() || rest.starts_with('_');
    }
    name.split("_PORT_").skip(1).any(|rest| {
        let digits = rest.len()
            - rest
                .trim_start_matches(|ch: char| ch.is_ascii_digit())
                .len();
        let protocol = rest
            .get(digits..)
            .and_then(|rest| rest.strip_prefix('_'))
            .unwrap_or_default();
        let (protocol, field) = protocol.split_once('_').unwrap_or((protocol, ""));
        digits > 0
            && matches!(protocol, "TCP" | "UDP" | "SCTP")
            && matches!(field, "" | "PROTO" | "PORT" | "ADDR")
    })
}

/// Docker's legacy links for a container called `postern` (`POSTERN_NAME`, `POSTERN_ENV_*`):
/// set by the engine, not meant for postern.
fn is_docker_link(name: &str) -> bool {
    name == "POSTERN_NAME" || name.starts_with("POSTERN_ENV_")
}

/// `POSTERN_OAUTH_GOOGLE_CLIENT_SECRET` for `[oauth.google]` `client_secret`.
pub(super) fn provider_env_name(id: &str, key: &str) -> String {
    format!("POSTERN_OAUTH_{}_{}", id.replace('-', "_"), key).to_uppercase()
}

/// Env and CLI values are text; give them the type the schema says.
fn typed_value(kind: Kind, text: &str) -> Result<Value, String> {
    match kind {
        Kind::Str | Kind::Secret => Ok(Value::String(text.to_owned())),
        Kind::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Value::Boolean(true)),
            "false" | "0" | "no" | "off" => Ok(Value::Boolean(false)),
            _ => Err(format!("`{text}` is not true or false")),
        },
        Kind::Int => text
            .trim()
            .parse::<u32>()
            .map(|number| Value::Integer(i64::from(number)))
            .map_err(|_| format!("`{text}` is not a whole number, 0 or more")),
        Kind::Duration => text
            .parse::<HumanDuration>()
            .map(|_| Value::String(text.trim().to_owned()))
            .map_err(|err| err.to_string()),
        Kind::List => Ok(Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Value::String(item.to_owned()))
                .collect(),
        )),
        Kind::Tables | Kind::Table | Kind::NamedTables => {
            Err("cannot be set from an env var; use the config file".to_owned())
        }
    }
}

fn insert(table: &mut Table, path: &str, value: Value) {
    let mut current = table;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            current.insert(part.to_owned(), value);
            return;
        }
        let entry = current
            .entry(part.to_owned())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        let Value::Table(next) = entry else { return };
        current = next;
    }
}

/// Reports every unknown key and wrongly typed value, and drops them from the table, so the
/// rest of the config is still checked (and every problem listed at once).
fn check_table(table: &mut Table, prefix: &str, problems: &mut Vec<String>) {
    let mut rejected = Vec::new();
    for (name, value) in table.iter_mut() {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if schema::SECTIONS.contains(&path.as_str()) {
            match value {
                Value::Table(inner) => check_table(inner, &path, problems),
                _ => {
                    problems.push(format!("`{path}` must be a table ([{path}])"));
                    rejected.push(name.clone());
                }
            }
            continue;
        }
        let Some(key) = schema::find(&path) else {
            let hint = schema::suggestion(&path)
                .map(|known| format!(" (did you mean `{known}`?)"))
                .unwrap_or_default();
            problems.push(format!("unknown key `{path}`{hint}"));
            rejected.push(name.clone());
            continue;
        };
        if let Some(expected) = type_mismatch(key.kind, value) {
            problems.push(format!("`{path}` must be {expected}"));
            rejected.push(name.clone());
        } else if key.path == "users" {
            check_tables(value, "users", USER_KEYS, problems);
        } else if key.path == "apps" {
            check_tables(value, "apps", APP_KEYS, problems);
        } else if key.path == "oidc.clients" {
            check_tables(value, "oidc.clients", OIDC_CLIENT_KEYS, problems);
        } else if key.path == "oauth" {
            check_named_tables(value, "oauth", OAUTH_KEYS, problems);
        }
    }
    for name in rejected {
        table.remove(&name);
    }
}

/// The keys of an `[[apps]]` table: (name, required, kind).
const APP_KEYS: &[(&str, bool, Kind)] = &[
    ("name", false, Kind::Str),
    ("host", true, Kind::Str),
    ("policy", false, Kind::Str),
    ("allow_users", false, Kind::List),
    ("deny_users", false, Kind::List),
    ("allow_groups", false, Kind::List),
    ("allow_ips", false, Kind::List),
    ("deny_ips", false, Kind::List),
    ("bypass_ips", false, Kind::List),
    ("public_paths", false, Kind::List),
    ("methods", false, Kind::List),
    ("headers", false, Kind::Table),
    ("upstream_basic_auth", false, Kind::Table),
    ("identity_token", false, Kind::Bool),
];

/// The keys of an `[[oidc.clients]]` table: (name, required, kind).
const OIDC_CLIENT_KEYS: &[(&str, bool, Kind)] = &[
    ("id", true, Kind::Str),
    ("secret_hash", false, Kind::Str),
    ("public", false, Kind::Bool),
    ("redirect_uris", true, Kind::List),
    ("post_logout_redirect_uris", false, Kind::List),
    ("scopes", false, Kind::List),
    ("token_endpoint_auth_method", false, Kind::Str),
    ("consent", false, Kind::Str),
    ("access_token_ttl", false, Kind::Duration),
    ("refresh_token_ttl", false, Kind::Duration),
    ("allow_users", false, Kind::List),
    ("allow_groups", false, Kind::List),
    ("two_factor", false, Kind::Bool),
    ("id_token_signed_response_alg", false, Kind::Str),
    ("require_pkce", false, Kind::Bool),
];

/// The keys of an `[oauth.<id>]` table: (name, required, kind). Which are required depends on
/// the provider, so validation says that.
pub(super) const OAUTH_KEYS: &[(&str, bool, Kind)] = &[
    ("client_id", false, Kind::Str),
    ("client_secret", false, Kind::Secret),
    ("client_secret_file", false, Kind::Str),
    ("issuer", false, Kind::Str),
    ("scopes", false, Kind::List),
    ("auth_url", false, Kind::Str),
    ("token_url", false, Kind::Str),
    ("userinfo_url", false, Kind::Str),
    ("jwks_url", false, Kind::Str),
    ("label", false, Kind::Str),
    ("groups_claim", false, Kind::Str),
    ("username_claim", false, Kind::Str),
    ("allowed_emails", false, Kind::List),
    ("allowed_domains", false, Kind::List),
    ("allowed_groups", false, Kind::List),
    ("allow_all", false, Kind::Bool),
    ("link_local_users", false, Kind::Bool),
];

/// The keys of a `[[users]]` table: (name, required, kind).
const USER_KEYS: &[(&str, bool, Kind)] = &[
    ("name", true, Kind::Str),
    ("password_hash", true, Kind::Str),
    ("email", false, Kind::Str),
    ("display_name", false, Kind::Str),
    ("groups", false, Kind::List),
    ("totp_secret", false, Kind::Str),
    ("recovery_codes", false, Kind::List),
];

/// Checks each table of an array of tables against `spec`; a table missing a required key is
/// reported and dropped.
fn check_tables(
    value: &mut Value,
    array: &str,
    spec: &[(&str, bool, Kind)],
    problems: &mut Vec<String>,
) {
    let Value::Array(tables) = value else { return };
    let mut index = 0;
    tables.retain_mut(|table| {
        index += 1;
        let Value::Table(fields) = table else {
            return false;
        };
        let label = format!("[[{array}]] #{index}");
        prune_fields(fields, &label, spec, problems);
        let missing: Vec<&str> = spec
            .iter()
            .filter(|(name, required, _)| *required && !fields.contains_key(*name))
            .map(|(name, _, _)| *name)
            .collect();
        for name in &missing {
            problems.push(format!("{label}: `{name}` is required"));
        }
        missing.is_empty()
    });
}

/// Checks each `[<section>.<id>]` table against `spec`, like `check_tables`; ids are letters,
/// digits, `-` and `_`, since they appear in URLs (`/api/oauth/login/<id>`).
fn check_named_tables(
    value: &mut Value,
    section: &str,
    spec: &[(&str, bool, Kind)],
    problems: &mut Vec<String>,
) {
    let Value::Table(named) = value else { return };
    named.retain(|id, table| {
        let label = format!("[{section}.{id}]");
        let id_ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            problems.push(format!(
                "{label}: the id must be 1 to 64 letters, digits, '-' or '_'"
            ));
            return false;
        }
        let Value::Table(fields) = table else {
            return false;
        };
        prune_fields(fields, &label, spec, problems);
        true
    });
}

/// Reports and removes a table's unknown keys and keys of the wrong type, so validation goes on
/// with the rest.
fn prune_fields(
    fields: &mut toml::map::Map<String, Value>,
    label: &str,
    spec: &[(&str, bool, Kind)],
    problems: &mut Vec<String>,
) {
    let mut rejected = Vec::new();
    for (name, field) in fields.iter() {
        match spec.iter().find(|(known, _, _)| known == name) {
            None => {
                problems.push(format!("{label}: unknown key `{name}`"));
                rejected.push(name.clone());
            }
            Some((_, _, kind)) => {
                if let Some(expected) = type_mismatch(*kind, field) {
                    problems.push(format!("{label}: `{name}` must be {expected}"));
                    rejected.push(name.clone());
                }
            }
        }
    }
    for name in rejected {
        fields.remove(&name);
    }
}

fn type_mismatch(kind: Kind, value: &Value) -> Option<&'static str> {
    let ok = match kind {
        Kind::Str | Kind::Secret => value.is_str(),
        Kind::Bool => value.is_bool(),
        Kind::Int => value.as_integer().is_some_and(|number| number >= 0),
        Kind::Duration => match value {
            Value::String(text) => text.parse::<HumanDuration>().is_ok(),
            Value::Integer(secs) => *secs >= 0,
            _ => false,
        },
        Kind::List => value
            .as_array()
            .is_some_and(|items| items.iter().all(Value::is_str)),
        Kind::Tables => value
            .as_array()
            .is_some_and(|items| items.iter().all(Value::is_table)),
        Kind::Table => value.is_table(),
        Kind::NamedTables => value
            .as_table()
            .is_some_and(|named| named.values().all(Value::is_table)),
    };
    (!ok).then_some(match kind {
        Kind::Str | Kind::Secret => "a string",
        Kind::Bool => "true or false",
        Kind::Int => "a whole number, 0 or more",
        Kind::Duration => "a duration such as \"30m\" or a number of seconds",
        Kind::List => "a list of strings",
        Kind::Tables => "a list of tables ([[...]])",
        Kind::Table => "a table ({ key = \"value\" })",
        Kind::NamedTables => "tables named by id ([section.id])",
    })
}
