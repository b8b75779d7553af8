use jsonwebtoken::{DecodingKey, Validation};
use postern_core::oidc::keys::generate_p256_pem;

use super::*;

fn tokens() -> IdentityTokens {
    let pem = generate_p256_pem().unwrap();
    let key = SigningKey::from_pem(pem.as_bytes()).unwrap();
    IdentityTokens::new(
        HeaderName::from_static("remote-jwt"),
        "https://auth.example.com".into(),
        key,
    )
}

const PASSWORD: SignIn = SignIn {
    level: AuthLevel::OneFactor,
    way_in: WayIn::Password,
    federated: false,
};

/// A subject id as `subjects` draws them: opaque, not the name.
const ALICE_SUB: &str = "q3Zt0m9bXWkR2cJ4vN8yAg";

fn alice() -> Identity {
    Identity::new("alice", "alice@example.com", "Alice", &["admins".into()])
}

/// The token the table keeps for `wanted`, not the thread's last (which would answer for
/// the table in most of these tests).
fn kept_in_table(
    tokens: &IdentityTokens,
    wanted: &TokenFor<'_>,
    now: UnixSeconds,
    subject_changes: u64,
) -> Option<HeaderValue> {
    last_handed::forget();
    tokens.kept(wanted, now, subject_changes)
}

/// As a check takes its token: the one the table keeps for this second, else a new one.
fn value(
    tokens: &IdentityTokens,
    identity: &Identity,
    sub: &str,
    aud: &str,
    sign_in: SignIn,
    now: UnixSeconds,
) -> Option<HeaderValue> {
    let wanted = TokenFor {
        user: &identity.user,
        provider: None,
        aud,
        sign_in,
    };
    kept_in_table(tokens, &wanted, now, 0).or_else(|| tokens.sign(&wanted, identity, sub, now, 0))
}

/// Alice's token for app.example.com, signed in with her password, as a check takes it at `now`.
fn alice_at_app(tokens: &IdentityTokens, now: UnixSeconds) -> HeaderValue {
    value(
        tokens,
        &alice(),
        ALICE_SUB,
        "app.example.com",
        PASSWORD,
        now,
    )
    .unwrap()
}

/// Bob's token for app.example.com, signed in with his password, as a check takes it at `now`.
fn bob_at_app(tokens: &IdentityTokens, now: UnixSeconds) -> HeaderValue {
    let bob = Identity::new("bob", "", "", &[]);
    value(
        tokens,
        &bob,
        "bob-subject-id",
        "app.example.com",
        PASSWORD,
        now,
    )
    .unwrap()
}

const ALICE_AT_APP: TokenFor<'static> = TokenFor {
    user: "alice",
    provider: None,
    aud: "app.example.com",
    sign_in: PASSWORD,
};

fn kept_in_all(tokens: &IdentityTokens) -> usize {
    tokens
        .shards
        .iter()
        .map(|shard| shard.lock().unwrap().len())
        .sum()
}

#[test]
fn one_signature_per_user_app_and_second() {
    let tokens = tokens();
    let alice = alice();
    let first = alice_at_app(&tokens, 1000);
    let again = alice_at_app(&tokens, 1000);
    assert_eq!(first, again);
    let next_second = alice_at_app(&tokens, 1001);
    assert_ne!(first, next_second);
    let other_app = value(
        &tokens,
        &alice,
        ALICE_SUB,
        "other.example.com",
        PASSWORD,
        1000,
    )
    .unwrap();
    assert_ne!(first, other_app);
    let two_factor = SignIn {
        level: AuthLevel::TwoFactor,
        ..PASSWORD
    };
    let stronger = value(
        &tokens,
        &alice,
        ALICE_SUB,
        "app.example.com",
        two_factor,
        1000,
    )
    .unwrap();
    assert_ne!(first, stronger);
    // The same level another way (amr differs): a token of its own.
    let passkey = SignIn {
        way_in: WayIn::Passkey,
        ..PASSWORD
    };
    let by_passkey = value(&tokens, &alice, ALICE_SUB, "app.example.com", passkey, 1000).unwrap();
    assert_ne!(first, by_passkey);
    assert_ne!(first, bob_at_app(&tokens, 1000));
}

