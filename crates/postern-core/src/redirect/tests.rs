use super::*;

fn policy() -> RedirectPolicy {
    RedirectPolicy::new(
        Url::parse("https://auth.example.com").unwrap(),
        Some("example.com".into()),
    )
}

#[test]
fn follows_the_portal_and_hosts_under_the_cookie_domain() {
    for good in [
        "https://auth.example.com/settings",
        "https://app.example.com/x?y=1",
        "https://example.com/",
        "https://deep.sub.example.com:8443/",
        "https://APP.EXAMPLE.COM/",
        "/dashboard",
    ] {
        assert!(
            policy().validate(good).is_some(),
            "{good:?} should be followed"
        );
    }
}

#[test]
fn refuses_open_redirect_vectors() {
    for evil in [
        "https://evil.com",
        "https://example.com.evil.com",
        "https://evilexample.com",
        "//evil.com",
        "/\\evil.com",
        "https:\\\\evil.com",
        "https:/\\evil.com",
        "\\\\evil.com",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "https://user@evil.com",
        "https://user:pw@app.example.com/",
        "data:text/html,<script>alert(1)</script>",
        "java\tscript:alert(1)",
        "https://app.example.com\r\nLocation: https://evil.com",
        "https://evil.com\n.example.com",
        "http://app.example.com/",
        "ftp://app.example.com/",
        "https://evil.com#.example.com",
        "https://evil.com?.example.com",
        "https://evil.com\\.example.com",
        "https://app.example.com@evil.com",
        "",
        " https://app.example.com",
    ] {
        assert!(
            policy().validate(evil).is_none(),
            "{evil:?} must not be followed"
        );
    }
}

#[test]
fn the_portal_host_needs_its_own_port_but_the_cookie_domain_takes_any() {
    let host_only = RedirectPolicy::new(Url::parse("http://localhost:3000").unwrap(), None);
    assert!(host_only.validate("http://localhost:3000/x").is_some());
    assert!(host_only.validate("http://localhost:4000/x").is_none());
    assert!(host_only.validate("http://127.0.0.1:3000/x").is_none());
    assert!(
        policy().validate("https://auth.example.com:444/").is_some(),
        "auth.example.com is under the cookie domain"
    );
}

#[test]
fn http_portals_may_send_to_https_but_not_back() {
    let plain = RedirectPolicy::new(
        Url::parse("http://auth.example.com").unwrap(),
        Some("example.com".into()),
    );
    assert!(plain.validate("https://app.example.com/").is_some());
    assert!(plain.validate("http://app.example.com/").is_some());
    assert!(policy().validate("http://app.example.com/").is_none());
}

#[test]
fn an_http_portal_follows_only_http_and_https() {
    let plain = RedirectPolicy::new(
        Url::parse("http://auth.example.com").unwrap(),
        Some("example.com".into()),
    );
    for other in [
        "ftp://app.example.com/",
        "ws://app.example.com/",
        "file://app.example.com/x",
    ] {
        assert!(plain.validate(other).is_none(), "{other}");
    }
}

#[test]
fn invalid_targets_land_on_the_portal() {
    assert_eq!(
        policy().target_or_home(Some("https://evil.com")).as_str(),
        "https://auth.example.com/"
    );
    assert_eq!(
        policy().target_or_home(None).as_str(),
        "https://auth.example.com/"
    );
    assert_eq!(
        policy()
            .target_or_home(Some("https://app.example.com/a"))
            .as_str(),
        "https://app.example.com/a"
    );
}

#[test]
fn targets_longer_than_4096_bytes_are_refused() {
    let target = |len: usize| {
        let base = "https://app.example.com/";
        format!("{base}{}", "a".repeat(len - base.len()))
    };
    assert!(policy().validate(&target(4096)).is_some());
    assert!(policy().validate(&target(4097)).is_none());
    assert!(policy().validate("").is_none());
}

#[test]
fn a_refusal_says_why_in_words() {
    assert_eq!(policy().refusal("https://app.example.com/"), None);
    let outside = policy().refusal("https://app.other.com/x").unwrap();
    assert!(
        outside.contains("app.other.com is outside the cookie domain example.com")
            && outside.contains("docs/configuration.md#cookie_domain-rules"),
        "{outside}"
    );
    let host_only = RedirectPolicy::new(Url::parse("http://localhost:3000").unwrap(), None);
    let other_port = host_only.refusal("http://localhost:8080/").unwrap();
    assert!(
        other_port.contains("http://localhost:8080 is not http://localhost:3000"),
        "{other_port}"
    );
    let downgrade = policy().refusal("http://app.example.com/").unwrap();
    assert!(downgrade.contains("uses http"), "{downgrade}");
    let junk = policy().refusal("javascript:alert(1)").unwrap();
    assert!(
        junk.contains("not one postern follows") && !junk.contains("alert"),
        "{junk}"
    );
}

/// A target with user info is refused before its host is looked at: the answer is the short
/// one, and it repeats neither the user name nor the password.
#[test]
fn a_refusal_of_a_target_with_user_info_is_the_short_one() {
    for raw in [
        "https://alice@app.example.com/",
        "https://alice:pw-1@app.example.com/",
        "https://:pw-1@app.example.com/",
    ] {
        let refusal = policy().refusal(raw).unwrap();
        assert!(
            refusal.contains("not one postern follows")
                && !refusal.contains("alice")
                && !refusal.contains("pw-1"),
            "{raw}: {refusal}"
        );
    }
}

#[test]
fn app_hosts_are_covered_under_the_cookie_domain_only() {
    assert!(policy().covers_app_host("app.example.com"));
    assert!(policy().covers_app_host("*.example.com"));
    assert!(policy().covers_app_host("example.com"));
    assert!(!policy().covers_app_host("app.other.com"));
    assert!(!policy().covers_app_host("*.notexample.com"));
    let host_only = RedirectPolicy::new(Url::parse("http://localhost:3000").unwrap(), None);
    assert!(host_only.covers_app_host("localhost"));
    assert!(!host_only.covers_app_host("app.localhost"));
}
