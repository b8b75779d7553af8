use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::json;

use super::*;

const NOW: u64 = 1_800_000_000;

/// An ES256 key and its JWK.
fn key() -> (EcdsaKeyPair, KeySet) {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let keys = serde_json::from_value(json!({"keys": [{
        "kty": "EC",
        "kid": "k1",
        "use": "sig",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    }]}))
    .unwrap();
    (pair, keys)
}

fn token(pair: &EcdsaKeyPair, header: &Value, claims: &Value) -> String {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = pair.sign(&SystemRandom::new(), signed.as_bytes()).unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

fn claims() -> Value {
    json!({"iss": "https://id.example.com", "aud": "postern", "exp": NOW + 60, "iat": NOW, "nonce": "n1", "sub": "carol"})
}

fn expected() -> Expected<'static> {
    Expected {
        issuers: &["https://id.example.com/"],
        client_id: "postern",
        nonce: "n1",
        now: NOW,
    }
}

#[test]
fn a_good_es256_token_passes() {
    let (pair, keys) = key();
    let header = json!({"alg": "ES256", "kid": "k1"});
    let verified = verify(&token(&pair, &header, &claims()), &keys, &expected()).unwrap();
    assert_eq!(verified["sub"], "carol");
}

#[test]
fn each_claim_check_refuses() {
    let (pair, keys) = key();
    let header = json!({"alg": "ES256", "kid": "k1"});
    let cases = [
        (
            "iss",
            json!("https://evil.example.com"),
            IdTokenError::Issuer("https://evil.example.com".into()),
        ),
        ("aud", json!(["other", "postern"]), IdTokenError::Audience),
        ("exp", json!(NOW - 61), IdTokenError::Expired),
        ("iat", json!(NOW + 3600), IdTokenError::IssuedInFuture),
        ("iat", json!(NOW + 61), IdTokenError::IssuedInFuture),
        ("iat", json!("yesterday"), IdTokenError::NoIssuedAt),
        ("nbf", json!(NOW + 61), IdTokenError::NotYetValid),
        ("nbf", json!("soon"), IdTokenError::NotYetValid),
        ("nonce", json!("n2"), IdTokenError::Nonce),
    ];
    for (name, value, error) in cases {
        let mut claims = claims();
        claims[name] = value;
        if name == "aud" {
            claims["azp"] = json!("other");
        }
        let result = verify(&token(&pair, &header, &claims), &keys, &expected());
        assert_eq!(result, Err(error), "{name}");
    }
}

#[test]
fn iat_is_required_and_nbf_holds_within_the_leeway() {
    let (pair, keys) = key();
    let header = json!({"alg": "ES256", "kid": "k1"});
    let mut without_iat = claims();
    without_iat.as_object_mut().unwrap().remove("iat");
    let result = verify(&token(&pair, &header, &without_iat), &keys, &expected());
    assert_eq!(result, Err(IdTokenError::NoIssuedAt));
    // A provider clock up to 60 s ahead is tolerated, for nbf as for iat and exp.
    for (name, value) in [("nbf", NOW + 60), ("nbf", NOW - 3600), ("iat", NOW + 60)] {
        let mut claims = claims();
        claims[name] = json!(value);
        let result = verify(&token(&pair, &header, &claims), &keys, &expected());
        assert!(result.is_ok(), "{name} = {value}: {result:?}");
    }
}

#[test]
fn unsigned_and_shared_secret_tokens_are_refused() {
    let (pair, keys) = key();
    for alg in ["none", "HS256"] {
        let header = json!({"alg": alg});
        let result = verify(&token(&pair, &header, &claims()), &keys, &expected());
        assert_eq!(result, Err(IdTokenError::Algorithm(alg.into())));
    }
    let unknown = json!({"alg": "ES256", "kid": "k2"});
    let result = verify(&token(&pair, &unknown, &claims()), &keys, &expected());
    assert_eq!(result, Err(IdTokenError::UnknownKey));
    let (other, _) = key();
    let header = json!({"alg": "ES256", "kid": "k1"});
    let result = verify(&token(&other, &header, &claims()), &keys, &expected());
    assert_eq!(result, Err(IdTokenError::Signature));
}

#[test]
fn keys_postern_cannot_use_are_dropped_and_the_rest_still_verify() {
    let (pair, keys) = key();
    let usable = serde_json::to_value(&keys.keys[0]).unwrap();
    let set: KeySet = serde_json::from_value(json!({"keys": [
        {"kty": "RSA", "kid": "enc", "use": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"},
        {"kty": "future-type", "kid": "k9"},
        "not even an object",
        usable,
    ]}))
    .unwrap();
    assert_eq!(
        set.keys.len(),
        2,
        "the encryption key parses; the odd ones are dropped"
    );
    let header = json!({"alg": "ES256", "kid": "k1"});
    let verified = verify(&token(&pair, &header, &claims()), &set, &expected()).unwrap();
    assert_eq!(verified["sub"], "carol");
    // An encryption key is never a candidate, even when the token names it.
    let named = json!({"alg": "RS256", "kid": "enc"});
    let result = verify(&token(&pair, &named, &claims()), &set, &expected());
    assert_eq!(result, Err(IdTokenError::UnknownKey));
}

#[test]
fn a_key_on_another_curve_is_no_candidate() {
    let (pair, keys) = key();
    let mut p384 = serde_json::to_value(&keys.keys[0]).unwrap();
    p384["crv"] = json!("P-384");
    let set: KeySet = serde_json::from_value(json!({"keys": [p384]})).unwrap();
    let header = json!({"alg": "ES256", "kid": "k1"});
    let result = verify(&token(&pair, &header, &claims()), &set, &expected());
    assert_eq!(result, Err(IdTokenError::UnknownKey));
}
