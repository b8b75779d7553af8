//! `/api/auth/{proxy}`: the answer table, per proxy and per client.

use http::{Method, StatusCode};

use crate::support::*;

#[tokio::test]
async fn a_browser_without_a_session_is_sent_to_login_with_its_target() {
    let server = TestServer::start().await;
    for proxy in ["traefik", "caddy"] {
        let response = server
            .get(&format!("/api/auth/{proxy}"))
            .browser()
            .forwarded("GET", "/some/path?x=1&y=%C3%A9")
            .send()
            .await;
        assert_eq!(response.status, StatusCode::FOUND, "{proxy}");
        let location = response.header("location").unwrap();
        assert!(
            location.starts_with("https://auth.example.com/login?redirect_uri="),
            "{location}"
        );
        assert_eq!(
            response.query_of_location()["redirect_uri"],
            "https://app.example.com/some/path?x=1&y=%C3%A9"
        );
        assert_eq!(response.header("cache-control"), Some("no-store"));
    }
}

#[tokio::test]
async fn the_redirect_status_follows_the_original_method() {
    let server = TestServer::start().await;
    for (method, status) in [
        ("GET", 302),
        ("HEAD", 302),
        ("POST", 303),
        ("PUT", 303),
        ("DELETE", 303),
    ] {
        let response = server
            .get("/api/auth/traefik")
            .browser()
            .forwarded(method, "/form")
            .send()
            .await;
        assert_eq!(response.status.as_u16(), status, "{method}");
    }
}

#[tokio::test]
async fn nginx_browsers_get_401_with_location_and_api_clients_without() {
    let server = TestServer::start().await;
    let browser = server
        .get("/api/auth/nginx")
        .browser()
        .header("x-original-url", "https://app.example.com/a?b=c")
        .header("x-original-method", "GET")
        .send()
        .await;
    assert_eq!(browser.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        browser.query_of_location()["redirect_uri"],
        "https://app.example.com/a?b=c"
    );
    let api = server
        .get("/api/auth/nginx")
        .header("accept", "application/json")
        .header("x-original-url", "https://app.example.com/a")
        .send()
        .await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.header("location"), None);
}

#[tokio::test]
async fn api_clients_get_json_401_with_a_challenge_and_no_location() {
    let server = TestServer::start().await;
    for request in [
        server
            .get("/api/auth/traefik")
            .header("accept", "application/json")
            .forwarded("GET", "/"),
        server.get("/api/auth/caddy").forwarded("GET", "/"),
        // Authorization means API mode even for a browser Accept header.
        server
            .get("/api/auth/traefik")
            .browser()
            .header("authorization", "Basic Zm9vOmJhcg==")
            .forwarded("GET", "/"),
    ] {
        let response = request.send().await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.json(),
            serde_json::json!({"status": 401, "message": "Unauthorized"})
        );
        assert!(response.header("www-authenticate").is_some());
        assert_eq!(response.header("location"), None);
    }
}

#[tokio::test]
async fn a_session_passes_with_all_four_identity_headers() {
    let server = TestServer::start().await;
    let cookie = server.login("alice").await;
    for proxy in ["traefik", "caddy", "nginx"] {
        let response = server
            .get(&format!("/api/auth/{proxy}"))
            .browser()
            .header("cookie", &cookie)
            .forwarded("GET", "/")
            .header("x-original-url", "https://app.example.com/")
            .send()
            .await;
        assert_eq!(response.status, StatusCode::OK, "{proxy}");
        assert_eq!(response.header("remote-user"), Some("alice"));
        assert_eq!(response.header("remote-email"), Some("alice@example.com"));
        assert_eq!(response.header("remote-name"), Some("Alice Example"));
        assert_eq!(response.header("remote-groups"), Some("admins,dev"));
        // No proxy reads an allowed answer's body; nginx would drop the connection over one.
        assert_eq!(response.header("content-length"), Some("0"), "{proxy}");
        assert_eq!(response.body, "", "{proxy}");
        assert_eq!(response.header("content-type"), None, "{proxy}");
        // It names a user: no cache between postern and the proxy may keep it.
        assert_eq!(
            response.header("cache-control"),
            Some("no-store"),
            "{proxy}"
        );
    }
}

#[tokio::test]
async fn unknown_identity_fields_are_sent_empty() {
    let server = TestServer::start().await;
    let cookie = server.login("bob").await;
    let response = server
        .get("/api/auth/traefik")
        .header("cookie", &cookie)
        .forwarded("GET", "/")
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("remote-user"), Some("bob"));
    for name in ["remote-email", "remote-name", "remote-groups"] {
        assert_eq!(response.header(name), Some(""), "{name}");
    }
}

#[tokio::test]
async fn identity_values_never_carry_line_breaks() {
    let hash = password_hash();
    let text = format!(
        "app_url = \"https://auth.example.com\"\n[server]\nlisten = \"127.0.0.1:0\"\n[[users]]\nname = \"eve\"\npassword_hash = \"{hash}\"\n\
         display_name = \"Eve\\r\\nRemote-User: admin\"\ngroups = [\"a\\nb\", \"c,d\"]\n"
    );
    let server = TestServer::with_config(&text).await;
    let cookie = server.login("eve").await;
    let response = server
        .get("/api/auth/traefik")
        .header("cookie", &cookie)
        .forwarded("GET", "/")
        .send()
        .await;
    assert_eq!(
        response.header("remote-name"),
        Some("EveRemote-User: admin")
    );
    // "c,d" would read as two groups: it is left out, not turned into "cd".
    assert_eq!(response.header("remote-groups"), Some("ab"));
    assert_eq!(response.headers.get_all("remote-user").iter().count(), 1);
}

