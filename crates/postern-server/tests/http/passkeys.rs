//! Passkeys over HTTP, with a software authenticator: registration, the second step after a
//! password, passwordless sign-in, and every way an answer can be wrong (replayed, another
//! browser's challenge, origin, rp id, malformed, a counter that went back).

mod account;
mod authenticator;
mod races;
mod retired;
mod tokens;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use self::authenticator::{SoftAuthenticator, b64};
use crate::support::*;

const ORIGIN: &str = "https://auth.example.com";
const RP_ID: &str = "example.com";

async fn server_with(extra: &str) -> TestServer {
    let apps =
        "[[apps]]\nname = \"Vault\"\nhost = \"vault.example.com\"\npolicy = \"two_factor\"\n";
    TestServer::with_config(&config_text(ORIGIN, &format!("{extra}\n{apps}"))).await
}

async fn server() -> TestServer {
    server_with("").await
}

/// A signed-in session of `user` (password only) and its CSRF token.
async fn session(server: &TestServer, user: &str) -> (String, String) {
    let cookie = server.login(user).await;
    let csrf = server.csrf(&cookie).await;
    (cookie, csrf)
}

async fn register_begin(server: &TestServer, cookie: &str, csrf: &str) -> TestResponse {
    server
        .post("/api/webauthn/register/begin")
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .json("{}")
        .send()
        .await
}

async fn register_finish(
    server: &TestServer,
    cookie: &str,
    csrf: &str,
    body: &Value,
) -> TestResponse {
    server
        .post("/api/webauthn/register/finish")
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .json(&body.to_string())
        .send()
        .await
}

/// Registers a new authenticator for `user`'s session; returns it.
async fn register(server: &TestServer, cookie: &str, csrf: &str) -> SoftAuthenticator {
    register_this(server, cookie, csrf, SoftAuthenticator::new(ORIGIN, RP_ID)).await
}

pub(super) async fn register_this(
    server: &TestServer,
    cookie: &str,
    csrf: &str,
    mut authenticator: SoftAuthenticator,
) -> SoftAuthenticator {
    let options = register_begin(server, cookie, csrf).await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    let credential = authenticator.register(&options.json());
    let finished = register_finish(
        server,
        cookie,
        csrf,
        &json!({ "name": "Laptop", "credential": credential }),
    )
    .await;
    assert_eq!(finished.status, StatusCode::CREATED, "{}", finished.body);
    authenticator
}

async fn passwordless_begin(server: &TestServer, pre_session: Option<&str>) -> (String, Value) {
    let mut request = server.post("/api/webauthn/login/begin").json("{}");
    if let Some(cookie) = pre_session {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.body);
    let cookie = pre_session
        .map(str::to_owned)
        .or_else(|| response.cookie("postern_csrf"))
        .expect("a pre-session cookie");
    (cookie, response.json())
}

async fn passwordless_finish(
    server: &TestServer,
    pre_session: &str,
    credential: &Value,
) -> TestResponse {
    server
        .post("/api/webauthn/login/finish")
        .header("cookie", pre_session)
        .json(&json!({ "credential": credential }).to_string())
        .send()
        .await
}

/// Begins and finishes a passwordless sign-in with `authenticator`.
async fn sign_in_passwordless(
    server: &TestServer,
    authenticator: &mut SoftAuthenticator,
) -> TestResponse {
    let (pre_session, options) = passwordless_begin(server, None).await;
    let credential = authenticator.assert(&options);
    passwordless_finish(server, &pre_session, &credential).await
}

/// The session user's passkeys as `GET /api/webauthn/passkeys` lists them.
async fn listed(server: &TestServer, cookie: &str) -> Vec<Value> {
    let listed = server
        .get("/api/webauthn/passkeys")
        .header("cookie", cookie)
        .send()
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    listed.json()["passkeys"].as_array().unwrap().clone()
}

fn vault_check(server: &TestServer, cookie: &str) -> TestRequest {
    server
        .get("/api/auth/traefik")
        .header("cookie", cookie)
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "vault.example.com")
        .header("x-forwarded-uri", "/")
}

