//! A change of passkeys is a change of second factors: like a TOTP change, it moves the user's
//! stamp, so the bearer tokens and cached Basic credentials made before it stop working, on
//! every way in (the API, the account page, `postern users passkeys --remove`). The user's
//! browser sessions stay, as after a TOTP removal. A durable store (the embedded file, or
//! Redis with `POSTERN_TEST_STORE=redis`).

use base64::Engine as _;
use http::{Method, StatusCode};
use postern_core::totp::TotpKey;

use super::authenticator::b64;
use super::{ORIGIN, register};
use crate::support::*;

/// alice, bob and carol (no second factor), Basic on.
async fn durable() -> TestServer {
    let carol = format!(
        "[[users]]\nname = \"carol\"\npassword_hash = \"{}\"\n",
        password_hash()
    );
    TestServer::durable(&config_text(
        ORIGIN,
        &format!("[api]\nbasic_auth = true\n{carol}"),
    ))
    .await
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The status of a check of `https://app.example.com/` with these request headers.
async fn check(server: &TestServer, header: (&str, &str)) -> StatusCode {
    server
        .get("/api/auth/traefik")
        .forwarded("GET", "/")
        .header(header.0, header.1)
        .send()
        .await
        .status
}

/// `POST /api/auth/login` (with `code`, for a TOTP user): `(access, refresh)`.
async fn token_pair(server: &TestServer, user: &str, code: Option<&str>) -> (String, String) {
    let code = code.map_or_else(String::new, |code| format!(",\"code\":\"{code}\""));
    let issued = server
        .post("/api/auth/login")
        .json(&format!(
            "{{\"username\":\"{user}\",\"password\":\"{PASSWORD}\"{code}}}"
        ))
        .send()
        .await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    let token = |name: &str| issued.json()[name].as_str().unwrap().to_owned();
    (token("access_token"), token("refresh_token"))
}

async fn refresh(server: &TestServer, refresh_token: &str) -> StatusCode {
    server
        .post("/api/auth/refresh")
        .json(&format!("{{\"refresh_token\":\"{refresh_token}\"}}"))
        .send()
        .await
        .status
}

/// A passkey added ends what was made before it; without that, a cached Basic credential
/// would skip the second step the passkey brings.
#[tokio::test]
async fn adding_a_passkey_ends_bearer_tokens_and_cached_basic_credentials() {
    adding_a_passkey_ends_tokens_on(&durable().await).await;
}

/// The memory store keeps passkeys until a restart: adding one ends the tokens there too.
#[tokio::test]
async fn on_the_memory_store_too_adding_a_passkey_ends_bearer_tokens() {
    let server = TestServer::with_config(&config_text(ORIGIN, "[api]\nbasic_auth = true\n")).await;
    adding_a_passkey_ends_tokens_on(&server).await;
}

/// The bearer tokens and cached Basic credentials made before a passkey is added end with it.
async fn adding_a_passkey_ends_tokens_on(server: &TestServer) {
    let (access, refresh_token) = token_pair(server, "bob", None).await;
    let bearer = format!("Bearer {access}");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("bob:{PASSWORD}"))
    );
    assert_eq!(
        check(server, ("authorization", &bearer)).await,
        StatusCode::OK
    );
    assert_eq!(
        check(server, ("authorization", &basic)).await,
        StatusCode::OK
    );
    let cookie = server.login("bob").await;
    let csrf = server.csrf(&cookie).await;
    register(server, &cookie, &csrf).await;
    assert_eq!(
        check(server, ("authorization", &bearer)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        check(server, ("authorization", &basic)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(server, &refresh_token).await,
        StatusCode::UNAUTHORIZED
    );
    // The browser session that added it stays.
    assert_eq!(check(server, ("cookie", &cookie)).await, StatusCode::OK);
}

/// How a passkey is removed.
#[derive(Debug, Clone, Copy)]
enum Way {
    Api,
    Page,
    Admin,
}

async fn remove(server: &TestServer, way: Way, user: &str, cookie: &str, csrf: &str, id: &str) {
    match way {
        Way::Api => {
            let removed = server
                .request(Method::DELETE, &format!("/api/webauthn/passkeys/{id}"))
                .header("cookie", cookie)
                .header("x-csrf-token", csrf)
                .send()
                .await;
            assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
        }
        Way::Page => {
            let removed = server
                .post("/account/passkey-remove")
                .header("cookie", cookie)
                .browser()
                .form(&[("csrf", csrf), ("id", id)])
                .send()
                .await;
            assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
        }
        Way::Admin => {
            let said = postern_server::admin::passkeys_user(
                &server.state.store,
                &server.state.users(),
                user,
                Some(id),
            )
            .await
            .unwrap();
            assert!(
                said.contains("bearer tokens and cached Basic credentials no longer work"),
                "{said}"
            );
        }
    }
}

/// A user with TOTP and a passkey (so a token needs the code) removes the passkey: the tokens
/// of before end, through whichever way it is removed; their browser session stays.
#[tokio::test]
async fn removing_a_passkey_ends_bearer_tokens_on_every_way_in_but_not_browser_sessions() {
    let server = durable().await;
    for (user, way) in [
        ("alice", Way::Api),
        ("bob", Way::Page),
        ("carol", Way::Admin),
    ] {
        let cookie = server.login(user).await;
        let csrf = server.csrf(&cookie).await;
        let secret = crate::account::enrol(&server, &cookie).await;
        let passkey = register(&server, &cookie, &csrf).await;
        // One step ahead: the step enrolment used is spent.
        let code = TotpKey::parse(&secret).unwrap().code_at(now() + 30);
        let (access, refresh_token) = token_pair(&server, user, Some(&code)).await;
        let bearer = format!("Bearer {access}");
        assert_eq!(
            check(&server, ("authorization", &bearer)).await,
            StatusCode::OK,
            "{way:?}"
        );
        remove(
            &server,
            way,
            user,
            &cookie,
            &csrf,
            &b64(&passkey.credential_id),
        )
        .await;
        assert_eq!(
            check(&server, ("authorization", &bearer)).await,
            StatusCode::UNAUTHORIZED,
            "{way:?}: a bearer token made before the removal still works"
        );
        assert_eq!(
            refresh(&server, &refresh_token).await,
            StatusCode::UNAUTHORIZED,
            "{way:?}"
        );
        assert_eq!(
            check(&server, ("cookie", &cookie)).await,
            StatusCode::OK,
            "{way:?}: the browser session stays"
        );
    }
}
