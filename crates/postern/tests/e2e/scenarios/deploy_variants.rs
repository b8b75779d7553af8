//! Every commented block in a proxy's deploy file must work when a user uncomments it: here
//! the portal block (postern's own login page, served without the auth check). The proxy
//! loads the file with the block uncommented; the portal answers through it and the
//! protected app is still routed (the proxy start waits for that). The portal keeps the check
//! endpoints to the proxy: from outside, a signed-in user could name any app there and read
//! the app's `headers` (an `upstream_basic_auth` password) in postern's answer.

use http::StatusCode;

use crate::harness::client::{self, Request};
use crate::harness::postern::Postern;
use crate::harness::proxy::{AUTH_HOST, Proxy, ProxyKind, Variant};
use crate::harness::upstream::Upstream;

pub async fn the_uncommented_portal_block_serves_the_portal_but_not_the_checks(kind: ProxyKind) {
    let upstream = Upstream::start().await;
    let postern = Postern::start("").await;
    let proxy = Proxy::start_variant(kind, postern.port(), upstream.port(), Variant::Portal).await;
    let portal = format!("{AUTH_HOST}:{}", proxy.port());
    let page = client::send(proxy.port(), &portal, Request::get("/login").browser()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("Sign in"), "{}", page.text());
    for check in [
        "/api/auth/nginx",
        "/api/auth/traefik",
        "/api/auth/caddy",
        "/api/auth/envoy",
        "/api/auth/envoy/deep/path",
    ] {
        let asked = Request::get(check)
            .api_client()
            .header("X-Original-URL", "http://app.example.com/")
            .header("X-Original-Method", "GET");
        let refused = client::send(proxy.port(), &portal, asked).await;
        assert_eq!(
            refused.status,
            StatusCode::NOT_FOUND,
            "{check}: {}",
            refused.describe()
        );
        assert!(
            !refused.text().contains("Unauthorized"),
            "{check} reached postern: {}",
            refused.describe()
        );
    }
    // The token login, beside them under /api/auth/, is postern's.
    let login = Request::post("/api/auth/login")
        .api_client()
        .json(&serde_json::json!({ "username": "nobody", "password": "wrong" }));
    let login = client::send(proxy.port(), &portal, login).await;
    assert_eq!(
        login.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        login.describe()
    );
    assert_eq!(login.json()["message"], "Unauthorized");
    assert_eq!(upstream.hits(), 0, "the portal host reached the app");
}
