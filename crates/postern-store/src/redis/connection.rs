//! One connection type for the three Redis deployments. Each is multiplexed (one socket
//! carries every concurrent request), connects lazily (postern starts and reports "not ready"
//! while Redis is down, instead of refusing to start), and heals itself:
//! - standalone: redis-rs's `ConnectionManager` reconnects in the background;
//! - sentinel: on an IO error or a `READONLY` answer (the old master was demoted) the master is
//!   asked of the sentinels again;
//! - cluster: redis-rs's cluster connection follows MOVED/ASK and reconnects to nodes.

use std::sync::Arc;
use std::time::Duration;

use postern_core::config::{RedisConfig, RedisMode};
use redis::aio::{
    AsyncPushSender, ConnectionLike, ConnectionManager, ConnectionManagerConfig,
    MultiplexedConnection,
};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    Client, Cmd, ConnectionAddr, ErrorKind, Pipeline, ProtocolVersion, RedisError, RedisFuture,
    RedisResult, TlsCertificates, TlsMode, Value,
};
use tokio::sync::{Mutex, RwLock};

/// A cheap-to-clone handle on whichever connection the deployment uses.
#[derive(Clone)]
pub enum Conn {
    Standalone(ConnectionManager),
    Sentinel(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Standalone(conn) => conn.req_packed_command(cmd),
            Self::Sentinel(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Standalone(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Standalone(conn) => conn.get_db(),
            Self::Sentinel(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// Hands out a live connection, (re)connecting when there is none.
#[derive(Clone)]
pub struct Connector {
    inner: Arc<Inner>,
}

struct Inner {
    target: Target,
    current: RwLock<Option<Conn>>,
    /// One (re)connection at a time; the others wait for its result.
    connecting: Mutex<()>,
}

enum Target {
    Standalone(Client),
    Sentinel(Mutex<SentinelClient>),
    Cluster(ClusterClient),
}

impl Connector {
    /// `protocol`: RESP2 for the data connection (any Redis), RESP3 for the tracking
    /// connection of the client-side cache (its invalidations arrive in-band).
    pub fn new(config: &RedisConfig, protocol: ProtocolVersion) -> RedisResult<Self> {
        let target = match &config.mode {
            RedisMode::Standalone => Target::Standalone(standalone_client(config, protocol)?),
            RedisMode::Sentinel { master } => {
                Target::Sentinel(Mutex::new(sentinel_client(config, master, protocol)?))
            }
            RedisMode::Cluster => Target::Cluster(cluster_client(config, protocol)?),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                target,
                current: RwLock::new(None),
                connecting: Mutex::new(()),
            }),
        })
    }

    /// A connection, opening one if needed.
    pub async fn get(&self, timeout: Duration) -> RedisResult<Conn> {
        if let Some(conn) = self.inner.current.read().await.clone() {
            return Ok(conn);
        }
        let _one_at_a_time = self.inner.connecting.lock().await;
        if let Some(conn) = self.inner.current.read().await.clone() {
            return Ok(conn);
        }
        let conn = self.connect(timeout).await?;
        *self.inner.current.write().await = Some(conn.clone());
        Ok(conn)
    }

    /// Called with every error a command returned: drops the connection when the error means
    /// it is no longer the right one (sentinel failover), so the next call reconnects.
    pub async fn observe_error(&self, err: &RedisError) {
        let stale = match self.inner.target {
            // The ConnectionManager and the cluster client heal themselves.
            Target::Standalone(_) | Target::Cluster(_) => false,
            Target::Sentinel(_) => {
                err.is_io_error()
                    || err.code() == Some("READONLY")
                    || err.is_timeout()
                    || err.is_connection_dropped()
            }
        };
        if stale {
            *self.inner.current.write().await = None;
        }
    }

    /// A fresh connection of its own (to the master, with sentinel) whose server pushes go
    /// to `pushes`. Not for a cluster: its keys live on several masters.
    pub async fn push_connection(
        &self,
        timeout: Duration,
        pushes: impl AsyncPushSender,
    ) -> RedisResult<MultiplexedConnection> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_push_sender(pushes);
        let client = match &self.inner.target {
            Target::Standalone(client) => client.clone(),
            Target::Sentinel(sentinel) => sentinel.lock().await.async_get_client().await?,
            Target::Cluster(_) => {
                return Err(RedisError::from((
                    ErrorKind::InvalidClientConfig,
                    "a push connection is not available for a cluster",
                )));
            }
        };
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    async fn connect(&self, timeout: Duration) -> RedisResult<Conn> {
        match &self.inner.target {
            Target::Standalone(client) => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(2)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_with_config(client.clone(), config)
                    .await
                    .map(Conn::Standalone)
            }
            Target::Sentinel(sentinel) => {
                let client = sentinel.lock().await.async_get_client().await?;
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout));
                client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map(Conn::Sentinel)
            }
            Target::Cluster(client) => client.get_async_connection().await.map(Conn::Cluster),
        }
    }
}

