//! CSRF tokens, derived rather than stored: HMAC-SHA256(secret, purpose || binding). A token for
//! a session is bound to that session's token hash; a token for the login form is bound to a
//! short-lived pre-session cookie. Any replica holding the shared secret can verify either,
//! and nothing extra is written to the store.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::token::TokenHash;

type HmacSha256 = Hmac<Sha256>;

/// The short-lived cookie the login form's CSRF token is bound to.
pub const PRE_SESSION_COOKIE: &str = "postern_csrf";

/// Derives and checks CSRF tokens with the server secret.
#[derive(Clone)]
pub struct CsrfKey {
    key: Vec<u8>,
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
            key: derive_subkey(secret, b"postern csrf v1"),
        }
    }

    pub fn token_for(&self, binding: CsrfBinding<'_>) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(binding))
    }

    /// Constant-time check of a presented token.
    pub fn verify(&self, binding: CsrfBinding<'_>, presented: &str) -> bool {
        let Ok(presented) = URL_SAFE_NO_PAD.decode(presented.trim()) else {
            return false;
        };
        let expected = self.mac(binding);
        presented.len() == expected.len() && bool::from(presented.ct_eq(&expected))
    }

    fn mac(&self, binding: CsrfBinding<'_>) -> [u8; 32] {
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.key) else {
            // HMAC accepts keys of any length; this branch cannot be taken.
            return [0u8; 32];
        };
        match binding {
            CsrfBinding::Session(hash) => {
                mac.update(b"session\0");
                mac.update(&hash.0);
            }
            CsrfBinding::PreSession(value) => {
                mac.update(b"pre-session\0");
                mac.update(value.as_bytes());
            }
        }
        mac.finalize().into_bytes().into()
    }
}

/// HMAC-SHA256(secret, label): one secret, independent keys per purpose.
pub fn derive_subkey(secret: &[u8], label: &[u8]) -> Vec<u8> {
    match HmacSha256::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(label);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => secret.to_vec(),
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
