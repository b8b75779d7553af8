//! Reading cookies without building a jar (a reader needs the values of one name, in the
//! order the browser sent them), and writing the ones postern sets: the session cookie, the
//! login form's pre-session cookie, the pending-login cookie of a TOTP user between password
//! and code, the device cookie, and the cookie that binds an OAuth sign-in to its browser.

use cookie::time::Duration as CookieDuration;
use cookie::{Cookie, SameSite};
use http::HeaderMap;
use http::header::COOKIE;
use postern_core::config::Config;
use postern_core::headers::{self, RequestHeaders};

pub use postern_core::csrf::PRE_SESSION_COOKIE;
pub use postern_core::device::DEVICE_COOKIE;
use postern_core::device::{DEVICE_COOKIE_LIFETIME_SECS, DeviceKey};
const PRE_SESSION_LIFETIME_SECS: i64 = 3600;
/// Holds the token of a pending login (password checked, TOTP code not yet).
pub const PENDING_COOKIE: &str = "postern_pending";
/// Binds a sign-in through an OAuth provider to the browser that started it.
pub const OAUTH_COOKIE: &str = "postern_oauth";

/// `read` of the first value of cookie `name` that it reads as `Some`. A browser sends every
/// cookie of a name it holds (another path's, a stale one, one a sibling subdomain set), in
/// an order postern does not choose: a malformed one first must not hide the one postern set.
pub fn find_map<'a, T>(
    headers: &'a HeaderMap,
    name: &str,
    read: impl Fn(&'a str) -> Option<T>,
) -> Option<T> {
    values(headers, name).find_map(read)
}

/// The most well-formed device cookies a sign-in verifies. A browser holds one; others of the
/// name (a sibling host's, for the parent domain, on a longer path so they come first) must
/// not hide it, and a request that carries many costs no more than 16 signature checks each
/// time its attempt is counted (a few microseconds each, beside the password hash's
/// milliseconds). A host that can set cookies for the parent domain can still plant 16 of the
/// right shape: such hosts are trusted (docs/security.md, "Hosts under the cookie domain").
const MOST_DEVICE_COOKIES: usize = 16;

/// The request's first well-formed `postern_device` values (junk does not count against the
/// bound), for `credentials::account_counter`, which counts a sign-in on the device of the
/// first one signed for the user.
pub fn device_cookies(headers: &HeaderMap) -> Vec<&str> {
    values(headers, DEVICE_COOKIE)
        .filter(|cookie| DeviceKey::well_formed(cookie))
        .take(MOST_DEVICE_COOKIES)
        .collect()
}

