//! The proxy keeps its connections to postern: 10,000 proxied requests from as many clients at
//! a time as the proxy keeps idle connections, and a count of the connections postern accepted
//! meanwhile (through a counting TCP relay, see harness/relay.rs). An auth answer with a body
//! nginx does not read would cost a connection per request; with none, the proxy's pool holds.

use http::StatusCode;

use crate::harness::client::{Connection, Request};
use crate::harness::portal::api_login;
use crate::harness::postern::Postern;
use crate::harness::proxy::{Proxy, ProxyKind};
use crate::harness::relay::Relay;
use crate::harness::upstream::Upstream;

const REQUESTS: usize = 10_000;

/// How many clients send at a time (the size of the proxy's idle pool towards postern), and
/// how many connections to postern the proxy may open for the run, and why.
fn pool(kind: ProxyKind) -> (usize, usize) {
    match kind {
        // `keepalive 64` in deploy/nginx/site.conf; nginx also closes an upstream connection
        // after its 1,000th request (`keepalive_requests`' default): one reconnect per 1,000.
        ProxyKind::Nginx => (64, 64 + REQUESTS / 1_000),
        // forwardAuth's Go HTTP client keeps Go's default of 2 idle connections per host and
        // closes any other one after its answer (16 clients: about 6,000 connections, for
        // any auth server). Nothing closes a connection after a number of requests.
        ProxyKind::Traefik => (2, 2),
        // caddy's reverse proxy transport keeps 32 idle connections per host by default.
        ProxyKind::Caddy => (16, 16),
    }
}

pub async fn the_proxy_keeps_its_connections_to_postern(kind: ProxyKind) {
    let upstream = Upstream::start().await;
    let postern = Postern::start("").await;
    let relay = Relay::start(postern.port()).await;
    let proxy = Proxy::start(kind, relay.port(), upstream.port()).await;
    let session = api_login(&postern).await;
    let (port, host) = (proxy.port(), proxy.host());
    let before = relay.accepted();
    let (clients_at_once, allowed) = pool(kind);
    let per_client = REQUESTS / clients_at_once;

    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..clients_at_once {
        let (host, session) = (host.clone(), session.clone());
        clients.spawn(async move {
            let mut connection = Connection::open(port).await.expect("connect to the proxy");
            for _ in 0..per_client {
                let request = Request::get("/kept").browser().cookie(&session);
                let response = connection.exchange(&host, request).await.expect("proxied");
                assert_eq!(response.status, StatusCode::OK, "{}", response.describe());
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done.expect("client task");
    }

    let opened = relay.accepted() - before;
    let sent = per_client * clients_at_once;
    assert_eq!(upstream.hits(), sent, "every request reached the app");
    assert!(
        opened <= allowed,
        "{} opened {opened} connections to postern for {sent} requests from \
         {clients_at_once} clients at a time; its pool allows {allowed}",
        kind.name(),
    );
    eprintln!(
        "{}: {opened} connections to postern for {sent} proxied requests",
        kind.name()
    );
}