#[test]
fn the_token_states_who_for_which_app_and_for_sixty_seconds() {
    let tokens = tokens();
    let token = value(
        &tokens,
        &alice(),
        ALICE_SUB,
        "app.example.com",
        PASSWORD,
        1_700_000_000,
    )
    .unwrap();
    let jwk = tokens.key.jwk().clone();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["app.example.com"]);
    validation.set_issuer(&["https://auth.example.com"]);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        token.to_str().unwrap(),
        &DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], ALICE_SUB);
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["email"], "alice@example.com");
    assert_eq!(claims["groups"], serde_json::json!(["admins"]));
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["iat"], 1_700_000_000);
    assert_eq!(claims["exp"], 1_700_000_060);
    assert!(claims["jti"].as_str().is_some_and(|jti| jti.len() >= 16));
}

#[test]
fn a_full_shard_keeps_only_the_current_second() {
    let tokens = IdentityTokens {
        capacity: 4,
        ..tokens()
    };
    for n in 0..(4 * SHARDS * 3) {
        let user = Identity::new(&format!("user{n}"), "", "", &[]);
        value(
            &tokens,
            &user,
            "some-subject-id",
            "app.example.com",
            PASSWORD,
            1000,
        );
    }
    value(
        &tokens,
        &alice(),
        ALICE_SUB,
        "app.example.com",
        PASSWORD,
        1001,
    );
    let total = kept_in_all(&tokens);
    assert!(total <= 4 * SHARDS, "{total}");
}

#[test]
fn a_providers_user_has_tokens_of_their_own() {
    let tokens = tokens();
    let alice = alice();
    let local = ALICE_AT_APP;
    let from_github = TokenFor {
        provider: Some("github"),
        ..local
    };
    let from_gitlab = TokenFor {
        provider: Some("gitlab"),
        ..local
    };
    let signed = tokens.sign(&local, &alice, ALICE_SUB, 1000, 0).unwrap();
    assert_eq!(kept_in_table(&tokens, &local, 1000, 0), Some(signed));
    assert_eq!(kept_in_table(&tokens, &from_github, 1000, 0), None);
    tokens.sign(&from_github, &alice, "github-alice-id", 1000, 0);
    assert!(kept_in_table(&tokens, &from_github, 1000, 0).is_some());
    assert_eq!(kept_in_table(&tokens, &from_gitlab, 1000, 0), None);
}

#[test]
fn a_new_second_replaces_the_kept_token() {
    let tokens = tokens();
    let first = alice_at_app(&tokens, 1000);
    assert_eq!(kept_in_table(&tokens, &ALICE_AT_APP, 1001, 0), None);
    let second = alice_at_app(&tokens, 1001);
    assert_ne!(first, second);
    assert_eq!(kept_in_table(&tokens, &ALICE_AT_APP, 1001, 0), Some(second));
    assert_eq!(kept_in_all(&tokens), 1);
}

#[test]
fn a_token_is_kept_for_one_way_of_signing_in() {
    let tokens = tokens();
    let password = alice_at_app(&tokens, 1000);
    let two_factor = TokenFor {
        sign_in: SignIn {
            level: AuthLevel::TwoFactor,
            ..PASSWORD
        },
        ..ALICE_AT_APP
    };
    // Same user, app and provider, so the same hash: the way in still tells them apart.
    assert_eq!(kept_in_table(&tokens, &two_factor, 1000, 0), None);
    let stronger = tokens
        .sign(&two_factor, &alice(), ALICE_SUB, 1000, 0)
        .unwrap();
    assert_ne!(password, stronger);
    assert_eq!(
        kept_in_table(&tokens, &ALICE_AT_APP, 1000, 0),
        Some(password)
    );
    assert_eq!(kept_in_table(&tokens, &two_factor, 1000, 0), Some(stronger));
}

