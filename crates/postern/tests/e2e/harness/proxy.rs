//! One real reverse proxy in front of postern and the upstream app, configured from deploy/.

use std::time::Duration;

use http::StatusCode;
use url::Url;

use super::client::{self, Request, Response};
use super::ports::on_a_free_port;
use super::process::{PortTaken, Process, wait_until_listening};
use super::scratch::ScratchDir;
use super::{caddy, nginx, traefik};

/// The protected app's hostname in the deploy/ examples.
pub const APP_HOST: &str = "app.example.com";
/// postern's own portal host in the deploy/ examples (their commented portal blocks).
pub const AUTH_HOST: &str = "auth.example.com";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Nginx,
    Traefik,
    Caddy,
}

impl ProxyKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Nginx => "nginx",
            Self::Traefik => "traefik",
            Self::Caddy => "caddy",
        }
    }
}

/// How the deploy file is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// As shipped.
    AsShipped,
    /// With its commented portal block uncommented.
    Portal,
    /// As shipped, behind a CDN or load balancer that the proxy is told to trust (here the
    /// test client itself): the client's `X-Forwarded-*` reach the proxy's own logic, as
    /// they do when that upstream passes them on unchanged. nginx has no such setting in the
    /// shipped file: it runs as shipped.
    TrustingItsClients,
}

/// The loopback ports a proxy config is materialised with.
pub struct Ports {
    /// Where the proxy itself listens.
    pub listen: u16,
    pub postern: u16,
    pub upstream: u16,
}

pub struct Proxy {
    kind: ProxyKind,
    // Before `_dir`: the process stops before its config and logs are removed.
    process: Process,
    port: u16,
    _dir: ScratchDir,
}

impl Proxy {
    pub async fn start(kind: ProxyKind, postern_port: u16, upstream_port: u16) -> Self {
        Self::start_variant(kind, postern_port, upstream_port, Variant::AsShipped).await
    }

    /// The deploy file run as `variant` says. The proxy listens on a free port, and on
    /// another if that one was taken before it bound it.
    pub async fn start_variant(
        kind: ProxyKind,
        postern_port: u16,
        upstream_port: u16,
        variant: Variant,
    ) -> Self {
        on_a_free_port(kind.name(), async |listen| {
            let dir = ScratchDir::new(kind.name());
            let ports = Ports {
                listen,
                postern: postern_port,
                upstream: upstream_port,
            };
            let process = match kind {
                ProxyKind::Nginx => nginx::start(&dir, &ports, variant == Variant::Portal),
                ProxyKind::Traefik => traefik::start(&dir, &ports, variant),
                ProxyKind::Caddy => caddy::start(&dir, &ports, variant),
            };
            let mut proxy = Self {
                kind,
                process,
                port: listen,
                _dir: dir,
            };
            proxy.wait_until_routed().await?;
            Ok(proxy)
        })
        .await
    }

    /// Where the proxy listens on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `app.example.com:<port>`, the `Host` a browser sends.
    pub fn host(&self) -> String {
        format!("{APP_HOST}:{}", self.port)
    }

    /// The absolute URL a browser would have asked for.
    pub fn url(&self, target: &str) -> Url {
        Url::parse(&format!("http://{}{target}", self.host())).expect("app URL")
    }

    pub async fn send(&self, request: Request) -> Response {
        client::send(self.port, &self.host(), request).await
    }

    /// Ready when this proxy holds its port and a request travels the whole way: proxy,
    /// router, postern. An API client without a session gets postern's 401 through every
    /// proxy. An open port is not enough: traefik answers 404 until its file provider has
    /// loaded the routers.
    async fn wait_until_routed(&mut self) -> Result<(), PortTaken> {
        let (port, host) = (self.port, self.host());
        let what = format!("{} routing to postern", self.kind.name());
        wait_until_listening(
            &mut self.process,
            port,
            &what,
            Duration::from_secs(20),
            async || {
                let probe = Request::get("/").api_client();
                client::try_send(port, &host, probe)
                    .await
                    .is_ok_and(|r| r.status == StatusCode::UNAUTHORIZED)
            },
        )
        .await
    }
}
