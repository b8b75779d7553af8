//! The store the replicas share: a real Redis in each deployment postern supports. Each test
//! gets its own processes, stopped when it ends.

use postern_testkit::{RedisCluster, RedisSentinel, RedisServer, redis_cli};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisKind {
    /// One redis-server, with an append-only file synced on every write, so it keeps its data
    /// across a kill and restart (the outage scenario resumes it).
    Standalone,
    /// The same server, with every replica's client-side session cache on: a sign-out on one
    /// replica must still end the session on the others (Redis's invalidations).
    StandaloneCached,
    /// Three masters, every slot covered.
    Cluster,
    /// A master, a replica and a sentinel; postern waits for one replica on every session
    /// write (`wait_replicas = 1`) and caches sessions (`client_cache = true`).
    Sentinel,
}

pub enum SharedRedis {
    /// The server, and whether replicas cache sessions.
    Standalone(RedisServer, bool),
    Cluster(RedisCluster),
    Sentinel(RedisSentinel),
}

impl SharedRedis {
    pub fn start(kind: RedisKind) -> Self {
        match kind {
            RedisKind::Standalone | RedisKind::StandaloneCached => Self::Standalone(
                RedisServer::start_on_a_free_port(&[
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "always",
                ]),
                matches!(kind, RedisKind::StandaloneCached),
            ),
            RedisKind::Cluster => Self::Cluster(RedisCluster::start()),
            RedisKind::Sentinel => Self::Sentinel(RedisSentinel::start()),
        }
    }

    /// The `[session]` and `[session.redis]` tables that point postern at this Redis.
    pub fn config_toml(&self) -> String {
        let quoted = |nodes: &[String]| {
            nodes
                .iter()
                .map(|node| format!("\"{node}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let redis = match self {
            Self::Standalone(server, cached) => format!(
                "nodes = [\"127.0.0.1:{}\"]\nclient_cache = {cached}",
                server.port
            ),
            Self::Cluster(cluster) => {
                format!("mode = \"cluster\"\nnodes = [{}]", quoted(&cluster.seeds()))
            }
            Self::Sentinel(sentinel) => format!(
                "mode = \"sentinel\"\nnodes = [\"127.0.0.1:{}\"]\nsentinel_master = \"{}\"\n\
                 wait_replicas = 1\nclient_cache = true",
                sentinel.sentinel_port,
                RedisSentinel::MASTER_NAME
            ),
        };
        format!("[session]\nstore = \"redis\"\n\n[session.redis]\n{redis}\n")
    }

    /// With Sentinel: how many sessions the Redis replica holds right now.
    pub fn sessions_on_the_sentinel_replica(&self) -> Option<usize> {
        let Self::Sentinel(sentinel) = self else {
            return None;
        };
        let keys = redis_cli(
            sentinel.replica.port,
            &["--scan", "--pattern", "postern:session:*"],
        );
        Some(keys.lines().filter(|line| !line.is_empty()).count())
    }

    /// The one server of a standalone setup, to stop and resume it.
    pub fn standalone_server(&mut self) -> &mut RedisServer {
        match self {
            Self::Standalone(server, _) => server,
            Self::Cluster(_) | Self::Sentinel(_) => {
                panic!("only a standalone Redis is stopped and resumed by these tests")
            }
        }
    }
}
