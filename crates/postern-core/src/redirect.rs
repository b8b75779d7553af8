//! Where postern may send a browser after login or logout. A `redirect_uri` is followed only to
//! `app_url`'s own host and port, or to hosts under the cookie domain (any port); the scheme
//! must match `app_url`'s unless it upgrades http to https. Anything else lands on `app_url`.
//! URLs are parsed the way browsers parse them (WHATWG), so `https:\\evil.com` and `/\evil.com`
//! mean here what they mean to the browser that will follow them.

use url::Url;

#[derive(Debug, Clone)]
pub struct RedirectPolicy {
    app_url: Url,
    cookie_domain: Option<String>,
}

impl RedirectPolicy {
    /// `cookie_domain` is `None` when the cookie is host-only (IP or `localhost` portals).
    pub fn new(app_url: Url, cookie_domain: Option<String>) -> Self {
        let cookie_domain = cookie_domain.map(|d| d.trim_start_matches('.').to_ascii_lowercase());
        Self {
            app_url,
            cookie_domain,
        }
    }

    pub fn app_url(&self) -> &Url {
        &self.app_url
    }

    /// The validated target, or `None` when it must not be followed.
    pub fn validate(&self, raw: &str) -> Option<Url> {
        // Browsers silently drop tabs and newlines inside URLs (`java\tscript:`); refuse them
        // and every other control character or space instead of guessing.
        if raw.is_empty() || raw.len() > 4096 || raw.chars().any(|c| c.is_control() || c == ' ') {
            return None;
        }
        let target = if raw.starts_with('/') {
            // A path on the portal itself. `//host` and `/\host` are other hosts to a browser;
            // joining resolves them exactly as a browser would, and the host check below applies.
            self.app_url.join(raw).ok()?
        } else {
            Url::parse(raw).ok()?
        };
        self.is_allowed(&target).then_some(target)
    }

    /// The validated target, else `app_url`.
    pub fn target_or_home(&self, raw: Option<&str>) -> Url {
        raw.and_then(|raw| self.validate(raw))
            .unwrap_or_else(|| self.app_url.clone())
    }

    fn is_allowed(&self, target: &Url) -> bool {
        let scheme_ok = target.scheme() == self.app_url.scheme()
            || (self.app_url.scheme() == "http" && target.scheme() == "https");
        if !scheme_ok || !target.username().is_empty() || target.password().is_some() {
            return false;
        }
        let Some(host) = target.host_str() else {
            return false;
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let same_origin_host = self
            .app_url
            .host_str()
            .is_some_and(|app_host| app_host.eq_ignore_ascii_case(&host))
            && target.port_or_known_default() == self.app_url.port_or_known_default();
        let under_cookie_domain = self.cookie_domain.as_deref().is_some_and(|domain| {
            host == domain
                || host
                    .strip_suffix(domain)
                    .is_some_and(|rest| rest.ends_with('.'))
        });
        same_origin_host || under_cookie_domain
    }
}

#[cfg(test)]
mod tests;
