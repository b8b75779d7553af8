//! Redirect validation: whatever the validator accepts is, as a browser reads it, on
//! `app_url`'s own host and port or on a host under the cookie domain, with an allowed scheme
//! and no user info, and it is accepted again as it stands.

use postern_core::redirect::RedirectPolicy;
use proptest::prelude::*;
use url::Url;

use postern_testkit::fuzz_config;

/// Portals: https and http, a port, a path; with and without a cookie domain.
fn policy() -> impl Strategy<Value = Portal> {
    (
        prop_oneof![
            Just("https://auth.example.com"),
            Just("http://auth.example.com:8080"),
            Just("https://portal.example.org/base/"),
            Just("http://127.0.0.1:3000"),
        ],
        prop_oneof![
            Just(None),
            Just(Some(".example.com")),
            Just(Some("example.com")),
            Just(Some("Example.ORG")),
        ],
    )
        .prop_map(|(app_url, domain)| Portal {
            policy: RedirectPolicy::new(Url::parse(app_url).unwrap(), domain.map(str::to_owned)),
            domain: domain.map(|domain| domain.trim_start_matches('.').to_ascii_lowercase()),
        })
}

#[derive(Debug, Clone)]
struct Portal {
    policy: RedirectPolicy,
    /// The cookie domain the policy was given, as a browser compares it.
    domain: Option<String>,
}

/// Targets built from the pieces open redirects are made of.
fn target() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(vec![
        "https://",
        "http://",
        "HTTPS://",
        "javascript:",
        "data:",
        "https:",
        "https:/",
        "https:\\\\",
        "//",
        "/\\",
        "\\\\",
        "/",
        "",
        " https://",
        "ht\ttps://",
        "ftp://",
    ]);
    let user = prop_oneof![
        3 => Just(""), 1 => Just("user@"), 1 => Just("a:b@"), 1 => Just("auth.example.com@"),
        1 => Just("@"),
    ];
    let host = prop::sample::select(vec![
        "auth.example.com",
        "AUTH.EXAMPLE.COM.",
        "app.example.com",
        "example.com",
        "example.com.evil.com",
        "evilexample.com",
        "evil.com",
        "portal.example.org",
        "x.example.org",
        "127.0.0.1",
        "[::1]",
        "0x7f.1",
        "auth.example.com%2eevil.com",
        "exam%70le.com",
        "ex\u{0430}mple.com",
        "xn--e1afmkfd.example.com",
        "%00",
        "",
        "example.com\\.evil.com",
    ]);
    let port = prop_oneof![3 => Just(""), 1 => Just(":443"), 1 => Just(":8080"), 1 => Just(":80"), 1 => Just(":3000"), 1 => Just(":")];
    let path = "(/[a-z.%\\\\@?#:]{0,6}){0,3}";
    (scheme, user, host, port, path)
        .prop_map(|(scheme, user, host, port, path)| format!("{scheme}{user}{host}{port}{path}"))
}

fn assert_allowed(portal: &Portal, accepted: &Url) {
    let policy = &portal.policy;
    // Read back the way the browser will: the serialised URL, parsed afresh.
    let reread = Url::parse(accepted.as_str()).unwrap();
    let app = policy.app_url();
    assert!(
        reread.scheme() == app.scheme() || (app.scheme() == "http" && reread.scheme() == "https"),
        "{accepted} changes the scheme"
    );
    assert!(
        reread.username().is_empty() && reread.password().is_none(),
        "{accepted} carries user info"
    );
    let host = reread
        .host_str()
        .unwrap()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let on_portal = app.host_str().is_some_and(|app_host| app_host == host)
        && reread.port_or_known_default() == app.port_or_known_default();
    let under_domain = portal
        .domain
        .as_deref()
        .is_some_and(|domain| host == domain || host.ends_with(&format!(".{domain}")));
    assert!(
        on_portal || under_domain,
        "{accepted} is neither on the portal nor under the cookie domain"
    );
}

proptest! {
    #![proptest_config(fuzz_config(1))]

    #[test]
    fn an_accepted_target_is_on_the_portal_or_under_the_cookie_domain(
        portal in policy(),
        raw in target(),
    ) {
        let policy = &portal.policy;
        if let Some(accepted) = policy.validate(&raw) {
            assert_allowed(&portal, &accepted);
            prop_assert_eq!(policy.validate(accepted.as_str()), Some(accepted.clone()));
        }
        let home = policy.target_or_home(Some(&raw));
        prop_assert!(home == *policy.app_url() || policy.validate(&raw) == Some(home));
    }

    #[test]
    fn any_text_is_answered(portal in policy(), raw in any::<String>()) {
        if let Some(accepted) = portal.policy.validate(&raw) {
            assert_allowed(&portal, &accepted);
        }
    }

    #[test]
    fn portal_paths_are_followed(portal in policy(), path in "/([a-z0-9._~-]{1,10}(/[a-z0-9]{0,5}){0,3})?") {
        let accepted = portal.policy.validate(&path);
        prop_assert!(accepted.is_some(), "{:?} refused", path);
        let accepted = accepted.unwrap();
        prop_assert_eq!(accepted.host_str(), portal.policy.app_url().host_str());
    }
}