async fn password_step(server: &TestServer, user: &str) -> TestResponse {
    server
        .post("/api/login")
        .json(&format!(
            "{{\"username\":\"{user}\",\"password\":\"{PASSWORD}\"}}"
        ))
        .send()
        .await
}

/// The password, then `authenticator` as the second step: the second step's answer.
async fn password_then_passkey(
    server: &TestServer,
    user: &str,
    authenticator: &mut SoftAuthenticator,
) -> TestResponse {
    let pending = password_step(server, user)
        .await
        .cookie("postern_pending")
        .unwrap();
    let options = server
        .post("/api/webauthn/second-factor/begin")
        .header("cookie", &pending)
        .json("{}")
        .send()
        .await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    server
        .post("/api/webauthn/second-factor/finish")
        .header("cookie", &pending)
        .json(&json!({ "credential": authenticator.assert(&options.json()) }).to_string())
        .send()
        .await
}

#[tokio::test]
async fn a_registered_passkey_is_the_second_step_and_signs_in_without_a_password() {
    let server = server().await;
    let (cookie, csrf) = session(&server, "alice").await;
    let options = register_begin(&server, &cookie, &csrf).await.json();
    let public_key = &options["publicKey"];
    assert_eq!(public_key["rp"]["id"], RP_ID);
    let handle = public_key["user"]["id"].as_str().unwrap();
    assert_ne!(handle, b64(b"alice"), "the user handle is not the name");
    assert_eq!(authenticator::unb64(handle).len(), 32);
    assert_eq!(public_key["excludeCredentials"], json!([]));
    let mut authenticator = SoftAuthenticator::new(ORIGIN, RP_ID);
    let credential = authenticator.register(&options);
    let added = register_finish(
        &server,
        &cookie,
        &csrf,
        &json!({ "name": " Laptop ", "credential": credential }),
    )
    .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    assert_eq!(added.json()["passkey"]["name"], "Laptop");
    let id = b64(&authenticator.credential_id);
    assert_eq!(added.json()["passkey"]["id"], id);

    // A second registration excludes the first credential and keeps the same handle.
    let again = register_begin(&server, &cookie, &csrf).await.json();
    assert_eq!(again["publicKey"]["excludeCredentials"][0]["id"], id);
    assert_eq!(again["publicKey"]["user"]["id"], handle);

    // The password alone no longer signs in: the passkey is the second step.
    let password = password_step(&server, "alice").await;
    assert_eq!(password.status, StatusCode::OK);
    assert_eq!(password.json()["totpPending"], true);
    assert_eq!(password.json()["secondFactors"], json!(["passkey"]));
    assert!(password.session_cookie().is_none());
    let pending = password.cookie("postern_pending").unwrap();
    let options = server
        .post("/api/webauthn/second-factor/begin")
        .header("cookie", &pending)
        .json("{}")
        .send()
        .await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    assert_eq!(options.json()["publicKey"]["allowCredentials"][0]["id"], id);
    let assertion = authenticator.assert(&options.json());
    let signed_in = server
        .post("/api/webauthn/second-factor/finish")
        .header("cookie", &pending)
        .json(&json!({ "credential": assertion }).to_string())
        .send()
        .await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    assert_eq!(signed_in.json()["redirectTo"], "https://auth.example.com/");
    let two_factor = signed_in.session_cookie().unwrap();
    assert_eq!(
        vault_check(&server, &two_factor).send().await.status,
        StatusCode::OK
    );
    assert_eq!(
        vault_check(&server, &cookie).send().await.status,
        StatusCode::FORBIDDEN,
        "the password-only session is not two-factor"
    );

    // Passwordless: the user is found by the user handle; verified, it counts as two factors.
    let signed_in = sign_in_passwordless(&server, &mut authenticator).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    assert_eq!(signed_in.json()["twoFactor"], true);
    let passwordless = signed_in.session_cookie().unwrap();
    assert_eq!(
        vault_check(&server, &passwordless).send().await.status,
        StatusCode::OK
    );
    let status = server
        .get("/api/status")
        .header("cookie", &passwordless)
        .send()
        .await;
    assert_eq!(status.json()["username"], "alice");

    let listed = server
        .get("/api/webauthn/passkeys")
        .header("cookie", &passwordless)
        .send()
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    let passkeys = listed.json()["passkeys"].clone();
    assert_eq!(passkeys.as_array().unwrap().len(), 1);
    assert!(passkeys[0]["lastUsedAt"].as_u64().is_some());
    assert!(passkeys[0].get("credential").is_none(), "{passkeys}");
}

