//! The account page: sign in and come back, the profile and sessions, the password form, and
//! the second factors: re-authentication within five minutes, TOTP set up by the user (in
//! force only after a right code, honoured at sign-in, on another replica too), the last
//! required factor kept, recovery codes made anew, CSRF on every form, the audit webhook,
//! and `[account] self_service = false`.

use http::StatusCode;
use postern_core::config::StoreKind;
use postern_core::totp::TotpKey;
use postern_server::AppState;

use crate::notify::Webhook;
use crate::support::*;

/// Every form of the page.
const FORMS: &[&str] = &[
    "/account/password",
    "/account/end-session",
    "/account/end-other-sessions",
    "/account/reauth",
    "/account/totp-setup",
    "/account/totp-confirm",
    "/account/totp-remove",
    "/account/recovery-codes",
    "/account/passkey-add",
    "/account/passkey-rename",
    "/account/passkey-remove",
    "/account/consent-revoke",
];

const ADMIN_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
const ADMIN_RECOVERY: &str = "k3v7q-mz2ha";

/// alice and bob (support's), tess with a TOTP secret and a recovery code set by the
/// administrator, and Vault, a two_factor app for alice and tess only.
fn config(extra: &str) -> String {
    let hash = password_hash();
    let recovery = postern_core::password::hash_password(ADMIN_RECOVERY.as_bytes()).unwrap();
    format!(
        "{}[[apps]]\nname = \"Vault\"\nhost = \"vault.example.com\"\npolicy = \"two_factor\"\n\
         allow_users = [\"alice\", \"tess\"]\n\
         [[users]]\nname = \"tess\"\npassword_hash = \"{hash}\"\ntotp_secret = \"{ADMIN_SECRET}\"\n\
         recovery_codes = [\"{recovery}\"]\n",
        config_text("https://auth.example.com", extra)
    )
}

async fn server() -> TestServer {
    TestServer::durable(&config("")).await
}

/// Signs `user` in through the login form; returns the session cookie.
async fn form_sign_in(server: &TestServer, user: &str) -> String {
    let page = server.get("/login").browser().send().await;
    let submitted = server
        .post("/login")
        .header("cookie", &page.cookie("postern_csrf").unwrap())
        .form(&[
            ("username", user),
            ("password", PASSWORD),
            ("csrf", &page.hidden_field("csrf")),
        ])
        .send()
        .await;
    assert_eq!(
        submitted.status,
        StatusCode::SEE_OTHER,
        "{}",
        submitted.body
    );
    submitted.session_cookie().unwrap()
}

