//! The whole picture for one test: upstream app, postern, and one proxy in front of both.

use super::postern::Postern;
use super::process::PortTaken;
use super::proxy::{Proxy, ProxyKind, Variant};
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
        Self::start_variant(kind, extra, Variant::AsShipped).await
    }

    /// `start_with`, the proxy's deploy file run as `variant` says.
    pub async fn start_variant(kind: ProxyKind, extra: &str, variant: Variant) -> Self {
        let upstream = Upstream::start().await;
        let postern = Postern::start(extra).await;
        let proxy = Proxy::start_variant(kind, postern.port(), upstream.port(), variant).await;
        Self {
            proxy,
            postern,
            upstream,
        }
    }

    /// With postern on `postern_port`, chosen beforehand: `Err` when another process took
    /// it first.
    pub async fn try_start_on(
        kind: ProxyKind,
        postern_port: u16,
        extra: &str,
    ) -> Result<Self, PortTaken> {
        let upstream = Upstream::start().await;
        let postern = Postern::try_start_on(postern_port, extra).await?;
        Ok(Self::around(kind, postern, upstream).await)
    }

    async fn around(kind: ProxyKind, postern: Postern, upstream: Upstream) -> Self {
        let proxy = Proxy::start(kind, postern.port(), upstream.port()).await;
        Self {
            proxy,
            postern,
            upstream,
        }
    }
}