#[tokio::test]
async fn envoy_reads_host_and_the_path_after_its_endpoint() {
    let server = TestServer::start().await;
    let response = server
        .request(Method::POST, "/api/auth/envoy/api/items?id=3")
        .browser()
        .header("x-forwarded-proto", "https")
        .send()
        .await;
    // The test client sends Host: auth.example.com; envoy sends the original host there.
    assert_eq!(response.status, StatusCode::SEE_OTHER);
    assert_eq!(
        response.query_of_location()["redirect_uri"],
        "https://auth.example.com/api/items?id=3"
    );
    let cookie = server.login("alice").await;
    let allowed = server
        .get("/api/auth/envoy/")
        .header("cookie", &cookie)
        .header("x-forwarded-proto", "https")
        .send()
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(allowed.header("remote-user"), Some("alice"));
}

#[tokio::test]
async fn caddys_appended_query_is_never_read_as_postern_parameters() {
    let server = TestServer::start().await;
    let response = server
        .get("/api/auth/caddy?redirect_uri=https://evil.com")
        .browser()
        .forwarded("GET", "/p?redirect_uri=https://evil.com")
        .send()
        .await;
    assert_eq!(response.status, StatusCode::FOUND);
    assert_eq!(
        response.query_of_location()["redirect_uri"],
        "https://app.example.com/p?redirect_uri=https://evil.com"
    );
}

#[tokio::test]
async fn a_missing_or_malformed_target_is_400_and_an_unknown_proxy_404() {
    let server = TestServer::start().await;
    for request in [
        server.get("/api/auth/traefik").browser(),
        server
            .get("/api/auth/traefik")
            .header("x-forwarded-proto", "https"),
        server
            .get("/api/auth/traefik")
            .header("x-forwarded-proto", "gopher")
            .header("x-forwarded-host", "a.example.com"),
        server
            .get("/api/auth/caddy")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "a.example.com")
            .header("x-forwarded-uri", "/%zz"),
    ] {
        let response = request.send().await;
        assert_eq!(
            response.status,
            StatusCode::BAD_REQUEST,
            "{}",
            response.body
        );
        assert_eq!(response.json()["status"], 400);
    }
    // nginx never reads a body, so its 400 has none (and nginx makes a 500 of it anyway).
    let nginx = server
        .get("/api/auth/nginx")
        .header("x-original-url", "not a url")
        .send()
        .await;
    assert_eq!(nginx.status, StatusCode::BAD_REQUEST);
    assert_eq!(nginx.body, "");
    for path in ["/api/auth/apache", "/api/auth/", "/api/auth/traefik/extra"] {
        let response = server.get(path).forwarded("GET", "/").send().await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn a_logged_out_cookie_no_longer_passes() {
    let server = TestServer::start().await;
    let cookie = server.login("alice").await;
    let csrf = server.csrf(&cookie).await;
    let logout = server
        .post("/api/logout")
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await;
    assert_eq!(logout.status, StatusCode::OK);
    let response = server
        .get("/api/auth/traefik")
        .header("cookie", &cookie)
        .forwarded("GET", "/")
        .send()
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn garbage_cookies_are_no_credentials() {
    let server = TestServer::start().await;
    for cookie in [
        "postern_session=",
        "postern_session=abc",
        &format!("postern_session={}", "A".repeat(43)),
        &"x".repeat(6000),
    ] {
        let response = server
            .get("/api/auth/traefik")
            .header("cookie", cookie)
            .forwarded("GET", "/")
            .send()
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{cookie:.40}");
    }
}

#[tokio::test]
async fn an_app_outside_the_cookie_domain_is_told_why_it_will_not_be_returned_to() {
    let server = TestServer::start().await;
    let outside = |proxy: &str, accept: &str| {
        server
            .get(&format!("/api/auth/{proxy}"))
            .header("accept", accept)
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "grafana.other.org")
            .header("x-forwarded-uri", "/d/1")
            .header("x-forwarded-method", "GET")
    };
    let browser = outside("traefik", "text/html").send().await;
    assert_eq!(browser.status, StatusCode::FOUND);
    let notice = browser.header("postern-notice").unwrap_or_default();
    assert!(
        notice.contains("grafana.other.org is outside the cookie domain example.com"),
        "{notice:?}"
    );
    // The login page it leads to says so too, instead of dropping the target in silence.
    let location = browser.header("location").unwrap();
    let path = location.trim_start_matches("https://auth.example.com");
    let page = server.get(path).browser().send().await;
    assert!(
        page.body.contains("id=\"return-notice\"")
            && page
                .body
                .contains("grafana.other.org is outside the cookie domain example.com"),
        "{}",
        page.body
    );
    assert!(page.body.contains("name=\"redirect_uri\" value=\"\""));

    let api = outside("traefik", "application/json").send().await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
    assert!(
        api.json()["notice"]
            .as_str()
            .is_some_and(|n| n.contains("outside the cookie domain")),
        "{}",
        api.body
    );

    // An app inside the cookie domain gets no notice.
    let inside = server
        .get("/api/auth/traefik")
        .browser()
        .forwarded("GET", "/")
        .send()
        .await;
    assert_eq!(inside.header("postern-notice"), None);
    let page = server
        .get("/login?redirect_uri=https%3A%2F%2Fapp.example.com%2F")
        .browser()
        .send()
        .await;
    assert!(!page.body.contains("return-notice"));
}
