//! Building stores for the tests.

use std::time::Duration;

use postern_core::config::{RedisConfig, RedisMode, RedisNode};
use postern_core::session::{AuthLevel, SessionPolicy, SessionRecord};
use postern_core::token::{SessionToken, TokenHash};
use postern_store::Store;

pub const POLICY: SessionPolicy = SessionPolicy {
    idle_timeout: 1800,
    max_lifetime: 43_200,
    remember_me_lifetime: 2_592_000,
};

pub fn record(user: &str) -> SessionRecord {
    POLICY.new_session(user, AuthLevel::OneFactor, false, 1_700_000_000)
}

pub fn key() -> TokenHash {
    SessionToken::generate().hash()
}

/// A unique id, so cases can share one store.
pub fn id(label: &str) -> String {
    format!("{label}:{}", postern_core::token::random_text::<8>())
}

pub fn redis_config(mode: RedisMode, nodes: &[String]) -> RedisConfig {
    RedisConfig {
        mode,
        nodes: nodes
            .iter()
            .map(|node| {
                let (host, port) = node.rsplit_once(':').unwrap();
                RedisNode {
                    host: host.to_owned(),
                    port: port.parse().unwrap(),
                }
            })
            .collect(),
        username: None,
        password: None,
        db: 0,
        tls: false,
        tls_ca_file: None,
        key_prefix: "postern-test:".into(),
        timeout: Duration::from_millis(500),
        wait_replicas: 0,
        client_cache: None,
    }
}

/// A standalone store with the client-side session cache on.
pub fn cached_standalone(port: u16) -> Store {
    let mut config = redis_config(RedisMode::Standalone, &[format!("127.0.0.1:{port}")]);
    config.client_cache = std::num::NonZeroUsize::new(1000);
    Store::redis(&config).unwrap()
}

pub fn standalone(port: u16) -> Store {
    Store::redis(&redis_config(
        RedisMode::Standalone,
        &[format!("127.0.0.1:{port}")],
    ))
    .unwrap()
}
