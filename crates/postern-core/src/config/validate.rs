//! From `RawConfig` to `Config`: defaults applied, every value checked, every problem kept.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use url::{Host, Url};

use super::defaults;
use super::raw::{RawApi, RawConfig, RawLimits, RawLog, RawServer, RawSession, RawUi};
use super::{
    ApiConfig, Config, LogConfig, LogFormat, Secret, ServerConfig, SessionConfig, TlsConfig,
    UiConfig,
};
use crate::client_ip::TrustedProxies;
use crate::duration::HumanDuration;
use crate::limits::LoginLimits;
use crate::session::SessionPolicy;
use crate::token;

/// Secrets shipped in examples and docs, and other values that are no secret at all.
const KNOWN_EXAMPLE_SECRETS: &[&str] = &[
    "change-me-to-a-long-random-string-of-32-bytes-or-more",
    "this-is-not-a-secret-replace-it-with-openssl-rand-hex-32",
    "0123456789abcdef0123456789abcdef",
    "00000000000000000000000000000000",
    "secretsecretsecretsecretsecretsecret",
];

/// `path` as the configuration means it: a relative path is the config file's folder's
/// (`base_dir`); without a file, or for an absolute path, as it is.
pub(super) fn resolve_path(base_dir: Option<&Path>, path: impl Into<PathBuf>) -> PathBuf {
    let path = path.into();
    match base_dir {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path,
    }
}

pub(super) fn validate(
    raw: RawConfig,
    base_dir: Option<&Path>,
    problems: &mut Vec<String>,
) -> Option<Config> {
    let resolve = |path: PathBuf| resolve_path(base_dir, path);
    let app_url = app_url(raw.app_url.as_deref(), problems);
    let secret = secret(raw.secret, raw.secret_file.map(resolve), problems);
    let trusted_proxies = trusted_proxies(raw.trusted_proxies, problems);
    let users_file = raw.users_file.map(resolve);
    let data_dir = resolve(
        raw.data_dir
            .unwrap_or_else(|| super::schema::DEFAULT_DATA_DIR.into()),
    );
    let oauth = super::oauth::providers(raw.oauth, &resolve, problems);
    let users = super::user_tables::users(
        raw.users,
        users_file.as_deref(),
        !oauth.is_empty(),
        problems,
    );
    let server = server(raw.server, &resolve, problems);
    let secret_generated = secret.as_ref().is_some_and(|secret| secret.generated);
    let session = session(
        raw.session,
        app_url.as_ref(),
        secret_generated,
        &resolve,
        problems,
    );
    let provider_ids: Vec<&str> = oauth.iter().map(|provider| provider.id.as_str()).collect();
    let access = crate::access::build(
        raw.apps,
        &raw.access,
        &users,
        &provider_ids,
        base_dir,
        problems,
    );
    let limits = limits(&raw.limits, problems);
    let api = api(&raw.api, problems);
    let webhook_url = webhook_url(raw.notify.webhook_url.as_deref(), problems);
    let ui = ui(raw.ui, problems);
    let webauthn = match (&app_url, &session) {
        (Some(url), Some(session)) => super::webauthn::webauthn(
            raw.webauthn,
            url,
            session.cookie_domain.as_deref(),
            &ui.title,
            problems,
        ),
        _ => None,
    };
    let log = log(raw.log, problems);
    let metrics = super::telemetry::metrics(raw.metrics, &resolve, problems);
    let oidc_configured = raw.oidc.is_some();
    let oidc = super::oidc::oidc(
        raw.oidc,
        &super::oidc::Known {
            app_url: app_url.as_ref(),
            users: &users,
            has_providers: !oauth.is_empty(),
        },
        &resolve,
        problems,
    );
    let identity_token = super::oidc::identity_token(
        raw.identity_token,
        oidc.as_ref(),
        oidc_configured,
        &access,
        problems,
    );
    let account = super::AccountConfig {
        self_service: raw
            .account
            .self_service
            .unwrap_or_else(|| defaults::bool("account.self_service")),
    };
    Some(Config {
        app_url: app_url?,
        secret: secret?,
        trusted_proxies,
        users,
        users_file,
        data_dir,
        server: server?,
        session: session?,
        access,
        oauth,
        limits,
        api,
        webhook_url,
        ui,
        log: log?,
        metrics,
        oidc,
        identity_token,
        webauthn: webauthn?,
        account,
        startup: super::StartupSettings::default(),
        secret_files: Vec::new(),
    })
}

