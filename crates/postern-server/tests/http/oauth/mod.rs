//! Sign-in through OAuth providers, against local fakes of Google and GitHub: the happy paths
//! end in a session whose identity reaches the check endpoint; every broken callback ends on an
//! error page with no session.

mod fake;

use std::collections::HashMap;
use std::time::Duration;

use http::StatusCode;
use postern_core::config::StoreKind;
use postern_core::token::TokenHash;
use postern_server::AppState;
use postern_store::Store;
use url::Url;

use self::fake::{Account, FakeProvider};
use crate::support::*;

const TARGET: &str = "https://app.example.com/private?x=1";

async fn server(providers: &str) -> TestServer {
    TestServer::with_config(&config_text("https://auth.example.com", providers)).await
}

/// A started sign-in: the provider URL, its query, and the browser's `postern_oauth` cookie.
struct Started {
    url: String,
    query: HashMap<String, String>,
    cookie: String,
}

async fn start(server: &TestServer, provider: &str) -> Started {
    let response = server
        .get(&format!(
            "/api/oauth/url/{provider}?redirect_uri={}",
            serde_urlencoded::to_string([("v", TARGET)])
                .unwrap()
                .trim_start_matches("v=")
        ))
        .send()
        .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let json = response.json();
    assert_eq!(json["status"], 200);
    assert_eq!(json["message"], "OK");
    let url = json["url"].as_str().unwrap().to_owned();
    let query = Url::parse(&url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    let cookie = response
        .cookie("postern_oauth")
        .expect("the browser cookie");
    Started { url, query, cookie }
}

async fn callback(
    server: &TestServer,
    provider: &str,
    code: &str,
    state: &str,
    cookie: Option<&str>,
) -> TestResponse {
    let query = serde_urlencoded::to_string([("code", code), ("state", state)]).unwrap();
    let mut request = server
        .get(&format!("/api/oauth/callback/{provider}?{query}"))
        .browser();
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await
}

/// The callback failed with `status`, an explaining page, and no session.
fn assert_refused(response: &TestResponse, status: StatusCode) {
    assert_eq!(response.status, status, "{}", response.body);
    assert!(response.session_cookie().is_none(), "no session may start");
    assert!(
        response
            .header("content-type")
            .is_some_and(|value| value.starts_with("text/html")),
        "a page explains the failure"
    );
}

async fn identity(server: &TestServer, session: &str) -> TestResponse {
    server
        .get("/api/auth/traefik")
        .forwarded("GET", "/")
        .header("cookie", session)
        .send()
        .await
}

#[tokio::test]
async fn the_login_page_has_a_button_per_provider() {
    let fake = FakeProvider::start(Account::default()).await;
    let providers = format!(
        "{}{}",
        fake.google_config("allow_all = true"),
        fake.github_config("allow_all = true")
    );
    let server = server(&providers).await;
    let page = server
        .get("/login?redirect_uri=https%3A%2F%2Fapp.example.com%2F")
        .browser()
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK);
    for (id, label) in [("github", "GitHub"), ("google", "Google")] {
        assert!(
            page.body.contains(&format!(
                "href=\"/api/oauth/login/{id}?redirect_uri=https%3A%2F%2Fapp%2Eexample%2Ecom%2F\""
            )) || page
                .body
                .contains(&format!("/api/oauth/login/{id}?redirect_uri=")),
            "{}",
            page.body
        );
        assert!(page.body.contains(&format!("Sign in with {label}")));
    }
}

