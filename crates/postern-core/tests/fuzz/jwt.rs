//! Bearer tokens: any text is refused without a panic; a token postern signed verifies to
//! exactly its claims inside its window and for its type only; no edit of a signed token and
//! no other key makes it verify to other claims.

use postern_core::jwt::{AUDIENCE, Claims, JwtError, JwtKey, TokenType};
use proptest::prelude::*;

use postern_testkit::fuzz_config;

const SECRET: &[u8] = b"a server secret of thirty-two bytes or more";
const ISSUER: &str = "https://auth.example.com";

fn key() -> JwtKey {
    JwtKey::new(SECRET, ISSUER)
}

fn claims() -> impl Strategy<Value = Claims> {
    (
        "[a-zA-Z0-9@._\\-é]{1,12}",
        1_000u64..4_000_000_000,
        1u64..100_000,
        any::<bool>(),
        "[A-Za-z0-9_-]{0,24}",
        any::<bool>(),
        "[0-9a-f]{0,16}",
    )
        .prop_map(|(sub, iat, ttl, refresh, jti, mfa, pwd)| Claims {
            sub,
            iat,
            nbf: iat,
            exp: iat + ttl,
            jti: jti.clone(),
            kind: if refresh {
                TokenType::Refresh
            } else {
                TokenType::Access
            },
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            fam: jti,
            fam_exp: iat + ttl * 2,
            mfa,
            pwd,
        })
}

fn other(kind: TokenType) -> TokenType {
    match kind {
        TokenType::Access => TokenType::Refresh,
        TokenType::Refresh => TokenType::Access,
    }
}

/// Texts shaped like tokens: three or so base64url parts, some of them real headers.
fn token_like() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        "[A-Za-z0-9_=+/-]{0,40}",
        Just("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9".to_owned()),
        Just("eyJhbGciOiJub25lIn0".to_owned()),
        Just("eyJhbGciOiJIUzI1NiJ9".to_owned()),
    ];
    proptest::collection::vec(part, 0..5).prop_map(|parts| parts.join("."))
}

proptest! {
    #![proptest_config(fuzz_config(1))]

    #[test]
    fn any_text_is_refused(text in prop_oneof![token_like(), any::<String>()], now in any::<u64>()) {
        for kind in [TokenType::Access, TokenType::Refresh] {
            prop_assert!(key().verify(&text, kind, now).is_err());
        }
    }

    #[test]
    fn a_signed_token_verifies_to_its_claims_in_its_window_only(
        claims in claims(),
        offset in any::<u64>(),
    ) {
        let key = key();
        let token = key.sign(&claims);
        let inside = claims.nbf + offset % (claims.exp - claims.nbf);
        prop_assert_eq!(key.verify(&token, claims.kind, inside), Ok(claims.clone()));
        prop_assert_eq!(key.verify(&token, other(claims.kind), inside), Err(JwtError::WrongType));
        prop_assert_eq!(
            key.verify(&token, claims.kind, claims.exp.saturating_add(offset % 1_000_000)),
            Err(JwtError::Expired)
        );
        prop_assert_eq!(
            key.verify(&token, claims.kind, claims.nbf - 1 - offset % claims.nbf.min(1_000_000)),
            Err(JwtError::NotYetValid)
        );
        let stranger = JwtKey::new(b"another secret of thirty-two bytes or more", ISSUER);
        prop_assert_eq!(stranger.verify(&token, claims.kind, inside), Err(JwtError::Signature));
        let elsewhere = JwtKey::new(SECRET, "https://other.example.com");
        prop_assert!(elsewhere.verify(&token, claims.kind, inside).is_err());
    }

    #[test]
    fn no_edit_of_a_signed_token_verifies_to_other_claims(
        claims in claims(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4, any::<char>()), 1..4),
    ) {
        let key = key();
        let token = key.sign(&claims);
        let mut chars: Vec<char> = token.chars().collect();
        for (at, action, ch) in edits {
            let index = at.index(chars.len().max(1));
            match action {
                0 if !chars.is_empty() => {
                    chars.remove(index.min(chars.len() - 1));
                }
                1 => chars.insert(index.min(chars.len()), ch),
                2 if !chars.is_empty() => {
                    let last = chars.len() - 1;
                    chars[index.min(last)] = ch;
                }
                _ => chars.insert(index.min(chars.len()), ['.', '=', 'A', '_'][index % 4]),
            }
        }
        let edited: String = chars.into_iter().collect();
        if let Ok(read) = key.verify(&edited, claims.kind, claims.nbf) {
            // Only an edit that changes no signed byte may still verify.
            prop_assert_eq!(read, claims);
        }
    }
}
