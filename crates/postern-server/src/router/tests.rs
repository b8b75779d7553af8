//! The route table, path by path: each method that a path serves goes to its handler, and
//! every other method gets 405 with an `Allow` that names exactly the methods served.

use http::Method;
use postern_core::config::{self, NoEnv, Sources};
use postern_store::Store;

use super::*;

fn state() -> AppState {
    let hash = postern_core::password::hash_password(b"a password").unwrap();
    let text = format!(
        "app_url = \"https://auth.example.com\"\n\
         secret = \"test-secret-that-is-long-enough-for-postern\"\n\
         [[users]]\nname = \"alice\"\npassword_hash = \"{hash}\"\n"
    );
    let config = config::load(&Sources {
        file: Some((&text, std::path::Path::new("test.toml"))),
        env: &NoEnv,
        cli: &[],
    })
    .unwrap();
    AppState::new(config, Store::memory(100))
}

const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
];

/// Each path, and the route (its `Debug` form) of each method it serves.
const TABLE: &[(&str, &[(Method, &str)])] = &[
    ("/", &[(Method::GET, "Home"), (Method::HEAD, "Home")]),
    (
        "/login",
        &[
            (Method::GET, "LoginPage"),
            (Method::HEAD, "LoginPage"),
            (Method::POST, "LoginForm"),
        ],
    ),
    (
        "/logout",
        &[
            (Method::GET, "LogoutPage"),
            (Method::HEAD, "LogoutPage"),
            (Method::POST, "LogoutForm"),
        ],
    ),
    (
        "/totp",
        &[
            (Method::GET, "TotpPage"),
            (Method::HEAD, "TotpPage"),
            (Method::POST, "TotpForm"),
        ],
    ),
    (
        "/unauthorized",
        &[
            (Method::GET, "Unauthorized"),
            (Method::HEAD, "Unauthorized"),
        ],
    ),
    ("/api/auth/login", &[(Method::POST, "TokenLogin")]),
    ("/api/auth/refresh", &[(Method::POST, "TokenRefresh")]),
    ("/api/login", &[(Method::POST, "LoginJson")]),
    ("/api/logout", &[(Method::POST, "LogoutApi")]),
    ("/api/totp", &[(Method::POST, "TotpJson")]),
    ("/api/ticket/redeem", &[(Method::POST, "TicketRedeem")]),
    ("/api/change-password", &[(Method::POST, "ChangePassword")]),
    (
        "/account",
        &[(Method::GET, "AccountPage"), (Method::HEAD, "AccountPage")],
    ),
    (
        "/account/password",
        &[(Method::POST, "AccountForm(Password)")],
    ),
    (
        "/account/end-session",
        &[(Method::POST, "AccountForm(EndSession)")],
    ),
    (
        "/account/end-other-sessions",
        &[(Method::POST, "AccountForm(EndOtherSessions)")],
    ),
    ("/account/reauth", &[(Method::POST, "AccountForm(Reauth)")]),
    (
        "/account/totp-setup",
        &[(Method::POST, "AccountForm(TotpSetup)")],
    ),
    (
        "/account/totp-confirm",
        &[(Method::POST, "AccountForm(TotpConfirm)")],
    ),
    (
        "/account/totp-remove",
        &[(Method::POST, "AccountForm(TotpRemove)")],
    ),
    (
        "/account/recovery-codes",
        &[(Method::POST, "AccountForm(RecoveryCodes)")],
    ),
    ("/api/session/keepalive", &[(Method::POST, "Keepalive")]),
    (
        "/api/status",
        &[(Method::GET, "Status"), (Method::HEAD, "Status")],
    ),
    (
        "/api/csrf",
        &[(Method::GET, "Csrf"), (Method::HEAD, "Csrf")],
    ),
    (
        "/api/ws-token",
        // Not HEAD: it stores a ticket.
        &[(Method::GET, "TicketIssue")],
    ),
    (
        "/api/session",
        &[
            (Method::GET, "SessionGet"),
            (Method::HEAD, "SessionGet"),
            (Method::DELETE, "LogoutApi"),
        ],
    ),
    (
        "/api/sessions",
        &[
            (Method::GET, "SessionList"),
            (Method::HEAD, "SessionList"),
            (Method::DELETE, "SessionEndOthers"),
        ],
    ),
    (
        "/api/sessions/0123abcd",
        &[(Method::DELETE, "SessionEndOne(\"0123abcd\")")],
    ),
    (
        "/api/healthcheck",
        &[
            (Method::GET, "Healthy { with_version: false }"),
            (Method::HEAD, "Healthy { with_version: false }"),
        ],
    ),
    (
        "/api/healthz",
        &[
            (Method::GET, "Healthy { with_version: false }"),
            (Method::HEAD, "Healthy { with_version: false }"),
        ],
    ),
    (
        "/health",
        &[
            (Method::GET, "Healthy { with_version: true }"),
            (Method::HEAD, "Healthy { with_version: true }"),
        ],
    ),
    (
        "/api/health",
        &[
            (Method::GET, "Healthy { with_version: true }"),
            (Method::HEAD, "Healthy { with_version: true }"),
        ],
    ),
    (
        "/api/ready",
        &[(Method::GET, "Ready"), (Method::HEAD, "Ready")],
    ),
    (
        "/.well-known/openid-configuration",
        &[
            (Method::GET, "OidcDiscovery"),
            (Method::HEAD, "OidcDiscovery"),
        ],
    ),
    (
        "/oidc/jwks",
        &[(Method::GET, "OidcJwks"), (Method::HEAD, "OidcJwks")],
    ),
    (
        "/oidc/authorize",
        &[
            (Method::GET, "OidcAuthorize"),
            (Method::POST, "OidcAuthorize"),
        ],
    ),
    (
        "/oidc/userinfo",
        &[
            (Method::GET, "OidcUserinfo"),
            (Method::POST, "OidcUserinfo"),
        ],
    ),
    (
        "/oidc/logout",
        &[
            (Method::GET, "OidcEndSession"),
            (Method::POST, "OidcEndSession"),
        ],
    ),
    ("/oidc/consent", &[(Method::POST, "OidcConsent")]),
    ("/oidc/token", &[(Method::POST, "OidcToken")]),
    ("/oidc/revoke", &[(Method::POST, "OidcRevoke")]),
    ("/oidc/introspect", &[(Method::POST, "OidcIntrospect")]),
    // GET only, not HEAD: each one stores or consumes a sign-in.
    (
        "/api/oauth/url/github",
        &[(Method::GET, "OAuth(Url, \"github\")")],
    ),
    (
        "/api/oauth/login/github",
        &[(Method::GET, "OAuth(Login, \"github\")")],
    ),
    (
        "/api/oauth/callback/github",
        &[(Method::GET, "OAuth(Callback, \"github\")")],
    ),
];

