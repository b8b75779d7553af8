//! Changes of one user's passkeys made at the same moment: a sign-in's save against a removal,
//! two removals against the last-factor rule, a passkey removal against a TOTP removal, and two
//! first registrations drawing the user handle. Every change of a user's passkeys takes the
//! user's credentials lock in the store, so these end as if made one after the other. The
//! servers run on a durable store (the embedded file, or Redis with `POSTERN_TEST_STORE=redis`)
//! and a runtime with several threads, so the requests really overlap; one test runs two
//! replicas on one Redis.

use http::{Method, StatusCode};
use postern_store::{PASSKEY_INDEX_OWNER, RecordKind};
use postern_testkit::RedisServer;
use serde_json::json;

use super::authenticator::b64;
use super::{
    ORIGIN, listed, passwordless_begin, passwordless_finish, register, register_begin,
    sign_in_passwordless,
};
use crate::support::*;

/// How many times each race is run: on the code without the lock, a few rounds were enough
/// for one to go wrong.
const ROUNDS: usize = 12;

/// Failure limits and request pacing no answer of these tests reaches.
const LIMITS: &str = "[limits]\nmax_failures_per_user = 100\nmax_failures_per_ip = 100\napi_rate = 10000\napi_burst = 10000\n";
/// A two_factor app for everyone.
const VAULT: &str =
    "[[apps]]\nname = \"Vault\"\nhost = \"vault.example.com\"\npolicy = \"two_factor\"\n";

/// A durable store, `LIMITS`, and `VAULT` when `vault`.
async fn durable(vault: bool) -> TestServer {
    let extra = format!("{LIMITS}{}", if vault { VAULT } else { "" });
    TestServer::durable(&config_text(ORIGIN, &extra)).await
}

fn remove(server: &TestServer, cookie: &str, csrf: &str, id: &str) -> TestRequest {
    server
        .request(Method::DELETE, &format!("/api/webauthn/passkeys/{id}"))
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
}