fn app_url(raw: Option<&str>, problems: &mut Vec<String>) -> Option<Url> {
    let Some(raw) = raw else {
        problems.push("`app_url` is required: the public URL of the login portal, e.g. https://auth.example.com".into());
        return None;
    };
    let url = match Url::parse(raw) {
        Ok(url) => url,
        Err(err) => {
            problems.push(format!("`app_url` = {raw:?} is not a URL ({err})"));
            return None;
        }
    };
    let mut fine = true;
    let mut refuse = |why: &str| {
        problems.push(format!("`app_url` = {raw:?}: {why}"));
        fine = false;
    };
    if !matches!(url.scheme(), "http" | "https") {
        refuse("must start with https:// (or http:// for local testing)");
    }
    if url.host().is_none() {
        refuse("has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        refuse("must not contain a user name or password");
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        refuse(
            "must be an origin without a path, query or fragment (postern serves at the root of its host)",
        );
    }
    fine.then_some(url)
}

fn secret(
    inline: Option<String>,
    file: Option<PathBuf>,
    problems: &mut Vec<String>,
) -> Option<Secret> {
    let text = match (inline, file) {
        (Some(_), Some(_)) => {
            problems.push("set `secret` or `secret_file`, not both".into());
            return None;
        }
        (Some(text), None) => text,
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            // Files written by `echo` end with a newline that is not part of the secret.
            Ok(text) => text.trim_end_matches(['\n', '\r']).to_owned(),
            Err(err) => {
                problems.push(format!("`secret_file` {}: {err}", path.display()));
                return None;
            }
        },
        (None, None) => {
            return Some(Secret {
                bytes: token::random_bytes::<32>().to_vec(),
                generated: true,
            });
        }
    };
    if text.len() < 32 {
        problems.push(format!(
            "the secret is {} bytes long; it must be at least 32 (try `openssl rand -hex 32`)",
            text.len()
        ));
        return None;
    }
    let single_character = text.chars().all(|c| text.starts_with(c));
    if single_character || KNOWN_EXAMPLE_SECRETS.contains(&text.as_str()) {
        problems.push("the secret is an example value or trivially guessable; generate one with `openssl rand -hex 32`".into());
        return None;
    }
    Some(Secret {
        bytes: text.into_bytes(),
        generated: false,
    })
}

fn trusted_proxies(raw: Option<Vec<String>>, problems: &mut Vec<String>) -> TrustedProxies {
    let entries = raw.unwrap_or_else(|| defaults::list("trusted_proxies"));
    let mut networks = Vec::new();
    for entry in entries {
        let entry = entry.trim();
        match entry
            .parse::<IpNet>()
            .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
        {
            Ok(net) => networks.push(net.trunc()),
            Err(_) => problems.push(format!(
                "`trusted_proxies`: {entry:?} is not an IP address or CIDR network"
            )),
        }
    }
    TrustedProxies::new(networks)
}

