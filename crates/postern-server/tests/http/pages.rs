//! The pages: what a person sees, and the headers that protect it.

use http::{Method, StatusCode};

use crate::support::*;

#[tokio::test]
async fn pages_carry_their_security_headers() {
    let server = TestServer::start().await;
    for path in ["/login", "/logout", "/unauthorized"] {
        let response = server.get(path).browser().send().await;
        let csp = response
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{path} has no CSP"));
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
        assert_eq!(response.header("cache-control"), Some("no-store"));
        assert!(
            response
                .header("content-type")
                .unwrap()
                .starts_with("text/html")
        );
        // The only script is the passkey buttons' static file (the forms need none).
        assert!(
            response.body.split("<script").skip(1).all(|tag| tag
                .starts_with(" src=\"/static/passkeys.")
                && tag.contains("></script>")),
            "{path} has an inline script"
        );
        assert!(
            !response.body.contains("style=\""),
            "{path} has an inline style"
        );
    }
}

#[tokio::test]
async fn the_login_page_works_with_password_managers_and_screen_readers() {
    let server = TestServer::start().await;
    let page = server.get("/login").browser().send().await.body;
    for expected in [
        "<label for=\"username\"",
        "id=\"username\" name=\"username\"",
        "autocomplete=\"username webauthn\"",
        "<label for=\"password\"",
        "autocomplete=\"current-password\"",
        "name=\"remember_me\"",
        "name=\"csrf\"",
        "<html lang=\"en\">",
    ] {
        assert!(page.contains(expected), "missing {expected:?}");
    }
}

#[tokio::test]
async fn the_title_and_colours_come_from_the_config() {
    let text = config_text(
        "https://auth.example.com",
        "[ui]\ntitle = \"Acme <SSO>\"\nprimary_color = \"#ff0066\"",
    );
    let server = TestServer::with_config(&text).await;
    let page = server.get("/login").browser().send().await.body;
    assert!(
        page.contains("Acme &#60;SSO&#62;") || page.contains("Acme &lt;SSO&gt;"),
        "the title is escaped"
    );
    let theme_start = page.find("/static/theme.").unwrap();
    let theme_url = &page[theme_start..theme_start + page[theme_start..].find('"').unwrap()];
    let theme = server.get(theme_url).send().await;
    assert_eq!(theme.status, StatusCode::OK);
    assert!(theme.body.contains("--primary: #ff0066"), "{}", theme.body);
    assert!(theme.header("cache-control").unwrap().contains("immutable"));
    let css_start = page.find("/static/postern.").unwrap();
    let css_url = &page[css_start..css_start + page[css_start..].find('"').unwrap()];
    assert_eq!(server.get(css_url).send().await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_home_page_shows_who_is_signed_in() {
    let server = TestServer::start().await;
    let anonymous = server.get("/").browser().send().await;
    assert_eq!(anonymous.status, StatusCode::FOUND);
    // Relative: on whatever address the browser reached postern.
    assert_eq!(anonymous.header("location"), Some("login"));
    let cookie = server.login("alice").await;
    let home = server
        .get("/")
        .browser()
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("Alice Example"));
}

#[tokio::test]
async fn unknown_paths_and_methods_are_clear() {
    let server = TestServer::start().await;
    let api = server.get("/api/nothing").send().await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(api.json()["status"], 404);
    let page = server.get("/nothing").browser().send().await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("Page not found"));
    let wrong_method = server.request(Method::PUT, "/api/login").send().await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
    assert_eq!(
        server
            .get("/static/postern.nothing.css")
            .send()
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_unauthorized_page_names_the_user() {
    let server = TestServer::start().await;
    let cookie = server.login("alice").await;
    let page = server
        .get("/unauthorized")
        .browser()
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("alice"));
}
