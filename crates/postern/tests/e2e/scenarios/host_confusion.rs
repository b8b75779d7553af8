//! The host a proxy routes on is the host postern judges. A request line in absolute form
//! names the protected app while `Host` names a bypassed app, or an app with a public path:
//! the proxy serves the protected app, so postern must judge the protected app, never the
//! other one. nginx's default server closes connections for hosts it does not serve.

use http::StatusCode;

use crate::harness::client::Request;
use crate::harness::proxy::{APP_HOST, ProxyKind, Variant};
use crate::harness::raw::{self, RawAnswer};
use crate::harness::stack::Stack;
use crate::harness::upstream::Echo;

/// `app.example.com` is protected (the default policy); the other two let anyone through, one
/// by host and one by path.
const RULES: &str = r#"
[[apps]]
name = "Status"
host = "status.example.com"
policy = "bypass"

[[apps]]
name = "Docs"
host = "docs.example.com"
policy = "one_factor"
public_paths = ["/private(/.*)?"]
"#;

fn request(target: &str, host: Option<&str>) -> String {
    let host_line = host
        .map(|host| format!("Host: {host}\r\n"))
        .unwrap_or_default();
    format!(
        "GET {target} HTTP/1.1\r\n{host_line}Accept: application/json\r\nConnection: close\r\n\r\n"
    )
}

fn assert_refused_by_postern(answer: &RawAnswer, what: &str) {
    assert_eq!(
        answer.status(),
        Some(StatusCode::UNAUTHORIZED),
        "{what}: {}",
        answer.describe()
    );
}

pub async fn a_request_line_naming_the_app_is_judged_as_the_app(kind: ProxyKind) {
    let stack = Stack::start_with(kind, RULES).await;
    let port = stack.proxy.port();
    for other in ["status.example.com", "docs.example.com"] {
        for line_host in [APP_HOST.to_owned(), format!("{APP_HOST}:{port}")] {
            for header_host in [other.to_owned(), format!("{other}:{port}")] {
                let target = format!("http://{line_host}/private");
                let answer = raw::exchange(port, &request(&target, Some(&header_host))).await;
                assert_refused_by_postern(&answer, &format!("GET {target} + Host: {header_host}"));
            }
        }
    }
    assert_eq!(
        stack.upstream.hits(),
        0,
        "the protected app was reached without a session"
    );
}

/// nginx only: the shipped `default_server` answers a host no server block names by closing
/// the connection, so it is never judged as (or served by) the protected app.
pub async fn an_unknown_host_is_closed_without_an_answer() {
    let stack = Stack::start_with(ProxyKind::Nginx, RULES).await;
    let port = stack.proxy.port();
    let unknown = format!("unknown.example.com:{port}");
    for (what, request) in [
        ("unknown Host", request("/private", Some(&unknown))),
        (
            "bypassed Host",
            request("/private", Some("status.example.com")),
        ),
        (
            "no Host",
            "GET /private HTTP/1.0\r\nAccept: application/json\r\n\r\n".to_owned(),
        ),
    ] {
        let answer = raw::exchange(port, &request).await;
        assert!(
            answer.bytes.is_empty(),
            "{what}: nginx answered {}",
            answer.describe()
        );
    }
    // The app's own host still gets postern's answer on the same listener.
    let app = raw::exchange(
        port,
        &request("/private", Some(&format!("{APP_HOST}:{port}"))),
    )
    .await;
    assert_refused_by_postern(&app, "the app's own host");
    assert_eq!(stack.upstream.hits(), 0, "a request reached the app");
}

/// Behind a CDN or load balancer the proxy trusts, a client's own `X-Forwarded-Host`,
/// `X-Forwarded-Uri` and `X-Forwarded-Method` reach the proxy: the shipped configs still ask
/// postern about the request the proxy routes, never the one those headers describe.
pub async fn a_trusted_upstream_s_forwarded_headers_do_not_choose_what_postern_judges(
    kind: ProxyKind,
) {
    let rules = format!(
        "{RULES}\n[[apps]]\nname = \"App\"\nhost = \"{APP_HOST}\"\n\
         public_paths = [\"/public(/.*)?\"]\nmethods = [\"OPTIONS\"]\n"
    );
    let stack = Stack::start_variant(kind, &rules, Variant::TrustingItsClients).await;
    let forged: [(&str, &str); 4] = [
        ("X-Forwarded-Host", "status.example.com"),
        ("X-Forwarded-Host", "docs.example.com"),
        ("X-Forwarded-Uri", "/public/x"),
        ("X-Forwarded-Method", "OPTIONS"),
    ];
    for (name, value) in forged {
        let asked = Request::get("/private").api_client().header(name, value);
        let response = stack.proxy.send(asked).await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "{name}: {value}: {}",
            response.describe()
        );
    }
    // The real public path still passes: the forged headers were the only difference.
    let public = Request::get("/public/x")
        .api_client()
        .header("X-Forwarded-For", "203.0.113.9");
    let public = stack.proxy.send(public).await;
    assert_eq!(public.status, StatusCode::OK, "{}", public.describe());
    if kind != ProxyKind::Nginx {
        // The variant took effect: the proxy believed the client's own forwarded address.
        let seen = Echo::parse(&public.json()).values("x-forwarded-for");
        assert!(
            seen.iter().any(|value| value.contains("203.0.113.9")),
            "the proxy did not trust its client: {seen:?}"
        );
    }
    assert_eq!(
        stack.upstream.hits(),
        1,
        "only the public path reached the app"
    );
}
