//! `session.store = "redis"`: `session.redis_url` for one server, or `[session.redis]` for any
//! deployment (standalone, sentinel, cluster). Every problem is reported.

use super::defaults;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::raw::RawRedis;
use super::{RedisConfig, RedisMode, RedisNode, StoreKind};

const DEFAULT_REDIS_PORT: u16 = 6379;
const DEFAULT_SENTINEL_PORT: u16 = 26379;
/// Enough for every session of a large site; about 200 bytes each (see high-availability.md).
const MAX_CLIENT_CACHE_SIZE: usize = 10_000_000;

pub(super) struct RawStore<'a> {
    pub store: Option<&'a str>,
    pub redis_url: Option<String>,
    pub redis: Option<RawRedis>,
    /// No `secret` was configured (one was generated for this process).
    pub secret_generated: bool,
}

pub(super) fn store_kind(
    raw: RawStore<'_>,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
    problems: &mut Vec<String>,
) -> Option<StoreKind> {
    let store = raw
        .store
        .map_or_else(|| defaults::text("session.store"), str::to_owned);
    if store != "redis" && (raw.redis_url.is_some() || raw.redis.is_some()) {
        problems.push(format!("Redis settings are given but `session.store` is {store:?}: set `session.store = \"redis\"` or remove them"));
    }
    match store.as_str() {
        "memory" => Some(StoreKind::Memory),
        "embedded" => Some(StoreKind::Embedded),
        "redis" => {
            if raw.secret_generated {
                problems.push("with `session.store = \"redis\"` a `secret` (or `secret_file`) is required: every replica must share it".into());
            }
            redis_config(
                raw.redis_url,
                raw.redis.unwrap_or_default(),
                resolve,
                problems,
            )
            .map(StoreKind::Redis)
        }
        other => {
            problems.push(format!(
                "`session.store` = {other:?} must be \"embedded\", \"memory\" or \"redis\""
            ));
            None
        }
    }
}

fn redis_config(
    url: Option<String>,
    raw: RawRedis,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
    problems: &mut Vec<String>,
) -> Option<RedisConfig> {
    let before = problems.len();
    let key_prefix = raw
        .key_prefix
        .clone()
        .unwrap_or_else(|| defaults::text("session.redis.key_prefix"));
    if key_prefix
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '{' || c == '}')
    {
        problems.push(
            "`session.redis.key_prefix` may not contain spaces, control characters or braces"
                .into(),
        );
    }
    let timeout = raw
        .timeout
        .map_or_else(|| defaults::duration("session.redis.timeout"), |d| d.0);
    if timeout < Duration::from_millis(10) || timeout > Duration::from_secs(30) {
        problems.push("`session.redis.timeout` must be between 10ms and 30s".into());
    }
    let wait_replicas = raw
        .wait_replicas
        .unwrap_or_else(|| defaults::int("session.redis.wait_replicas"));
    let client_cache_size = raw
        .client_cache_size
        .unwrap_or_else(|| defaults::int("session.redis.client_cache_size"));
    let client_cache = match NonZeroUsize::new(client_cache_size) {
        Some(size) if size.get() <= MAX_CLIENT_CACHE_SIZE => {
            let enabled = raw
                .client_cache
                .unwrap_or_else(|| defaults::bool("session.redis.client_cache"));
            enabled.then_some(size)
        }
        _ => {
            problems.push(format!(
                "`session.redis.client_cache_size` must be between 1 and {MAX_CLIENT_CACHE_SIZE}"
            ));
            None
        }
    };
    let tls_ca_file = raw.tls_ca_file.clone().map(resolve);
    if let Some(path) = &tls_ca_file
        && let Err(err) = std::fs::metadata(path)
    {
        problems.push(format!(
            "`session.redis.tls_ca_file` {}: {err}",
            path.display()
        ));
    }
    let mut config = match url {
        Some(url) => {
            let connection_keys = [
                raw.mode.is_some(),
                raw.nodes.is_some(),
                raw.sentinel_master.is_some(),
                raw.username.is_some(),
                raw.password.is_some(),
                raw.password_file.is_some(),
                raw.db.is_some(),
                raw.tls.is_some(),
            ];
            if connection_keys.into_iter().any(|set| set) {
                problems.push("set `session.redis_url` or the connection keys of `[session.redis]` (mode, nodes, sentinel_master, username, password, db, tls), not both".into());
            }
            from_url(&url, problems)?
        }
        None => from_table(&raw, resolve, problems)?,
    };
    config.key_prefix = key_prefix;
    config.timeout = timeout;
    config.wait_replicas = wait_replicas;
    config.client_cache = client_cache;
    config.tls_ca_file = tls_ca_file;
    if config.mode == RedisMode::Cluster && config.db != 0 {
        problems.push("a Redis cluster has only database 0: remove `session.redis.db`".into());
    }
    if config.mode == RedisMode::Cluster && client_cache.is_some() {
        problems.push("`session.redis.client_cache` works with standalone and sentinel deployments, not with a cluster".into());
    }
    if config.mode == RedisMode::Cluster && wait_replicas > 0 {
        problems.push("`session.redis.wait_replicas` works with standalone and sentinel deployments, not with a cluster".into());
    }
    (problems.len() == before).then_some(config)
}

