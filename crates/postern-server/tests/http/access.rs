//! Access rules on the check path: the answers a proxy gets for each kind of refusal, the
//! bypasses, the headers for the upstream, and the `/unauthorized` page.

use http::StatusCode;

use crate::support::*;

const RULES: &str = r#"
trusted_proxies = ["127.0.0.1/32"]
[[apps]]
name = "Dashboard"
host = "dash.example.com"
policy = "one_factor"
allow_groups = ["admins"]
headers = { X-Team = "ops" }
[[apps]]
name = "Status"
host = "status.example.com"
policy = "bypass"
headers = { X-Role = "viewer" }
[[apps]]
name = "Office"
host = "office.example.com"
allow_ips = ["10.0.0.0/8"]
[[apps]]
name = "Media"
host = "media.example.com"
policy = "one_factor"
public_paths = ["/share/[a-z0-9]+"]
[[apps]]
name = "API"
host = "api.example.com"
policy = "one_factor"
methods = ["OPTIONS"]
"#;

async fn server(extra: &str) -> TestServer {
    TestServer::with_config(&config_text("https://auth.example.com", extra)).await
}

/// traefik's headers for `https://{host}{uri}`.
fn traefik(server: &TestServer, method: &str, host: &str, uri: &str) -> TestRequest {
    server
        .get("/api/auth/traefik")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", host)
        .header("x-forwarded-uri", uri)
        .header("x-forwarded-method", method)
}

#[tokio::test]
async fn a_user_outside_the_allowed_groups_is_refused_with_the_reason() {
    let server = server(RULES).await;
    let alice = server.login("alice").await;
    let bob = server.login("bob").await;

    let allowed = traefik(&server, "GET", "dash.example.com", "/")
        .header("cookie", &alice)
        .send()
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(allowed.header("remote-user"), Some("alice"));
    assert_eq!(allowed.header("x-team"), Some("ops"));

    let api = traefik(&server, "GET", "dash.example.com", "/")
        .header("cookie", &bob)
        .send()
        .await;
    assert_eq!(api.status, StatusCode::FORBIDDEN);
    assert_eq!(api.json()["reason"], "user");
    assert_eq!(api.header("remote-user"), None);

    let browser = traefik(&server, "GET", "dash.example.com", "/")
        .header("cookie", &bob)
        .browser()
        .send()
        .await;
    assert_eq!(browser.status, StatusCode::FOUND);
    assert_eq!(
        browser.header("location"),
        Some(
            "https://auth.example.com/unauthorized?reason=user&app=Dashboard&redirect_uri=https%3A%2F%2Fdash.example.com%2F"
        )
    );

    // Through nginx a browser gets the 403 itself (auth_request cannot pass on a redirect),
    // with the no-access page in Location for the snippet's `error_page 403` to redirect to.
    let nginx = server
        .get("/api/auth/nginx")
        .browser()
        .header("cookie", &bob)
        .header("x-original-url", "https://dash.example.com/")
        .header("x-original-method", "GET")
        .send()
        .await;
    assert_eq!(nginx.status, StatusCode::FORBIDDEN);
    assert_eq!(
        nginx.header("location"),
        Some(
            "https://auth.example.com/unauthorized?reason=user&app=Dashboard&redirect_uri=https%3A%2F%2Fdash.example.com%2F"
        )
    );
    let nginx_api = server
        .get("/api/auth/nginx")
        .header("accept", "application/json")
        .header("cookie", &bob)
        .header("x-original-url", "https://dash.example.com/")
        .header("x-original-method", "GET")
        .send()
        .await;
    assert_eq!(nginx_api.status, StatusCode::FORBIDDEN);
    assert_eq!(
        nginx_api.header("location"),
        None,
        "scripts get no redirect"
    );
}

#[tokio::test]
async fn every_nginx_answer_has_no_body_and_api_refusals_elsewhere_keep_their_json() {
    let server = server(RULES).await;
    let bob = server.login("bob").await;
    let nginx = |accept: &str, url: &str| {
        server
            .get("/api/auth/nginx")
            .header("accept", accept)
            .header("x-original-url", url)
            .header("x-original-method", "GET")
    };
    let (html, json) = ("text/html", "application/json");
    for (request, status) in [
        (nginx(html, "https://dash.example.com/"), 401),
        (nginx(json, "https://dash.example.com/"), 401),
        (nginx(json, "not a url"), 400),
        (
            nginx(json, "https://dash.example.com/").header("cookie", &bob),
            403,
        ),
        (
            nginx(html, "https://dash.example.com/").header("cookie", &bob),
            403,
        ),
        (nginx(json, "https://status.example.com/"), 200),
    ] {
        let response = request.send().await;
        assert_eq!(response.status.as_u16(), status, "{}", response.body);
        // auth_request never reads a body; an unread one costs nginx its keep-alive connection.
        assert_eq!(response.header("content-length"), Some("0"), "{status}");
        assert_eq!(response.body, "", "{status}");
    }
    // traefik, caddy and envoy pass a refusal to the client as it is: API clients read the JSON.
    let refusals = [
        traefik(&server, "GET", "dash.example.com", "/").header("cookie", &bob),
        server
            .get("/api/auth/caddy")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "dash.example.com")
            .header("x-forwarded-uri", "/")
            .header("x-forwarded-method", "GET")
            .header("cookie", &bob),
        server
            .get("/api/auth/envoy/")
            .header("x-forwarded-proto", "https"),
    ];
    for (request, status) in refusals.into_iter().zip([403, 403, 401]) {
        let response = request.header("accept", json).send().await;
        assert_eq!(response.status.as_u16(), status, "{}", response.body);
        assert_eq!(response.json()["status"], status);
        assert_eq!(response.header("content-type"), Some("application/json"));
    }
}

