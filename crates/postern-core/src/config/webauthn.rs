//! `[webauthn]`: the relying party passkeys are bound to. Its id is the domain a passkey
//! belongs to (browsers offer it on that domain and its subdomains only), so it must contain
//! the host postern serves the sign-in pages on; `config check` refuses one that does not.

use url::{Host, Url};

use super::defaults;
use super::raw::RawWebauthn;

/// `[webauthn]` after validation: every default applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnConfig {
    /// The relying party id: `app_url`'s host or a parent domain of it.
    pub rp_id: String,
    /// Shown by the browser and the authenticator when a passkey is made.
    pub rp_name: String,
    /// The origins a ceremony may come from (`clientDataJSON.origin`), each inside `rp_id`.
    pub origins: Vec<Url>,
    pub user_verification: UserVerification,
    /// "Sign in with a passkey" on `/login` and passkey autofill (discoverable credentials).
    pub passwordless: bool,
    pub attestation: Attestation,
}

/// Whether the authenticator must check who holds it (PIN, biometrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserVerification {
    Required,
    Preferred,
    Discouraged,
}

impl UserVerification {
    pub fn name(self) -> &'static str {
        match self {
            Self::Required => "required",
            Self::Preferred => "preferred",
            Self::Discouraged => "discouraged",
        }
    }
}

/// Which attestation statement registration asks the authenticator for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attestation {
    None,
    Indirect,
    Direct,
}

/// `cookie_domain` is the validated `session.cookie_domain` (`None`: host-only).
pub(super) fn webauthn(
    raw: RawWebauthn,
    app_url: &Url,
    cookie_domain: Option<&str>,
    ui_title: &str,
    problems: &mut Vec<String>,
) -> Option<WebauthnConfig> {
    let host = app_url.host_str().unwrap_or_default().to_ascii_lowercase();
    let rp_id = match raw.rp_id {
        Some(given) => given.trim().trim_end_matches('.').to_ascii_lowercase(),
        None => cookie_domain.map_or_else(|| host.clone(), str::to_owned),
    };
    let mut fine = true;
    if !is_within(&host, &rp_id) {
        problems.push(format!(
            "`webauthn.rp_id` = {rp_id:?} must be app_url's host `{host}` or a parent domain of it: browsers offer a passkey only inside its rp_id"
        ));
        fine = false;
    } else if rp_id != host && !rp_id.contains('.') {
        problems.push(format!(
            "`webauthn.rp_id` = {rp_id:?} is a top-level domain; use `{host}` or a parent domain with at least two labels"
        ));
        fine = false;
    }
    let origins = match raw.origins {
        Some(given) => given
            .iter()
            .filter_map(|text| origin(text, &rp_id, problems))
            .collect(),
        None => vec![app_url_origin(app_url)],
    };
    if origins.is_empty() {
        problems.push("`webauthn.origins` must name at least one origin".into());
        fine = false;
    }
    let user_verification = match raw
        .user_verification
        .unwrap_or_else(|| defaults::text("webauthn.user_verification"))
        .as_str()
    {
        "required" => UserVerification::Required,
        "preferred" => UserVerification::Preferred,
        "discouraged" => UserVerification::Discouraged,
        other => {
            problems.push(format!(
                "`webauthn.user_verification` = {other:?} must be \"required\", \"preferred\" or \"discouraged\""
            ));
            return None;
        }
    };
    let attestation = match raw
        .attestation
        .unwrap_or_else(|| defaults::text("webauthn.attestation"))
        .as_str()
    {
        "none" => Attestation::None,
        "indirect" => Attestation::Indirect,
        "direct" => Attestation::Direct,
        other => {
            problems.push(format!(
                "`webauthn.attestation` = {other:?} must be \"none\", \"indirect\" or \"direct\""
            ));
            return None;
        }
    };
    let rp_name = raw
        .rp_name
        .filter(|name| !name.trim().is_empty())
        .unwrap_or_else(|| ui_title.to_owned());
    fine.then_some(WebauthnConfig {
        rp_id,
        rp_name,
        origins,
        user_verification,
        passwordless: raw
            .passwordless
            .unwrap_or_else(|| defaults::bool("webauthn.passwordless")),
        attestation,
    })
}

