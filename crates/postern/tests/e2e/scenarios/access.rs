//! Access rules through each real proxy: who is refused and how, the public path and its
//! bypass attempts, preflights and a forged method, a forged client IP. The proxies route only
//! `app.example.com`, so the rules are written for that host.

use http::{Method, StatusCode};

use crate::harness::client::Request;
use crate::harness::portal::{api_login, api_login_as};
use crate::harness::postern::BOB;
use crate::harness::proxy::{APP_HOST, ProxyKind};
use crate::harness::raw;
use crate::harness::stack::Stack;
use crate::harness::upstream::Echo;

const RULES: &str = r#"
[[apps]]
name = "The App"
host = "app.example.com"
policy = "one_factor"
allow_groups = ["admins"]
public_paths = ["/public/[a-z]+"]
methods = ["OPTIONS"]
bypass_ips = ["10.77.0.0/16"]
"#;

async fn stack(kind: ProxyKind) -> Stack {
    Stack::start_with(kind, RULES).await
}

pub async fn a_user_outside_the_group_is_refused(kind: ProxyKind) {
    let stack = stack(kind).await;
    let alice = api_login(&stack.postern).await;
    let allowed = stack
        .proxy
        .send(Request::get("/whoami").browser().cookie(&alice))
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.describe());
    assert_eq!(
        Echo::parse(&allowed.json()).values("remote-user"),
        ["alice"]
    );
    let hits = stack.upstream.hits();

    let bob = api_login_as(&stack.postern, BOB).await;
    let api = stack
        .proxy
        .send(Request::get("/whoami").api_client().cookie(&bob))
        .await;
    assert_eq!(api.status, StatusCode::FORBIDDEN, "{}", api.describe());
    let browser = stack
        .proxy
        .send(Request::get("/whoami").browser().cookie(&bob))
        .await;
    // Every proxy, nginx included (its error_page 403 turns postern's 403 + Location into
    // this redirect), sends the browser to postern's "You don't have access" page.
    assert_eq!(browser.status, StatusCode::FOUND, "{}", browser.describe());
    let location = browser.location().expect("a Location to /unauthorized");
    assert_eq!(location.path(), "/unauthorized");
    assert!(
        location
            .query()
            .is_some_and(|query| query.starts_with("reason=user&app=The%20App&redirect_uri=")),
        "{location}"
    );
    assert_eq!(stack.upstream.hits(), hits, "bob reached the app");
}

pub async fn a_public_path_passes_and_its_bypasses_do_not(kind: ProxyKind) {
    let stack = stack(kind).await;
    let public = stack
        .proxy
        .send(Request::get("/public/logo").api_client())
        .await;
    assert_eq!(public.status, StatusCode::OK, "{}", public.describe());
    // Anonymous: empty identity headers, never a client's own.
    let seen = Echo::parse(&public.json()).values("remote-user");
    assert!(
        seen.iter().all(String::is_empty),
        "identity on an anonymous request: {seen:?}"
    );
    let hits = stack.upstream.hits();
    for attempt in [
        "/public/../whoami",
        "/public/%2e%2e/whoami",
        "/public%2F..%2Fwhoami",
        "/public/logo%2F..%2F..%2Fwhoami",
        "//public/../whoami",
        "/whoami?x=/public/logo",
        "/x/public/logo",
        "/public/logo/../../whoami",
    ] {
        let response = stack.proxy.send(Request::get(attempt).api_client()).await;
        assert_ne!(
            response.status,
            StatusCode::OK,
            "{attempt}: {}",
            response.describe()
        );
    }
    // A raw `#`, which no client library sends: nginx forwards it in `$request_uri`, and a
    // server that takes it as text reads `/whoami`.
    let raw = format!(
        "GET /public/logo#/../../whoami HTTP/1.1\r\nHost: {APP_HOST}\r\nAccept: application/json\r\n\
         Connection: close\r\n\r\n"
    );
    let answer = raw::exchange(stack.proxy.port(), &raw).await;
    assert_ne!(
        answer.status(),
        Some(StatusCode::OK),
        "{}",
        answer.describe()
    );
    assert_eq!(
        stack.upstream.hits(),
        hits,
        "a bypass attempt reached the app"
    );
}

pub async fn a_forged_method_reaches_only_the_preflight(kind: ProxyKind) {
    let stack = stack(kind).await;
    let preflight = stack
        .proxy
        .send(Request::new(Method::OPTIONS, "/api/items").api_client())
        .await;
    assert_eq!(preflight.status, StatusCode::OK, "{}", preflight.describe());
    let hits = stack.upstream.hits();
    for header in ["X-Forwarded-Method", "X-Original-Method"] {
        let forged = stack
            .proxy
            .send(
                Request::get("/api/items")
                    .api_client()
                    .header(header, "OPTIONS"),
            )
            .await;
        assert_eq!(
            forged.status,
            StatusCode::UNAUTHORIZED,
            "{header}: {}",
            forged.describe()
        );
    }
    assert_eq!(
        stack.upstream.hits(),
        hits,
        "a GET claiming to be OPTIONS reached the app"
    );
}

pub async fn a_forged_client_ip_changes_nothing(kind: ProxyKind) {
    let stack = stack(kind).await;
    for header in ["X-Forwarded-For", "X-Real-IP"] {
        let forged = stack
            .proxy
            .send(
                Request::get("/whoami")
                    .api_client()
                    .header(header, "10.77.0.5"),
            )
            .await;
        assert_eq!(
            forged.status,
            StatusCode::UNAUTHORIZED,
            "{header}: {}",
            forged.describe()
        );
    }
    assert_eq!(
        stack.upstream.hits(),
        0,
        "a forged client IP reached the app"
    );
}
