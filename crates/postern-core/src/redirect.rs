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

    /// Why `raw` would not be followed, in words for the person signing in and for the log;
    /// `None` when it would be. A target the browser itself would refuse to treat as a web
    /// address gets a short answer; one on a real host that a sign-in here cannot cover
    /// names that host and the cookie domain.
    pub fn refusal(&self, raw: &str) -> Option<String> {
        if self.validate(raw).is_some() {
            return None;
        }
        let portal = self.app_url.origin().ascii_serialization();
        let target = Url::parse(raw).ok().filter(|target| {
            matches!(target.scheme(), "http" | "https")
                && target.username().is_empty()
                && target.password().is_none()
        });
        let Some((target, host)) = target.and_then(|target| {
            let host = target.host_str()?.to_ascii_lowercase();
            Some((target, host))
        }) else {
            return Some(format!(
                "the return address is not one postern follows, so you will land on {portal} \
                 (see docs/api.md#redirect_uri-rules)"
            ));
        };
        if target.scheme() == "http" && self.app_url.scheme() == "https" {
            return Some(format!(
                "{} uses http while postern uses https, so you will land on {portal} \
                 (see docs/api.md#redirect_uri-rules)",
                target.origin().ascii_serialization()
            ));
        }
        Some(match &self.cookie_domain {
            Some(domain) => format!(
                "{host} is outside the cookie domain {domain}, so a sign-in at {portal} does \
                 not reach it and you will land on {portal} (see \
                 docs/configuration.md#cookie_domain-rules)"
            ),
            None => format!(
                "{} is not {portal}: with app_url on a single-label host or an IP address a \
                 sign-in covers only that address, so you will land on {portal} (see \
                 docs/configuration.md#cookie_domain-rules)",
                target.origin().ascii_serialization()
            ),
        })
    }

    /// Whether a sign-in covers the hosts an `[[apps]]` pattern names (`*.` for all under
    /// it): they are under the cookie domain, or the portal's own host.
    pub fn covers_app_host(&self, pattern: &str) -> bool {
        let host = pattern
            .trim_start_matches("*.")
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let portal_host = self.app_url.host_str().unwrap_or_default();
        match &self.cookie_domain {
            Some(domain) => {
                host == *domain
                    || host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            }
            None => !pattern.starts_with("*.") && host.eq_ignore_ascii_case(portal_host),
        }
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
