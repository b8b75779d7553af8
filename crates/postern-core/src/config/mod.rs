//! Configuration: a TOML file, overlaid by `POSTERN_*` env vars, overlaid by CLI flags
//! (CLI > env > file > defaults), checked in full before any port is bound. A bad config is
//! answered with every problem at once, never only the first.

mod defaults;
mod layers;
mod oauth;
mod oidc;
mod raw;
mod redis;
pub mod schema;
mod secret_files;
mod startup;
mod syntax_error;
mod telemetry;
mod user_tables;
mod validate;
mod webauthn;

mod env;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use env::{EnvSource, NoEnv, ProcessEnv};
pub use startup::StartupSettings;
pub use telemetry::{CheckLogging, MetricsConfig};
use url::Url;
pub use webauthn::{Attestation, UserVerification, WebauthnConfig};

use crate::access::AccessRules;
use crate::client_ip::TrustedProxies;
use crate::limits::LoginLimits;
use crate::oauth::OAuthProvider;
use crate::redirect::RedirectPolicy;
use crate::session::SessionPolicy;
use crate::users::UserTable;

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// The login portal's public URL, without a trailing slash.
    pub app_url: Url,
    pub secret: Secret,
    pub trusted_proxies: TrustedProxies,
    pub users: UserTable,
    pub users_file: Option<PathBuf>,
    /// Where the embedded store keeps its file; resolved against the config file's folder.
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub session: SessionConfig,
    pub access: AccessRules,
    /// `[oauth.<id>]` providers, in id order (the order of the login page's buttons).
    pub oauth: Vec<OAuthProvider>,
    pub limits: LoginLimits,
    pub api: ApiConfig,
    /// `[notify] webhook_url`: where `auth.suspicious` events are POSTed.
    pub webhook_url: Option<Url>,
    pub ui: UiConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    /// `[oidc]`: `None` when the provider is off.
    pub oidc: Option<crate::oidc::OidcConfig>,
    /// `[identity_token]`: `None` when upstreams get no signed identity.
    pub identity_token: Option<crate::oidc::IdentityTokenConfig>,
    /// `[webauthn]`: the relying party of passkeys.
    pub webauthn: WebauthnConfig,
    pub account: AccountConfig,
    /// The keys read only at start, to tell a reload which of them changed.
    pub startup: StartupSettings,
    /// `(key, path)` of the files that hold secrets, for the warning about their modes.
    pub secret_files: Vec<(String, PathBuf)>,
}

impl Config {
    /// `app_url` + `path`, e.g. `login_url("/login")`.
    pub fn portal_url(&self, path: &str) -> String {
        format!("{}{}", self.app_url.as_str().trim_end_matches('/'), path)
    }

    pub fn oauth_provider(&self, id: &str) -> Option<&OAuthProvider> {
        self.oauth.iter().find(|provider| provider.id == id)
    }

    pub fn redirect_policy(&self) -> RedirectPolicy {
        RedirectPolicy::new(self.app_url.clone(), self.session.cookie_domain.clone())
    }

    /// What is valid but will not work as the operator likely expects, or is unsafe: `config
    /// check` prints these and `serve` logs them. Today: apps a sign-in at `app_url` cannot
    /// cover, and secret files others may read.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = self.uncovered_apps();
        warnings.extend(secret_files::readable_by_everyone(&self.secret_files));
        warnings
    }

    fn uncovered_apps(&self) -> Vec<String> {
        let policy = self.redirect_policy();
        let covered_by = self.session.cookie_domain.as_deref().map_or_else(
            || {
                format!(
                    "the cookie is host-only (app_url's host {} is a single label or an IP address)",
                    self.app_url.host_str().unwrap_or_default()
                )
            },
            |domain| format!("app_url's cookie domain is {domain}"),
        );
        self.access
            .apps()
            .iter()
            .filter(|app| !policy.covers_app_host(&app.host))
            .map(|app| {
                format!(
                    "app `{}` ({}) is outside what a sign-in at {} covers: {covered_by}. Its \
                     users cannot stay signed in there and are not sent back to it after \
                     signing in. Put postern under the same parent domain, or see \
                     docs/configuration.md#cookie_domain-rules",
                    app.name,
                    app.host,
                    self.app_url.origin().ascii_serialization()
                )
            })
            .collect()
    }
}

/// The server secret. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret {
    pub bytes: Vec<u8>,
    /// No secret was configured; one was drawn at start (sessions end at restart).
    pub generated: bool,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Secret(<{} bytes>, generated: {})",
            self.bytes.len(),
            self.generated
        )
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub tls: Option<TlsConfig>,
    pub shutdown_timeout: Duration,
    pub header_read_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    Redis(RedisConfig),
    /// One file under `Config::data_dir`.
    Embedded,
}

