//! A user removed and created again inherits none of the old person's consents (retired with
//! them, `postern_server::retirement`), and a consent kept under a name for another subject
//! (or from before consents were bound to one) is neither honoured nor shown. Grants that
//! cannot say whose they are (no `sub`, or a provider's user without the provider) or whether
//! the user's credentials changed since (a local user's without a stamp) are refused.

use http::StatusCode;
use postern_core::token::SessionToken;
use postern_store::RecordKind;

use super::account::{consent_to_spa, refresh, revoke};
use super::rp::*;
use super::subjects::sign_in_to_client;
use crate::support::*;

/// How the account page lists the `spa` client's consent.
const SPA_LISTED: &str = "<p class=\"session-title\">spa</p>";

/// The client asks without prompting: the answer says whether consent is still needed.
async fn silent_spa(
    server: &TestServer,
    cookie: &str,
) -> std::collections::HashMap<String, String> {
    let silent = server
        .get(&authorize_path("spa", &Pkce::new(), &[("prompt", "none")]))
        .header("cookie", cookie)
        .send()
        .await;
    back_at_client(&silent)
}

#[tokio::test]
async fn a_user_created_again_is_asked_to_consent_again_and_sees_none_of_the_old_consents() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let tokens = consent_to_spa(&server, &cookie).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert!(silent_spa(&server, &cookie).await.contains_key("code"));
    let everyone = (*server.state.users()).clone();
    assert_eq!(server.reload_users(server.users_without("alice")).await, 1);
    assert_eq!(server.reload_users(everyone).await, 0);

    assert!(
        server
            .state
            .store
            .user_records("alice", RecordKind::OidcConsent)
            .await
            .unwrap()
            .is_empty()
    );
    let refused = refresh(&server, "spa", &refresh_token).await;
    assert_eq!(refused.json()["error"], "invalid_grant", "{}", refused.body);
    let new_cookie = server.login("alice").await;
    let page = server.account_page(&new_cookie).await;
    assert!(page.body.contains("id=\"consents-none\""), "{}", page.body);
    assert_eq!(
        silent_spa(&server, &new_cookie).await["error"],
        "consent_required"
    );
}

#[tokio::test]
async fn a_consent_kept_for_another_subject_or_before_binding_is_neither_honoured_nor_shown() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    // alice's own subject id exists (she signed in to a client).
    sign_in_to_client(&server, &cookie).await;
    let scopes = r#"["openid","profile","email","groups","offline_access"]"#;
    for kept in [
        // A predecessor's, whose retirement never ran (a shared store's replicas were all
        // stopped when the name was removed).
        format!(
            r#"{{"scopes":{scopes},"granted_at":1,"families":[],"sub":"somebody-else-entirely"}}"#
        ),
        // From before consents named their subject.
        format!(r#"{{"scopes":{scopes},"granted_at":1,"families":[]}}"#),
        scopes.to_owned(),
    ] {
        server
            .state
            .store
            .put_user_record(
                "alice",
                RecordKind::OidcConsent,
                "spa",
                kept.clone().into_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(
            silent_spa(&server, &cookie).await["error"],
            "consent_required",
            "{kept}"
        );
        let page = server.account_page(&cookie).await;
        assert!(!page.body.contains(SPA_LISTED), "{kept}: {}", page.body);
        let revoked = revoke(&server, &cookie, &page.hidden_field("csrf"), "spa").await;
        assert_eq!(revoked.status, StatusCode::NOT_FOUND, "{kept}");
    }
    // Her own consent replaces it, and counts from then on.
    consent_to_spa(&server, &cookie).await;
    assert!(silent_spa(&server, &cookie).await.contains_key("code"));
    let page = server.account_page(&cookie).await;
    assert!(page.body.contains(SPA_LISTED), "{}", page.body);
}

/// Rewrites the grant an access or refresh token stands for, as an earlier release stored it.
async fn rewrite_grant(
    server: &TestServer,
    prefix: &str,
    token: &str,
    change: impl Fn(&mut serde_json::Value),
) {
    let key = format!(
        "{prefix}{}",
        SessionToken::parse(token).unwrap().hash().to_hex()
    );
    let store = &server.state.store;
    let mut grant: serde_json::Value =
        serde_json::from_slice(&store.peek_value(&key).await.unwrap().expect("a grant")).unwrap();
    change(&mut grant);
    store
        .set_value(
            &key,
            serde_json::to_vec(&grant).unwrap(),
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_grant_that_cannot_say_whose_it_is_is_refused() {
    let (server, _keys) = start().await;
    let cookie = server.login("alice").await;
    let (_, tokens) = sign_in_to_client(&server, &cookie).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(userinfo(&server, access).await.status, StatusCode::OK);

    // Stored before subject ids: no `sub`.
    rewrite_grant(&server, "oidc-at:", access, |grant| {
        grant["subject"]["sub"] = "".into();
    })
    .await;
    assert_eq!(
        userinfo(&server, access).await.status,
        StatusCode::UNAUTHORIZED
    );
    rewrite_grant(&server, "oidc-rt:", refresh_token, |grant| {
        grant["subject"].as_object_mut().unwrap().remove("sub");
    })
    .await;
    let refused = refresh(&server, "basic", refresh_token).await;
    assert_eq!(refused.json()["error"], "invalid_grant", "{}", refused.body);

    // A provider's user's grant from before the provider was kept.
    let again = server.login("alice").await;
    let (_, tokens) = sign_in_to_client(&server, &again).await;
    let access = tokens["access_token"].as_str().unwrap();
    rewrite_grant(&server, "oidc-at:", access, |grant| {
        grant["subject"]["federated"] = true.into();
    })
    .await;
    assert_eq!(
        userinfo(&server, access).await.status,
        StatusCode::UNAUTHORIZED
    );

    // A local user's grant from before it kept her credentials stamp.
    let again = server.login("alice").await;
    let (_, tokens) = sign_in_to_client(&server, &again).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&server, access).await.status, StatusCode::OK);
    rewrite_grant(&server, "oidc-at:", access, |grant| {
        grant["subject"].as_object_mut().unwrap().remove("stamp");
    })
    .await;
    assert_eq!(
        userinfo(&server, access).await.status,
        StatusCode::UNAUTHORIZED
    );
}