#[tokio::test]
async fn the_url_and_login_routes_start_a_pkce_sign_in() {
    let fake = FakeProvider::start(Account::default()).await;
    let server = server(&fake.google_config("allow_all = true")).await;
    let first = start(&server, "google").await;
    assert!(first.url.starts_with(&format!("{}/auth?", fake.base)));
    assert!(
        first.query["state"].len() >= 22,
        "state has at least 128 bits"
    );
    assert_eq!(first.query["code_challenge_method"], "S256");
    assert_eq!(first.query["code_challenge"].len(), 43);
    assert!(!first.query["nonce"].is_empty());
    assert_eq!(
        first.query["redirect_uri"],
        "https://auth.example.com/api/oauth/callback/google"
    );
    assert_eq!(first.query["scope"], "openid email profile");

    let redirect = server.get("/api/oauth/login/google").browser().send().await;
    assert_eq!(redirect.status, StatusCode::FOUND);
    let location = redirect.header("location").unwrap();
    assert!(location.starts_with(&format!("{}/auth?", fake.base)));
    let set = redirect
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("postern_oauth="))
        .unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    let second: HashMap<String, String> = Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_ne!(second["state"], first.query["state"]);

    let unknown = server.get("/api/oauth/url/nobody").send().await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let head = server
        .request(
            http::Method::HEAD,
            "/api/oauth/callback/google?state=x&code=y",
        )
        .send()
        .await;
    assert_eq!(head.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(head.header("allow"), Some("GET"));
}

#[tokio::test]
async fn a_google_sign_in_reaches_the_app_with_the_verified_email() {
    let fake = FakeProvider::start(Account::default()).await;
    // Groups are not in Google's ID token: asking for them makes postern read userinfo too.
    let server = server(
        &fake.google_config("allowed_domains = [\"example.org\"]\ngroups_claim = \"groups\""),
    )
    .await;
    let started = start(&server, "google").await;
    let code = fake.sign_in(&started.url);
    let response = callback(
        &server,
        "google",
        &code,
        &started.query["state"],
        Some(&started.cookie),
    )
    .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    assert_eq!(response.header("location"), Some(TARGET));
    let session = response.session_cookie().expect("a session");
    let check = identity(&server, &session).await;
    assert_eq!(check.status, StatusCode::OK);
    assert_eq!(check.header("remote-user"), Some("carol@example.org"));
    assert_eq!(check.header("remote-email"), Some("carol@example.org"));
    assert_eq!(check.header("remote-name"), Some("Carol Provider"));
    assert_eq!(check.header("remote-groups"), Some("staff"));
    let status = server
        .get("/api/session")
        .header("cookie", &session)
        .send()
        .await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
}

/// A provider's user has the account page too; what is the provider's says so.
#[tokio::test]
async fn a_provider_user_s_account_page_says_what_is_kept_at_the_provider() {
    let fake = FakeProvider::start(Account::default()).await;
    let server = server(&fake.google_config("allowed_domains = [\"example.org\"]")).await;
    let started = start(&server, "google").await;
    let code = fake.sign_in(&started.url);
    let response = callback(
        &server,
        "google",
        &code,
        &started.query["state"],
        Some(&started.cookie),
    )
    .await;
    let session = response.session_cookie().expect("a session");
    let page = server
        .get("/account")
        .header("cookie", &session)
        .browser()
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let label = server
        .state
        .config
        .oauth_provider("google")
        .unwrap()
        .label
        .clone();
    for shown in [
        "carol@example.org".to_owned(),
        format!("<dd id=\"signed-in-with\">{label}</dd>"),
        format!("You sign in with {label}: your password is kept there, not here."),
        format!("You sign in with {label}: set up two-step verification there."),
        format!("You sign in with {label}: passkeys are for accounts of this portal."),
    ] {
        assert!(page.body.contains(&shown), "{shown} in {}", page.body);
    }
    assert!(!page.body.contains("id=\"passkey-add\""));
    for form in [
        "/account/password",
        "/account/totp-setup",
        "/account/passkey-add",
    ] {
        assert!(!page.body.contains(&format!("action=\"{form}\"")), "{form}");
        let refused = server
            .post(form)
            .header("cookie", &session)
            .browser()
            .form(&[
                ("csrf", &page.hidden_field("csrf")),
                ("current_password", "x"),
                ("new_password", "a brand new passphrase"),
            ])
            .send()
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{form}");
    }
}