#[tokio::test]
async fn without_user_verification_a_passwordless_sign_in_is_one_factor() {
    let server = server().await;
    let (cookie, csrf) = session(&server, "alice").await;
    // A security key without a PIN: it never verifies the user.
    let mut unverifying = SoftAuthenticator::new(ORIGIN, RP_ID);
    unverifying.verifies_user = false;
    let mut authenticator = register_this(&server, &cookie, &csrf, unverifying).await;
    let signed_in = sign_in_passwordless(&server, &mut authenticator).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    assert_eq!(signed_in.json()["twoFactor"], false);
    let session = signed_in.session_cookie().unwrap();
    assert_ne!(
        vault_check(&server, &session).send().await.status,
        StatusCode::OK
    );
    // One that verified the user when it was registered must verify it every time.
    let mut verifying = register(&server, &cookie, &csrf).await;
    verifying.verifies_user = false;
    let refused = sign_in_passwordless(&server, &mut verifying).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
}

#[tokio::test]
async fn with_user_verification_required_an_unverified_assertion_is_refused() {
    let server = server_with("[webauthn]\nuser_verification = \"required\"").await;
    let (cookie, csrf) = session(&server, "alice").await;
    let mut authenticator = register(&server, &cookie, &csrf).await;
    authenticator.verifies_user = false;
    let refused = sign_in_passwordless(&server, &mut authenticator).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(refused.session_cookie().is_none());
}

#[tokio::test]
async fn a_replayed_answer_or_another_browsers_challenge_is_refused() {
    let server = server().await;
    let (cookie, csrf) = session(&server, "alice").await;
    let mut authenticator = register(&server, &cookie, &csrf).await;

    // Replay: the challenge was taken by the first finish.
    let (pre_session, options) = passwordless_begin(&server, None).await;
    let credential = authenticator.assert(&options);
    assert_eq!(
        passwordless_finish(&server, &pre_session, &credential)
            .await
            .status,
        StatusCode::OK
    );
    let replayed = passwordless_finish(&server, &pre_session, &credential).await;
    assert_eq!(
        replayed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        replayed.body
    );
    assert!(
        replayed.json()["message"]
            .as_str()
            .unwrap()
            .contains("begin again")
    );

    // Browser A's answer sent with browser B's cookie meets B's challenge, not A's.
    let (_a, options_a) = passwordless_begin(&server, None).await;
    let (b, _options_b) = passwordless_begin(&server, None).await;
    let answer_for_a = authenticator.assert(&options_a);
    let crossed = passwordless_finish(&server, &b, &answer_for_a).await;
    assert_eq!(crossed.status, StatusCode::UNAUTHORIZED, "{}", crossed.body);
    assert!(crossed.session_cookie().is_none());

    // Registration begun by one session cannot be finished by another.
    let other = sign_in_passwordless(&server, &mut authenticator)
        .await
        .session_cookie()
        .unwrap();
    let other_csrf = server.csrf(&other).await;
    let options = register_begin(&server, &cookie, &csrf).await.json();
    let mut second = SoftAuthenticator::new(ORIGIN, RP_ID);
    let credential = second.register(&options);
    let foreign = register_finish(
        &server,
        &other,
        &other_csrf,
        &json!({ "credential": credential }),
    )
    .await;
    assert_eq!(foreign.status, StatusCode::BAD_REQUEST, "{}", foreign.body);
    // And a registration answer replayed after it succeeded finds nothing to finish.
    let options = register_begin(&server, &cookie, &csrf).await.json();
    let credential = second.register(&options);
    let body = json!({ "credential": credential });
    assert_eq!(
        register_finish(&server, &cookie, &csrf, &body).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        register_finish(&server, &cookie, &csrf, &body).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_wrong_origin_or_rp_id_is_refused() {
    let server = server().await;
    let (cookie, csrf) = session(&server, "alice").await;
    for (origin, rp_id) in [
        ("https://evil.example.org", RP_ID),
        ("http://auth.example.com", RP_ID),
        (ORIGIN, "evil.org"),
        (ORIGIN, "auth.example.com"),
    ] {
        let options = register_begin(&server, &cookie, &csrf).await.json();
        let mut authenticator = SoftAuthenticator::new(origin, rp_id);
        let credential = authenticator.register(&options);
        let refused = register_finish(
            &server,
            &cookie,
            &csrf,
            &json!({ "credential": credential }),
        )
        .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{origin} {rp_id}: {}",
            refused.body
        );
        assert_eq!(
            refused.json()["message"],
            "The passkey's answer was not accepted"
        );
    }
    let mut authenticator = register(&server, &cookie, &csrf).await;
    for (origin, rp_id) in [("https://evil.example.org", RP_ID), (ORIGIN, "evil.org")] {
        authenticator.origin = origin.into();
        authenticator.rp_id = rp_id.into();
        let refused = sign_in_passwordless(&server, &mut authenticator).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "{origin} {rp_id}: {}",
            refused.body
        );
    }
}

