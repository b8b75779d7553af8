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
                problems.push(format!("{}: {}", path.display(), err.to_string().trim()));
                return None;
            }
        },
        None => Table::new(),
    };
    check_table(&table, "", problems);
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
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| format!("`{text}` is not a whole number")),
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
        Kind::Tables => Err("cannot be set from an env var; use the config file".to_owned()),
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

fn check_table(table: &Table, prefix: &str, problems: &mut Vec<String>) {
    for (name, value) in table {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        if schema::SECTIONS.contains(&path.as_str()) {
            match value {
                Value::Table(inner) => check_table(inner, &path, problems),
                _ => problems.push(format!("`{path}` must be a table ([{path}])")),
            }
            continue;
        }
        let Some(key) = schema::find(&path) else {
            let hint = schema::suggestion(&path)
                .map(|known| format!(" (did you mean `{known}`?)"))
                .unwrap_or_default();
            problems.push(format!("unknown key `{path}`{hint}"));
            continue;
        };
        if let Some(expected) = type_mismatch(key.kind, value) {
            problems.push(format!("`{path}` must be {expected}"));
        }
    }
}

fn type_mismatch(kind: Kind, value: &Value) -> Option<&'static str> {
    let ok = match kind {
        Kind::Str | Kind::Secret => value.is_str(),
        Kind::Bool => value.is_bool(),
        Kind::Int => value.is_integer(),
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
    };
    (!ok).then_some(match kind {
        Kind::Str | Kind::Secret => "a string",
        Kind::Bool => "true or false",
        Kind::Int => "a whole number",
        Kind::Duration => "a duration such as \"30m\" or a number of seconds",
        Kind::List => "a list of strings",
        Kind::Tables => "a list of tables ([[...]])",
    })
}