#[tokio::test]
async fn a_github_sign_in_uses_the_primary_verified_email_and_the_login_claim() {
    let fake = FakeProvider::start(Account::default()).await;
    let server = server(
        &fake.github_config("allowed_emails = [\"Carol@Example.org\"]\nusername_claim = \"login\""),
    )
    .await;
    let started = start(&server, "github").await;
    assert!(!started.query.contains_key("nonce"), "GitHub is not OIDC");
    let code = fake.sign_in(&started.url);
    let response = callback(
        &server,
        "github",
        &code,
        &started.query["state"],
        Some(&started.cookie),
    )
    .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    let check = identity(&server, &response.session_cookie().unwrap()).await;
    assert_eq!(check.header("remote-user"), Some("carol"));
    assert_eq!(check.header("remote-email"), Some("carol@example.org"));
}

#[tokio::test]
async fn a_github_organisation_counts_as_a_group() {
    let fake = FakeProvider::start(Account::default()).await;
    let server = server(&fake.github_config(
        "scopes = [\"read:user\", \"user:email\", \"read:org\"]\ngroups_claim = \"orgs\"\nallowed_groups = [\"staff\"]",
    ))
    .await;
    let started = start(&server, "github").await;
    assert_eq!(started.query["scope"], "read:user user:email read:org");
    let code = fake.sign_in(&started.url);
    let response = callback(
        &server,
        "github",
        &code,
        &started.query["state"],
        Some(&started.cookie),
    )
    .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    let check = identity(&server, &response.session_cookie().unwrap()).await;
    assert_eq!(check.header("remote-groups"), Some("staff"));
}