async fn passkey_ids(server: &TestServer, cookie: &str) -> Vec<String> {
    listed(server, cookie)
        .await
        .iter()
        .map(|passkey| passkey["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The owner the index names for credential `id`, if any.
async fn indexed_owner(server: &TestServer, id: &str) -> Option<Vec<u8>> {
    server
        .state
        .store
        .user_record(
            PASSKEY_INDEX_OWNER,
            RecordKind::PasskeyIndex,
            &format!("credential:{id}"),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_passkey_removed_during_its_sign_in_stays_removed() {
    let server = durable(false).await;
    let cookie = server.login("alice").await;
    let csrf = server.csrf(&cookie).await;

    // In turn: the ceremony begins, the passkey goes, the answer comes: refused.
    let mut gone = register(&server, &cookie, &csrf).await;
    let id = b64(&gone.credential_id);
    let (pre_session, options) = passwordless_begin(&server, None).await;
    let answer = gone.assert(&options);
    let removed = remove(&server, &cookie, &csrf, &id).send().await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    let refused = passwordless_finish(&server, &pre_session, &answer).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{}", refused.body);
    assert!(refused.session_cookie().is_none());
    assert!(passkey_ids(&server, &cookie).await.is_empty());
    assert_eq!(indexed_owner(&server, &id).await, None);

    // At once, many times: whichever comes first, a removal that answered 200 stays made.
    let mut resurrected = Vec::new();
    for round in 0..ROUNDS {
        let mut authenticator = register(&server, &cookie, &csrf).await;
        let id = b64(&authenticator.credential_id);
        let (pre_session, options) = passwordless_begin(&server, None).await;
        let answer = authenticator.assert(&options);
        let (signed_in, removed) = tokio::join!(
            passwordless_finish(&server, &pre_session, &answer),
            remove(&server, &cookie, &csrf, &id).send()
        );
        assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
        assert!(
            matches!(signed_in.status, StatusCode::OK | StatusCode::UNAUTHORIZED),
            "{}",
            signed_in.body
        );
        if passkey_ids(&server, &cookie).await.contains(&id)
            || indexed_owner(&server, &id).await.is_some()
        {
            resurrected.push(round);
        }
        let again = sign_in_passwordless(&server, &mut authenticator).await;
        assert_eq!(again.status, StatusCode::UNAUTHORIZED, "round {round}");
    }
    assert!(
        resurrected.is_empty(),
        "a removed passkey came back in rounds {resurrected:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removals_at_once_leave_the_last_second_factor_a_two_factor_app_needs() {
    let server = durable(true).await;
    let cookie = server.login("alice").await;
    let csrf = server.csrf(&cookie).await;
    let mut authenticators = vec![register(&server, &cookie, &csrf).await];
    for round in 0..ROUNDS {
        // Her one passkey and three more, all removed at once: three go, one stays.
        for _ in 0..3 {
            authenticators.push(register(&server, &cookie, &csrf).await);
        }
        let ids = passkey_ids(&server, &cookie).await;
        assert_eq!(ids.len(), 4, "round {round}");
        let (a, b, c, d) = tokio::join!(
            remove(&server, &cookie, &csrf, &ids[0]).send(),
            remove(&server, &cookie, &csrf, &ids[1]).send(),
            remove(&server, &cookie, &csrf, &ids[2]).send(),
            remove(&server, &cookie, &csrf, &ids[3]).send(),
        );
        let statuses = [a.status, b.status, c.status, d.status];
        let count = |status| statuses.iter().filter(|s| **s == status).count();
        assert_eq!(
            (count(StatusCode::OK), count(StatusCode::CONFLICT)),
            (3, 1),
            "round {round}: {statuses:?}"
        );
        let left = passkey_ids(&server, &cookie).await;
        assert_eq!(left.len(), 1, "round {round}");
        authenticators.retain(|authenticator| b64(&authenticator.credential_id) == left[0]);
        assert_eq!(authenticators.len(), 1, "round {round}");
    }
    // The one left still signs in, with two factors.
    let signed_in = sign_in_passwordless(&server, &mut authenticators[0]).await;
    assert_eq!(signed_in.status, StatusCode::OK, "{}", signed_in.body);
    assert_eq!(signed_in.json()["twoFactor"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removing_totp_and_the_last_passkey_at_once_leaves_one_of_them() {
    let server = durable(true).await;
    let cookie = server.login("alice").await;
    let csrf = server.csrf(&cookie).await;
    for round in 0..ROUNDS / 2 {
        crate::account::enrol(&server, &cookie).await;
        let passkey = register(&server, &cookie, &csrf).await;
        let id = b64(&passkey.credential_id);
        let (totp_off, passkey_off) = tokio::join!(
            server
                .post("/account/totp-remove")
                .header("cookie", &cookie)
                .browser()
                .form(&[("csrf", csrf.as_str())])
                .send(),
            remove(&server, &cookie, &csrf, &id).send(),
        );
        let totp_gone = totp_off.status == StatusCode::SEE_OTHER;
        let passkey_gone = passkey_off.status == StatusCode::OK;
        assert!(
            totp_gone != passkey_gone,
            "round {round}: exactly one goes: TOTP {} {}, passkey {} {}",
            totp_off.status,
            totp_off.body,
            passkey_off.status,
            passkey_off.body
        );
        let page = server.account_page(&cookie).await;
        let totp_on = page.body.contains("action=\"/account/totp-remove\"");
        let passkeys = passkey_ids(&server, &cookie).await;
        assert_eq!(totp_on, !totp_gone, "round {round}");
        assert_eq!(passkeys.is_empty(), passkey_gone, "round {round}");
        // Back to neither for the next round, through the administrator's commands (which
        // the last-factor rule does not hold back).
        for id in passkeys {
            postern_server::admin::passkeys_user(
                &server.state.store,
                &server.state.users(),
                "alice",
                Some(&id),
            )
            .await
            .unwrap();
        }
        if totp_on {
            let users = server.state.users();
            postern_server::admin::totp_reset(&server.state.store, users.get("alice").unwrap())
                .await
                .unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_first_registrations_at_once_agree_on_one_user_handle() {
    let users: String = (0..ROUNDS)
        .map(|n| {
            format!(
                "[[users]]\nname = \"user{n}\"\npassword_hash = \"{}\"\n",
                password_hash()
            )
        })
        .collect();
    let server = TestServer::durable(&config_text(ORIGIN, &users)).await;
    for n in 0..ROUNDS {
        let user = format!("user{n}");
        let (one, two) = (server.login(&user).await, server.login(&user).await);
        let (one_csrf, two_csrf) = (server.csrf(&one).await, server.csrf(&two).await);
        let (a, b) = tokio::join!(
            register_begin(&server, &one, &one_csrf),
            register_begin(&server, &two, &two_csrf)
        );
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        assert_eq!(b.status, StatusCode::OK, "{}", b.body);
        let handle = a.json()["publicKey"]["user"]["id"].clone();
        assert_eq!(handle, b.json()["publicKey"]["user"]["id"], "{user}");
        let stored = server
            .state
            .store
            .user_record(&user, RecordKind::PasskeyHandle, "handle")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(handle, json!(b64(&stored)), "{user}");
    }
}

/// Two replicas on one Redis, one removal on each at the same moment: the lock is in the
/// store, so the last-factor rule holds across them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn removals_on_two_replicas_at_once_leave_the_last_second_factor() {
    let redis = RedisServer::start();
    let config = config_text(
        ORIGIN,
        &format!(
            "[session]\nstore = \"redis\"\nredis_url = \"{}\"\n{LIMITS}{VAULT}",
            redis.url()
        ),
    );
    let (a, b) = (
        TestServer::with_config(&config).await,
        TestServer::with_config(&config).await,
    );
    let cookie = a.login("alice").await;
    let csrf = a.csrf(&cookie).await;
    register(&a, &cookie, &csrf).await;
    for round in 0..ROUNDS {
        register(&b, &cookie, &csrf).await;
        let ids = passkey_ids(&a, &cookie).await;
        assert_eq!(ids.len(), 2, "round {round}");
        let (on_a, on_b) = tokio::join!(
            remove(&a, &cookie, &csrf, &ids[0]).send(),
            remove(&b, &cookie, &csrf, &ids[1]).send(),
        );
        let mut statuses = [on_a.status, on_b.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "round {round}"
        );
        assert_eq!(passkey_ids(&b, &cookie).await.len(), 1, "round {round}");
    }
}