/// True when `host` is `domain` or a subdomain of it (label-wise: `myexample.com` is not
/// inside `example.com`).
fn is_within(host: &str, domain: &str) -> bool {
    !domain.is_empty()
        && (host == domain
            || host
                .strip_suffix(domain)
                .is_some_and(|prefix| prefix.ends_with('.')))
}

/// `app_url` without its trailing slash, as a browser writes an origin.
fn app_url_origin(app_url: &Url) -> Url {
    let mut origin = app_url.clone();
    origin.set_path("");
    origin
}

fn origin(text: &str, rp_id: &str, problems: &mut Vec<String>) -> Option<Url> {
    let mut refuse = |why: &str| {
        problems.push(format!("`webauthn.origins`: {text:?} {why}"));
        None
    };
    let Ok(url) = Url::parse(text.trim()) else {
        return refuse("is not a URL such as https://auth.example.com");
    };
    if !matches!(url.scheme(), "http" | "https") {
        return refuse("must start with https:// (or http:// for local testing)");
    }
    let host = match url.host() {
        Some(Host::Domain(domain)) => domain.to_ascii_lowercase(),
        Some(Host::Ipv4(_) | Host::Ipv6(_)) | None => url.host_str().unwrap_or_default().into(),
    };
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return refuse("must be an origin, without a path, query or fragment");
    }
    if !is_within(&host, rp_id) {
        return refuse(&format!(
            "is not inside the rp_id `{rp_id}`: a browser refuses such a pair"
        ));
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(
        raw: RawWebauthn,
        app_url: &str,
        cookie_domain: Option<&str>,
    ) -> Result<WebauthnConfig, Vec<String>> {
        let mut problems = Vec::new();
        let url = Url::parse(app_url).unwrap();
        let config = webauthn(raw, &url, cookie_domain, "postern", &mut problems);
        match config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(problems),
        }
    }

    #[test]
    fn defaults_follow_the_cookie_domain_and_app_url() {
        let config = check(
            RawWebauthn::default(),
            "https://auth.example.com",
            Some("example.com"),
        )
        .unwrap();
        assert_eq!(config.rp_id, "example.com");
        assert_eq!(config.rp_name, "postern");
        assert_eq!(config.origins[0].as_str(), "https://auth.example.com/");
        assert_eq!(config.user_verification, UserVerification::Preferred);
        assert!(config.passwordless);
        assert_eq!(config.attestation, Attestation::None);
        let host_only = check(RawWebauthn::default(), "http://localhost:3000", None).unwrap();
        assert_eq!(host_only.rp_id, "localhost");
    }

    #[test]
    fn an_rp_id_outside_app_url_is_refused() {
        for rp_id in [
            "other.com",
            "myexample.com",
            "com",
            "auth.example.com.evil.org",
        ] {
            let raw = RawWebauthn {
                rp_id: Some(rp_id.into()),
                ..RawWebauthn::default()
            };
            let problems = check(raw, "https://auth.example.com", None).unwrap_err();
            assert!(
                problems[0].contains("webauthn.rp_id"),
                "{rp_id}: {problems:?}"
            );
        }
        let inside = RawWebauthn {
            rp_id: Some("Auth.Example.com".into()),
            ..RawWebauthn::default()
        };
        assert_eq!(
            check(inside, "https://auth.example.com", None)
                .unwrap()
                .rp_id,
            "auth.example.com"
        );
    }

    #[test]
    fn origins_must_be_origins_inside_the_rp_id() {
        let raw = RawWebauthn {
            origins: Some(vec![
                "https://login.example.com".into(),
                "https://evil.org".into(),
                "https://auth.example.com/path".into(),
                "nonsense".into(),
            ]),
            ..RawWebauthn::default()
        };
        let problems = check(raw, "https://auth.example.com", Some("example.com")).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        for expected in ["evil.org", "/path", "nonsense"] {
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected}: {problems:?}"
            );
        }
    }

    #[test]
    fn unknown_choices_are_refused() {
        let raw = RawWebauthn {
            user_verification: Some("always".into()),
            ..RawWebauthn::default()
        };
        assert!(
            check(raw, "https://auth.example.com", None).unwrap_err()[0]
                .contains("user_verification")
        );
        let raw = RawWebauthn {
            attestation: Some("enterprise".into()),
            ..RawWebauthn::default()
        };
        assert!(
            check(raw, "https://auth.example.com", None).unwrap_err()[0].contains("attestation")
        );
    }
}