#[tokio::test]
async fn a_missing_or_unknown_state_is_refused() {
    let fake = FakeProvider::start(Account::default()).await;
    let server = server(&fake.google_config("allow_all = true")).await;
    let started = start(&server, "google").await;
    let code = fake.sign_in(&started.url);
    let missing = server
        .get(&format!("/api/oauth/callback/google?code={code}"))
        .header("cookie", &started.cookie)
        .browser()
        .send()
        .await;
    assert_refused(&missing, StatusCode::BAD_REQUEST);
    let mismatched = callback(
        &server,
        "google",
        &code,
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        Some(&started.cookie),
    )
    .await;
    assert_refused(&mismatched, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let fake = FakeProvider::start(Account::default()).await;
    let server = server(&fake.google_config("allow_all = true")).await;
    let started = start(&server, "google").await;
    let code = fake.sign_in(&started.url);
    let state = &started.query["state"];
    let first = callback(&server, "google", &code, state, Some(&started.cookie)).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let replay = callback(&server, "google", &code, state, Some(&started.cookie)).await;
    assert_refused(&replay, StatusCode::BAD_REQUEST);
    assert!(replay.body.contains("expired or was already completed"));
}

#[tokio::test]
async fn an_expired_transaction_is_refused() {
    let fake = FakeProvider::start(Account::default()).await;
    let config = load(&config_text(
        "https://auth.example.com",
        &fake.google_config("allow_all = true"),
    ));
    let store = Store::memory(100);
    // A transaction as `start` writes it, but past its ten minutes (the store still has it).
    let browser = "B".repeat(43);
    let record = serde_json::json!({
        "provider": "google",
        "browser": TokenHash::of(browser.as_bytes()).to_hex(),
        "pkce_verifier": "v".repeat(43),
        "nonce": "n",
        "redirect_uri": null,
        "expires_at": 1_000,
    });
    let state = "S".repeat(43);
    store
        .put_value(
            &format!("oauth:{}", TokenHash::of(state.as_bytes()).to_hex()),
            record.to_string().into_bytes(),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let server = TestServer::with_state(AppState::new(config, store)).await;
    let response = callback(
        &server,
        "google",
        "code-1",
        &state,
        Some(&format!("postern_oauth={browser}")),
    )
    .await;
    assert_refused(&response, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_callback_for_another_provider_is_refused() {
    let fake = FakeProvider::start(Account::default()).await;
    let providers = format!(
        "{}{}",
        fake.google_config("allow_all = true"),
        fake.github_config("allow_all = true")
    );
    let server = server(&providers).await;
    let started = start(&server, "google").await;
    let code = fake.sign_in(&started.url);
    let response = callback(
        &server,
        "github",
        &code,
        &started.query["state"],
        Some(&started.cookie),
    )
    .await;
    assert_refused(&response, StatusCode::BAD_REQUEST);
    assert!(response.body.contains("different provider"));
}

#[tokio::test]
async fn a_callback_in_another_browser_is_refused() {
    let fake = FakeProvider::start(Account::default()).await;
    let server = server(&fake.google_config("allow_all = true")).await;
    let started = start(&server, "google").await;
    let code = fake.sign_in(&started.url);
    let state = &started.query["state"];
    let without = callback(&server, "google", &code, state, None).await;
    assert_refused(&without, StatusCode::FORBIDDEN);

    let started = start(&server, "google").await;
    let code = fake.sign_in(&started.url);
    let other = format!("postern_oauth={}", "C".repeat(43));
    let elsewhere = callback(
        &server,
        "google",
        &code,
        &started.query["state"],
        Some(&other),
    )
    .await;
    assert_refused(&elsewhere, StatusCode::FORBIDDEN);
}

async fn sign_in_as(account: Account, allow: &str) -> TestResponse {
    let fake = FakeProvider::start(account).await;
    let server = server(&fake.google_config(allow)).await;
    let started = start(&server, "google").await;
    let code = fake.sign_in(&started.url);
    callback(
        &server,
        "google",
        &code,
        &started.query["state"],
        Some(&started.cookie),
    )
    .await
}

#[tokio::test]
async fn an_id_token_for_another_audience_is_refused() {
    let account = Account {
        audience: Some("someone-else".into()),
        ..Account::default()
    };
    let response = sign_in_as(account, "allow_all = true").await;
    assert_refused(&response, StatusCode::UNAUTHORIZED);
    assert!(response.body.contains("could not be verified"));
}

#[tokio::test]
async fn an_id_token_with_a_bad_signature_is_refused() {
    let account = Account {
        bad_signature: true,
        ..Account::default()
    };
    let response = sign_in_as(account, "allow_all = true").await;
    assert_refused(&response, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_id_token_with_another_nonce_is_refused() {
    let account = Account {
        nonce: Some("replayed-nonce".into()),
        ..Account::default()
    };
    let response = sign_in_as(account, "allow_all = true").await;
    assert_refused(&response, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_unverified_email_is_refused() {
    let account = Account {
        email_verified: false,
        ..Account::default()
    };
    let response = sign_in_as(account, "allowed_domains = [\"example.org\"]").await;
    assert_refused(&response, StatusCode::FORBIDDEN);
    assert!(response.body.contains("not verified"));
}

#[tokio::test]
async fn an_account_outside_the_allow_list_lands_on_unauthorized() {
    let response = sign_in_as(
        Account::default(),
        "allowed_emails = [\"dave@example.org\"]",
    )
    .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER);
    assert_eq!(
        response.header("location"),
        Some("https://auth.example.com/unauthorized?reason=account")
    );
    assert!(response.session_cookie().is_none());
}

#[tokio::test]
async fn a_local_user_s_name_is_refused_unless_linking_is_on() {
    let alice = Account {
        login: "alice".into(),
        ..Account::default()
    };
    for link in [false, true] {
        let fake = FakeProvider::start(alice.clone()).await;
        let keys = postern_testkit::TempDir::new("oauth-linked");
        let server = server(&format!(
            "{}{}",
            fake.github_config(&format!(
                "allow_all = true\nusername_claim = \"login\"\nlink_local_users = {link}"
            )),
            identity_tokens_in(&keys)
        ))
        .await;
        let started = start(&server, "github").await;
        let code = fake.sign_in(&started.url);
        let response = callback(
            &server,
            "github",
            &code,
            &started.query["state"],
            Some(&started.cookie),
        )
        .await;
        if !link {
            assert_refused(&response, StatusCode::FORBIDDEN);
            continue;
        }
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
        // Linked: the session is the local alice's, with her groups from the user table.
        let session = response.session_cookie().unwrap();
        let check = identity(&server, &session).await;
        assert_eq!(check.header("remote-user"), Some("alice"));
        assert_eq!(check.header("remote-groups"), Some("admins,dev"));
        // The provider signed her in, not her password.
        let claims = identity_token_claims(&server, &session).await;
        assert_eq!(claims["amr"], serde_json::json!(["fed"]));
        // She is the local alice: her groups are local ones, without a provider's prefix.
        assert_eq!(claims["groups"], serde_json::json!(["admins", "dev"]));
    }
}

#[tokio::test]
async fn starting_sign_ins_is_limited_per_client() {
    let fake = FakeProvider::start(Account::default()).await;
    let server = server(&fake.google_config("allow_all = true")).await;
    for _ in 0..10 {
        start(&server, "google").await;
    }
    let limited = server.get("/api/oauth/url/google").send().await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.header("retry-after").is_some());
    let page = server.get("/api/oauth/login/google").browser().send().await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.header("location").is_none(),
        "no transaction, no redirect"
    );
}

/// An IPv6 client counts by its /64, as in every other limit: one host holds the whole /64.
#[tokio::test]
async fn starting_sign_ins_is_limited_per_ipv6_64() {
    let fake = FakeProvider::start(Account::default()).await;
    let config = format!(
        "trusted_proxies = [\"127.0.0.1/32\"]\n{}",
        fake.google_config("allow_all = true")
    );
    let server = server(&config).await;
    let from = |host: u16| {
        server
            .get("/api/oauth/url/google")
            .header("x-forwarded-for", &format!("2001:db8:1:2::{host:x}"))
    };
    for host in 1..=10 {
        assert_eq!(from(host).send().await.status, StatusCode::OK);
    }
    assert_eq!(from(11).send().await.status, StatusCode::TOO_MANY_REQUESTS);
    let other_64 = server
        .get("/api/oauth/url/google")
        .header("x-forwarded-for", "2001:db8:1:3::1")
        .send()
        .await;
    assert_eq!(other_64.status, StatusCode::OK);
}

#[tokio::test]
async fn a_code_the_token_endpoint_refuses_starts_no_session() {
    let fake = FakeProvider::start(Account::default()).await;
    let config = fake
        .google_config("allow_all = true")
        .replace(fake::CLIENT_SECRET, "not-the-secret");
    let server = server(&config).await;
    let started = start(&server, "google").await;
    let code = fake.sign_in(&started.url);
    let response = callback(
        &server,
        "google",
        &code,
        &started.query["state"],
        Some(&started.cookie),
    )
    .await;
    assert_refused(&response, StatusCode::UNAUTHORIZED);
    assert!(response.body.contains("did not accept"));
}

#[tokio::test]
async fn the_callback_may_land_on_another_replica_and_works_once_on_all() {
    let redis = postern_testkit::RedisServer::start();
    let fake = FakeProvider::start(Account::default()).await;
    let shared = format!(
        "{}[session]\nstore = \"redis\"\nredis_url = \"{}\"\n",
        fake.google_config("allow_all = true"),
        redis.url()
    );
    let replica = || async {
        let config = load(&config_text("https://auth.example.com", &shared));
        let StoreKind::Redis(redis) = &config.session.store else {
            panic!("a Redis store");
        };
        let store = Store::redis(redis).unwrap();
        TestServer::with_state(AppState::new(config, store)).await
    };
    let first = replica().await;
    let second = replica().await;
    let started = start(&first, "google").await;
    let code = fake.sign_in(&started.url);
    let state = &started.query["state"];
    let signed_in = callback(&second, "google", &code, state, Some(&started.cookie)).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    let session = signed_in.session_cookie().unwrap();
    let check = identity(&first, &session).await;
    assert_eq!(check.header("remote-user"), Some("carol@example.org"));
    let replay = callback(&first, "google", &code, state, Some(&started.cookie)).await;
    assert_refused(&replay, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_portal_with_only_providers_shows_only_their_buttons_and_reports_them() {
    let fake = FakeProvider::start(Account::default()).await;
    let text = format!(
        "app_url = \"https://auth.example.com\"\nsecret = \"test-secret-that-is-long-enough-for-postern\"\n\
         {}[server]\nlisten = \"127.0.0.1:0\"\n",
        fake.github_config("allow_all = true")
    );
    let server = TestServer::with_config(&text).await;
    let page = server.get("/login").browser().send().await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("name=\"password\""), "no password form");
    assert!(page.body.contains("Sign in with GitHub"));

    let status = server.get("/api/status").send().await.json();
    assert_eq!(status["configuredProviders"], serde_json::json!(["github"]));
    let started = start(&server, "github").await;
    let code = fake.sign_in(&started.url);
    let signed_in = callback(
        &server,
        "github",
        &code,
        &started.query["state"],
        Some(&started.cookie),
    )
    .await;
    let session = signed_in.session_cookie().unwrap();
    let status = server
        .get("/api/status")
        .header("cookie", &session)
        .send()
        .await
        .json();
    assert_eq!(status["isLoggedIn"], true);
    assert_eq!(status["oauth"], true);
    assert_eq!(status["provider"], "github");
    assert_eq!(status["username"], "carol@example.org");
}

#[tokio::test]
async fn users_added_by_a_reload_reach_the_login_page_and_provider_linking() {
    let alice = Account {
        login: "alice".into(),
        ..Account::default()
    };
    let fake = FakeProvider::start(alice).await;
    let providers =
        fake.github_config("allow_all = true\nusername_claim = \"login\"\nlink_local_users = true");
    let text = format!(
        "app_url = \"https://auth.example.com\"\nsecret = \"test-secret-that-is-long-enough-for-postern\"\n\
         {providers}[server]\nlisten = \"127.0.0.1:0\"\n"
    );
    let server = TestServer::with_config(&text).await;
    let before = server.get("/login").browser().send().await;
    assert!(!before.body.contains("name=\"password\""), "no users yet");

    // What `postern serve` does when the file gains alice: one swap of rules and users.
    let reloaded = load(&config_text("https://auth.example.com", &providers));
    server.state.replace_live(reloaded.access, reloaded.users);

    let after = server.get("/login").browser().send().await;
    assert!(after.body.contains("name=\"password\""), "{}", after.body);
    let started = start(&server, "github").await;
    let code = fake.sign_in(&started.url);
    let response = callback(
        &server,
        "github",
        &code,
        &started.query["state"],
        Some(&started.cookie),
    )
    .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    let check = identity(&server, &response.session_cookie().unwrap()).await;
    assert_eq!(check.header("remote-user"), Some("alice"));
    assert_eq!(
        check.header("remote-groups"),
        Some("admins,dev"),
        "linked to the reloaded local alice"
    );
}

#[tokio::test]
async fn a_discovery_document_for_another_issuer_or_a_dead_provider_is_a_502() {
    let fake = FakeProvider::start(Account {
        discovery_issuer: Some("https://elsewhere.example.com".into()),
        ..Account::default()
    })
    .await;
    let generic = format!(
        "[oauth.generic]\nissuer = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"s\"\nallow_all = true\n",
        fake.base,
        fake::CLIENT_ID
    );
    let server = server(&generic).await;
    let json = server.get("/api/oauth/url/generic").send().await;
    assert_eq!(json.status, StatusCode::BAD_GATEWAY, "{}", json.body);
    let page = server
        .get("/api/oauth/login/generic")
        .browser()
        .send()
        .await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY);
    assert!(page.set_cookies().is_empty(), "nothing was started");

    // The client secret would go to this endpoint: plain http to another host is refused.
    let insecure = FakeProvider::start(Account {
        discovery_token_endpoint: Some("http://id.example.com/token".into()),
        ..Account::default()
    })
    .await;
    let server = self::server(&generic.replace(&fake.base, &insecure.base)).await;
    let json = server.get("/api/oauth/url/generic").send().await;
    assert_eq!(json.status, StatusCode::BAD_GATEWAY, "{}", json.body);

    let dead = fake
        .google_config("allow_all = true")
        .replace(&format!("{}/token", fake.base), "http://127.0.0.1:1/token");
    let server = self::server(&dead).await;
    let started = start(&server, "google").await;
    let code = fake.sign_in(&started.url);
    let response = callback(
        &server,
        "google",
        &code,
        &started.query["state"],
        Some(&started.cookie),
    )
    .await;
    assert_refused(&response, StatusCode::BAD_GATEWAY);
}

/// A whole sign-in through `provider`; the session cookie it ends with.
async fn signed_in_through(server: &TestServer, fake: &FakeProvider, provider: &str) -> String {
    let started = start(server, provider).await;
    let code = fake.sign_in(&started.url);
    let response = callback(
        server,
        provider,
        &code,
        &started.query["state"],
        Some(&started.cookie),
    )
    .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    response.session_cookie().unwrap()
}

/// The claims of the identity token a check hands the app for the session `cookie`.
async fn identity_token_claims(server: &TestServer, cookie: &str) -> serde_json::Value {
    use base64::Engine as _;
    let check = identity(server, cookie).await;
    assert_eq!(check.status, StatusCode::OK, "{}", check.body);
    let token = check.header("remote-jwt").expect("an identity token");
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).unwrap())
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

/// `[oidc]` with a fresh key in `keys`, and identity tokens on.
fn identity_tokens_in(keys: &postern_testkit::TempDir) -> String {
    keys.write(
        "es256.pem",
        &postern_core::oidc::keys::generate_p256_pem().unwrap(),
    );
    format!(
        "[oidc]\nsigning_keys = [{:?}]\n[identity_token]\nheader = \"Remote-Jwt\"\n",
        keys.path().join("es256.pem").display().to_string()
    )
}

/// Two providers may hand out the same name to two people: each is a subject of their own, and
/// neither is the local user of that name.
#[tokio::test]
async fn users_of_two_providers_with_the_same_name_are_two_subjects() {
    let fake = FakeProvider::start(Account::default()).await;
    let keys = postern_testkit::TempDir::new("oauth-subjects");
    let oidc = identity_tokens_in(&keys);
    let server = server(&format!(
        "{}{}{oidc}",
        fake.google_config("allow_all = true"),
        fake.github_config("allow_all = true")
    ))
    .await;
    let mut subs = Vec::new();
    for provider in ["google", "github", "google"] {
        let session = signed_in_through(&server, &fake, provider).await;
        let check = identity(&server, &session).await;
        assert_eq!(check.header("remote-user"), Some("carol@example.org"));
        let claims = identity_token_claims(&server, &session).await;
        assert_eq!(claims["amr"], serde_json::json!(["fed"]));
        subs.push(claims["sub"].as_str().unwrap().to_owned());
    }
    assert_ne!(subs[0], subs[1], "google's carol is not github's");
    assert_eq!(subs[0], subs[2], "the same person on the same provider");
}

/// The ids `GET /api/sessions` lists for the session `cookie`.
async fn listed_session_ids(server: &TestServer, cookie: &str) -> Vec<String> {
    let listed = server
        .get("/api/sessions")
        .header("cookie", cookie)
        .send()
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    listed.json()["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|session| session["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The store indexes a user's sessions by name, and two providers may give one name to two
/// people: neither sees, nor can end, the other's sessions.
#[tokio::test]
async fn users_of_two_providers_with_the_same_name_see_and_end_only_their_own_sessions() {
    let fake = FakeProvider::start(Account::default()).await;
    let server = server(&format!(
        "{}{}",
        fake.google_config("allow_all = true"),
        fake.github_config("allow_all = true")
    ))
    .await;
    let google = signed_in_through(&server, &fake, "google").await;
    let google_again = signed_in_through(&server, &fake, "google").await;
    let github = signed_in_through(&server, &fake, "github").await;
    for session in [&google, &github] {
        let check = identity(&server, session).await;
        assert_eq!(check.header("remote-user"), Some("carol@example.org"));
    }

    let github_ids = listed_session_ids(&server, &github).await;
    assert_eq!(github_ids.len(), 1, "{github_ids:?}");
    let google_ids = listed_session_ids(&server, &google).await;
    assert_eq!(google_ids.len(), 2, "{google_ids:?}");
    assert!(!google_ids.contains(&github_ids[0]));

    let csrf = server.csrf(&google).await;
    let foreign = server
        .request(
            http::Method::DELETE,
            &format!("/api/sessions/{}", github_ids[0]),
        )
        .header("cookie", &google)
        .header("x-csrf-token", &csrf)
        .send()
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "{}", foreign.body);
    let others = server
        .request(http::Method::DELETE, "/api/sessions")
        .header("cookie", &google)
        .header("x-csrf-token", &csrf)
        .send()
        .await;
    assert_eq!(others.status, StatusCode::OK, "{}", others.body);
    assert_eq!(others.json()["ended"], 1, "only google's other session");
    assert_eq!(identity(&server, &github).await.status, StatusCode::OK);
    assert_eq!(identity(&server, &google).await.status, StatusCode::OK);
    assert_ne!(
        identity(&server, &google_again).await.status,
        StatusCode::OK
    );
}

/// A provider's user keeps at most `session.max_sessions_per_user` sessions too: the third
/// sign-in with a cap of 2 ends the first.
#[tokio::test]
async fn a_provider_user_s_sign_ins_are_capped_like_everyone_s() {
    let fake = FakeProvider::start(Account::default()).await;
    let server = server(&format!(
        "[session]\nmax_sessions_per_user = 2\n{}",
        fake.google_config("allowed_domains = [\"example.org\"]")
    ))
    .await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(signed_in_through(&server, &fake, "google").await);
        tokio::time::sleep(std::time::Duration::from_millis(1_050)).await;
    }
    let mut statuses = Vec::new();
    for session in &sessions {
        statuses.push(identity(&server, session).await.status);
    }
    assert_eq!(
        statuses,
        [StatusCode::UNAUTHORIZED, StatusCode::OK, StatusCode::OK],
        "the oldest ended, the newest two live"
    );
}

/// An upstream group named like a local one (anyone can create a GitHub organisation called
/// `admins`) reaches what postern signs under its provider's name, as app rules name it: the
/// identity token, the ID token and userinfo say `google:admins`, never `admins`, so a relying
/// party that maps `groups` to roles does not make the user one of its admins.
/// `Remote-Groups` keeps the provider's names as they are (docs/oauth.md). A revocation of the
/// user's name ends their OpenID tokens.
#[tokio::test]
async fn a_provider_users_groups_are_signed_under_the_providers_name() {
    use crate::oidc::rp;
    let fake = FakeProvider::start(Account {
        groups: vec!["admins".into()],
        ..Account::default()
    })
    .await;
    let (server, _keys) = crate::oidc::provider(&format!(
        "{}[identity_token]\nheader = \"Remote-Jwt\"\n{}",
        rp::clients(""),
        fake.google_config("allow_all = true\ngroups_claim = \"groups\"")
    ))
    .await;
    let session = signed_in_through(&server, &fake, "google").await;

    let check = identity(&server, &session).await;
    assert_eq!(check.header("remote-groups"), Some("admins"));
    let claims = identity_token_claims(&server, &session).await;
    assert_eq!(claims["groups"], serde_json::json!(["google:admins"]));

    let pkce = rp::Pkce::new();
    let code = rp::code_for(&server, &session, "basic", &pkce, &[]).await;
    let exchanged = rp::exchange(&server, "basic", &code, &pkce).await;
    assert_eq!(exchanged.status, StatusCode::OK, "{}", exchanged.body);
    let tokens = exchanged.json();
    let id_token =
        rp::verified_id_token(&server, tokens["id_token"].as_str().unwrap(), "basic").await;
    assert_eq!(id_token["groups"], serde_json::json!(["google:admins"]));
    let info = rp::userinfo(&server, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.body);
    assert_eq!(info.json()["groups"], serde_json::json!(["google:admins"]));

    // `postern users revoke` of the provider's user ends their OpenID tokens with their
    // sessions.
    postern_server::admin::revoke(&server.state.store, "carol@example.org")
        .await
        .unwrap();
    let info = rp::userinfo(&server, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info.status, StatusCode::UNAUTHORIZED, "{}", info.body);
}
