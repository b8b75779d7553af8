//! Signing in through the form and through JSON.

use http::StatusCode;

use crate::support::*;

/// GET /login, then the form fields and the pre-session cookie it set.
async fn login_form(server: &TestServer, redirect_uri: &str) -> (String, String, String) {
    let page = server
        .get(&format!("/login?redirect_uri={}", urlencode(redirect_uri)))
        .browser()
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let pre_session = page
        .cookie("postern_csrf")
        .expect("the login page sets a pre-session cookie");
    (
        pre_session,
        page.hidden_field("csrf"),
        page.hidden_field("redirect_uri"),
    )
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("v", text)])
        .unwrap()
        .trim_start_matches("v=")
        .to_owned()
}

#[tokio::test]
async fn the_form_signs_in_and_returns_to_the_target() {
    let server = TestServer::start().await;
    let (pre_session, csrf, redirect_uri) =
        login_form(&server, "https://app.example.com/x?y=1").await;
    assert_eq!(redirect_uri, "https://app.example.com/x?y=1");
    let response = server
        .post("/login")
        .header("cookie", &pre_session)
        .form(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf", &csrf),
            ("redirect_uri", &redirect_uri),
        ])
        .send()
        .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    assert_eq!(
        response.header("location"),
        Some("https://app.example.com/x?y=1")
    );
    let set_cookie = response
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("postern_session="))
        .unwrap();
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
        "Secure",
        "Domain=example.com",
    ] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} missing from {set_cookie}"
        );
    }
    assert!(
        !set_cookie.contains("Max-Age"),
        "a session without remember-me ends with the browser: {set_cookie}"
    );
    let cookie = response.session_cookie().unwrap();
    let token = cookie.trim_start_matches("postern_session=");
    assert_eq!(token.len(), 43, "32 random bytes in base64url");
    let check = server
        .get("/api/auth/traefik")
        .header("cookie", &cookie)
        .forwarded("GET", "/")
        .send()
        .await;
    assert_eq!(check.status, StatusCode::OK);
}

#[tokio::test]
async fn remember_me_gives_a_persistent_cookie() {
    let server = TestServer::start().await;
    let (pre_session, csrf, _) = login_form(&server, "").await;
    let response = server
        .post("/login")
        .header("cookie", &pre_session)
        .form(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf", &csrf),
            ("remember_me", "true"),
        ])
        .send()
        .await;
    let set_cookie = response
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("postern_session="))
        .unwrap();
    assert!(set_cookie.contains("Max-Age=2592000"), "{set_cookie}");
    assert_eq!(
        response.header("location"),
        Some("https://auth.example.com/")
    );
}

#[tokio::test]
async fn open_redirects_land_on_the_portal() {
    let server = TestServer::start().await;
    for evil in [
        "https://evil.com",
        "//evil.com",
        "/\\evil.com",
        "https:\\\\evil.com",
        "javascript:alert(1)",
        "https://user@evil.com",
        "https://example.com.evil.com",
    ] {
        let (pre_session, csrf, carried) = login_form(&server, evil).await;
        assert_eq!(carried, "", "{evil} must not be carried through the form");
        let response = server
            .post("/login")
            .header("cookie", &pre_session)
            .form(&[
                ("username", "alice"),
                ("password", PASSWORD),
                ("csrf", &csrf),
                ("redirect_uri", evil),
            ])
            .send()
            .await;
        assert_eq!(
            response.header("location"),
            Some("https://auth.example.com/"),
            "{evil}"
        );
    }
}

#[tokio::test]
async fn a_wrong_password_re_renders_the_form_with_401() {
    let server = TestServer::start().await;
    let (pre_session, csrf, _) = login_form(&server, "").await;
    let response = server
        .post("/login")
        .header("cookie", &pre_session)
        .form(&[
            ("username", "alice"),
            ("password", "wrong"),
            ("csrf", &csrf),
        ])
        .send()
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert!(response.body.contains("Incorrect username or password"));
    assert!(
        response.body.contains("value=\"alice\""),
        "the username is kept"
    );
    // The password is what to type again: it gets the focus, the kept username does not.
    let input = |id: &str| {
        let start = response.body.find(&format!("id=\"{id}\"")).unwrap();
        let end = start + response.body[start..].find('>').unwrap();
        response.body[start..end].to_owned()
    };
    assert!(
        input("password").contains("autofocus"),
        "{}",
        input("password")
    );
    assert!(
        !input("username").contains("autofocus"),
        "{}",
        input("username")
    );
    assert!(response.session_cookie().is_none());
}