#[tokio::test]
async fn malformed_answers_get_a_400_in_json() {
    let server = server().await;
    let (cookie, csrf) = session(&server, "alice").await;
    let garbage = b64(b"\xff\x00not cbor");
    let not_json = b64(b"{not json");
    let mut broken: Vec<Value> = Vec::new();
    for (field, value) in [
        ("clientDataJSON", not_json.as_str()),
        ("clientDataJSON", ""),
        ("attestationObject", garbage.as_str()),
        ("attestationObject", ""),
        ("attestationObject", "***not base64***"),
    ] {
        let options = register_begin(&server, &cookie, &csrf).await.json();
        let mut credential = SoftAuthenticator::new(ORIGIN, RP_ID).register(&options);
        credential["response"][field] = json!(value);
        broken.push(credential);
    }
    for credential in broken {
        let refused = register_finish(
            &server,
            &cookie,
            &csrf,
            &json!({ "credential": credential }),
        )
        .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.json()["status"], 400, "{}", refused.body);
    }
    for body in [
        "not json",
        "{}",
        "{\"credential\":42}",
        "{\"credential\":{\"id\":\"x\"}}",
    ] {
        register_begin(&server, &cookie, &csrf).await;
        let refused = server
            .post("/api/webauthn/register/finish")
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .json(body)
            .send()
            .await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            refused.body
        );
        assert_eq!(refused.json()["status"], 400);
    }
    let mut authenticator = register(&server, &cookie, &csrf).await;
    for (field, value) in [
        ("authenticatorData", garbage.as_str()),
        ("clientDataJSON", not_json.as_str()),
        ("signature", garbage.as_str()),
    ] {
        let (pre_session, options) = passwordless_begin(&server, None).await;
        let mut credential = authenticator.assert(&options);
        credential["response"][field] = json!(value);
        let refused = passwordless_finish(&server, &pre_session, &credential).await;
        assert!(
            matches!(
                refused.status,
                StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED
            ),
            "{field}: {} {}",
            refused.status,
            refused.body
        );
        assert!(refused.json()["message"].is_string(), "{}", refused.body);
    }
}

