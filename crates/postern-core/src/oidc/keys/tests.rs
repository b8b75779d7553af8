use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;

use super::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/src/oidc/keys/testdata/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Claims {
    sub: String,
    exp: u64,
}

/// Signs with the private key and verifies with nothing but the published JWK: the JWKS's
/// public numbers must be the key's own.
fn round_trip(key: &SigningKey) {
    let claims = Claims {
        sub: "alice".into(),
        exp: 4_000_000_000,
    };
    let token = key.sign(&claims).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
    assert_eq!(header.alg, key.algorithm);
    let decoding = DecodingKey::from_jwk(key.jwk()).unwrap();
    let mut validation = Validation::new(key.algorithm);
    validation.validate_aud = false;
    let verified = jsonwebtoken::decode::<Claims>(&token, &decoding, &validation).unwrap();
    assert_eq!(verified.claims, claims);
}

#[test]
fn rsa_keys_in_pkcs8_and_pkcs1_sign_what_their_jwk_verifies() {
    let pkcs8 = SigningKey::from_pem(&fixture("rsa-2048.pem")).unwrap();
    let pkcs1 = SigningKey::from_pem(&fixture("rsa-2048-pkcs1.pem")).unwrap();
    assert_eq!(pkcs8.algorithm, Algorithm::RS256);
    // The same key in two framings has one thumbprint.
    assert_eq!(pkcs8.kid, pkcs1.kid);
    round_trip(&pkcs8);
    round_trip(&pkcs1);
}

#[test]
fn a_p256_key_signs_what_its_jwk_verifies() {
    let key = SigningKey::from_pem(&fixture("ec-p256.pem")).unwrap();
    assert_eq!(key.algorithm, Algorithm::ES256);
    round_trip(&key);
}

#[test]
fn weak_foreign_and_unreadable_keys_are_refused_with_the_reason() {
    for (file, why) in [
        ("rsa-1024.pem", "2048"),
        ("ec-p384.pem", "P-256"),
        ("ec-p256-sec1.pem", "openssl pkcs8 -topk8"),
    ] {
        let err = SigningKey::from_pem(&fixture(file)).unwrap_err();
        assert!(err.contains(why), "{file}: {err}");
    }
    let two = [fixture("ec-p256.pem"), fixture("rsa-2048.pem")].concat();
    assert!(
        SigningKey::from_pem(&two)
            .unwrap_err()
            .contains("exactly one")
    );
    assert!(SigningKey::from_pem(b"not a key").is_err());
}

/// RFC 7638 section 3.1: the example key and its thumbprint.
#[test]
fn the_kid_is_the_rfc_7638_thumbprint() {
    let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
    let canonical = format!(r#"{{"e":"AQAB","kty":"RSA","n":"{n}"}}"#);
    assert_eq!(
        thumbprint(&canonical),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn a_generated_key_loads_and_the_first_key_signs() {
    let generated = SigningKey::from_pem(generate_p256_pem().unwrap().as_bytes()).unwrap();
    round_trip(&generated);
    let rsa = SigningKey::from_pem(&fixture("rsa-2048.pem")).unwrap();
    let keys = SigningKeys::new(vec![generated.clone(), rsa.clone()]).unwrap();
    assert_eq!(keys.first().kid, generated.kid);
    assert_eq!(
        keys.for_algorithm(Algorithm::RS256).map(|key| &key.kid),
        Some(&rsa.kid)
    );
    assert_eq!(keys.algorithms(), [Algorithm::ES256, Algorithm::RS256]);
    assert_eq!(keys.jwks().keys.len(), 2);
    assert!(SigningKeys::new(Vec::new()).is_none());
}
