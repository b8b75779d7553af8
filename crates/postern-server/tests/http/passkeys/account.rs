//! Passkeys on the account page and the rules every change of them follows, on the page and
//! through the API alike: a recent authentication (the password or a passkey again after five
//! minutes), the session's CSRF token, the owner's passkeys only, never the last second factor
//! a two_factor app needs, and an audit event with a webhook notice for each change.

use http::StatusCode;
use serde_json::{Value, json};

use super::authenticator::{SoftAuthenticator, b64};
use super::{
    ORIGIN, RP_ID, listed, password_then_passkey, register, register_begin, register_this,
    sign_in_passwordless,
};
use crate::notify::Webhook;
use crate::support::*;

/// A durable store (the page keeps nothing on the memory store) and Vault, a two_factor app
/// for everyone.
async fn durable_with(extra: &str) -> TestServer {
    let apps =
        "[[apps]]\nname = \"Vault\"\nhost = \"vault.example.com\"\npolicy = \"two_factor\"\n";
    TestServer::durable(&config_text(ORIGIN, &format!("{extra}\n{apps}"))).await
}

async fn durable() -> TestServer {
    durable_with("").await
}

/// Posts one of the account page's forms with `csrf`.
async fn form(
    server: &TestServer,
    cookie: &str,
    csrf: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> TestResponse {
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(fields);
    server
        .post(path)
        .header("cookie", cookie)
        .browser()
        .form(&all)
        .send()
        .await
}

fn api(
    server: &TestServer,
    method: http::Method,
    path: &str,
    cookie: &str,
    csrf: &str,
) -> TestRequest {
    server
        .request(method, path)
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
}

async fn rename_api(
    server: &TestServer,
    cookie: &str,
    csrf: &str,
    id: &str,
    name: &str,
) -> TestResponse {
    api(
        server,
        http::Method::PATCH,
        &format!("/api/webauthn/passkeys/{id}"),
        cookie,
        csrf,
    )
    .json(&json!({ "name": name }).to_string())
    .send()
    .await
}

async fn remove_api(server: &TestServer, cookie: &str, csrf: &str, id: &str) -> TestResponse {
    api(
        server,
        http::Method::DELETE,
        &format!("/api/webauthn/passkeys/{id}"),
        cookie,
        csrf,
    )
    .send()
    .await
}

async fn names(server: &TestServer, cookie: &str) -> Vec<String> {
    listed(server, cookie)
        .await
        .iter()
        .map(|passkey| passkey["name"].as_str().unwrap().to_owned())
        .collect()
}

/// `reauth/begin` then `reauth/finish` with `authenticator`'s answer.
async fn confirm_with(
    server: &TestServer,
    cookie: &str,
    csrf: &str,
    authenticator: &mut SoftAuthenticator,
) -> TestResponse {
    let options = api(
        server,
        http::Method::POST,
        "/api/webauthn/reauth/begin",
        cookie,
        csrf,
    )
    .json("{}")
    .send()
    .await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    let credential = authenticator.assert(&options.json());
    finish_confirmation(server, cookie, csrf, &credential).await
}

async fn finish_confirmation(
    server: &TestServer,
    cookie: &str,
    csrf: &str,
    credential: &Value,
) -> TestResponse {
    api(
        server,
        http::Method::POST,
        "/api/webauthn/reauth/finish",
        cookie,
        csrf,
    )
    .json(&json!({ "credential": credential, "section": "passkeys" }).to_string())
    .send()
    .await
}

#[tokio::test]
async fn the_page_lists_passkeys_with_their_last_use_and_renames_and_removes_them() {
    let server = durable().await;
    let cookie = server.login("alice").await;
    let csrf = server.csrf(&cookie).await;
    let before = server.account_page(&cookie).await;
    assert!(before.body.contains("id=\"passkeys-none\""));
    // Adding is the static script's: a form it drives, with the CSRF token it sends.
    assert!(before.body.contains("id=\"passkey-add\""));
    assert!(before.body.contains(&format!("data-csrf=\"{csrf}\"")));
    assert!(before.body.contains("<script src=\"/static/passkeys."));
    assert!(!before.body.contains("<script>"), "no inline script");

    let mut laptop = register(&server, &cookie, &csrf).await;
    let laptop_id = b64(&laptop.credential_id);
    let listed = server.account_page(&cookie).await;
    assert!(
        listed
            .body
            .contains("<p class=\"session-title\">Laptop</p>")
    );
    assert!(listed.body.contains("Last used: never."), "{}", listed.body);
    assert!(listed.body.contains(&format!("value=\"{laptop_id}\"")));

    // A sign-in with it (password, then the passkey) is its last use, kept in the store.
    let signed_in = password_then_passkey(&server, "alice", &mut laptop).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    let used = server.account_page(&cookie).await;
    assert!(!used.body.contains("Last used: never."), "{}", used.body);
    assert!(used.body.contains("Last used: 20"), "{}", used.body);

    let renamed = form(
        &server,
        &cookie,
        &csrf,
        "/account/passkey-rename",
        &[("id", &laptop_id), ("name", "  Work laptop ")],
    )
    .await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER, "{}", renamed.body);
    assert_eq!(
        renamed.header("location"),
        Some("/account?done=passkey-renamed#passkeys")
    );
    assert_eq!(names(&server, &cookie).await, ["Work laptop"]);
    let empty = form(
        &server,
        &cookie,
        &csrf,
        "/account/passkey-rename",
        &[("id", &laptop_id), ("name", "   ")],
    )
    .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert!(empty.body.contains("The name must not be empty"));

    // The second factor alice keeps: TOTP-less, Vault needs two, so a second passkey first.
    let last = form(
        &server,
        &cookie,
        &csrf,
        "/account/passkey-remove",
        &[("id", &laptop_id)],
    )
    .await;
    assert_eq!(last.status, StatusCode::CONFLICT, "{}", last.body);
    assert!(
        last.body
            .contains("You cannot remove your last second factor: Vault needs two factors."),
        "{}",
        last.body
    );
    let phone = register(&server, &cookie, &csrf).await;
    let removed = form(
        &server,
        &cookie,
        &csrf,
        "/account/passkey-remove",
        &[("id", &laptop_id)],
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    assert_eq!(
        removed.header("location"),
        Some("/account?done=passkey-removed#passkeys")
    );
    let left = server.account_page(&cookie).await;
    assert!(!left.body.contains(&laptop_id));
    assert!(left.body.contains(&b64(&phone.credential_id)));
}

#[tokio::test]
async fn a_stale_session_changes_no_passkey_until_the_password_or_a_passkey_confirms_it() {
    let server = durable().await;
    let cookie = server.login("alice").await;
    let csrf = server.csrf(&cookie).await;
    let mut laptop = register(&server, &cookie, &csrf).await;
    let laptop_id = b64(&laptop.credential_id);
    server.age_session(&cookie).await;

    // The API: 403, "reauthenticate", nothing done.
    let begin = register_begin(&server, &cookie, &csrf).await;
    assert_eq!(begin.status, StatusCode::FORBIDDEN, "{}", begin.body);
    assert_eq!(begin.json()["reauthenticate"], true);
    let rename = rename_api(&server, &cookie, &csrf, &laptop_id, "Stolen").await;
    assert_eq!(rename.status, StatusCode::FORBIDDEN);
    assert_eq!(rename.json()["reauthenticate"], true);
    let remove = remove_api(&server, &cookie, &csrf, &laptop_id).await;
    assert_eq!(remove.status, StatusCode::FORBIDDEN);
    assert_eq!(names(&server, &cookie).await, ["Laptop"]);

    // The page: "Confirm it's you", offering the password and the passkey.
    for (path, fields) in [
        ("/account/passkey-add", vec![]),
        (
            "/account/passkey-rename",
            vec![("id", laptop_id.as_str()), ("name", "Stolen")],
        ),
        ("/account/passkey-remove", vec![("id", laptop_id.as_str())]),
    ] {
        let asked = form(&server, &cookie, &csrf, path, &fields).await;
        assert_eq!(asked.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(asked.body.contains("Confirm it's you"), "{path}");
        assert!(asked.body.contains("id=\"passkey-reauth\""), "{path}");
        assert!(asked.body.contains("data-section=\"passkeys\""), "{path}");
    }
    assert_eq!(names(&server, &cookie).await, ["Laptop"]);

    // A passkey that is not alice's confirms nothing (and counts as a failure).
    let mut stranger = SoftAuthenticator::new(ORIGIN, RP_ID);
    let refused = confirm_with(&server, &cookie, &csrf, &mut stranger).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert_eq!(
        rename_api(&server, &cookie, &csrf, &laptop_id, "Still no")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Her passkey does, once: the answer cannot be replayed.
    let options = api(
        &server,
        http::Method::POST,
        "/api/webauthn/reauth/begin",
        &cookie,
        &csrf,
    )
    .json("{}")
    .send()
    .await
    .json();
    assert_eq!(
        options["publicKey"]["allowCredentials"][0]["id"],
        laptop_id.as_str()
    );
    let credential = laptop.assert(&options);
    let confirmed = finish_confirmation(&server, &cookie, &csrf, &credential).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    assert_eq!(
        confirmed.json()["redirectTo"],
        "/account?done=reauth#passkeys"
    );
    let replayed = finish_confirmation(&server, &cookie, &csrf, &credential).await;
    assert_eq!(
        replayed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        replayed.body
    );
    let renamed = rename_api(&server, &cookie, &csrf, &laptop_id, "Laptop 2").await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);

    // Another stale session (a passwordless one) confirms with the password instead.
    let other = sign_in_passwordless(&server, &mut laptop)
        .await
        .session_cookie()
        .unwrap();
    let other_csrf = server.csrf(&other).await;
    server.age_session(&other).await;
    assert_eq!(
        rename_api(&server, &other, &other_csrf, &laptop_id, "Laptop 3")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let reauth = form(
        &server,
        &other,
        &other_csrf,
        "/account/reauth",
        &[("password", PASSWORD), ("section", "passkeys")],
    )
    .await;
    assert_eq!(reauth.status, StatusCode::SEE_OTHER, "{}", reauth.body);
    assert_eq!(
        reauth.header("location"),
        Some("/account?done=reauth#passkeys")
    );
    let renamed = rename_api(&server, &other, &other_csrf, &laptop_id, "Laptop 3").await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(names(&server, &cookie).await, ["Laptop 3"]);
}

/// A passkey that does not verify the user (a key without a PIN) signs in with one factor.
/// Its holder, who has neither the password nor a second factor, must not add a passkey that
/// verifies the user (which would then sign in as two factors, through every `two_factor`
/// app), nor set up TOTP: confirming with the same key proves nothing more; the password on
/// top of it does.
#[tokio::test]
async fn a_passkey_that_does_not_verify_the_user_opens_no_change_of_factors_alone() {
    let server = durable().await;
    let cookie = server.login("alice").await;
    let csrf = server.csrf(&cookie).await;
    let mut key = SoftAuthenticator::new(ORIGIN, RP_ID);
    key.verifies_user = false;
    let mut key = register_this(&server, &cookie, &csrf, key).await;
    let signed_in = sign_in_passwordless(&server, &mut key).await;
    assert_eq!(signed_in.json()["twoFactor"], false, "{}", signed_in.body);
    let held = signed_in.session_cookie().unwrap();
    let held_csrf = server.csrf(&held).await;

    let refused = register_begin(&server, &held, &held_csrf).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.json()["reauthenticate"], true);
    assert!(refused.body.contains("one factor"), "{}", refused.body);
    let totp = form(&server, &held, &held_csrf, "/account/totp-setup", &[]).await;
    assert_eq!(totp.status, StatusCode::UNAUTHORIZED, "{}", totp.body);
    assert!(totp.body.contains("one factor"), "{}", totp.body);

    let confirmed = confirm_with(&server, &held, &held_csrf, &mut key).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let still = register_begin(&server, &held, &held_csrf).await;
    assert_eq!(still.status, StatusCode::FORBIDDEN, "{}", still.body);

    let reauth = form(
        &server,
        &held,
        &held_csrf,
        "/account/reauth",
        &[("password", PASSWORD), ("section", "passkeys")],
    )
    .await;
    assert_eq!(reauth.status, StatusCode::SEE_OTHER, "{}", reauth.body);
    let opened = register_begin(&server, &held, &held_csrf).await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.body);
    // The key again, after the password: the weaker confirmation does not take its place.
    let again = confirm_with(&server, &held, &held_csrf, &mut key).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let still_open = register_begin(&server, &held, &held_csrf).await;
    assert_eq!(still_open.status, StatusCode::OK, "{}", still_open.body);
    assert_eq!(listed(&server, &cookie).await.len(), 1, "nothing was added");
}

#[tokio::test]
async fn every_passkey_form_and_route_needs_the_sessions_csrf_token() {
    let server = durable().await;
    let cookie = server.login("alice").await;
    let csrf = server.csrf(&cookie).await;
    let laptop = register(&server, &cookie, &csrf).await;
    let id = b64(&laptop.credential_id);
    for (path, fields) in [
        ("/account/passkey-add", vec![]),
        (
            "/account/passkey-rename",
            vec![("id", id.as_str()), ("name", "Forged")],
        ),
        ("/account/passkey-remove", vec![("id", id.as_str())]),
    ] {
        let forged = form(&server, &cookie, "forged", path, &fields).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{path}");
        assert!(forged.body.contains("Form expired"), "{path}");
    }
    let bob = server.login("bob").await;
    let bobs_csrf = server.csrf(&bob).await;
    let foreign = form(
        &server,
        &cookie,
        &bobs_csrf,
        "/account/passkey-remove",
        &[("id", &id)],
    )
    .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    let without = server
        .post("/api/webauthn/reauth/begin")
        .header("cookie", &cookie)
        .json("{}")
        .send()
        .await;
    assert_eq!(without.status, StatusCode::FORBIDDEN);
    let mut laptop = laptop;
    let options = api(
        &server,
        http::Method::POST,
        "/api/webauthn/reauth/begin",
        &cookie,
        &csrf,
    )
    .json("{}")
    .send()
    .await
    .json();
    let credential = laptop.assert(&options);
    let without = finish_confirmation(&server, &cookie, "", &credential).await;
    assert_eq!(without.status, StatusCode::FORBIDDEN, "{}", without.body);
    assert_eq!(names(&server, &cookie).await, ["Laptop"]);
}

#[tokio::test]
async fn another_users_passkey_id_is_no_such_passkey_on_the_page_too() {
    let server = durable().await;
    let alice = server.login("alice").await;
    let alices_csrf = server.csrf(&alice).await;
    let laptop = register(&server, &alice, &alices_csrf).await;
    let id = b64(&laptop.credential_id);
    let bob = server.login("bob").await;
    let csrf = server.csrf(&bob).await;
    let rename = form(
        &server,
        &bob,
        &csrf,
        "/account/passkey-rename",
        &[("id", &id), ("name", "Mine now")],
    )
    .await;
    assert_eq!(rename.status, StatusCode::NOT_FOUND);
    assert!(rename.body.contains("No such passkey"));
    let remove = form(
        &server,
        &bob,
        &csrf,
        "/account/passkey-remove",
        &[("id", &id)],
    )
    .await;
    assert_eq!(remove.status, StatusCode::NOT_FOUND);
    assert_eq!(
        rename_api(&server, &bob, &csrf, &id, "Mine now")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        remove_api(&server, &bob, &csrf, &id).await.status,
        StatusCode::NOT_FOUND
    );
    // bob has none to confirm with either.
    let begin = api(
        &server,
        http::Method::POST,
        "/api/webauthn/reauth/begin",
        &bob,
        &csrf,
    )
    .json("{}")
    .send()
    .await;
    assert_eq!(begin.status, StatusCode::BAD_REQUEST);
    assert_eq!(names(&server, &alice).await, ["Laptop"]);
}

#[tokio::test]
async fn each_passkey_change_is_posted_to_the_webhook() {
    let webhook = Webhook::start(vec![200]).await;
    let server = durable_with(&format!(
        "[notify]\nwebhook_url = \"http://127.0.0.1:{}/hooks\"",
        webhook.port
    ))
    .await;
    let cookie = server.login("alice").await;
    let csrf = server.csrf(&cookie).await;
    let laptop = register(&server, &cookie, &csrf).await;
    let id = b64(&laptop.credential_id);
    register(&server, &cookie, &csrf).await;
    let renamed = rename_api(&server, &cookie, &csrf, &id, "Old laptop").await;
    assert_eq!(renamed.status, StatusCode::OK);
    let removed = form(
        &server,
        &cookie,
        &csrf,
        "/account/passkey-remove",
        &[("id", &id)],
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER, "{}", removed.body);
    server.state.notifier.settled().await;
    let received = webhook.wait_for(4).await;
    let events = crate::notify::events(&received);
    assert_eq!(
        events,
        [
            ("passkey.added", "alice", "passkey added"),
            ("passkey.added", "alice", "passkey added"),
            ("passkey.renamed", "alice", "passkey renamed"),
            ("passkey.removed", "alice", "passkey removed"),
        ]
    );
}

#[tokio::test]
async fn without_self_service_or_a_durable_store_the_section_says_why() {
    let server = durable_with("[account]\nself_service = false").await;
    let cookie = server.login("alice").await;
    let csrf = server.csrf(&cookie).await;
    let shown = server.account_page(&cookie).await;
    assert!(shown.body.contains("id=\"passkeys-locked\""));
    assert!(shown.body.contains("Your administrator manages"));
    assert!(!shown.body.contains("id=\"passkey-add\""));
    let begin = register_begin(&server, &cookie, &csrf).await;
    assert_eq!(begin.status, StatusCode::FORBIDDEN, "{}", begin.body);
    assert!(begin.body.contains("self_service"), "{}", begin.body);
    let asked = form(&server, &cookie, &csrf, "/account/passkey-add", &[]).await;
    assert_eq!(asked.status, StatusCode::FORBIDDEN);

    let config = load(&config_text(ORIGIN, ""));
    let memory = TestServer::with_state(postern_server::AppState::new(
        config,
        postern_store::Store::memory(1000),
    ))
    .await;
    let cookie = memory.login("alice").await;
    let shown = memory.account_page(&cookie).await;
    assert!(shown.body.contains("id=\"passkeys-locked\""));
    assert!(shown.body.contains("keeps no durable store"));
}