#[tokio::test]
async fn the_unauthorized_page_names_the_app_and_reason_and_nothing_forged() {
    let server = server(RULES).await;
    let bob = server.login("bob").await;
    let page = server
        .get("/unauthorized?reason=user&app=Dashboard")
        .header("cookie", &bob)
        .browser()
        .send()
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(
        page.body.contains("<strong>Dashboard</strong>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("signed in as <strong>bob</strong>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-reason=\"user\""));

    let network = server
        .get("/unauthorized?reason=network&app=Office")
        .browser()
        .send()
        .await;
    assert!(
        network
            .body
            .contains("You cannot open <strong>Office</strong> from your network"),
        "{}",
        network.body
    );

    // An app that is not configured, or a made-up reason, is not repeated on the page.
    let forged = server
        .get("/unauthorized?reason=%3Cscript%3E&app=Call%20support%20at%20evil.example")
        .browser()
        .send()
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!forged.body.contains("evil.example"), "{}", forged.body);
    assert!(!forged.body.contains("<script>"));
    assert!(forged.body.contains("data-reason=\"\""));
    assert!(forged.body.contains("that app"));
}

#[tokio::test]
async fn a_bypassed_request_passes_without_a_session_and_without_an_identity() {
    let server = server(RULES).await;
    let response = traefik(&server, "GET", "status.example.com", "/")
        .header("remote-user", "admin")
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    // Empty identity headers, so the proxy overwrites anything the client sent.
    for name in [
        "remote-user",
        "remote-email",
        "remote-name",
        "remote-groups",
    ] {
        assert_eq!(response.header(name), Some(""), "{name}");
    }
    assert_eq!(response.header("cache-control"), Some("no-store"));
    // App headers are for signed-in users only.
    assert_eq!(response.header("x-role"), None);
}