fn certificates(config: &RedisConfig) -> RedisResult<TlsCertificates> {
    let root_cert = match &config.tls_ca_file {
        Some(path) => Some(std::fs::read(path).map_err(|err| {
            RedisError::from((ErrorKind::Io, "reading tls_ca_file", err.to_string()))
        })?),
        None => None,
    };
    Ok(TlsCertificates {
        client_tls: None,
        root_cert,
    })
}

fn node_url(config: &RedisConfig, host: &str, port: u16) -> String {
    let scheme = if config.tls { "rediss" } else { "redis" };
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    format!("{scheme}://{host}:{port}/{}", config.db)
}

fn standalone_client(config: &RedisConfig, protocol: ProtocolVersion) -> RedisResult<Client> {
    let node = config.nodes.first().ok_or_else(|| {
        RedisError::from((ErrorKind::InvalidClientConfig, "no Redis node configured"))
    })?;
    let info =
        redis::IntoConnectionInfo::into_connection_info(node_url(config, &node.host, node.port))?;
    let info = info.set_redis_settings(redis_settings(config).set_protocol(protocol));
    if config.tls {
        Client::build_with_tls(info, certificates(config)?)
    } else {
        Client::open(info)
    }
}

fn redis_settings(config: &RedisConfig) -> redis::RedisConnectionInfo {
    let mut settings = redis::RedisConnectionInfo::default().set_db(config.db);
    if let Some(username) = &config.username {
        settings = settings.set_username(username);
    }
    if let Some(password) = &config.password {
        settings = settings.set_password(password);
    }
    settings
}

fn sentinel_client(
    config: &RedisConfig,
    master: &str,
    protocol: ProtocolVersion,
) -> RedisResult<SentinelClient> {
    let sentinels = config
        .nodes
        .iter()
        .map(|node| ConnectionAddr::Tcp(node.host.clone(), node.port));
    let mut builder = SentinelClientBuilder::new(sentinels, master, SentinelServerType::Master)?
        .set_client_to_redis_db(config.db)
        .set_client_to_redis_protocol(protocol);
    if let Some(username) = &config.username {
        builder = builder.set_client_to_redis_username(username);
    }
    if let Some(password) = &config.password {
        builder = builder.set_client_to_redis_password(password);
    }
    if config.tls {
        builder = builder
            .set_client_to_redis_tls_mode(TlsMode::Secure)
            .set_client_to_redis_certificates(certificates(config)?);
    }
    builder.build()
}

fn cluster_client(config: &RedisConfig, protocol: ProtocolVersion) -> RedisResult<ClusterClient> {
    let nodes: Vec<String> = config
        .nodes
        .iter()
        .map(|node| node_url(config, &node.host, node.port))
        .collect();
    let mut builder = ClusterClientBuilder::new(nodes)
        .retries(2)
        .connection_timeout(config.timeout)
        .response_timeout(config.timeout)
        .use_protocol(protocol);
    if let Some(username) = &config.username {
        builder = builder.username(username);
    }
    if let Some(password) = &config.password {
        builder = builder.password(password);
    }
    if config.tls {
        builder = builder.tls(TlsMode::Secure).certs(certificates(config)?);
    }
    builder.build()
}
