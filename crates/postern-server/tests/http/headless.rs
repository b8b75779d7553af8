//! Headless clients: Basic (opt-in, HTTPS only, never for TOTP users, limited), the token pair
//! with refresh, reuse detection and revocation, hostile `Authorization` headers, and the
//! per-client rate limit on UI and API routes.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::StatusCode;
use postern_core::totp::TotpKey;

use crate::support::*;

const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

pub(crate) async fn server(api: &str) -> TestServer {
    let hash = password_hash();
    let text = format!(
        "{}{api}\n[[apps]]\nname = \"Vault\"\nhost = \"vault.example.com\"\npolicy = \"two_factor\"\n\
         [[users]]\nname = \"tess\"\npassword_hash = \"{hash}\"\ntotp_secret = \"{SECRET}\"\n",
        config_text("https://auth.example.com", "")
    );
    TestServer::with_config(&text).await
}

/// An `Authorization: Basic` value for `user` and `password`.
pub(crate) fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// traefik asking about `{scheme}://{host}/`.
fn check(server: &TestServer, scheme: &str, host: &str) -> TestRequest {
    server
        .get("/api/auth/traefik")
        .header("x-forwarded-proto", scheme)
        .header("x-forwarded-host", host)
        .header("x-forwarded-uri", "/")
}

#[tokio::test]
async fn basic_is_off_unless_enabled() {
    let server = server("").await;
    let response = check(&server, "https", "app.example.com")
        .header("authorization", &basic("alice", PASSWORD))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    assert!(
        response
            .headers
            .get_all("www-authenticate")
            .iter()
            .all(|v| !v.to_str().unwrap().starts_with("Basic"))
    );
}

#[tokio::test]
async fn basic_works_over_https_only_and_never_for_a_totp_user() {
    let server = server("[api]\nbasic_auth = true\n").await;
    let ok = check(&server, "https", "app.example.com")
        .header("authorization", &basic("alice", PASSWORD))
        .send()
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.header("remote-user"), Some("alice"));
    // Again: answered from the cache, the same way.
    let cached = check(&server, "https", "app.example.com")
        .header("authorization", &basic("alice", PASSWORD))
        .send()
        .await;
    assert_eq!(cached.header("remote-user"), Some("alice"));

    let plain_http = check(&server, "http", "app.example.com")
        .header("authorization", &basic("alice", PASSWORD))
        .send()
        .await;
    assert_eq!(plain_http.status, StatusCode::UNAUTHORIZED);

    let wrong = check(&server, "https", "app.example.com")
        .header("authorization", &basic("alice", "nope"))
        .send()
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let challenges: Vec<String> = wrong
        .headers
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    // The standard scheme first: a client that reads one challenge must see Basic.
    assert_eq!(
        challenges.first().map(String::as_str),
        Some("Basic realm=\"postern\", charset=\"UTF-8\""),
        "{challenges:?}"
    );
    assert!(
        challenges.get(1).is_some_and(|c| c.starts_with("Cookie ")),
        "{challenges:?}"
    );

    let totp_user = check(&server, "https", "app.example.com")
        .header("authorization", &basic("tess", PASSWORD))
        .send()
        .await;
    assert_eq!(
        totp_user.status,
        StatusCode::UNAUTHORIZED,
        "a second factor was skipped"
    );
    assert_eq!(
        totp_user.body, wrong.body,
        "the answer tells a TOTP user apart"
    );
}