/// `redis://[user[:password]@]host[:port][/db]`, or `rediss://` for TLS.
fn from_url(text: &str, problems: &mut Vec<String>) -> Option<RedisConfig> {
    // Never echo the URL: it may hold a password.
    let Ok(url) = Url::parse(text) else {
        problems.push("`session.redis_url` is not a URL like redis://host:6379/0".into());
        return None;
    };
    let tls = match url.scheme() {
        "redis" => false,
        "rediss" => true,
        _ => {
            problems.push("`session.redis_url` must start with redis:// or rediss://".into());
            return None;
        }
    };
    let Some(host) = url.host_str().filter(|host| !host.is_empty()) else {
        problems.push("`session.redis_url` has no host".into());
        return None;
    };
    let db = match url.path().trim_start_matches('/') {
        "" => 0,
        db => match db.parse::<i64>() {
            Ok(db) if db >= 0 => db,
            _ => {
                problems.push(
                    "`session.redis_url`: the path must be a database number such as /0".into(),
                );
                return None;
            }
        },
    };
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    let username = Some(decode(url.username())).filter(|name| !name.is_empty());
    let password = url.password().map(decode);
    let node = RedisNode {
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port: url.port().unwrap_or(DEFAULT_REDIS_PORT),
    };
    Some(base(
        RedisMode::Standalone,
        vec![node],
        username,
        password,
        db,
        tls,
    ))
}

