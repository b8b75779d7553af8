use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::*;

const NOW: UnixSeconds = 1_800_000_000;

fn key() -> JwtKey {
    JwtKey::new(&[9u8; 32], "https://auth.example.com")
}

fn claims(kind: TokenType) -> Claims {
    Claims {
        sub: "alice".into(),
        iat: NOW,
        nbf: NOW,
        exp: NOW + 3600,
        jti: "j1".into(),
        kind,
        iss: "https://auth.example.com".into(),
        aud: AUDIENCE.into(),
        fam: "f1".into(),
        fam_exp: NOW + 86_400,
        mfa: false,
        pwd: "0011223344556677".into(),
    }
}

fn forge(header_json: &str, claims: &Claims, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    )
}

/// Tokens issued before postern used `jsonwebtoken` carry the header bytes postern wrote
/// itself; they stay valid until they expire.
#[test]
fn a_token_signed_before_the_library_switch_still_verifies() {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(TokenType::Access)).unwrap())
    );
    let mac = SubKey::derive(&[9u8; 32], b"postern jwt v1").sign(&[signing_input.as_bytes()]);
    let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac));
    assert_eq!(
        key().verify(&token, TokenType::Access, NOW + 1).unwrap(),
        claims(TokenType::Access)
    );
}

#[test]
fn a_signed_token_verifies_and_round_trips() {
    let token = key().sign(&claims(TokenType::Access));
    assert_eq!(
        key().verify(&token, TokenType::Access, NOW + 1).unwrap(),
        claims(TokenType::Access)
    );
}

#[test]
fn every_bad_token_is_refused_for_its_own_reason() {
    let key = key();
    let access = key.sign(&claims(TokenType::Access));
    let mut expired = claims(TokenType::Access);
    expired.exp = NOW;
    let mut early = claims(TokenType::Access);
    early.nbf = NOW + 10;
    let mut other_aud = claims(TokenType::Access);
    other_aud.aud = "grafana".into();
    let mut other_iss = claims(TokenType::Access);
    other_iss.iss = "https://evil.example".into();
    let cases = [
        (key.sign(&expired), JwtError::Expired),
        (key.sign(&early), JwtError::NotYetValid),
        (key.sign(&other_aud), JwtError::WrongParty),
        (key.sign(&other_iss), JwtError::WrongParty),
        (key.sign(&claims(TokenType::Refresh)), JwtError::WrongType),
        (
            JwtKey::new(&[8u8; 32], "https://auth.example.com").sign(&claims(TokenType::Access)),
            JwtError::Signature,
        ),
        (
            forge(
                r#"{"alg":"none","typ":"JWT"}"#,
                &claims(TokenType::Access),
                "",
            ),
            JwtError::Header,
        ),
        (
            forge(r#"{"alg":"RS256"}"#, &claims(TokenType::Access), "AAAA"),
            JwtError::Header,
        ),
        (
            forge(
                r#"{"alg":"HS256","typ":"JWE"}"#,
                &claims(TokenType::Access),
                "AAAA",
            ),
            JwtError::Header,
        ),
        (format!("{access}."), JwtError::Malformed),
        (access.replacen('.', "", 1), JwtError::Malformed),
        ("".into(), JwtError::Malformed),
        ("a.b.c".into(), JwtError::Malformed),
        ("!!!.???.***".into(), JwtError::Malformed),
        ("x".repeat(5000), JwtError::Malformed),
    ];
    for (token, expected) in cases {
        assert_eq!(
            key.verify(&token, TokenType::Access, NOW + 1),
            Err(expected),
            "{token:.60}"
        );
    }
}

#[test]
fn a_changed_payload_breaks_the_signature() {
    let key = key();
    let token = key.sign(&claims(TokenType::Access));
    let signature = token.rsplit('.').next().unwrap();
    let mut admin = claims(TokenType::Access);
    admin.sub = "admin".into();
    let tampered = forge(r#"{"alg":"HS256","typ":"JWT"}"#, &admin, signature);
    assert_eq!(
        key.verify(&tampered, TokenType::Access, NOW + 1),
        Err(JwtError::Signature)
    );
}

/// A token is valid from its `nbf` second up to, not including, its `exp` second.
#[test]
fn a_token_is_valid_from_nbf_until_the_second_before_exp() {
    let key = key();
    let token = key.sign(&claims(TokenType::Access));
    for (now, expected) in [
        (NOW - 1, Err(JwtError::NotYetValid)),
        (NOW, Ok(claims(TokenType::Access))),
        (NOW + 3599, Ok(claims(TokenType::Access))),
        (NOW + 3600, Err(JwtError::Expired)),
    ] {
        assert_eq!(
            key.verify(&token, TokenType::Access, now),
            expected,
            "{now}"
        );
    }
}

/// Tokens of up to 4096 bytes are read; a longer one is refused before decoding, even when
/// its signature is right.
#[test]
fn a_signed_token_of_4096_bytes_verifies_and_a_longer_one_is_refused() {
    let key = key();
    let sized = |sub_len: usize, jti: &str| {
        let mut claims = claims(TokenType::Access);
        claims.sub = "a".repeat(sub_len);
        claims.jti = jti.into();
        (key.sign(&claims), claims)
    };
    // Each byte of `sub` adds 4/3 of a character to the token: start the search near 4096.
    let near = (4096 - sized(0, "j").0.len()) * 3 / 4;
    let lengths = near - 4..near + 4;
    let (token, signed) = lengths
        .clone()
        .flat_map(|sub_len| ["j", "jj", "jjj"].map(|jti| sized(sub_len, jti)))
        .find(|(token, _)| token.len() == 4096)
        .unwrap();
    assert_eq!(key.verify(&token, TokenType::Access, NOW + 1), Ok(signed));
    let (longer, _) = lengths
        .map(|sub_len| sized(sub_len, "j"))
        .find(|(token, _)| token.len() == 4097 || token.len() == 4098)
        .unwrap();
    assert_eq!(
        key.verify(&longer, TokenType::Access, NOW + 1),
        Err(JwtError::Malformed)
    );
}

/// The issuer a key signs for is the one it verifies (the token endpoint writes it into `iss`).
#[test]
fn a_key_names_its_issuer() {
    assert_eq!(key().issuer(), "https://auth.example.com");
    let mut claims = claims(TokenType::Access);
    claims.iss = key().issuer().to_owned();
    let token = key().sign(&claims);
    assert_eq!(key().verify(&token, TokenType::Access, NOW + 1), Ok(claims));
}