/// Every value of cookie `name` across all `Cookie` headers, in the order the browser sent
/// them.
pub fn values<'a>(
    headers: impl Into<RequestHeaders<'a>>,
    name: &str,
) -> impl Iterator<Item = &'a str> {
    headers
        .into()
        .all(&COOKIE)
        .filter_map(headers::text)
        .flat_map(pairs)
        .filter_map(|pair| split_at_byte(pair.trim_ascii(), b'='))
        .filter(move |(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// The `name=value` pairs of one `Cookie` line. Split by a byte scan, not `str::split(';')`:
/// a character pattern costs a `memchr` call and a searcher per split, which was 390 of a
/// check's 26,000 instructions under callgrind (docs/performance.md) for a one-cookie line.
fn pairs(line: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let text = rest?;
        match split_at_byte(text, b';') {
            Some((pair, after)) => {
                rest = Some(after);
                Some(pair)
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// `text` around the first `byte` (ASCII, so both sides are whole characters).
fn split_at_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = text.bytes().position(|b| b == byte)?;
    Some((&text[..at], &text[at + 1..]))
}

/// The login page's pre-session cookie, when well formed (16 random bytes, base64url): the
/// login form's CSRF token and a passwordless passkey sign-in are bound to it. The page and
/// the form's check both read it here, so they always agree on which one it is.
pub fn pre_session(headers: &HeaderMap) -> Option<&str> {
    find_map(headers, PRE_SESSION_COOKIE, |value| {
        let well_formed = value.len() == 22
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then_some(value)
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
        let first =
            |headers: &HeaderMap, name: &str| values(headers, name).next().map(str::to_owned);
        assert_eq!(first(&headers, "postern_session").as_deref(), Some("abc"));
        assert_eq!(first(&headers, "b").as_deref(), Some("2"));
        assert_eq!(first(&headers, "postern"), None);
        assert_eq!(first(&HeaderMap::new(), "a"), None);
    }

    fn with_pre_session(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let line = format!("{PRE_SESSION_COOKIE}={value}");
        headers.insert(COOKIE, HeaderValue::from_str(&line).unwrap());
        headers
    }

    #[test]
    fn a_pre_session_cookie_is_22_base64url_characters() {
        for good in [
            "abcdefghijklmnopqrstuv",
            "ABCXYZ0123456789-_-_az",
            "__________------------",
        ] {
            assert_eq!(pre_session(&with_pre_session(good)), Some(good));
        }
        for bad in [
            "abcdefghijklmnopqrstu",   // 21
            "abcdefghijklmnopqrstuvw", // 23
            "abcdefghijklmnopqrstu+",
            "abcdefghijklmnopqrstu/",
            "abcdefghijklmnopqrstu.",
            "abcdefghijklmnopqrst%3D",
            "",
        ] {
            assert_eq!(pre_session(&with_pre_session(bad)), None, "{bad}");
        }
        assert_eq!(pre_session(&HeaderMap::new()), None);
    }

    fn spec(domain: Option<&str>) -> CookieSpec {
        CookieSpec {
            name: "postern_session".to_owned(),
            domain: domain.map(str::to_owned),
            secure: true,
        }
    }

    /// A `Set-Cookie` value as a browser reads it.
    fn parsed(set_cookie: &str) -> Cookie<'static> {
        Cookie::parse(set_cookie.to_owned()).unwrap()
    }

    /// Every cookie postern sets is HttpOnly, SameSite=Lax, on `/`, Secure as configured.
    fn assert_guarded(cookie: &Cookie<'_>, secure: bool) {
        assert_eq!(cookie.http_only(), Some(true), "{cookie}");
        assert_eq!(cookie.same_site(), Some(SameSite::Lax), "{cookie}");
        assert_eq!(cookie.path(), Some("/"), "{cookie}");
        assert_eq!(cookie.secure().unwrap_or(false), secure, "{cookie}");
    }

    #[test]
    fn the_session_cookie_carries_the_token_on_the_configured_domain() {
        let session = parsed(&spec(Some("example.com")).issue("tok3n", None));
        assert_eq!(
            (session.name(), session.value()),
            ("postern_session", "tok3n")
        );
        assert_guarded(&session, true);
        assert_eq!(session.domain(), Some("example.com"));
        assert_eq!(session.max_age(), None, "ends with the browser session");
        let remembered = parsed(&spec(None).issue("tok3n", Some(30 * 86_400)));
        assert_eq!(remembered.max_age(), Some(CookieDuration::days(30)));
        assert_eq!(
            remembered.domain(),
            None,
            "host-only without a cookie_domain"
        );
        let expired = parsed(&spec(Some("example.com")).expire());
        assert_eq!((expired.name(), expired.value()), ("postern_session", ""));
        assert_guarded(&expired, true);
        assert_eq!(expired.domain(), Some("example.com"));
        assert_eq!(expired.max_age(), Some(CookieDuration::ZERO));
        assert_eq!(
            expired.expires_datetime(),
            Some(cookie::time::OffsetDateTime::UNIX_EPOCH)
        );
    }

    #[test]
    fn the_portal_s_own_cookies_are_host_only_with_their_lifetimes() {
        let spec = CookieSpec {
            secure: false,
            ..spec(Some("example.com"))
        };
        let cases = [
            (spec.pre_session("p"), PRE_SESSION_COOKIE, "p", 3600),
            (spec.expire_pre_session(), PRE_SESSION_COOKIE, "", 0),
            (spec.pending("q", 300), PENDING_COOKIE, "q", 300),
            (spec.expire_pending(), PENDING_COOKIE, "", 0),
            (spec.device("d"), DEVICE_COOKIE, "d", 365 * 86_400),
            (spec.oauth("o", 600), OAUTH_COOKIE, "o", 600),
        ];
        for (set_cookie, name, value, max_age) in cases {
            let cookie = parsed(&set_cookie);
            assert_eq!((cookie.name(), cookie.value()), (name, value));
            assert_guarded(&cookie, false);
            assert_eq!(cookie.domain(), None, "{set_cookie}");
            assert_eq!(cookie.max_age(), Some(CookieDuration::seconds(max_age)));
        }
    }
}
