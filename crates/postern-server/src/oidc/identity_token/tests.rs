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

#[test]
fn one_signature_per_user_app_and_second() {
    let tokens = tokens();
    let alice = alice();
    let first = tokens
        .value(&alice, ALICE_SUB, "app.example.com", PASSWORD, 1000)
        .unwrap();
    let again = tokens
        .value(&alice, ALICE_SUB, "app.example.com", PASSWORD, 1000)
        .unwrap();
    assert_eq!(first, again);
    let next_second = tokens
        .value(&alice, ALICE_SUB, "app.example.com", PASSWORD, 1001)
        .unwrap();
    assert_ne!(first, next_second);
    let other_app = tokens
        .value(&alice, ALICE_SUB, "other.example.com", PASSWORD, 1000)
        .unwrap();
    assert_ne!(first, other_app);
    let two_factor = SignIn {
        level: AuthLevel::TwoFactor,
        ..PASSWORD
    };
    let stronger = tokens
        .value(&alice, ALICE_SUB, "app.example.com", two_factor, 1000)
        .unwrap();
    assert_ne!(first, stronger);
    // The same level another way (amr differs): a token of its own.
    let passkey = SignIn {
        way_in: WayIn::Passkey,
        ..PASSWORD
    };
    let by_passkey = tokens
        .value(&alice, ALICE_SUB, "app.example.com", passkey, 1000)
        .unwrap();
    assert_ne!(first, by_passkey);
    let bob = Identity::new("bob", "", "", &[]);
    assert_ne!(
        first,
        tokens
            .value(&bob, "bob-subject-id", "app.example.com", PASSWORD, 1000)
            .unwrap()
    );
}

#[test]
fn the_token_states_who_for_which_app_and_for_sixty_seconds() {
    let tokens = tokens();
    let value = tokens
        .value(
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
        value.to_str().unwrap(),
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
        tokens.value(&user, "some-subject-id", "app.example.com", PASSWORD, 1000);
    }
    tokens.value(&alice(), ALICE_SUB, "app.example.com", PASSWORD, 1001);
    let total: usize = tokens
        .shards
        .iter()
        .map(|shard| shard.lock().unwrap().len())
        .sum();
    assert!(total <= 4 * SHARDS, "{total}");
}
