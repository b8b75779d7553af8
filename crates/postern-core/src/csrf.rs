//! CSRF tokens, derived rather than stored: HMAC-SHA256(secret, purpose || binding). A token for
//! a session is bound to that session's token hash; a token for the login form is bound to a
//! short-lived pre-session cookie. Any replica holding the shared secret can verify either,
//! and nothing extra is written to the store.

use crate::mac::SubKey;
use crate::token::TokenHash;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The short-lived cookie the login form's CSRF token is bound to.
pub const PRE_SESSION_COOKIE: &str = "postern_csrf";

/// Derives and checks CSRF tokens with the server secret.
#[derive(Clone)]
pub struct CsrfKey {
    key: SubKey,
}

/// What a CSRF token is bound to.
#[derive(Clone, Copy, Debug)]
pub enum CsrfBinding<'a> {
    /// A signed-in session, by the hash of its token.
    Session(&'a TokenHash),
    /// The pre-session cookie that the login form is served with.
    PreSession(&'a str),
}

impl CsrfKey {
    pub fn new(secret: &[u8]) -> Self {
        // A sub-key, so the server secret itself never signs anything the client sees.
        Self {
            key: SubKey::derive(secret, b"postern csrf v1"),
        }
    }

    pub fn token_for(&self, binding: CsrfBinding<'_>) -> String {
        URL_SAFE_NO_PAD.encode(self.key.sign(&binding.parts()))
    }

    /// Constant-time check of a presented token.
    pub fn verify(&self, binding: CsrfBinding<'_>, presented: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(presented.trim())
            .is_ok_and(|presented| self.key.verify(&binding.parts(), &presented))
    }
}

impl CsrfBinding<'_> {
    /// What the MAC covers: the kind of binding, then its value.
    fn parts(&self) -> [&[u8]; 2] {
        match self {
            CsrfBinding::Session(hash) => [b"session\0", &hash.0],
            CsrfBinding::PreSession(value) => [b"pre-session\0", value.as_bytes()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CsrfKey {
        CsrfKey::new(&[7u8; 32])
    }

    #[test]
    fn a_token_verifies_only_for_its_own_binding() {
        let one = TokenHash::of(b"one");
        let two = TokenHash::of(b"two");
        let token = key().token_for(CsrfBinding::Session(&one));
        assert!(key().verify(CsrfBinding::Session(&one), &token));
        assert!(!key().verify(CsrfBinding::Session(&two), &token));
        assert!(!key().verify(CsrfBinding::PreSession("one"), &token));
    }

    #[test]
    fn a_different_secret_rejects_the_token() {
        let hash = TokenHash::of(b"s");
        let token = key().token_for(CsrfBinding::Session(&hash));
        assert!(!CsrfKey::new(&[8u8; 32]).verify(CsrfBinding::Session(&hash), &token));
    }

    #[test]
    fn garbage_is_rejected() {
        let hash = TokenHash::of(b"s");
        for bad in ["", "%%%", "AAAA", &"A".repeat(5000)] {
            assert!(!key().verify(CsrfBinding::Session(&hash), bad));
        }
    }
}