#[tokio::test]
async fn a_forwarded_https_from_an_untrusted_peer_does_not_allow_basic() {
    // The tests connect from 127.0.0.1: trusting only 10.0.0.0/8 makes this client a stranger
    // who talks to postern directly over plain HTTP and claims the request was HTTPS.
    let text = config_text(
        "https://auth.example.com",
        "trusted_proxies = [\"10.0.0.0/8\"]\n[api]\nbasic_auth = true\nallow_insecure_basic = false\n",
    );
    let server = TestServer::with_config(&text).await;
    let claimed = check(&server, "https", "app.example.com")
        .header("authorization", &basic("alice", PASSWORD))
        .send()
        .await;
    assert_eq!(claimed.status, StatusCode::UNAUTHORIZED, "{}", claimed.body);
    assert_eq!(claimed.header("remote-user"), None);
    let original_url = server
        .get("/api/auth/nginx")
        .header("x-original-url", "https://app.example.com/")
        .header("authorization", &basic("alice", PASSWORD))
        .send()
        .await;
    assert_eq!(
        original_url.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        original_url.body
    );

    // The same request from a trusted proxy passes: the claim, not Basic, was refused.
    let trusted = TestServer::with_config(&config_text(
        "https://auth.example.com",
        "[api]\nbasic_auth = true\nallow_insecure_basic = false\n",
    ))
    .await;
    let ok = check(&trusted, "https", "app.example.com")
        .header("authorization", &basic("alice", PASSWORD))
        .send()
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn basic_guesses_hit_the_limits() {
    let server = server("[api]\nbasic_auth = true\n").await;
    for _ in 0..5 {
        let wrong = check(&server, "https", "app.example.com")
            .header("authorization", &basic("alice", "guess"))
            .send()
            .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    let limited = check(&server, "https", "app.example.com")
        .header("authorization", &basic("bob", PASSWORD))
        .send()
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert!(limited.header("retry-after").is_some());
    // nginx cannot pass a 429 on: it gets a 401.
    let nginx = server
        .get("/api/auth/nginx")
        .header("x-original-url", "https://app.example.com/")
        .header("authorization", &basic("bob", PASSWORD))
        .send()
        .await;
    assert_eq!(nginx.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_concurrent_basic_burst_gets_five_password_checks() {
    let server = server("[api]\nbasic_auth = true\n").await;
    let burst = (0..50).map(|_| {
        check(&server, "https", "app.example.com").header("authorization", &basic("alice", "guess"))
    });
    assert_eq!(
        all_at_once(burst).await,
        std::collections::BTreeMap::from([(401, 5), (429, 45)])
    );
}

/// A client sending its right credentials on many requests at once, before any is cached
/// (or when the entry expired): one verification serves them all. Each taking a failure
/// reservation of its own would answer all but five with 429.
#[tokio::test]
async fn concurrent_requests_with_right_basic_credentials_all_pass() {
    let server = server("[api]\nbasic_auth = true\n").await;
    let burst = (0..32).map(|_| {
        check(&server, "https", "app.example.com")
            .header("authorization", &basic("alice", PASSWORD))
    });
    assert_eq!(
        all_at_once(burst).await,
        std::collections::BTreeMap::from([(200, 32)])
    );
}

async fn token_login(server: &TestServer, body: &str) -> TestResponse {
    server.post("/api/auth/login").json(body).send().await
}

pub(crate) async fn pair(server: &TestServer) -> (String, String) {
    let response = token_login(
        server,
        &format!("{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}"),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let json = response.json();
    assert_eq!(json["status"], "success");
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["expires_in"], 8 * 3600);
    (
        json["access_token"].as_str().unwrap().to_owned(),
        json["refresh_token"].as_str().unwrap().to_owned(),
    )
}

pub(crate) fn bearer(server: &TestServer, token: &str) -> TestRequest {
    check(server, "https", "app.example.com").header("authorization", &format!("Bearer {token}"))
}

pub(crate) async fn refresh(server: &TestServer, token: &str) -> TestResponse {
    server
        .post("/api/auth/refresh")
        .json(&format!("{{\"refresh_token\":\"{token}\"}}"))
        .send()
        .await
}

#[tokio::test]
async fn a_token_pair_works_refreshes_once_and_a_reuse_revokes_the_family() {
    let server = server("").await;
    let (access, refresh_token) = pair(&server).await;
    let allowed = bearer(&server, &access).send().await;
    assert_eq!(allowed.status, StatusCode::OK);
    assert_eq!(allowed.header("remote-user"), Some("alice"));
    assert_eq!(
        bearer(&server, &refresh_token).send().await.status,
        StatusCode::UNAUTHORIZED,
        "a refresh token as bearer"
    );

    let next = refresh(&server, &refresh_token).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    let next_access = next.json()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        bearer(&server, &next_access).send().await.status,
        StatusCode::OK
    );

    // The old refresh token again: it was copied. Every token of the login ends.
    let reused = refresh(&server, &refresh_token).await;
    assert_eq!(reused.status, StatusCode::UNAUTHORIZED);
    for token in [&access, &next_access] {
        assert_eq!(
            bearer(&server, token).send().await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let next_refresh = next.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        refresh(&server, &next_refresh).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn two_concurrent_refreshes_with_one_token_have_one_winner() {
    let server = server("").await;
    let (_, refresh_token) = pair(&server).await;
    let (a, b) = tokio::join!(
        refresh(&server, &refresh_token),
        refresh(&server, &refresh_token)
    );
    let wins = [a.status, b.status]
        .iter()
        .filter(|status| **status == StatusCode::OK)
        .count();
    assert_eq!(wins, 1, "{} / {}", a.body, b.body);
}

#[tokio::test]
async fn logout_with_a_bearer_token_revokes_it() {
    let server = server("").await;
    let (access, refresh_token) = pair(&server).await;
    let out = server
        .post("/api/logout")
        .header("authorization", &format!("Bearer {access}"))
        .send()
        .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(
        bearer(&server, &access).send().await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&server, &refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Basic has nothing to end.
    let basic_out = server
        .post("/api/logout")
        .header("authorization", &basic("alice", PASSWORD))
        .send()
        .await;
    assert_eq!(basic_out.status, StatusCode::OK);
}

#[tokio::test]
async fn a_totp_user_needs_the_code_for_tokens_and_gets_two_factor_ones() {
    let server = server("").await;
    let without = token_login(
        &server,
        &format!("{{\"username\":\"tess\",\"password\":\"{PASSWORD}\"}}"),
    )
    .await;
    assert_eq!(without.status, StatusCode::UNAUTHORIZED);
    assert_eq!(without.json()["totpRequired"], true);
    let wrong = token_login(
        &server,
        &format!("{{\"username\":\"tess\",\"password\":\"{PASSWORD}\",\"code\":\"000000\"}}"),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let code = TotpKey::parse(SECRET).unwrap().code_at(unix_now());
    let with = token_login(
        &server,
        &format!("{{\"username\":\"tess\",\"password\":\"{PASSWORD}\",\"code\":\"{code}\"}}"),
    )
    .await;
    assert_eq!(with.status, StatusCode::OK, "{}", with.body);
    let access = with.json()["access_token"].as_str().unwrap().to_owned();
    let vault = check(&server, "https", "vault.example.com")
        .header("authorization", &format!("Bearer {access}"))
        .send()
        .await;
    assert_eq!(vault.status, StatusCode::OK);
    // A one-factor token does not open the two-factor app.
    let (alice, _) = pair(&server).await;
    let refused = check(&server, "https", "vault.example.com")
        .header("authorization", &format!("Bearer {alice}"))
        .send()
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn hostile_authorization_headers_are_401_and_nothing_else() {
    let server = server("[api]\nbasic_auth = true\n").await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"alice","type":"access","exp":9999999999}"#);
    let big = "A".repeat(8000);
    let cases = [
        "Basic".to_owned(),
        "Basic ".to_owned(),
        "Basic !!!!".to_owned(),
        format!("Basic {}", STANDARD.encode("no-colon")),
        format!("Basic {}", STANDARD.encode(":empty-user")),
        format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':', b'x'])),
        format!("Basic {big}"),
        "Bearer".to_owned(),
        "Bearer a.b".to_owned(),
        "Bearer a.b.c.d".to_owned(),
        format!("Bearer {header}.{claims}."),
        format!("Bearer {header}.{claims}.AAAA"),
        format!("Bearer {big}.{big}.{big}"),
        "Digest username=\"alice\"".to_owned(),
        "bEaReR    ".to_owned(),
        "\u{00e9}".to_owned(),
    ];
    for value in &cases {
        let response = check(&server, "https", "app.example.com")
            .header("authorization", value)
            .send()
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{value:.60}");
    }
    // The server still answers.
    assert_eq!(
        server.get("/api/healthcheck").send().await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn ui_and_api_routes_are_rate_limited_and_the_check_path_is_not() {
    let server = server("[limits]\napi_rate = 1\napi_burst = 5\n").await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(server.get("/api/status").send().await);
    }
    let limited: Vec<&TestResponse> = statuses
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(
        limited.len() >= 2,
        "{:?}",
        statuses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(limited[0].header("retry-after"), Some("1"));
    for _ in 0..20 {
        assert_eq!(
            check(&server, "https", "app.example.com")
                .send()
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        server.get("/api/healthcheck").send().await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn bad_refresh_tokens_count_against_the_client() {
    let server = server("").await;
    let (_, good_refresh) = pair(&server).await;
    for n in 0..5 {
        let bad = refresh(&server, &format!("not-a-token-{n}")).await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    }
    let sixth = refresh(&server, "not-a-token-6").await;
    assert_eq!(
        sixth.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        sixth.body
    );
    assert_eq!(
        sixth.json()["message"],
        "Too many failed attempts, try again later"
    );
    let retry_after = sixth.json()["retryAfter"].as_u64().unwrap();
    assert!((1..=300).contains(&retry_after), "{retry_after}");
    assert_eq!(
        sixth.header("retry-after"),
        Some(retry_after.to_string().as_str())
    );
    // The limit comes before the token is looked at: a good one waits too.
    let good = refresh(&server, &good_refresh).await;
    assert_eq!(good.status, StatusCode::TOO_MANY_REQUESTS, "{}", good.body);
    let login = token_login(
        &server,
        &format!("{{\"username\":\"alice\",\"password\":\"{PASSWORD}\"}}"),
    )
    .await;
    assert_eq!(
        login.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the same client is limited on every path"
    );
}

/// An `http://` portal: Basic on the API routes (and on the check path for an http app) only
/// with `allow_insecure_basic`.
async fn plain_http_server(insecure: bool) -> TestServer {
    TestServer::with_config(&config_text(
        "http://auth.example.com",
        &format!("[api]\nbasic_auth = true\nallow_insecure_basic = {insecure}\n"),
    ))
    .await
}

#[tokio::test]
async fn basic_over_plain_http_is_refused_unless_allowed() {
    for insecure in [false, true] {
        let server = plain_http_server(insecure).await;
        let status = server
            .get("/api/status")
            .header("authorization", &basic("alice", PASSWORD))
            .send()
            .await;
        assert_eq!(status.status, StatusCode::OK);
        assert_eq!(
            status.json()["isLoggedIn"],
            insecure,
            "allow_insecure_basic = {insecure}: {}",
            status.body
        );
        let ticket = server
            .get("/api/ws-token")
            .header("authorization", &basic("alice", PASSWORD))
            .send()
            .await;
        let expected = if insecure {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(ticket.status, expected, "{}", ticket.body);
        let checked = check(&server, "http", "app.example.com")
            .header("authorization", &basic("alice", PASSWORD))
            .send()
            .await;
        assert_eq!(checked.status, expected, "{}", checked.body);
        let remote_user = insecure.then_some("alice");
        assert_eq!(checked.header("remote-user"), remote_user);
    }
}

#[tokio::test]
async fn the_api_knows_bearer_and_basic_callers_too() {
    let server = server("[api]\nbasic_auth = true\n").await;
    let (access, _) = pair(&server).await;
    let by_token = server
        .get("/api/status")
        .header("authorization", &format!("Bearer {access}"))
        .send()
        .await;
    assert_eq!(by_token.json()["isLoggedIn"], true, "{}", by_token.body);
    assert_eq!(by_token.json()["username"], "alice");
    let by_basic = server
        .get("/api/status")
        .header("authorization", &basic("alice", PASSWORD))
        .send()
        .await;
    assert_eq!(by_basic.json()["isLoggedIn"], true, "{}", by_basic.body);
    let wrong = server
        .get("/api/status")
        .header("authorization", &basic("alice", "nope"))
        .send()
        .await;
    assert_eq!(wrong.json()["isLoggedIn"], false);
    let ticket = server
        .get("/api/ws-token")
        .header("authorization", &basic("alice", PASSWORD))
        .send()
        .await;
    assert_eq!(ticket.status, StatusCode::OK, "{}", ticket.body);
}
