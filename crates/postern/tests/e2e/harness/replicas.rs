//! Several postern replicas behind one nginx, sharing one Redis: the setup of
//! docs/high-availability.md, with real processes.

use std::collections::BTreeMap;

use super::balancer::{Balancer, REPLICAS};
use super::ports::on_a_free_port;
use super::postern::Postern;
use super::shared_redis::{RedisKind, SharedRedis};
use super::upstream::Upstream;

/// The failed-login limit every replica is configured with (the documented default, written
/// out so the limit scenario does not depend on the default).
pub const MAX_FAILURES_PER_IP: usize = 5;

pub struct ReplicaStack {
    // Dropped in this order: nginx, the replicas, the app, Redis last.
    pub balancer: Balancer,
    pub replicas: Vec<Postern>,
    pub upstream: Upstream,
    pub redis: SharedRedis,
}

impl ReplicaStack {
    pub async fn start(kind: RedisKind) -> Self {
        let redis = SharedRedis::start(kind);
        let upstream = Upstream::start().await;
        let extra = format!(
            "{}\n[limits]\nmax_failures_per_ip = {MAX_FAILURES_PER_IP}\n",
            redis.config_toml()
        );
        // nginx's port first: it is the `app_url` every replica shares, so when another
        // process took it before nginx could, the replicas start again with the next one.
        let (balancer, replicas) = on_a_free_port("nginx before the replicas", async |port| {
            let app_url = Balancer::portal_url(port);
            let mut replicas = Vec::with_capacity(REPLICAS);
            for _ in 0..REPLICAS {
                replicas.push(Postern::start_replica(&app_url, &extra).await);
            }
            let ports: Vec<u16> = replicas.iter().map(Postern::port).collect();
            let balancer = Balancer::try_start(port, &ports, upstream.port()).await?;
            Ok((balancer, replicas))
        })
        .await;
        Self {
            balancer,
            replicas,
            upstream,
            redis,
        }
    }

    /// `path` on the public portal, which nginx spreads over the replicas (`app_url`).
    pub fn portal_url(&self, path: &str) -> url::Url {
        self.replicas[0].url(path)
    }

    /// Replica A, B, …: the first, second, … in nginx's upstream block.
    pub fn replica(&self, index: usize) -> &Postern {
        &self.replicas[index]
    }

    /// Auth checks answered so far, by replica index (0 for A, …), from nginx's access log.
    pub fn checks_by_replica(&self) -> BTreeMap<usize, usize> {
        let by_port = self.balancer.checks_by_replica();
        self.replicas
            .iter()
            .enumerate()
            .map(|(index, replica)| {
                (
                    index,
                    by_port.get(&replica.port()).copied().unwrap_or_default(),
                )
            })
            .collect()
    }
}
