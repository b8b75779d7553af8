//! The whole picture for one test: upstream app, postern, and one proxy in front of both.

use super::ports::free_port;
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
        Self::start_on(kind, free_port(), extra).await
    }

    /// With postern on `postern_port`, chosen beforehand.
    pub async fn start_on(kind: ProxyKind, postern_port: u16, extra: &str) -> Self {
        let upstream = Upstream::start().await;
        let postern = Postern::start_on(postern_port, extra).await;
        let proxy = Proxy::start(kind, postern.port(), upstream.port()).await;
        Self {
            proxy,
            postern,
            upstream,
        }
    }
}
