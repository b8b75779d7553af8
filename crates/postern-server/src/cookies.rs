//! Reading cookies without building a jar (the check path only needs one value), and writing
//! the ones postern sets: the session cookie, the login form's pre-session cookie, and the
//! pending-login cookie of a TOTP user between password and code, and the cookie that binds an
//! OAuth sign-in to its browser.

use cookie::time::Duration as CookieDuration;
use cookie::{Cookie, SameSite};
use http::HeaderMap;
use http::header::COOKIE;
use postern_core::config::Config;

pub use postern_core::csrf::PRE_SESSION_COOKIE;
pub use postern_core::device::DEVICE_COOKIE;
use postern_core::device::DEVICE_COOKIE_LIFETIME_SECS;
const PRE_SESSION_LIFETIME_SECS: i64 = 3600;
/// Holds the token of a pending login (password checked, TOTP code not yet).
pub const PENDING_COOKIE: &str = "postern_pending";
/// Binds a sign-in through an OAuth provider to the browser that started it.
pub const OAUTH_COOKIE: &str = "postern_oauth";

/// The first value of cookie `name` across all `Cookie` headers.
pub fn find<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// The login page's pre-session cookie, when well formed (16 random bytes, base64url): the
/// login form's CSRF token and a passwordless passkey sign-in are bound to it.
pub fn pre_session(headers: &HeaderMap) -> Option<&str> {
    find(headers, PRE_SESSION_COOKIE).filter(|value| {
        value.len() == 22
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// How the session cookie is written: name, domain and Secure flag from `[session]`.
#[derive(Debug, Clone)]
pub struct CookieSpec {
    pub name: String,
    domain: Option<String>,
    secure: bool,
}

impl CookieSpec {
    pub fn session(config: &Config) -> Self {
        Self {
            name: config.session.cookie_name.clone(),
            domain: config.session.cookie_domain.clone(),
            secure: config.session.secure_cookie,
        }
    }

    /// `Set-Cookie` for a new session. Remembered sessions get a persistent cookie; the others
    /// end with the browser session (and on the server at their deadlines anyway).
    pub fn issue(&self, token: &str, remember_for_secs: Option<u64>) -> String {
        let mut cookie = self.base(token.to_owned());
        if let Some(secs) = remember_for_secs {
            cookie.set_max_age(CookieDuration::seconds(
                i64::try_from(secs).unwrap_or(i64::MAX),
            ));
        }
        cookie.to_string()
    }

    /// `Set-Cookie` that makes the browser forget the session cookie.
    pub fn expire(&self) -> String {
        let mut cookie = self.base(String::new());
        cookie.set_max_age(CookieDuration::ZERO);
        cookie.set_expires(cookie::time::OffsetDateTime::UNIX_EPOCH);
        cookie.to_string()
    }

    /// The login form's pre-session cookie: host-only, an hour.
    pub fn pre_session(&self, value: &str) -> String {
        self.host_only(PRE_SESSION_COOKIE, value, PRE_SESSION_LIFETIME_SECS)
    }

    pub fn expire_pre_session(&self) -> String {
        self.host_only(PRE_SESSION_COOKIE, "", 0)
    }

    /// The half-finished login of a TOTP user: host-only (only the portal reads it), and as
    /// long as the pending record lives.
    pub fn pending(&self, value: &str, lifetime_secs: i64) -> String {
        self.host_only(PENDING_COOKIE, value, lifetime_secs)
    }

    /// The device cookie for `value` (see `postern_core::device`): host-only, a year.
    pub fn device(&self, value: &str) -> String {
        self.host_only(DEVICE_COOKIE, value, DEVICE_COOKIE_LIFETIME_SECS)
    }

    pub fn expire_pending(&self) -> String {
        self.host_only(PENDING_COOKIE, "", 0)
    }

    /// The browser's side of its OAuth sign-ins: host-only, as long as a sign-in may take.
    /// SameSite=Lax still sends it on the provider's top-level redirect back to the callback.
    pub fn oauth(&self, value: &str, lifetime_secs: i64) -> String {
        self.host_only(OAUTH_COOKIE, value, lifetime_secs)
    }

    fn host_only(&self, name: &'static str, value: &str, max_age_secs: i64) -> String {
        let mut cookie = Cookie::build((name, value.to_owned()))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(self.secure)
            .build();
        cookie.set_max_age(CookieDuration::seconds(max_age_secs));
        cookie.to_string()
    }

    fn base(&self, value: String) -> Cookie<'static> {
        let mut cookie = Cookie::build((self.name.clone(), value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(self.secure)
            .build();
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        cookie
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn finds_a_cookie_across_headers() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; postern_session=abc"));
        headers.append(COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(find(&headers, "postern_session"), Some("abc"));
        assert_eq!(find(&headers, "b"), Some("2"));
        assert_eq!(find(&headers, "postern"), None);
        assert_eq!(find(&HeaderMap::new(), "a"), None);
    }
}
