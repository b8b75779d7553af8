//! Every commented block in a proxy's deploy file must work when a user uncomments it: here
//! the portal block (postern's own login page, served without the auth check). The proxy
//! loads the file with the block uncommented; the portal answers through it and the
//! protected app is still routed (the proxy start waits for that).

use http::StatusCode;

use crate::harness::client::{self, Request};
use crate::harness::postern::Postern;
use crate::harness::proxy::{AUTH_HOST, Proxy, ProxyKind};
use crate::harness::upstream::Upstream;

pub async fn the_uncommented_portal_block_serves_the_login_page(kind: ProxyKind) {
    let upstream = Upstream::start().await;
    let postern = Postern::start("").await;
    let proxy = Proxy::start_variant(kind, postern.port(), upstream.port(), true).await;
    let portal = format!("{AUTH_HOST}:{}", proxy.port());
    let page = client::send(proxy.port(), &portal, Request::get("/login").browser()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    assert!(page.text().contains("Sign in"), "{}", page.text());
    assert_eq!(upstream.hits(), 0, "the portal host reached the app");
}