fn server(
    raw: RawServer,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
    problems: &mut Vec<String>,
) -> Option<ServerConfig> {
    let listen_text = raw
        .listen
        .unwrap_or_else(|| defaults::text("server.listen"));
    let listen = match listen_text.parse::<SocketAddr>() {
        Ok(addr) => Some(addr),
        Err(_) => {
            problems.push(format!("`server.listen` = {listen_text:?} is not an address such as 127.0.0.1:3000 or [::]:3000"));
            None
        }
    };
    let tls = match raw.tls {
        None => None,
        Some(tls) => match (tls.cert_file, tls.key_file) {
            (Some(cert), Some(key)) => Some(TlsConfig {
                cert_file: resolve(cert),
                key_file: resolve(key),
            }),
            (None, None) => None,
            _ => {
                problems.push("`[server.tls]` needs both `cert_file` and `key_file`".into());
                None
            }
        },
    };
    for path in tls.iter().flat_map(|tls| [&tls.cert_file, &tls.key_file]) {
        if let Err(err) = std::fs::metadata(path) {
            problems.push(format!("`[server.tls]` {}: {err}", path.display()));
        }
    }
    let shutdown_timeout = or_default(raw.shutdown_timeout, "server.shutdown_timeout");
    let header_read_timeout = or_default(raw.header_read_timeout, "server.header_read_timeout");
    if header_read_timeout.is_zero() {
        problems.push("`server.header_read_timeout` must be longer than 0s".into());
    }
    Some(ServerConfig {
        listen: listen?,
        tls,
        shutdown_timeout,
        header_read_timeout,
    })
}

fn session(
    raw: RawSession,
    app_url: Option<&Url>,
    secret_generated: bool,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
    problems: &mut Vec<String>,
) -> Option<SessionConfig> {
    let store = super::redis::store_kind(
        super::redis::RawStore {
            store: raw.store.as_deref(),
            redis_url: raw.redis_url,
            redis: raw.redis,
            secret_generated,
        },
        resolve,
        problems,
    );
    let cookie_name = raw
        .cookie_name
        .unwrap_or_else(|| defaults::text("session.cookie_name"));
    let valid_name = !cookie_name.is_empty()
        && cookie_name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !valid_name {
        problems.push(format!(
            "`session.cookie_name` = {cookie_name:?}: use letters, digits, '-', '_' or '.'"
        ));
    }
    if cookie_name == crate::csrf::PRE_SESSION_COOKIE {
        problems.push(format!(
            "`session.cookie_name` may not be {:?}: the login form uses that cookie",
            crate::csrf::PRE_SESSION_COOKIE
        ));
    }
    // The cookie rules depend on `app_url`; when it is invalid (reported already) they wait.
    let cookie_domain = app_url.map(|url| cookie_domain(raw.cookie_domain, url, problems));
    let https = app_url.is_some_and(|url| url.scheme() == "https");
    let secure_cookie = raw.secure_cookie.unwrap_or(https);
    if secure_cookie && !https && app_url.is_some_and(|url| !is_loopback(url)) {
        problems.push("`session.secure_cookie` = true needs an https `app_url`: browsers drop Secure cookies set over http".into());
    }
    let idle = or_default(raw.idle_timeout, "session.idle_timeout").as_secs();
    let max = or_default(raw.max_lifetime, "session.max_lifetime").as_secs();
    let remember = or_default(raw.remember_me_lifetime, "session.remember_me_lifetime").as_secs();
    if idle < 60 {
        problems.push("`session.idle_timeout` must be at least 1m".into());
    }
    if max < idle {
        problems
            .push("`session.max_lifetime` must not be shorter than `session.idle_timeout`".into());
    }
    if remember < max {
        problems.push(
            "`session.remember_me_lifetime` must not be shorter than `session.max_lifetime`".into(),
        );
    }
    // The other two are no longer than this one. Ten years: far past any sensible session,
    // and far below what a deadline (an `Instant`, a Unix time) can hold.
    if remember > 3650 * 86_400 {
        problems.push("`session.remember_me_lifetime` must be at most 3650d".into());
    }
    let max_sessions = raw
        .max_sessions
        .unwrap_or_else(|| defaults::int("session.max_sessions"));
    if max_sessions == 0 {
        problems.push("`session.max_sessions` must be at least 1".into());
    }
    Some(SessionConfig {
        store: store?,
        cookie_name,
        cookie_domain: cookie_domain??,
        secure_cookie,
        policy: SessionPolicy {
            idle_timeout: idle,
            max_lifetime: max,
            remember_me_lifetime: remember,
        },
        max_sessions: usize::try_from(max_sessions).unwrap_or(usize::MAX),
        max_sessions_per_user: usize::try_from(
            raw.max_sessions_per_user
                .unwrap_or_else(|| defaults::int("session.max_sessions_per_user")),
        )
        .unwrap_or(usize::MAX),
    })
}

