//! The whole picture for one test: upstream app, postern, and one proxy in front of both.

use super::postern::Postern;
use super::proxy::{Proxy, ProxyKind};
use super::upstream::Upstream;

pub struct Stack {
    // Dropped in this order: the proxy first, the app last.
    pub proxy: Proxy,
    pub postern: Postern,
    pub upstream: Upstream,
}

impl Stack {
    pub async fn start(kind: ProxyKind) -> Self {
        Self::start_with(kind, "").await
    }

    /// With `extra` TOML in postern's config (e.g. access rules).
    pub async fn start_with(kind: ProxyKind, extra: &str) -> Self {
        let upstream = Upstream::start().await;
        let postern = Postern::start_alone_with(extra).await;
        let proxy = Proxy::start(kind, postern.port(), upstream.port()).await;
        Self {
            proxy,
            postern,
            upstream,
        }
    }
}