impl StoreKind {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Redis(_) => "redis",
            Self::Embedded => "embedded",
        }
    }
}

/// How to reach Redis (or Valkey), from `session.redis_url` or `[session.redis]`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    pub mode: RedisMode,
    /// The server (standalone), the sentinels (sentinel) or the seed nodes (cluster).
    pub nodes: Vec<RedisNode>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
    pub tls: bool,
    /// PEM roots to verify the server with; the system's roots when `None`.
    pub tls_ca_file: Option<PathBuf>,
    pub key_prefix: String,
    /// Every store call gives up after this long (and the request fails closed).
    pub timeout: Duration,
    /// Writes that start or end a session wait for this many replicas (WAIT).
    pub wait_replicas: u32,
    /// RESP3 client-side caching of session reads: how many sessions each replica keeps
    /// (`None`: off). Redis's invalidation messages keep the cache exact.
    pub client_cache: Option<NonZeroUsize>,
}

impl std::fmt::Debug for RedisConfig {
    // Never the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("mode", &self.mode)
            .field("nodes", &self.nodes)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .field("tls", &self.tls)
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisMode {
    Standalone,
    Sentinel { master: String },
    Cluster,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisNode {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub store: StoreKind,
    pub cookie_name: String,
    /// `None`: a host-only cookie (IP or single-label portals such as `localhost`).
    pub cookie_domain: Option<String>,
    pub secure_cookie: bool,
    pub policy: SessionPolicy,
    pub max_sessions: usize,
    /// The most sessions one user keeps; a sign-in past it ends that user's oldest. 0: no cap.
    pub max_sessions_per_user: usize,
}

#[derive(Debug, Clone)]
pub struct UiConfig {
    pub title: String,
    pub primary_color: String,
    pub background_color: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
    pub checks: CheckLogging,
}

/// `[api]`: credentials for headless clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiConfig {
    /// Accept `Authorization: Basic` on the check path and the API.
    pub basic_auth: bool,
    /// Accept Basic over plain HTTP too (for testing only).
    pub allow_insecure_basic: bool,
    /// How long a verified Basic credential is remembered.
    pub basic_cache_ttl: Duration,
    pub access_token_ttl: Duration,
    /// The absolute lifetime of a token family: refreshing never goes past it.
    pub refresh_token_ttl: Duration,
}

/// `[account]`: what users may change on their account page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountConfig {
    /// Users enrol and remove their own TOTP and make new recovery codes. Off: the page only
    /// shows them (the password change and the sessions stay).
    pub self_service: bool,
}

/// Every problem found, in the order found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s) in the configuration:\n  - {}", .0.len(), .0.join("\n  - "))]
pub struct ConfigProblems(pub Vec<String>);

/// Where the config comes from.
pub struct Sources<'a> {
    /// The TOML text and the file's path (relative paths inside it resolve against its folder).
    pub file: Option<(&'a str, &'a Path)>,
    pub env: &'a dyn EnvSource,
    /// `(key path, value)` pairs from CLI flags, highest precedence.
    pub cli: &'a [(&'static str, String)],
}

/// Loads and validates. On error, every problem is listed.
pub fn load(sources: &Sources<'_>) -> Result<Config, ConfigProblems> {
    let mut problems = Vec::new();
    let table = layers::merge(sources, &mut problems);
    let base_dir = sources
        .file
        .and_then(|(_, path)| path.parent())
        .map(Path::to_path_buf);
    let startup = table
        .as_ref()
        .map(|table| StartupSettings::of(table, base_dir.as_deref()))
        .unwrap_or_default();
    let secret_files = table
        .as_ref()
        .map(|table| secret_files::named(table, base_dir.as_deref()))
        .unwrap_or_default();
    let raw = match table {
        Some(table) => match toml::Value::Table(table).try_into::<raw::RawConfig>() {
            Ok(raw) => raw,
            Err(err) => {
                problems.push(err.to_string().trim().to_owned());
                return Err(ConfigProblems(problems));
            }
        },
        None => return Err(ConfigProblems(problems)),
    };
    let config = validate::validate(raw, base_dir.as_deref(), &mut problems);
    match config {
        Some(config) if problems.is_empty() => Ok(Config {
            startup,
            secret_files,
            ..config
        }),
        _ => Err(ConfigProblems(problems)),
    }
}

#[cfg(test)]
mod tests;