/// A duration as given, or the key's default (`schema::KEYS`).
fn or_default(given: Option<HumanDuration>, key: &str) -> Duration {
    given.map_or_else(|| defaults::duration(key), |given| given.0)
}

fn int_or_default(given: Option<u64>, key: &str) -> u64 {
    given.unwrap_or_else(|| defaults::int(key))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost" || domain.ends_with(".localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// tinyauth's rule: the parent domain of the portal's host (`auth.example.com` -> `example.com`),
/// so one sign-in covers every app beside the portal. IPs and single-label hosts get a host-only
/// cookie (`Some(None)`); an explicit domain must contain the portal's host.
fn cookie_domain(
    raw: Option<String>,
    app_url: &Url,
    problems: &mut Vec<String>,
) -> Option<Option<String>> {
    let host = match app_url.host() {
        Some(Host::Domain(domain)) => domain.to_ascii_lowercase(),
        _ => {
            if raw.is_some() {
                problems.push(
                    "`session.cookie_domain` cannot be used when `app_url` is an IP address".into(),
                );
                return None;
            }
            return Some(None);
        }
    };
    match raw {
        Some(domain) => {
            let domain = domain.trim().trim_start_matches('.').to_ascii_lowercase();
            let covers = host == domain || host.ends_with(&format!(".{domain}"));
            if domain.is_empty() || !domain.contains('.') || !covers {
                problems.push(format!("`session.cookie_domain` = {domain:?} must be `{host}` or a parent domain of it with at least two labels"));
                return None;
            }
            Some(Some(domain))
        }
        None => {
            let labels: Vec<&str> = host.split('.').collect();
            Some(match labels.len() {
                0 | 1 => None,
                2 => Some(host.clone()),
                _ => Some(labels[1..].join(".")),
            })
        }
    }
}

fn limits(raw: &RawLimits, problems: &mut Vec<String>) -> LoginLimits {
    let limits = LoginLimits {
        max_failures_per_ip: int_or_default(raw.max_failures_per_ip, "limits.max_failures_per_ip"),
        failure_window: or_default(raw.failure_window, "limits.failure_window"),
        max_failures_per_user: int_or_default(
            raw.max_failures_per_user,
            "limits.max_failures_per_user",
        ),
        user_failure_window: or_default(raw.user_failure_window, "limits.user_failure_window"),
        max_consecutive_failures_per_user: int_or_default(
            raw.max_consecutive_failures_per_user,
            "limits.max_consecutive_failures_per_user",
        ),
        api_rate: int_or_default(raw.api_rate, "limits.api_rate"),
        api_burst: int_or_default(raw.api_burst, "limits.api_burst"),
    };
    if !(1..=100_000).contains(&limits.api_rate) || !(1..=100_000).contains(&limits.api_burst) {
        problems
            .push("`limits.api_rate` and `limits.api_burst` must be between 1 and 100000".into());
    }
    // A limit of 0 would refuse every sign-in; more than 100 would let an account be guessed
    // at too long.
    for (key, max) in [
        ("max_failures_per_ip", limits.max_failures_per_ip),
        ("max_failures_per_user", limits.max_failures_per_user),
    ] {
        if !(1..=100).contains(&max) {
            problems.push(format!("`limits.{key}` must be between 1 and 100"));
        }
    }
    // 0 turns the cap off; past a million it would never be reached in its 24 h anyway.
    if limits.max_consecutive_failures_per_user > 1_000_000 {
        problems.push(
            "`limits.max_consecutive_failures_per_user` must be between 0 (off) and 1000000".into(),
        );
    }
    for (key, window) in [
        ("failure_window", limits.failure_window),
        ("user_failure_window", limits.user_failure_window),
    ] {
        if window < Duration::from_secs(1) || window > Duration::from_secs(86_400) {
            problems.push(format!("`limits.{key}` must be between 1s and 24h"));
        }
    }
    limits
}

fn ui(raw: RawUi, problems: &mut Vec<String>) -> UiConfig {
    let mut color = |key: &str, value: Option<String>| {
        let default = defaults::text(&format!("ui.{key}"));
        let value = value.unwrap_or_else(|| default.clone());
        let hex = value.strip_prefix('#').unwrap_or_default();
        if matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            value.to_ascii_lowercase()
        } else {
            problems.push(format!(
                "`ui.{key}` = {value:?} must be a hex colour like \"#3b5bdb\""
            ));
            default
        }
    };
    let primary_color = color("primary_color", raw.primary_color);
    let background_color = color("background_color", raw.background_color);
    let title = raw
        .title
        .unwrap_or_else(|| defaults::text("ui.title"))
        .trim()
        .to_owned();
    if title.is_empty() || title.chars().count() > 80 || title.chars().any(char::is_control) {
        problems.push("`ui.title` must be 1 to 80 printable characters".into());
    }
    UiConfig {
        title,
        primary_color,
        background_color,
    }
}