/// Posts one of the page's forms with the session's CSRF token.
pub async fn submit(
    server: &TestServer,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> TestResponse {
    let csrf = server.account_page(cookie).await.hidden_field("csrf");
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    server
        .post(path)
        .header("cookie", cookie)
        .browser()
        .form(&all)
        .send()
        .await
}

/// The password form, right current password, good new one.
async fn change_password(server: &TestServer, cookie: &str) -> TestResponse {
    let fields = [
        ("current_password", PASSWORD),
        ("new_password", "a brand new passphrase"),
    ];
    submit(server, cookie, "/account/password", &fields).await
}

/// tess signs in with her password and her administrator's TOTP secret; her session cookie.
async fn sign_in_tess(server: &TestServer) -> String {
    let pending = api_login(server, "tess").await;
    let code = TotpKey::parse(ADMIN_SECRET).unwrap().code_at(unix_now());
    let signed_in = server
        .post("/api/totp")
        .header("cookie", &pending.cookie("postern_pending").unwrap())
        .json(&format!("{{\"code\":\"{code}\"}}"))
        .send()
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    signed_in.session_cookie().unwrap()
}

/// The secret of the set-up on the page (`<code id="totp-secret">ABCD EFGH ...</code>`).
pub fn shown_secret(page: &TestResponse) -> String {
    let start = page.body.find("id=\"totp-secret\">").expect("a secret") + 17;
    let end = page.body[start..].find('<').unwrap();
    page.body[start..start + end].replace(' ', "")
}

async fn api_login(server: &TestServer, user: &str) -> TestResponse {
    server
        .post("/api/login")
        .json(&format!(
            "{{\"username\":\"{user}\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await
}

/// Sets up TOTP for the cookie's user (a recent session); returns the secret.
pub async fn enrol(server: &TestServer, cookie: &str) -> String {
    let setup = submit(server, cookie, "/account/totp-setup", &[]).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let secret = shown_secret(&setup);
    let code = TotpKey::parse(&secret).unwrap().code_at(unix_now());
    let confirmed = submit(server, cookie, "/account/totp-confirm", &[("code", &code)]).await;
    assert_eq!(
        confirmed.status,
        StatusCode::SEE_OTHER,
        "{}",
        confirmed.body
    );
    assert_eq!(
        confirmed.header("location"),
        Some("/account?done=totp-on#two-step")
    );
    secret
}

#[tokio::test]
async fn a_signed_out_visitor_signs_in_and_comes_back() {
    let server = server().await;
    let away = server.get("/account").browser().send().await;
    assert_eq!(away.status, StatusCode::FOUND);
    assert_eq!(
        away.header("location"),
        Some("/login?redirect_uri=%2Faccount")
    );
    let login = server
        .get(away.header("location").unwrap())
        .browser()
        .send()
        .await;
    assert_eq!(login.hidden_field("redirect_uri"), "/account");
    let submitted = server
        .post("/login")
        .header("cookie", &login.cookie("postern_csrf").unwrap())
        .form(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf", &login.hidden_field("csrf")),
            ("redirect_uri", "/account"),
        ])
        .send()
        .await;
    assert_eq!(
        submitted.header("location"),
        Some("https://auth.example.com/account")
    );
    // A form without a session is refused, not acted on.
    let signed_out = server
        .post("/account/totp-setup")
        .browser()
        .form(&[("csrf", "x")])
        .send()
        .await;
    assert_eq!(signed_out.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_page_shows_the_profile_the_sign_in_method_and_the_sessions() {
    let server = server().await;
    let other = server.login("alice").await;
    let cookie = form_sign_in(&server, "alice").await;
    let page = server.account_page(&cookie).await;
    for shown in [
        "Alice Example",
        "alice@example.com",
        "admins, dev",
        "<dd id=\"signed-in-with\">password</dd>",
        "This session",
        "Sign out everywhere else",
        "A second factor is needed to open: Vault.",
        "action=\"/account/password\"",
        "action=\"/account/totp-setup\"",
    ] {
        assert!(page.body.contains(shown), "{shown} in {}", page.body);
    }
    // The security headers of every page: no script, never framed.
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("default-src 'none'")
    );
    // The other session is listed with its way in, and can be signed out from here.
    let other_id = session_key(&other).to_hex();
    assert!(page.body.contains(&other_id));
    let ended = submit(
        &server,
        &cookie,
        "/account/end-session",
        &[("id", &other_id)],
    )
    .await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER, "{}", ended.body);
    let status = server
        .get("/api/status")
        .header("cookie", &other)
        .send()
        .await;
    assert_eq!(status.json()["isLoggedIn"], false);
    // Another user's session id is not found, and stays.
    let bob = server.login("bob").await;
    let refused = submit(
        &server,
        &cookie,
        "/account/end-session",
        &[("id", &session_key(&bob).to_hex())],
    )
    .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    let status = server
        .get("/api/status")
        .header("cookie", &bob)
        .send()
        .await;
    assert_eq!(status.json()["isLoggedIn"], true);
    // Everywhere else.
    let third = server.login("alice").await;
    let others = submit(&server, &cookie, "/account/end-other-sessions", &[]).await;
    assert_eq!(
        others.header("location"),
        Some("/account?done=sessions#sessions")
    );
    let status = server
        .get("/api/status")
        .header("cookie", &third)
        .send()
        .await;
    assert_eq!(status.json()["isLoggedIn"], false);
    let status = server
        .get("/api/status")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(status.json()["isLoggedIn"], true);
    // This very session: signed out, its cookie cleared, on to the login page.
    let own = session_key(&cookie).to_hex();
    let ended = submit(&server, &cookie, "/account/end-session", &[("id", &own)]).await;
    assert_eq!(ended.header("location"), Some("/login?logged_out=1"));
    assert_eq!(
        ended.cookie("postern_session").as_deref(),
        Some("postern_session=")
    );
    let status = server
        .get("/api/status")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(status.json()["isLoggedIn"], false);
}

#[tokio::test]
async fn every_form_refuses_a_missing_or_forged_csrf_token() {
    let server = server().await;
    let cookie = server.login("alice").await;
    let other = server.login("alice").await;
    for path in FORMS {
        for csrf in [None, Some("forged"), Some("")] {
            let mut fields = vec![
                ("current_password", PASSWORD),
                ("new_password", "a brand new passphrase"),
                ("password", PASSWORD),
                ("id", ""),
            ];
            if let Some(csrf) = csrf {
                fields.push(("csrf", csrf));
            }
            let refused = server
                .post(path)
                .header("cookie", &cookie)
                .browser()
                .form(&fields)
                .send()
                .await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path} {csrf:?}");
            assert!(refused.body.contains("Form expired"), "{path}");
        }
    }
    // Nothing happened: the password is the old one, the other session is alive, no TOTP.
    assert_eq!(
        api_login(&server, "alice").await.json()["totpPending"],
        false
    );
    let status = server
        .get("/api/status")
        .header("cookie", &other)
        .send()
        .await;
    assert_eq!(status.json()["isLoggedIn"], true);
    // A token of another session does not pass for this one's.
    let csrf_of_other = server.csrf(&other).await;
    let crossed = server
        .post("/account/end-other-sessions")
        .header("cookie", &cookie)
        .form(&[("csrf", &csrf_of_other)])
        .send()
        .await;
    assert_eq!(crossed.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_password_form_changes_the_password_or_says_why_not() {
    let server = server().await;
    let cookie = server.login("bob").await;
    let other = server.login("bob").await;
    let wrong = submit(
        &server,
        &cookie,
        "/account/password",
        &[
            ("current_password", "not it"),
            ("new_password", "a brand new passphrase"),
        ],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong.body.contains("The current password is not right"),
        "{}",
        wrong.body
    );
    let weak = submit(
        &server,
        &cookie,
        "/account/password",
        &[("current_password", PASSWORD), ("new_password", "short")],
    )
    .await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert!(weak.body.contains("role=\"alert\""));
    let changed = change_password(&server, &cookie).await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert_eq!(
        changed.header("location"),
        Some("/account?done=password#password")
    );
    let back = server
        .account_page_at(&cookie, changed.header("location").unwrap())
        .await;
    assert!(
        back.body.contains("Your password is changed."),
        "{}",
        back.body
    );
    assert_eq!(
        api_login(&server, "bob").await.status,
        StatusCode::UNAUTHORIZED
    );
    let status = server
        .get("/api/status")
        .header("cookie", &other)
        .send()
        .await;
    assert_eq!(status.json()["isLoggedIn"], false, "other sessions end");
}

#[tokio::test]
async fn a_factor_change_after_five_minutes_asks_for_the_password_again() {
    let server = server().await;
    let cookie = server.login("bob").await;
    server.age_session(&cookie).await;
    for path in [
        "/account/totp-setup",
        "/account/totp-confirm",
        "/account/totp-remove",
        "/account/recovery-codes",
    ] {
        let asked = submit(&server, &cookie, path, &[("code", "123456")]).await;
        assert_eq!(asked.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(
            asked.body.contains("Confirm it&#39;s you") || asked.body.contains("Confirm it"),
            "{}",
            asked.body
        );
        assert!(asked.body.contains("action=\"/account/reauth\""));
        assert!(!asked.body.contains("totp-secret"), "{path} went ahead");
    }
    let wrong = submit(
        &server,
        &cookie,
        "/account/reauth",
        &[("password", "not it"), ("section", "two-step")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("id=\"reauth-error\""));
    let confirmed = submit(
        &server,
        &cookie,
        "/account/reauth",
        &[("password", PASSWORD), ("section", "two-step")],
    )
    .await;
    assert_eq!(
        confirmed.status,
        StatusCode::SEE_OTHER,
        "{}",
        confirmed.body
    );
    assert_eq!(
        confirmed.header("location"),
        Some("/account?done=reauth#two-step")
    );
    // Now the change goes ahead.
    let secret = enrol(&server, &cookie).await;
    assert_eq!(secret.len(), 32);
    // A section the form does not know comes back to the first one.
    let odd = submit(
        &server,
        &cookie,
        "/account/reauth",
        &[("password", PASSWORD), ("section", "https://evil.example")],
    )
    .await;
    assert_eq!(
        odd.header("location"),
        Some("/account?done=reauth#two-step")
    );
}

#[tokio::test]
async fn a_set_up_secret_is_shown_again_only_while_the_sign_in_is_recent() {
    let server = server().await;
    let cookie = server.login("bob").await;
    let setup = submit(&server, &cookie, "/account/totp-setup", &[]).await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.body);
    let secret = shown_secret(&setup);
    let reloaded = server.account_page(&cookie).await;
    assert_eq!(
        shown_secret(&reloaded),
        secret,
        "a reload within the window"
    );
    // Past the window, the session cookie alone does not read the secret again.
    server.age_session(&cookie).await;
    let later = server.account_page(&cookie).await;
    assert_eq!(later.status, StatusCode::OK);
    assert!(!later.body.contains("totp-secret"), "{}", later.body);
    assert!(!later.body.contains(&secret));
}

/// A bearer token (or a session) can have a ticket turned into a new session: no sign-in of its
/// own, so it never passes for a recent authentication.
#[tokio::test]
async fn a_session_from_a_ticket_is_no_recent_authentication() {
    let server = server().await;
    let tokens = server
        .post("/api/auth/login")
        .json(&format!(
            "{{\"username\":\"bob\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await;
    let access = tokens.json()["access_token"].as_str().unwrap().to_owned();
    let ticket = server
        .get("/api/ws-token")
        .header("authorization", &format!("Bearer {access}"))
        .send()
        .await;
    let token = ticket.json()["token"].as_str().unwrap().to_owned();
    let redeemed = server
        .post("/api/ticket/redeem")
        .json(&format!("{{\"token\":\"{token}\"}}"))
        .send()
        .await;
    let cookie = redeemed.session_cookie().unwrap();
    let asked = submit(&server, &cookie, "/account/totp-setup", &[]).await;
    assert_eq!(asked.status, StatusCode::UNAUTHORIZED, "{}", asked.body);
    assert!(asked.body.contains("action=\"/account/reauth\""));
    assert!(
        server
            .account_page(&cookie)
            .await
            .body
            .contains("a one-time ticket")
    );
}

#[tokio::test]
async fn self_enrolled_totp_counts_only_after_a_right_code_and_then_at_every_sign_in() {
    let server = server().await;
    let cookie = server.login("bob").await;
    let setup = submit(&server, &cookie, "/account/totp-setup", &[]).await;
    assert_eq!(setup.status, StatusCode::OK);
    assert!(setup.body.contains("src=\"data:image/svg+xml;base64,"));
    let secret = shown_secret(&setup);
    // Not in force before its code.
    assert_eq!(api_login(&server, "bob").await.json()["totpPending"], false);
    // The page shows the waiting set-up, the same secret, until it is confirmed.
    assert_eq!(shown_secret(&server.account_page(&cookie).await), secret);
    let wrong = submit(
        &server,
        &cookie,
        "/account/totp-confirm",
        &[("code", "000000")],
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("That code is not right"));
    assert_eq!(api_login(&server, "bob").await.json()["totpPending"], false);
    let key = TotpKey::parse(&secret).unwrap();
    // Kept: the replay below must send this very code, not the code of whatever 30-second
    // step the clock has reached by then.
    let confirming_code = key.code_at(unix_now());
    let confirmed = submit(
        &server,
        &cookie,
        "/account/totp-confirm",
        &[("code", &confirming_code)],
    )
    .await;
    assert_eq!(
        confirmed.status,
        StatusCode::SEE_OTHER,
        "{}",
        confirmed.body
    );
    let page = server.account_page(&cookie).await;
    assert!(page.body.contains("On since"), "{}", page.body);
    assert!(
        !page.body.contains("totp-secret"),
        "the secret is never shown again"
    );
    assert!(page.body.contains("0 of 0 left"));
    // In force at sign-in: the password is not enough, the code is asked for.
    let pending = api_login(&server, "bob").await;
    assert_eq!(pending.json()["totpPending"], true);
    assert!(pending.session_cookie().is_none());
    // The code that confirmed the secret does not sign in; the next one does.
    let pending_cookie = pending.cookie("postern_pending").unwrap();
    let replay = server
        .post("/api/totp")
        .header("cookie", &pending_cookie)
        .json(&format!("{{\"code\":\"{confirming_code}\"}}"))
        .send()
        .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    let next = server
        .post("/api/totp")
        .header("cookie", &pending_cookie)
        .json(&format!(
            "{{\"code\":\"{}\"}}",
            key.code_at(unix_now() + 30)
        ))
        .send()
        .await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    // Basic credentials no longer pass for a TOTP user, and another replica on the same
    // store asks for the code too.
    // With Redis, a client of its own; the embedded store is one process's file, shared.
    let store = match &server.state.config.session.store {
        StoreKind::Redis(redis) => postern_store::Store::redis(redis).unwrap(),
        _ => postern_store::Store::clone(&server.state.store),
    };
    let replica = TestServer::with_state(AppState::new(load(&config("")), store)).await;
    assert_eq!(api_login(&replica, "bob").await.json()["totpPending"], true);
}

/// A change of second factors moves the user's stamp: bearer tokens and cached Basic
/// credentials made before it stop working (Basic then meets the TOTP rule: refused).
#[tokio::test]
async fn a_change_of_factors_ends_bearer_tokens_and_cached_basic_credentials() {
    use base64::Engine as _;
    let server = TestServer::durable(&config("[api]\nbasic_auth = true")).await;
    let tokens = server
        .post("/api/auth/login")
        .json(&format!(
            "{{\"username\":\"bob\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await;
    let bearer = format!("Bearer {}", tokens.json()["access_token"].as_str().unwrap());
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("bob:{PASSWORD}"))
    );
    let check = |authorization: String| {
        let request = server
            .get("/api/auth/traefik")
            .forwarded("GET", "/")
            .header("authorization", &authorization);
        async move { request.send().await.status }
    };
    assert_eq!(check(bearer.clone()).await, StatusCode::OK);
    assert_eq!(check(basic.clone()).await, StatusCode::OK);
    let cookie = server.login("bob").await;
    enrol(&server, &cookie).await;
    assert_eq!(check(bearer).await, StatusCode::UNAUTHORIZED);
    assert_eq!(check(basic).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_last_second_factor_a_two_factor_app_needs_cannot_be_removed() {
    let server = server().await;
    // alice may open Vault (two_factor): her only second factor stays.
    let alice = server.login("alice").await;
    enrol(&server, &alice).await;
    let refused = submit(&server, &alice, "/account/totp-remove", &[]).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(
        refused
            .body
            .contains("You cannot remove your last second factor: Vault needs two factors"),
        "{}",
        refused.body
    );
    assert_eq!(
        api_login(&server, "alice").await.json()["totpPending"],
        true
    );
    // bob may not open Vault: he may remove his.
    let bob = server.login("bob").await;
    enrol(&server, &bob).await;
    let removed = submit(&server, &bob, "/account/totp-remove", &[]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    assert_eq!(
        removed.header("location"),
        Some("/account?done=totp-off#two-step")
    );
    assert_eq!(api_login(&server, "bob").await.json()["totpPending"], false);
    let back = server
        .account_page_at(&bob, removed.header("location").unwrap())
        .await;
    assert!(back.body.contains("Two-step verification is off."));
    assert!(back.body.contains("action=\"/account/totp-setup\""));
}

#[tokio::test]
async fn an_administrators_secret_is_shown_as_theirs_and_stays() {
    let server = server().await;
    let cookie = sign_in_tess(&server).await;
    let page = server.account_page(&cookie).await;
    assert!(
        page.body.contains("set by your administrator"),
        "{}",
        page.body
    );
    assert!(page.body.contains("password and TOTP"));
    assert!(
        page.body
            .contains("1 of 1 left, made by your administrator")
    );
    assert!(!page.body.contains("action=\"/account/totp-remove\""));
    let refused = submit(&server, &cookie, "/account/totp-remove", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("only they can remove it"));
    let setup = submit(&server, &cookie, "/account/totp-setup", &[]).await;
    assert_eq!(setup.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn new_recovery_codes_are_shown_once_and_void_the_old_ones() {
    let server = server().await;
    let cookie = sign_in_tess(&server).await;
    let made = submit(&server, &cookie, "/account/recovery-codes", &[]).await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let codes: Vec<String> = made
        .body
        .split("<li><code>")
        .skip(1)
        .map(|rest| rest[..rest.find('<').unwrap()].to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{}", made.body);
    assert!(made.body.contains("10 of 10 left."));
    // Shown once: the page does not show them again.
    assert!(!server.account_page(&cookie).await.body.contains(&codes[0]));
    let use_code = |code: String| {
        let server = &server;
        async move {
            let pending = api_login(server, "tess").await;
            server
                .post("/api/totp")
                .header("cookie", &pending.cookie("postern_pending").unwrap())
                .json(&format!("{{\"code\":\"{code}\"}}"))
                .send()
                .await
                .status
        }
    };
    assert_eq!(
        use_code(ADMIN_RECOVERY.to_owned()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(use_code(codes[3].clone()).await, StatusCode::OK);
    assert_eq!(use_code(codes[3].clone()).await, StatusCode::UNAUTHORIZED);
    assert!(
        server
            .account_page(&cookie)
            .await
            .body
            .contains("9 of 10 left.")
    );
}

/// Ten argon2 hashes a request: three sets at once, then the account waits (429 on the page,
/// with `Retry-After`), so one account cannot keep the verifiers from everyone's sign-ins.
#[tokio::test]
async fn new_recovery_codes_are_limited_per_user() {
    let server = server().await;
    let cookie = sign_in_tess(&server).await;
    for made in 0..3 {
        let page = submit(&server, &cookie, "/account/recovery-codes", &[]).await;
        assert_eq!(page.status, StatusCode::OK, "set {made}: {}", page.body);
    }
    let limited = submit(&server, &cookie, "/account/recovery-codes", &[]).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=120).contains(&retry_after), "{retry_after}");
    assert!(
        limited.body.contains("new recovery codes 3 times just now"),
        "{}",
        limited.body
    );
    assert!(!limited.body.contains("<li><code>"), "no codes were made");
}

#[tokio::test]
async fn each_factor_change_is_posted_to_the_webhook() {
    let webhook = Webhook::start(vec![200]).await;
    let server = TestServer::durable(&config(&format!(
        "trusted_proxies = [\"127.0.0.1/32\"]\n[notify]\nwebhook_url = \"http://127.0.0.1:{}/hooks\"",
        webhook.port
    )))
    .await;
    let cookie = server.login("bob").await;
    enrol(&server, &cookie).await;
    let made = submit(&server, &cookie, "/account/recovery-codes", &[]).await;
    assert_eq!(made.status, StatusCode::OK);
    let removed = submit(&server, &cookie, "/account/totp-remove", &[]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    server.state.notifier.settled().await;
    let received = webhook.wait_for(3).await;
    let events = crate::notify::events(&received);
    assert_eq!(
        events,
        [
            ("account.totp_enrolled", "bob", "TOTP enrolled"),
            (
                "account.recovery_codes_regenerated",
                "bob",
                "recovery codes regenerated"
            ),
            ("account.totp_removed", "bob", "TOTP removed"),
        ]
    );
    assert!(received.iter().all(|notice| notice["ip"] == "127.0.0.1"));
}

#[tokio::test]
async fn without_self_service_only_the_password_and_the_sessions_change() {
    let server = TestServer::durable(&config("[account]\nself_service = false")).await;
    let cookie = server.login("bob").await;
    let page = server.account_page(&cookie).await;
    assert!(
        page.body
            .contains("Your administrator manages two-step verification")
    );
    assert!(!page.body.contains("action=\"/account/totp-setup\""));
    assert!(page.body.contains("action=\"/account/password\""));
    for path in [
        "/account/totp-setup",
        "/account/totp-remove",
        "/account/recovery-codes",
        "/account/reauth",
    ] {
        let refused = submit(&server, &cookie, path, &[("password", PASSWORD)]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(api_login(&server, "bob").await.json()["totpPending"], false);
    let changed = change_password(&server, &cookie).await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_memory_store_keeps_no_second_factor_and_says_so() {
    let config = load(&config(""));
    let server =
        TestServer::with_state(AppState::new(config, postern_store::Store::memory(1000))).await;
    let cookie = server.login("bob").await;
    let page = server.account_page(&cookie).await;
    assert!(
        page.body.contains("keeps no durable store"),
        "{}",
        page.body
    );
    let refused = submit(&server, &cookie, "/account/totp-setup", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_account_routes_answer_other_methods_and_paths() {
    let server = server().await;
    let put = server.request(http::Method::PUT, "/account").send().await;
    assert_eq!(put.status, StatusCode::METHOD_NOT_ALLOWED);
    let get_form = server.get("/account/totp-setup").send().await;
    assert_eq!(get_form.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get_form.header("allow"), Some("POST"));
    let unknown = server.post("/account/nothing").browser().send().await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

/// A credentials record that no longer reads (edited by hand, imported from a broken file)
/// fails closed: the user's own TOTP must not fall away with it, so the password alone never
/// signs them in.
#[tokio::test]
async fn an_unreadable_credentials_record_never_drops_the_second_factor() {
    let server = server().await;
    let cookie = server.login("bob").await;
    enrol(&server, &cookie).await;
    assert_eq!(api_login(&server, "bob").await.json()["totpPending"], true);
    server
        .state
        .store
        .put_user_record(
            "bob",
            postern_store::RecordKind::Credentials,
            "current",
            b"{\"totp\": 7".to_vec(),
        )
        .await
        .unwrap();
    let login = api_login(&server, "bob").await;
    assert!(
        login.session_cookie().is_none(),
        "signed in with the password alone: {} {}",
        login.status,
        login.body
    );
    assert_eq!(
        login.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        login.body
    );
}

/// A form that does not parse (here the CSRF field twice) is a 400 that says so, not a 403
/// "form expired" that hides the real problem; nothing changes.
#[tokio::test]
async fn an_account_form_that_does_not_parse_is_a_400() {
    let server = server().await;
    let cookie = sign_in_tess(&server).await;
    let unreadable = submit(
        &server,
        &cookie,
        "/account/recovery-codes",
        &[("csrf", "x")],
    )
    .await;
    assert_eq!(
        unreadable.status,
        StatusCode::BAD_REQUEST,
        "{}",
        unreadable.body
    );
    assert!(
        unreadable.body.contains("could not be read"),
        "{}",
        unreadable.body
    );
    assert!(!unreadable.body.contains("<li><code>"));
}