#[tokio::test]
async fn the_client_ip_comes_only_through_trusted_proxies() {
    let server = server(RULES).await;
    let alice = server.login("alice").await;
    let from = |xff: &str| {
        traefik(&server, "GET", "office.example.com", "/")
            .header("cookie", &alice)
            .header("x-forwarded-for", xff)
    };
    assert_eq!(from("10.1.2.3").send().await.status, StatusCode::OK);
    let outside = from("192.0.2.5").send().await;
    assert_eq!(outside.status, StatusCode::FORBIDDEN);
    assert_eq!(outside.json()["reason"], "network");

    // Nobody trusted: the forged X-Forwarded-For changes nothing, the peer (127.0.0.1) counts.
    let untrusting = server_without_trust().await;
    let alice = untrusting.login("alice").await;
    let forged = traefik(&untrusting, "GET", "office.example.com", "/")
        .header("cookie", &alice)
        .header("x-forwarded-for", "10.1.2.3")
        .send()
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

async fn server_without_trust() -> TestServer {
    server(&RULES.replace(
        "trusted_proxies = [\"127.0.0.1/32\"]",
        "trusted_proxies = []",
    ))
    .await
}

#[tokio::test]
async fn public_paths_pass_and_their_bypasses_do_not() {
    let server = server(RULES).await;
    let public = traefik(&server, "GET", "media.example.com", "/share/abc123")
        .send()
        .await;
    assert_eq!(public.status, StatusCode::OK);
    for uri in [
        "/share/abc123/../../admin",
        "/share/abc123%2F..%2F..%2Fadmin",
        "//share/abc123/x",
        "/admin?x=/share/abc",
        "/x/share/abc",
    ] {
        let attempt = traefik(&server, "GET", "media.example.com", uri)
            .send()
            .await;
        assert_eq!(attempt.status, StatusCode::UNAUTHORIZED, "{uri}");
    }
    // nginx's X-Original-URL goes through the same canonical path.
    let nginx = server
        .get("/api/auth/nginx")
        .header(
            "x-original-url",
            "https://MEDIA.example.com./share/abc/%2e%2e/%2e%2e/admin",
        )
        .header("x-original-method", "GET")
        .send()
        .await;
    assert_eq!(nginx.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_listed_method_passes_and_only_that_method() {
    let server = server(RULES).await;
    let preflight = traefik(&server, "OPTIONS", "api.example.com", "/items")
        .send()
        .await;
    assert_eq!(preflight.status, StatusCode::OK);
    let get = traefik(&server, "GET", "api.example.com", "/items")
        .send()
        .await;
    assert_eq!(get.status, StatusCode::UNAUTHORIZED);
    // nginx: the method the proxy set in X-Original-Method wins over a client's X-Forwarded-Method.
    let forged = server
        .get("/api/auth/nginx")
        .header("x-original-url", "https://api.example.com/items")
        .header("x-original-method", "GET")
        .header("x-forwarded-method", "OPTIONS")
        .send()
        .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_deny_default_refuses_unknown_hosts_even_when_signed_in() {
    let server = server(&format!("{RULES}\n[access]\ndefault_policy = \"deny\"\n")).await;
    let alice = server.login("alice").await;
    let unknown = traefik(&server, "GET", "other.example.com", "/")
        .header("cookie", &alice)
        .send()
        .await;
    assert_eq!(unknown.status, StatusCode::FORBIDDEN);
    assert_eq!(unknown.json()["reason"], "denied");
    let browser = traefik(&server, "GET", "other.example.com", "/")
        .header("cookie", &alice)
        .browser()
        .send()
        .await;
    // An unconfigured host is not named on the page.
    assert_eq!(
        browser.header("location"),
        Some(
            "https://auth.example.com/unauthorized?reason=denied&redirect_uri=https%3A%2F%2Fother.example.com%2F"
        )
    );
    let known = traefik(&server, "GET", "dash.example.com", "/")
        .header("cookie", &alice)
        .send()
        .await;
    assert_eq!(known.status, StatusCode::OK);
}

/// "Switch account" on the no-access page signs out and starts a sign-in that comes back to
/// the app, in one step: no confirmation page, and the app's address is kept.
#[tokio::test]
async fn switch_account_signs_out_and_returns_to_the_app_after_the_next_sign_in() {
    let server = server(RULES).await;
    let bob = server.login("bob").await;
    let refused = traefik(&server, "GET", "dash.example.com", "/reports?q=1")
        .header("cookie", &bob)
        .browser()
        .send()
        .await;
    let location = refused.header("location").unwrap();
    let page = server
        .get(location.trim_start_matches("https://auth.example.com"))
        .browser()
        .header("cookie", &bob)
        .send()
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("id=\"switch-account\""), "{}", page.body);
    let csrf = page.hidden_field("csrf");
    let redirect_uri = page.hidden_field("redirect_uri");
    assert_eq!(
        redirect_uri,
        "/login?redirect_uri=https%3A%2F%2Fdash%2Eexample%2Ecom%2Freports%3Fq%3D1"
    );
    let switched = server
        .post("/logout")
        .header("cookie", &bob)
        .form(&[("csrf", &csrf), ("redirect_uri", &redirect_uri)])
        .send()
        .await;
    assert_eq!(switched.status, StatusCode::SEE_OTHER);
    let login = switched.header("location").unwrap();
    assert_eq!(
        login,
        "https://auth.example.com/login?redirect_uri=https%3A%2F%2Fdash%2Eexample%2Ecom%2Freports%3Fq%3D1"
    );
    let form = server
        .get(login.trim_start_matches("https://auth.example.com"))
        .browser()
        .send()
        .await;
    assert_eq!(
        form.hidden_field("redirect_uri"),
        "https://dash.example.com/reports?q=1",
        "the next sign-in returns to the app"
    );
}

/// A reload puts new rules and new users in force together: bob, moved into a new group that
/// the new rules admit, passes at once, with his new groups, and so does a Basic caller.
#[tokio::test]
async fn a_reload_swaps_rules_and_users_together() {
    let server = server(&format!("{RULES}[api]\nbasic_auth = true\n")).await;
    let bob = server.login("bob").await;
    let check = |cookie: Option<&str>, basic: Option<&str>| {
        let mut request = traefik(&server, "GET", "dash.example.com", "/");
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(basic) = basic {
            request = request.header("authorization", basic);
        }
        request.send()
    };
    assert_eq!(check(Some(&bob), None).await.status, StatusCode::FORBIDDEN);

    let text = config_text(
        "https://auth.example.com",
        &RULES.replace("allow_groups = [\"admins\"]", "allow_groups = [\"night\"]"),
    )
    .replace(
        "[[users]]\nname = \"bob\"\n",
        "[[users]]\nname = \"bob\"\ngroups = [\"night\"]\n",
    );
    let reloaded = load(&text);
    server.state.replace_live(reloaded.access, reloaded.users);

    let session = check(Some(&bob), None).await;
    assert_eq!(session.status, StatusCode::OK);
    assert_eq!(session.header("remote-groups"), Some("night"));
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("bob:{PASSWORD}"))
    );
    let basic = check(None, Some(&basic)).await;
    assert_eq!(basic.status, StatusCode::OK, "{}", basic.body);
    assert_eq!(basic.header("remote-groups"), Some("night"));
}
