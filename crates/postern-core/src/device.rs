//! Device cookies (OWASP's answer to lockout as a denial of service): a browser that signed in
//! as a user holds a cookie signed for that user. Its failed attempts are counted against the
//! device, not the account, so an attacker who locks the account out (without the cookie)
//! does not lock out the user's own browser. The per-IP limit applies to everyone.

use crate::mac::SubKey;
use crate::token::random_text;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub const DEVICE_COOKIE: &str = "postern_device";
/// A year.
pub const DEVICE_COOKIE_LIFETIME_SECS: i64 = 365 * 86_400;

#[derive(Clone)]
pub struct DeviceKey {
    key: SubKey,
}

impl DeviceKey {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: SubKey::derive(secret, b"postern device v1"),
        }
    }

    /// `<nonce>.<mac>` for `user`.
    pub fn issue(&self, user: &str) -> String {
        let nonce = random_text::<16>();
        let user = user.to_lowercase();
        let mac = URL_SAFE_NO_PAD.encode(self.key.sign(&signed_parts(&nonce, &user)));
        format!("{nonce}.{mac}")
    }

    /// Whether `cookie` has the shape `issue` gives every cookie: a 22-character nonce, a dot
    /// and a 43-character MAC, both base64url. Cheaper than `verify`, so a sign-in can pass
    /// over junk before it counts the cookies it verifies (`cookies::device_cookies`).
    pub fn well_formed(cookie: &str) -> bool {
        let base64url = |part: &str| {
            part.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        cookie.split_once('.').is_some_and(|(nonce, mac)| {
            nonce.len() == 22 && mac.len() == 43 && base64url(nonce) && base64url(mac)
        })
    }

    /// The device's id (its nonce) when `cookie` was issued for `user`.
    pub fn verify<'a>(&self, cookie: &'a str, user: &str) -> Option<&'a str> {
        let (nonce, mac) = cookie.split_once('.')?;
        if nonce.len() != 22 {
            return None;
        }
        let presented = URL_SAFE_NO_PAD.decode(mac).ok()?;
        let user = user.to_lowercase();
        self.key
            .verify(&signed_parts(nonce, &user), &presented)
            .then_some(nonce)
    }
}

/// The nonce and the user's name (in lower case: names are case-insensitive).
fn signed_parts<'a>(nonce: &'a str, lower_user: &'a str) -> [&'a [u8]; 3] {
    [nonce.as_bytes(), b"\0", lower_user.as_bytes()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_cookie_is_bound_to_its_user_and_key() {
        let key = DeviceKey::new(&[1u8; 32]);
        let cookie = key.issue("Alice");
        let nonce = key
            .verify(&cookie, "alice")
            .expect("valid for alice, in any case");
        assert_eq!(nonce.len(), 22);
        assert_eq!(key.verify(&cookie, "bob"), None);
        assert_eq!(DeviceKey::new(&[2u8; 32]).verify(&cookie, "alice"), None);
        for bad in [
            "",
            ".",
            "abc.def",
            &format!("{cookie}x"),
            &cookie.replace('.', ""),
        ] {
            assert_eq!(key.verify(bad, "alice"), None, "{bad}");
        }
        assert_ne!(key.issue("alice"), key.issue("alice"));
    }

    #[test]
    fn every_issued_cookie_is_well_formed_and_junk_is_not() {
        let key = DeviceKey::new(&[1u8; 32]);
        for user in ["alice", "Bob", "ünïcode"] {
            let cookie = key.issue(user);
            assert!(DeviceKey::well_formed(&cookie), "{cookie}");
            assert!(!DeviceKey::well_formed(&format!("{cookie}x")));
            assert!(!DeviceKey::well_formed(&cookie[1..]));
            assert!(!DeviceKey::well_formed(&cookie.replace('.', "!")));
        }
        let nonce = "a".repeat(22);
        let mac = "b".repeat(43);
        assert!(DeviceKey::well_formed(&format!("{nonce}.{mac}")));
        for bad in [
            "",
            ".",
            "junk",
            &format!("{nonce}.{mac}="),
            &format!("{nonce}+.{mac}"),
        ] {
            assert!(!DeviceKey::well_formed(bad), "{bad}");
        }
    }
}