/// The `Allow` value for the methods a path serves, in the router's order.
fn allow_for(served: &[(Method, &str)]) -> String {
    let names: Vec<&str> = served.iter().map(|(method, _)| method.as_str()).collect();
    names.join(", ")
}

#[test]
fn every_path_and_method_goes_to_its_handler_or_gets_405_with_allow() {
    let state = state();
    for (path, served) in TABLE {
        let allow = allow_for(served);
        for method in &METHODS {
            let found = format!("{:?}", route(&state, method, path, None));
            let expected = match served.iter().find(|(served, _)| served == method) {
                Some((_, handler)) => (*handler).to_owned(),
                None => format!("MethodNotAllowed({allow:?})"),
            };
            assert_eq!(found, expected, "{method} {path}");
        }
    }
}

#[test]
fn the_check_endpoints_take_every_method() {
    let state = state();
    for method in &METHODS {
        for (path, expected) in [
            ("/api/auth/traefik", "Check(Traefik, \"\")"),
            ("/api/auth/nginx", "Check(Nginx, \"\")"),
            ("/api/auth/caddy", "Check(Caddy, \"\")"),
            ("/api/auth/envoy", "Check(Envoy, \"\")"),
            ("/api/auth/envoy/app/x", "Check(Envoy, \"/app/x\")"),
            ("/api/auth/traefik/x", "UnknownProxy"),
            ("/api/auth/haproxy", "UnknownProxy"),
        ] {
            let found = format!("{:?}", route(&state, method, path, None));
            assert_eq!(found, expected, "{method} {path}");
        }
    }
    let envoy = route(&state, &Method::GET, "/api/auth/envoy/a", Some("b=1"));
    assert_eq!(format!("{envoy:?}"), "Check(Envoy, \"/a?b=1\")");
}

#[test]
fn unknown_paths_are_not_found_whatever_the_method() {
    let state = state();
    for method in &METHODS {
        for path in [
            "/nope",
            "/api",
            "/api/sessions/",
            "/api/sessions/a/b",
            "/api/oauth/url",
            "/api/oauth/other/github",
            "/api/oauth/url/",
            "/api/oauth/url/a/b",
            "/static/nothing-here.css",
            "/login/",
        ] {
            let found = format!("{:?}", route(&state, method, path, None));
            assert_eq!(found, "NotFound", "{method} {path}");
        }
    }
}

#[test]
fn static_assets_are_served_to_get_and_head_only() {
    let state = state();
    let stylesheet = state.assets.stylesheet_url.clone();
    for method in [Method::GET, Method::HEAD] {
        let found = format!("{:?}", route(&state, &method, &stylesheet, None));
        assert!(
            found.starts_with("Asset("),
            "{method} {stylesheet}: {found}"
        );
    }
    let post = format!("{:?}", route(&state, &Method::POST, &stylesheet, None));
    assert_eq!(post, "NotFound");
}

/// Every request's future is moved into a box of its own size (listener.rs), so what a check
/// holds inline is copied on every check: with the store's Redis read and the Basic and bearer
/// paths inline that was 12,200 bytes. Boxing them keeps a check's future small; this fails if
/// a large future creeps back onto the check path.
#[test]
fn a_check_s_future_stays_small() {
    let state = Arc::new(state());
    let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let request = Request::builder()
        .uri("/api/auth/traefik")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let check = handle(state, peer, request);
    let size = std::mem::size_of_val(&check);
    assert!(size <= 2048, "a check's future is {size} bytes");
}