fn from_table(
    raw: &RawRedis,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
    problems: &mut Vec<String>,
) -> Option<RedisConfig> {
    let mode_text = raw
        .mode
        .clone()
        .unwrap_or_else(|| defaults::text("session.redis.mode"));
    let mode = match mode_text.as_str() {
        "standalone" => RedisMode::Standalone,
        "sentinel" => match &raw.sentinel_master {
            Some(master) if !master.trim().is_empty() => RedisMode::Sentinel {
                master: master.trim().to_owned(),
            },
            _ => {
                problems.push("`session.redis.mode = \"sentinel\"` needs `sentinel_master`, the name the sentinels monitor".into());
                return None;
            }
        },
        "cluster" => RedisMode::Cluster,
        other => {
            problems.push(format!("`session.redis.mode` = {other:?} must be \"standalone\", \"sentinel\" or \"cluster\""));
            return None;
        }
    };
    if raw.sentinel_master.is_some() && !matches!(mode, RedisMode::Sentinel { .. }) {
        problems.push("`session.redis.sentinel_master` is only for `mode = \"sentinel\"`".into());
    }
    let default_port = if matches!(mode, RedisMode::Sentinel { .. }) {
        DEFAULT_SENTINEL_PORT
    } else {
        DEFAULT_REDIS_PORT
    };
    let entries = raw.nodes.clone().unwrap_or_default();
    if entries.is_empty() {
        problems.push("`session.redis.nodes` is empty: list the Redis server, the sentinels or the cluster's seed nodes as \"host:port\" (or set `session.redis_url`)".into());
        return None;
    }
    let mut nodes = Vec::new();
    for entry in &entries {
        match parse_node(entry, default_port) {
            Some(node) => nodes.push(node),
            None => problems.push(format!(
                "`session.redis.nodes`: {entry:?} is not \"host:port\""
            )),
        }
    }
    if mode == RedisMode::Standalone && nodes.len() > 1 {
        problems.push("`session.redis.nodes` lists several servers: use `mode = \"sentinel\"` or `\"cluster\"`, or one node".into());
    }
    let password = match (&raw.password, &raw.password_file) {
        (Some(_), Some(_)) => {
            problems.push("set `session.redis.password` or `password_file`, not both".into());
            None
        }
        (Some(password), None) => Some(password.clone()),
        (None, Some(path)) => {
            let path = resolve(path.clone());
            match std::fs::read_to_string(&path) {
                Ok(text) => Some(text.trim_end_matches(['\n', '\r']).to_owned()),
                Err(err) => {
                    problems.push(format!(
                        "`session.redis.password_file` {}: {err}",
                        path.display()
                    ));
                    None
                }
            }
        }
        (None, None) => None,
    };
    let db = raw.db.unwrap_or_else(|| defaults::int("session.redis.db"));
    if db < 0 {
        problems.push("`session.redis.db` must be 0 or more".into());
    }
    Some(base(
        mode,
        nodes,
        raw.username.clone(),
        password,
        db,
        raw.tls
            .unwrap_or_else(|| defaults::bool("session.redis.tls")),
    ))
}

fn parse_node(entry: &str, default_port: u16) -> Option<RedisNode> {
    let entry = entry.trim();
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port))
            if !host.ends_with(':') && (host.starts_with('[') || !host.contains(':')) =>
        {
            (host, port.parse().ok()?)
        }
        _ => (entry, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty() && port > 0 && !host.contains(['/', ' ', '@'])).then(|| RedisNode {
        host: host.to_owned(),
        port,
    })
}

fn base(
    mode: RedisMode,
    nodes: Vec<RedisNode>,
    username: Option<String>,
    password: Option<String>,
    db: i64,
    tls: bool,
) -> RedisConfig {
    RedisConfig {
        mode,
        nodes,
        username,
        password,
        db,
        tls,
        tls_ca_file: None,
        key_prefix: String::new(),
        timeout: Duration::from_secs(1),
        wait_replicas: 0,
        client_cache: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(redis: RawRedis) -> (Option<RedisConfig>, Vec<String>) {
        let mut problems = Vec::new();
        let config = redis_config(None, redis, &|path| path, &mut problems);
        (config, problems)
    }

    fn nodes(mode: &str) -> RawRedis {
        RawRedis {
            mode: Some(mode.into()),
            nodes: Some(vec!["127.0.0.1:6379".into()]),
            sentinel_master: (mode == "sentinel").then(|| "mymaster".into()),
            ..RawRedis::default()
        }
    }

    #[test]
    fn the_client_cache_is_off_unless_asked_and_sized_by_default() {
        let (config, problems) = check(nodes("standalone"));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config.and_then(|config| config.client_cache), None);
        let (config, problems) = check(RawRedis {
            client_cache: Some(true),
            ..nodes("sentinel")
        });
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            config.and_then(|config| config.client_cache),
            NonZeroUsize::new(100_000)
        );
    }

    #[test]
    fn the_client_cache_refuses_a_cluster_and_a_size_out_of_range() {
        let (_, problems) = check(RawRedis {
            client_cache: Some(true),
            ..nodes("cluster")
        });
        assert!(
            problems
                .iter()
                .any(|p| p.contains("client_cache") && p.contains("cluster")),
            "{problems:?}"
        );
        for size in [0, MAX_CLIENT_CACHE_SIZE + 1] {
            let (_, problems) = check(RawRedis {
                client_cache: Some(true),
                client_cache_size: Some(size),
                ..nodes("standalone")
            });
            assert!(
                problems.iter().any(|p| p.contains("client_cache_size")),
                "{size}: {problems:?}"
            );
        }
    }
}