fn log(raw: RawLog, problems: &mut Vec<String>) -> Option<LogConfig> {
    let level = raw
        .level
        .unwrap_or_else(|| defaults::text("log.level"))
        .to_ascii_lowercase();
    if !["trace", "debug", "info", "warn", "error"].contains(&level.as_str()) {
        problems.push(format!(
            "`log.level` = {level:?} must be one of trace, debug, info, warn, error"
        ));
    }
    let format_text = raw.format.unwrap_or_else(|| defaults::text("log.format"));
    let format = match format_text.as_str() {
        "text" => Some(LogFormat::Text),
        "json" => Some(LogFormat::Json),
        other => {
            problems.push(format!(
                "`log.format` = {other:?} must be \"text\" or \"json\""
            ));
            None
        }
    };
    let checks = super::telemetry::check_logging(raw.checks.as_deref(), problems);
    Some(LogConfig {
        level,
        format: format?,
        checks,
    })
}

fn api(raw: &RawApi, problems: &mut Vec<String>) -> ApiConfig {
    let api = ApiConfig {
        basic_auth: raw
            .basic_auth
            .unwrap_or_else(|| defaults::bool("api.basic_auth")),
        allow_insecure_basic: raw
            .allow_insecure_basic
            .unwrap_or_else(|| defaults::bool("api.allow_insecure_basic")),
        basic_cache_ttl: or_default(raw.basic_cache_ttl, "api.basic_cache_ttl"),
        access_token_ttl: or_default(raw.access_token_ttl, "api.access_token_ttl"),
        refresh_token_ttl: or_default(raw.refresh_token_ttl, "api.refresh_token_ttl"),
    };
    if api.basic_cache_ttl > Duration::from_secs(3600) {
        problems.push("`api.basic_cache_ttl` must be at most 1h: a cached credential outlives a password change on other replicas until then".into());
    }
    if api.access_token_ttl < Duration::from_secs(60)
        || api.access_token_ttl > api.refresh_token_ttl
    {
        problems.push("`api.access_token_ttl` must be at least 1m and not longer than `api.refresh_token_ttl`".into());
    }
    if api.refresh_token_ttl > Duration::from_secs(365 * 86_400) {
        problems.push("`api.refresh_token_ttl` must be at most 365d".into());
    }
    api
}

/// https, or http on a loopback host: the events name users and addresses.
fn webhook_url(raw: Option<&str>, problems: &mut Vec<String>) -> Option<Url> {
    let raw = raw?.trim();
    match Url::parse(raw) {
        Ok(url) if crate::oauth::is_safe_endpoint(&url) => Some(url),
        // The URL may carry a token (many webhook URLs do): never repeat it.
        _ => {
            problems.push(
                "`notify.webhook_url` must be an https:// URL (or http:// on a loopback host)"
                    .into(),
            );
            None
        }
    }
}