#[tokio::test]
async fn a_signature_counter_that_goes_back_is_refused() {
    let server = server().await;
    let (cookie, csrf) = session(&server, "alice").await;
    let mut authenticator = register(&server, &cookie, &csrf).await;
    authenticator.counter = 10;
    assert_eq!(
        sign_in_passwordless(&server, &mut authenticator)
            .await
            .status,
        StatusCode::OK
    );
    // A clone that still holds an older counter.
    authenticator.counter = 7;
    let cloned = sign_in_passwordless(&server, &mut authenticator).await;
    assert_eq!(cloned.status, StatusCode::UNAUTHORIZED, "{}", cloned.body);
    assert!(cloned.session_cookie().is_none());
    // Equal is no growth either; the original, moving on, still works.
    authenticator.counter = 10;
    assert_eq!(
        sign_in_passwordless(&server, &mut authenticator)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    authenticator.counter = 11;
    assert_eq!(
        sign_in_passwordless(&server, &mut authenticator)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn refused_assertions_count_toward_the_failure_limits() {
    let server =
        server_with("[limits]\nmax_failures_per_user = 3\nmax_failures_per_ip = 100").await;
    let (cookie, csrf) = session(&server, "alice").await;
    let mut authenticator = register(&server, &cookie, &csrf).await;
    authenticator.origin = "https://evil.example.org".into();
    for _ in 0..3 {
        let refused = sign_in_passwordless(&server, &mut authenticator).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    }
    authenticator.origin = ORIGIN.into();
    let limited = sign_in_passwordless(&server, &mut authenticator).await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert!(limited.header("retry-after").is_some());
}

#[tokio::test]
async fn passkeys_are_renamed_and_removed_by_their_owner_only() {
    // No `two_factor` app here: removing the last passkey is allowed.
    let server = TestServer::with_config(&config_text(ORIGIN, "")).await;
    let (cookie, csrf) = session(&server, "alice").await;
    let authenticator = register(&server, &cookie, &csrf).await;
    let id = b64(&authenticator.credential_id);
    let path = format!("/api/webauthn/passkeys/{id}");
    let renamed = server
        .request(Method::PATCH, &path)
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json("{\"name\":\"Phone\"}")
        .send()
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.json()["passkey"]["name"], "Phone");
    // Without the CSRF token, nothing changes.
    let forged = server
        .request(Method::DELETE, &path)
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // Bob cannot see or touch alice's passkey.
    let (bob, bob_csrf) = session(&server, "bob").await;
    let listed = server
        .get("/api/webauthn/passkeys")
        .header("cookie", &bob)
        .send()
        .await;
    assert_eq!(listed.json()["passkeys"], json!([]));
    let foreign = server
        .request(Method::DELETE, &path)
        .header("cookie", &bob)
        .header("x-csrf-token", &bob_csrf)
        .send()
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let removed = server
        .request(Method::DELETE, &path)
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    let listed = server
        .get("/api/webauthn/passkeys")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(listed.json()["passkeys"], json!([]));
    // With no passkey left, the password signs in on its own again.
    let password = password_step(&server, "alice").await;
    assert_eq!(password.json()["totpPending"], false);
    assert!(password.session_cookie().is_some());
}

#[tokio::test]
async fn the_passkey_routes_need_a_session_and_its_csrf_token() {
    let server = server().await;
    let anonymous = server
        .post("/api/webauthn/register/begin")
        .json("{}")
        .send()
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let listed = server.get("/api/webauthn/passkeys").send().await;
    assert_eq!(listed.status, StatusCode::UNAUTHORIZED);
    let (cookie, _) = session(&server, "alice").await;
    let no_csrf = server
        .post("/api/webauthn/register/begin")
        .header("cookie", &cookie)
        .json("{}")
        .send()
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let no_pending = server
        .post("/api/webauthn/second-factor/begin")
        .json("{}")
        .send()
        .await;
    assert_eq!(no_pending.status, StatusCode::UNAUTHORIZED);
    let wrong_method = server.get("/api/webauthn/login/begin").send().await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
}

#[tokio::test]
async fn passwordless_sign_in_can_be_turned_off() {
    let server = server_with("[webauthn]\npasswordless = false").await;
    let off = server
        .post("/api/webauthn/login/begin")
        .json("{}")
        .send()
        .await;
    assert_eq!(off.status, StatusCode::NOT_FOUND, "{}", off.body);
}

#[tokio::test]
async fn the_sign_in_pages_offer_passkeys_with_a_static_script() {
    let server = server().await;
    let login = server.get("/login").browser().send().await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(
        login.body.contains("autocomplete=\"username webauthn\""),
        "{}",
        login.body
    );
    assert!(login.body.contains("id=\"passkey-signin\""));
    let script = login
        .body
        .split('"')
        .find(|part| part.starts_with("/static/passkeys."))
        .unwrap()
        .to_owned();
    assert!(!login.body.contains("<script>"), "no inline script");
    let csp = login.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    let asset = server.get(&script).send().await;
    assert_eq!(asset.status, StatusCode::OK);
    assert!(
        asset
            .header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(asset.body.contains("/api/webauthn/login/begin"));

    // A user with a passkey and no TOTP gets the passkey button, not a code form.
    let (cookie, csrf) = session(&server, "alice").await;
    register(&server, &cookie, &csrf).await;
    let password = server
        .post("/login")
        .header("cookie", &login.cookie("postern_csrf").unwrap())
        .form(&[
            ("username", "alice"),
            ("password", PASSWORD),
            ("csrf", &login.hidden_field("csrf")),
        ])
        .send()
        .await;
    assert_eq!(password.status, StatusCode::SEE_OTHER, "{}", password.body);
    assert!(password.header("location").unwrap().ends_with("/totp"));
    let pending = password.cookie("postern_pending").unwrap();
    let step = server
        .get("/totp")
        .header("cookie", &pending)
        .browser()
        .send()
        .await;
    assert_eq!(step.status, StatusCode::OK);
    assert!(
        step.body.contains("id=\"passkey-second-factor\""),
        "{}",
        step.body
    );
    assert!(!step.body.contains("name=\"code\""), "{}", step.body);

    // Without passwordless sign-in, the login page has no passkey parts.
    let off = server_with("[webauthn]\npasswordless = false").await;
    let login = off.get("/login").browser().send().await;
    assert!(!login.body.contains("webauthn"), "{}", login.body);
    assert!(!login.body.contains("passkey-signin"));
}

/// An OpenID client with `two_factor = true` needs two factors as a `two_factor` app does:
/// the last passkey of a user it lets in stays, and the refusal names the client.
#[tokio::test]
async fn the_last_second_factor_stays_while_a_two_factor_openid_client_needs_it() {
    let client = "[[oidc.clients]]\nid = \"console\"\npublic = true\n\
                  redirect_uris = [\"https://console.example.com/cb\"]\ntwo_factor = true\n\
                  allow_users = [\"bob\"]\n";
    let (server, _keys) = crate::oidc::provider(client).await;
    for (user, kept) in [("bob", true), ("alice", false)] {
        let (cookie, csrf) = session(&server, user).await;
        let only = register(&server, &cookie, &csrf).await;
        let removed = server
            .request(
                Method::DELETE,
                &format!("/api/webauthn/passkeys/{}", b64(&only.credential_id)),
            )
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
            .send()
            .await;
        if kept {
            assert_eq!(removed.status, StatusCode::CONFLICT, "{}", removed.body);
            assert!(
                removed.body.contains("console needs two factors"),
                "{}",
                removed.body
            );
        } else {
            assert_eq!(removed.status, StatusCode::OK, "{user}: {}", removed.body);
        }
    }
}

#[tokio::test]
async fn the_last_second_factor_stays_while_a_two_factor_app_needs_it() {
    let server = server().await;
    let (cookie, csrf) = session(&server, "alice").await;
    let first = register(&server, &cookie, &csrf).await;
    let second = register(&server, &cookie, &csrf).await;
    let remove = |authenticator: &SoftAuthenticator| {
        server
            .request(
                Method::DELETE,
                &format!(
                    "/api/webauthn/passkeys/{}",
                    b64(&authenticator.credential_id)
                ),
            )
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
    };
    assert_eq!(remove(&first).send().await.status, StatusCode::OK);
    let refused = remove(&second).send().await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("Vault needs two factors"),
        "{}",
        refused.body
    );
    assert_eq!(listed(&server, &cookie).await.len(), 1);
}

/// What ID tokens and identity tokens say of a sign-in (`amr`) names the passkey: RFC 8176's
/// `hwk`, with `mfa` when it counted as two factors; a ticket's session says what the
/// sign-in it came from said.
#[tokio::test]
async fn tokens_name_the_passkey_that_signed_in() {
    use crate::oidc::rp::{Pkce, clients, code_for, exchange, verified_id_token};
    let config = format!(
        "{}\n[identity_token]\nheader = \"Remote-Jwt\"\n[[apps]]\nhost = \"app.example.com\"\n",
        clients("")
    );
    let (server, _keys) = crate::oidc::provider(&config).await;
    let amr = async |cookie: &str| {
        let checked = server
            .get("/api/auth/traefik")
            .header("cookie", cookie)
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "app.example.com")
            .header("x-forwarded-uri", "/")
            .send()
            .await;
        assert_eq!(checked.status, StatusCode::OK, "{}", checked.body);
        let identity_token = checked.header("remote-jwt").expect("an identity token");
        let identity_claims =
            crate::oidc::identity_token::verify(&server, identity_token, "app.example.com").await;
        let pkce = Pkce::new();
        let code = code_for(&server, cookie, "basic", &pkce, &[]).await;
        let tokens = exchange(&server, "basic", &code, &pkce).await.json();
        let id_claims =
            verified_id_token(&server, tokens["id_token"].as_str().unwrap(), "basic").await;
        assert_eq!(id_claims["amr"], identity_claims["amr"]);
        id_claims["amr"].clone()
    };
    let (password_only, csrf) = session(&server, "alice").await;
    assert_eq!(amr(&password_only).await, json!(["pwd"]));
    let mut unverifying = SoftAuthenticator::new(ORIGIN, RP_ID);
    unverifying.verifies_user = false;
    let mut security_key = register_this(&server, &password_only, &csrf, unverifying).await;
    let mut verifying = register(&server, &password_only, &csrf).await;

    let one_factor = sign_in_passwordless(&server, &mut security_key).await;
    let one_factor = one_factor.session_cookie().unwrap();
    assert_eq!(amr(&one_factor).await, json!(["hwk"]));
    let two_factors = sign_in_passwordless(&server, &mut verifying).await;
    let two_factors = two_factors.session_cookie().unwrap();
    assert_eq!(amr(&two_factors).await, json!(["hwk", "mfa"]));

    // The password, then a passkey as the second step.
    let second_step = password_then_passkey(&server, "alice", &mut verifying).await;
    assert_eq!(second_step.status, StatusCode::OK, "{}", second_step.body);
    let both = second_step.session_cookie().unwrap();
    assert_eq!(amr(&both).await, json!(["pwd", "hwk", "mfa"]));

    // A ticket's session keeps the way in of the session it was issued to.
    let ticket = server
        .get("/api/ws-token")
        .header("cookie", &two_factors)
        .send()
        .await
        .json();
    let redeemed = server
        .post("/api/ticket/redeem")
        .json(&json!({ "token": ticket["token"] }).to_string())
        .send()
        .await;
    assert_eq!(redeemed.status, StatusCode::OK, "{}", redeemed.body);
    let from_ticket = redeemed.session_cookie().unwrap();
    assert_eq!(amr(&from_ticket).await, json!(["hwk", "mfa"]));
}

/// Twenty passkeys a user at most: the next registration is refused (409) and stores nothing.
#[tokio::test]
async fn a_user_registers_at_most_twenty_passkeys() {
    let server = server().await;
    let (cookie, csrf) = session(&server, "alice").await;
    let (other_cookie, other_csrf) = session(&server, "alice").await;
    for _ in 0..19 {
        register(&server, &cookie, &csrf).await;
    }
    // Begun with 19, finished with 20 already there (another browser's registration landed
    // meanwhile): refused at finish.
    let options = register_begin(&server, &cookie, &csrf).await;
    register(&server, &other_cookie, &other_csrf).await;
    assert_eq!(options.status, StatusCode::OK, "{}", options.body);
    let credential = SoftAuthenticator::new(ORIGIN, RP_ID).register(&options.json());
    let refused = register_finish(
        &server,
        &cookie,
        &csrf,
        &json!({ "name": "One more", "credential": credential }),
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.body.contains("remove one first"),
        "{}",
        refused.body
    );
    assert_eq!(listed(&server, &cookie).await.len(), 20);
    // With 20, already `begin` refuses, before an authenticator makes a credential.
    let begun = register_begin(&server, &cookie, &csrf).await;
    assert_eq!(begun.status, StatusCode::CONFLICT, "{}", begun.body);
}