#[test]
fn a_changed_subject_id_ends_the_kept_tokens() {
    let tokens = tokens();
    let first = tokens
        .sign(&ALICE_AT_APP, &alice(), ALICE_SUB, 1000, 0)
        .unwrap();
    assert_eq!(
        kept_in_table(&tokens, &ALICE_AT_APP, 1000, 0),
        Some(first.clone())
    );
    // An id in memory changed (a retirement, another id read): the token may carry the old.
    assert_eq!(kept_in_table(&tokens, &ALICE_AT_APP, 1000, 1), None);
    let again = tokens
        .sign(&ALICE_AT_APP, &alice(), "the-new-alice", 1000, 1)
        .unwrap();
    assert_ne!(first, again);
    assert_eq!(kept_in_table(&tokens, &ALICE_AT_APP, 1000, 1), Some(again));
    assert_eq!(kept_in_all(&tokens), 1);
}

fn empty_the_table(tokens: &IdentityTokens) {
    for shard in &tokens.shards {
        shard.lock().unwrap().clear();
    }
}

#[test]
fn a_thread_hands_out_its_last_token_again_without_the_table() {
    let tokens = tokens();
    let signed = alice_at_app(&tokens, 1000);
    empty_the_table(&tokens);
    assert_eq!(tokens.kept(&ALICE_AT_APP, 1000, 0), Some(signed.clone()));
    // Another thread has its own last token: with the table empty, none.
    std::thread::scope(|scope| {
        let elsewhere = scope.spawn(|| tokens.kept(&ALICE_AT_APP, 1000, 0));
        assert_eq!(elsewhere.join().unwrap(), None);
    });
    // The last token holds only for what it was signed for, in its second.
    let two_factor = TokenFor {
        sign_in: SignIn {
            level: AuthLevel::TwoFactor,
            ..PASSWORD
        },
        ..ALICE_AT_APP
    };
    let from_github = TokenFor {
        provider: Some("github"),
        ..ALICE_AT_APP
    };
    let other_app = TokenFor {
        aud: "other.example.com",
        ..ALICE_AT_APP
    };
    let bob = TokenFor {
        user: "bob",
        ..ALICE_AT_APP
    };
    for wanted in [two_factor, from_github, other_app, bob] {
        assert_eq!(tokens.kept(&wanted, 1000, 0), None, "{wanted:?}");
    }
    assert_eq!(tokens.kept(&ALICE_AT_APP, 1001, 0), None);
    assert_eq!(tokens.kept(&ALICE_AT_APP, 1000, 1), None);
    assert_eq!(tokens.kept(&ALICE_AT_APP, 1000, 0), Some(signed));
}

#[test]
fn a_thread_never_hands_out_another_caches_token() {
    let (first, second) = (tokens(), tokens());
    alice_at_app(&first, 1000);
    // Same thread, same user, app and second: the other cache (another key) signs its own.
    assert_eq!(second.kept(&ALICE_AT_APP, 1000, 0), None);
}

#[test]
fn a_token_found_in_the_table_is_the_threads_last() {
    let tokens = tokens();
    let password = alice_at_app(&tokens, 1000);
    bob_at_app(&tokens, 1000);
    // Alice's comes from the table now (the thread's last is Bob's), and becomes its last.
    assert_eq!(tokens.kept(&ALICE_AT_APP, 1000, 0), Some(password.clone()));
    empty_the_table(&tokens);
    assert_eq!(tokens.kept(&ALICE_AT_APP, 1000, 0), Some(password));
}

#[test]
fn a_providers_users_last_token_is_theirs_alone() {
    let tokens = tokens();
    let from_github = TokenFor {
        provider: Some("github"),
        ..ALICE_AT_APP
    };
    let signed = tokens
        .sign(&from_github, &alice(), "github-alice-id", 1000, 0)
        .unwrap();
    empty_the_table(&tokens);
    let from_gitlab = TokenFor {
        provider: Some("gitlab"),
        ..ALICE_AT_APP
    };
    // The local alice and gitlab's have the same name, app and way in: not the same token.
    assert_eq!(tokens.kept(&ALICE_AT_APP, 1000, 0), None);
    assert_eq!(tokens.kept(&from_gitlab, 1000, 0), None);
    assert_eq!(tokens.kept(&from_github, 1000, 0), Some(signed));
}
