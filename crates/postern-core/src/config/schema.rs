//! Every config key postern knows, in one table: its path in the TOML file, its type, its
//! default as documented, and from it the env var name. The env overlay, the unknown-key check
//! and the docs test all read this table, so a key added here is a key everywhere.

/// The type of a key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    /// A string that must never be logged.
    Secret,
    Bool,
    Int,
    /// `"30m"`, `"12h"`, or a number of seconds.
    Duration,
    /// An array of strings; comma-separated in env vars.
    List,
    /// An array of tables (`[[users]]`, `[[apps]]`); only in files.
    Tables,
    /// A table of its own keys (`headers = { ... }`); only inside `[[apps]]`.
    Table,
    /// A table of tables named by id (`[oauth.github]`, `[oauth.keycloak]`); only in files.
    NamedTables,
}

#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// Dotted path: `app_url`, `server.listen`, `server.tls.cert_file`.
    pub path: &'static str,
    pub kind: Kind,
    /// The default, as docs/configuration.md states it.
    pub default: &'static str,
}

impl Key {
    /// `POSTERN_` + the path in upper case with `_` for `.`: `POSTERN_SERVER_TLS_CERT_FILE`.
    pub fn env_name(&self) -> Option<String> {
        (!matches!(self.kind, Kind::Tables | Kind::NamedTables))
            .then(|| format!("POSTERN_{}", self.path.replace('.', "_").to_uppercase()))
    }
}

/// Tables that hold keys (`[server]`, `[server.tls]`, ...).
pub const SECTIONS: &[&str] = &[
    "server",
    "server.tls",
    "session",
    "session.redis",
    "limits",
    "access",
    "api",
    "notify",
    "ui",
    "log",
    "metrics",
    "oidc",
    "identity_token",
    "webauthn",
    "account",
];

const fn key(path: &'static str, kind: Kind, default: &'static str) -> Key {
    Key {
        path,
        kind,
        default,
    }
}

/// Where the embedded store keeps its file (and the admin socket) unless `data_dir` says.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/postern";

pub const KEYS: &[Key] = &[
    key("app_url", Kind::Str, "(required)"),
    key("secret", Kind::Secret, "(generated at start)"),
    key("secret_file", Kind::Str, "(none)"),
    key(
        "trusted_proxies",
        Kind::List,
        "[\"127.0.0.1/32\", \"::1/128\"]",
    ),
    key("users_file", Kind::Str, "(none)"),
    key("data_dir", Kind::Str, DEFAULT_DATA_DIR),
    key("users", Kind::Tables, "[]"),
    key("server.listen", Kind::Str, "127.0.0.1:3000"),
    key("server.shutdown_timeout", Kind::Duration, "10s"),
    key("server.header_read_timeout", Kind::Duration, "10s"),
    key("server.tls.cert_file", Kind::Str, "(none)"),
    key("server.tls.key_file", Kind::Str, "(none)"),
    key("session.store", Kind::Str, "embedded"),
    key("session.cookie_name", Kind::Str, "postern_session"),
    key(
        "session.cookie_domain",
        Kind::Str,
        "(parent domain of app_url's host)",
    ),
    key(
        "session.secure_cookie",
        Kind::Bool,
        "(true when app_url is https)",
    ),
    key("session.idle_timeout", Kind::Duration, "30m"),
    key("session.max_lifetime", Kind::Duration, "12h"),
    key("session.remember_me_lifetime", Kind::Duration, "30d"),
    key("session.max_sessions", Kind::Int, "100000"),
    key("session.max_sessions_per_user", Kind::Int, "100"),
    key("session.redis_url", Kind::Secret, "(none)"),
    key("session.redis.mode", Kind::Str, "standalone"),
    key("session.redis.nodes", Kind::List, "[]"),
    key("session.redis.sentinel_master", Kind::Str, "(none)"),
    key("session.redis.key_prefix", Kind::Str, "postern:"),
    key("session.redis.username", Kind::Str, "(none)"),
    key("session.redis.password", Kind::Secret, "(none)"),
    key("session.redis.password_file", Kind::Str, "(none)"),
    key("session.redis.db", Kind::Int, "0"),
    key("session.redis.tls", Kind::Bool, "false"),
    key("session.redis.tls_ca_file", Kind::Str, "(system roots)"),
    key("session.redis.timeout", Kind::Duration, "1s"),
    key("session.redis.wait_replicas", Kind::Int, "0"),
    key("session.redis.client_cache", Kind::Bool, "false"),
    key("session.redis.client_cache_size", Kind::Int, "100000"),
    key("apps", Kind::Tables, "[]"),
    key("oauth", Kind::NamedTables, "{}"),
    key("access.default_policy", Kind::Str, "allow"),
    key("limits.max_failures_per_ip", Kind::Int, "5"),
    key("limits.failure_window", Kind::Duration, "300s"),
    key("limits.max_failures_per_user", Kind::Int, "10"),
    key("limits.user_failure_window", Kind::Duration, "900s"),
    key("limits.max_consecutive_failures_per_user", Kind::Int, "100"),
    key("limits.api_rate", Kind::Int, "20"),
    key("limits.api_burst", Kind::Int, "60"),
    key("notify.webhook_url", Kind::Secret, "(none)"),
    key("api.basic_auth", Kind::Bool, "false"),
    key("api.allow_insecure_basic", Kind::Bool, "false"),
    key("api.basic_cache_ttl", Kind::Duration, "60s"),
    key("api.access_token_ttl", Kind::Duration, "8h"),
    key("api.refresh_token_ttl", Kind::Duration, "7d"),
    key("ui.title", Kind::Str, "postern"),
    key("ui.primary_color", Kind::Str, "#3b5bdb"),
    key("ui.background_color", Kind::Str, "#f4f5f7"),
    key("log.level", Kind::Str, "info"),
    key("log.format", Kind::Str, "text"),
    key("log.checks", Kind::Str, "none"),
    key("metrics.listen", Kind::Str, "(off)"),
    key("metrics.token_file", Kind::Str, "(none)"),
    key("oidc.issuer", Kind::Str, "(app_url)"),
    key(
        "oidc.signing_keys",
        Kind::List,
        "(none: the provider is off)",
    ),
    key("oidc.require_pkce", Kind::Bool, "true"),
    key("oidc.clients", Kind::Tables, "[]"),
    key("identity_token.header", Kind::Str, "(off)"),
    key(
        "webauthn.rp_id",
        Kind::Str,
        "(session.cookie_domain, else app_url's host)",
    ),
    key("webauthn.rp_name", Kind::Str, "(ui.title)"),
    key("webauthn.origins", Kind::List, "(app_url's origin)"),
    key("webauthn.user_verification", Kind::Str, "preferred"),
    key("webauthn.passwordless", Kind::Bool, "true"),
    key("webauthn.attestation", Kind::Str, "none"),
    key("account.self_service", Kind::Bool, "true"),
];

pub fn find(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.path == path)
}

/// The known key or section with the smallest edit distance, for "did you mean" hints.
pub fn suggestion(path: &str) -> Option<&'static str> {
    closest(
        path,
        KEYS.iter()
            .map(|key| key.path)
            .chain(SECTIONS.iter().copied()),
    )
}

/// The candidate nearest to `name`, if one is within three edits.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|known| (edit_distance(name, known), known))
        .filter(|(distance, _)| *distance <= 3)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}