#[tokio::test]
async fn the_form_needs_its_csrf_token_and_pre_session_cookie() {
    let server = TestServer::start().await;
    let (pre_session, csrf, _) = login_form(&server, "").await;
    let (other_pre_session, _, _) = login_form(&server, "").await;
    for (cookie, token) in [
        (pre_session.as_str(), "forged"),
        (other_pre_session.as_str(), csrf.as_str()),
        ("", csrf.as_str()),
    ] {
        let response = server
            .post("/login")
            .header("cookie", cookie)
            .form(&[
                ("username", "alice"),
                ("password", PASSWORD),
                ("csrf", token),
            ])
            .send()
            .await;
        assert_eq!(response.status, StatusCode::FORBIDDEN);
        assert!(response.session_cookie().is_none());
    }
}

#[tokio::test]
async fn json_login_answers_in_tinyauths_shape() {
    let server = TestServer::start().await;
    let response = server
        .post("/api/login")
        .json(&format!(
            "{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.json(),
        serde_json::json!({"status": 200, "message": "Logged in", "totpPending": false})
    );
    assert!(response.session_cookie().is_some());
    let by_email = server
        .post("/api/login")
        .json(&format!(
            "{{\"email\":\"ALICE@example.com\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await;
    assert_eq!(by_email.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_get_the_same_answer() {
    let server = TestServer::start().await;
    let wrong = server
        .post("/api/login")
        .json("{\"username\":\"alice\",\"password\":\"nope\"}")
        .send()
        .await;
    let unknown = server
        .post("/api/login")
        .json("{\"username\":\"mallory\",\"password\":\"nope\"}")
        .send()
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
    assert!(wrong.session_cookie().is_none() && unknown.session_cookie().is_none());
}

#[tokio::test]
async fn json_login_refuses_forms_and_foreign_origins() {
    let server = TestServer::start().await;
    let form = server
        .post("/api/login")
        .form(&[("username", "alice"), ("password", PASSWORD)])
        .send()
        .await;
    assert_eq!(form.status, StatusCode::FORBIDDEN);
    let body = format!("{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}");
    let foreign = server
        .post("/api/login")
        .header("origin", "https://evil.com")
        .json(&body)
        .send()
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    assert!(foreign.session_cookie().is_none());
    let own = server
        .post("/api/login")
        .header("origin", "https://auth.example.com")
        .json(&body)
        .send()
        .await;
    assert_eq!(own.status, StatusCode::OK);
}

#[tokio::test]
async fn login_issues_a_new_token_and_ends_the_previous_session() {
    let server = TestServer::start().await;
    let first = server.login("alice").await;
    let body = format!("{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}");
    let second = server
        .post("/api/login")
        .header("cookie", &first)
        .json(&body)
        .send()
        .await
        .session_cookie()
        .unwrap();
    assert_ne!(first, second);
    let old = server
        .get("/api/session")
        .header("cookie", &first)
        .send()
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = server
        .get("/api/session")
        .header("cookie", &second)
        .send()
        .await;
    assert_eq!(new.status, StatusCode::OK);
}

#[tokio::test]
async fn a_signed_in_visit_to_login_goes_straight_to_the_target() {
    let server = TestServer::start().await;
    let cookie = server.login("alice").await;
    let response = server
        .get("/login?redirect_uri=https%3A%2F%2Fapp.example.com%2Fx")
        .browser()
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(response.status, StatusCode::FOUND);
    assert_eq!(
        response.header("location"),
        Some("https://app.example.com/x")
    );
}

#[tokio::test]
async fn portals_on_an_ip_or_localhost_get_a_host_only_cookie_without_secure() {
    for app_url in ["http://127.0.0.1:3000", "http://localhost:3000"] {
        let server = TestServer::with_config(&config_text(app_url, "")).await;
        let body = format!("{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}");
        let response = server.post("/api/login").json(&body).send().await;
        let set_cookie = response
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("postern_session="))
            .unwrap();
        assert!(!set_cookie.contains("Domain="), "{app_url}: {set_cookie}");
        assert!(!set_cookie.contains("Secure"), "{app_url}: {set_cookie}");
        assert!(set_cookie.contains("HttpOnly"));
    }
}

/// A browser can hold two `postern_csrf` cookies (another path's, one a sibling subdomain
/// set) and sends a malformed one first: the page and the form's check both skip it and
/// agree on the one postern set, so the form works instead of expiring every time.
#[tokio::test]
async fn a_malformed_pre_session_cookie_sent_first_does_not_expire_every_form() {
    let server = TestServer::start().await;
    let page = server
        .get("/login")
        .header("cookie", "postern_csrf=planted")
        .browser()
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let minted = page
        .cookie("postern_csrf")
        .expect("a well-formed one is set");
    let response = server
        .post("/login")
        .header("cookie", &format!("postern_csrf=planted; {minted}"))
        .form(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf", &page.hidden_field("csrf")),
        ])
        .send()
        .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    let session = response.session_cookie().expect("signed in");
    // The same for the session cookie: a malformed one first does not hide the live one.
    let status = server
        .get("/api/status")
        .header("cookie", &format!("postern_session=stale; {session}"))
        .send()
        .await;
    assert_eq!(status.json()["isLoggedIn"], true, "{}", status.body);
}
