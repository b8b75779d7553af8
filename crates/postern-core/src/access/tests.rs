//! Table tests for every rule, their combinations, and the bypass attempts that broke peers.

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Deserialize;

use super::*;
use crate::forwarded::{OwnRequest, ProxyKind};
use crate::users::{User, UserTable};

#[derive(Deserialize)]
struct Rules {
    #[serde(default)]
    apps: Vec<RawApp>,
    #[serde(default)]
    access: RawAccess,
}

fn users() -> UserTable {
    let user = |name: &str, groups: &[&str]| {
        User::new(
            name.into(),
            "$argon2id$unused".into(),
            String::new(),
            String::new(),
            groups.iter().map(|group| (*group).to_owned()).collect(),
            None,
        )
    };
    UserTable::new([
        user("alice", &["admins"]),
        user("bob", &["dev"]),
        user("carol", &[]),
        user("Émile", &[]),
    ])
}

fn try_rules(toml_text: &str) -> Result<AccessRules, Vec<String>> {
    let raw: Rules = toml::from_str(toml_text).expect("test TOML parses");
    let mut problems = Vec::new();
    let rules = build(raw.apps, &raw.access, &users(), &[], None, &mut problems);
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems)
    }
}

fn rules(toml_text: &str) -> AccessRules {
    try_rules(toml_text).expect("rules are valid")
}

fn problems(toml_text: &str) -> Vec<String> {
    try_rules(toml_text).expect_err("rules are refused")
}

/// The target as traefik describes it: `url` is `scheme://host[:port]/path?query`.
fn target(method: &str, url: &str) -> ForwardedRequest {
    let (scheme, rest) = url.split_once("://").expect("test URL has a scheme");
    let (authority, uri) = rest.find('/').map_or((rest, "/"), |at| rest.split_at(at));
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-forwarded-method", method),
        ("x-forwarded-proto", scheme),
        ("x-forwarded-host", authority),
        ("x-forwarded-uri", uri),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("test header value"),
        );
    }
    let own = OwnRequest {
        method: &Method::GET,
        authority: None,
        envoy_path: "",
    };
    ForwardedRequest::from_headers(ProxyKind::Traefik, &headers, &own).expect("test target parses")
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test IP")
}

const OUTSIDE: &str = "203.0.113.9";

/// Phase one for a GET from an outside address.
fn gate(rules: &AccessRules, url: &str) -> Gate {
    gate_from(rules, "GET", url, OUTSIDE)
}

fn gate_from(rules: &AccessRules, method: &str, url: &str, client: &str) -> Gate {
    let target = target(method, url);
    rules.gate(
        rules.app_for(&target.host),
        &target,
        ip(client),
        &mut NoTrace,
    )
}

/// Phase two for a user of `users()`.
fn admit(rules: &AccessRules, url: &str, user: &str, level: AuthLevel) -> Result<(), Reason> {
    let table = users();
    let groups = table
        .get(user)
        .map(|user| user.groups.clone())
        .unwrap_or_default();
    let target = target("GET", url);
    let subject = Subject {
        user,
        groups: &groups,
        level,
        provider: None,
    };
    rules.admit(rules.app_for(&target.host), subject, &mut NoTrace)
}

fn app_name(rules: &AccessRules, url: &str) -> Option<String> {
    let target = target("GET", url);
    rules.app_for(&target.host).map(|app| app.name.clone())
}

// ---- hosts ----

const HOSTS: &str = r#"
[[apps]]
name = "exact"
host = "grafana.example.com"
[[apps]]
name = "wild"
host = "*.example.com"
[[apps]]
name = "dev"
host = "*.dev.example.com"
[[apps]]
name = "dev-exact"
host = "api.dev.example.com"
"#;

#[test]
fn the_most_specific_host_wins() {
    let rules = rules(HOSTS);
    let cases = [
        ("https://grafana.example.com/", Some("exact")),
        ("https://other.example.com/", Some("wild")),
        ("https://a.b.example.com/", Some("wild")),
        ("https://x.dev.example.com/", Some("dev")),
        ("https://deep.x.dev.example.com/", Some("dev")),
        ("https://api.dev.example.com/", Some("dev-exact")),
        // A wildcard covers subdomains only, not the domain itself.
        ("https://example.com/", None),
        ("https://example.org/", None),
        ("https://grafana.example.com.evil.org/", None),
    ];
    for (url, expected) in cases {
        assert_eq!(app_name(&rules, url).as_deref(), expected, "{url}");
    }
}

#[test]
fn hosts_match_after_canonicalisation() {
    let rules = rules(HOSTS);
    for url in [
        "https://GRAFANA.Example.COM/",
        "https://grafana.example.com./",
        "https://grafana.example.com:8443/",
        "https://Grafana.Example.Com.:443/",
    ] {
        assert_eq!(app_name(&rules, url).as_deref(), Some("exact"), "{url}");
    }
}

#[test]
fn unicode_and_punycode_hosts_are_one_host() {
    let unicode =
        rules("[[apps]]\nname = \"cafe\"\nhost = \"café.example.com\"\npolicy = \"deny\"\n");
    assert_eq!(
        app_name(&unicode, "https://xn--caf-dma.example.com/").as_deref(),
        Some("cafe")
    );
    assert_eq!(
        gate(&unicode, "https://XN--CAF-DMA.example.com./"),
        Gate::Refuse(Reason::Denied)
    );
    // Browsers send the punycode form; a config may use either.
    let punycode = rules("[[apps]]\nname = \"cafe\"\nhost = \"XN--CAF-DMA.example.com\"\n");
    assert_eq!(
        app_name(&punycode, "https://xn--caf-dma.example.com/").as_deref(),
        Some("cafe")
    );
}

// ---- policies and the default ----

#[test]
fn the_default_policy_decides_unmatched_hosts() {
    let allow = rules("");
    assert_eq!(gate(&allow, "https://any.example.com/"), Gate::NeedsSession);
    assert_eq!(
        admit(
            &allow,
            "https://any.example.com/",
            "carol",
            AuthLevel::OneFactor
        ),
        Ok(())
    );
    let deny = rules("[access]\ndefault_policy = \"deny\"\n");
    assert_eq!(
        gate(&deny, "https://any.example.com/"),
        Gate::Refuse(Reason::Denied)
    );
}

#[test]
fn an_app_without_policy_abstains_to_the_default() {
    let app = "[[apps]]\nhost = \"a.example.com\"\n";
    assert_eq!(
        gate(&rules(app), "https://a.example.com/"),
        Gate::NeedsSession
    );
    let denied = format!("[access]\ndefault_policy = \"deny\"\n{app}");
    assert_eq!(
        gate(&rules(&denied), "https://a.example.com/"),
        Gate::Refuse(Reason::Denied)
    );
    // An app's own policy overrides a deny default.
    let own = format!("[access]\ndefault_policy = \"deny\"\n{app}policy = \"one_factor\"\n");
    assert_eq!(
        gate(&rules(&own), "https://a.example.com/"),
        Gate::NeedsSession
    );
}

#[test]
fn each_policy_does_what_it_says() {
    let policy = |name: &str| {
        rules(&format!(
            "[[apps]]\nhost = \"a.example.com\"\npolicy = \"{name}\"\n"
        ))
    };
    let url = "https://a.example.com/";
    assert_eq!(gate(&policy("bypass"), url), Gate::Bypass);
    assert_eq!(gate(&policy("deny"), url), Gate::Refuse(Reason::Denied));
    assert_eq!(gate(&policy("one_factor"), url), Gate::NeedsSession);
    assert_eq!(
        admit(&policy("one_factor"), url, "carol", AuthLevel::OneFactor),
        Ok(())
    );
    assert_eq!(gate(&policy("two_factor"), url), Gate::NeedsSession);
    assert_eq!(
        admit(&policy("two_factor"), url, "carol", AuthLevel::OneFactor),
        Err(Reason::SecondFactor)
    );
    assert_eq!(
        admit(&policy("two_factor"), url, "carol", AuthLevel::TwoFactor),
        Ok(())
    );
}

// ---- subjects ----

const SUBJECTS: &str = r#"
[[apps]]
host = "users.example.com"
allow_users = ["alice", "Bob"]
[[apps]]
host = "groups.example.com"
allow_groups = ["admins"]
[[apps]]
host = "either.example.com"
allow_users = ["carol"]
allow_groups = ["admins"]
[[apps]]
host = "deny.example.com"
deny_users = ["bob"]
[[apps]]
host = "both.example.com"
allow_groups = ["admins", "dev"]
deny_users = ["bob"]
[[apps]]
host = "strict.example.com"
policy = "two_factor"
allow_groups = ["admins"]
"#;

#[test]
fn user_and_group_rules_combine() {
    let rules = rules(SUBJECTS);
    let one = AuthLevel::OneFactor;
    let cases = [
        ("users", "alice", Ok(())),
        ("users", "bob", Ok(())),
        ("users", "carol", Err(Reason::User)),
        ("groups", "alice", Ok(())),
        ("groups", "bob", Err(Reason::User)),
        ("either", "carol", Ok(())),
        ("either", "alice", Ok(())),
        ("either", "bob", Err(Reason::User)),
        ("deny", "bob", Err(Reason::User)),
        ("deny", "carol", Ok(())),
        // deny_users wins over a group that allows.
        ("both", "bob", Err(Reason::User)),
        ("both", "alice", Ok(())),
        // Not allowed at all is said before "add a second factor".
        ("strict", "bob", Err(Reason::User)),
        ("strict", "alice", Err(Reason::SecondFactor)),
    ];
    for (app, user, expected) in cases {
        let url = format!("https://{app}.example.com/");
        assert_eq!(admit(&rules, &url, user, one), expected, "{app} / {user}");
    }
    assert_eq!(
        admit(
            &rules,
            "https://strict.example.com/",
            "alice",
            AuthLevel::TwoFactor
        ),
        Ok(())
    );
}

// ---- networks ----

const NETWORKS: &str = r#"
[[apps]]
host = "office.example.com"
allow_ips = ["10.0.0.0/8", "2001:db8::/32"]
deny_ips = ["10.6.6.0/24"]
bypass_ips = ["10.1.0.0/16"]
"#;

#[test]
fn network_rules_in_order_deny_bypass_allow() {
    let rules = rules(NETWORKS);
    let url = "https://office.example.com/";
    let cases = [
        ("10.6.6.6", Gate::Refuse(Reason::Network)),
        ("10.1.2.3", Gate::Bypass),
        ("10.9.9.9", Gate::NeedsSession),
        ("2001:db8::1", Gate::NeedsSession),
        // IPv4-mapped IPv6 is the IPv4 address.
        ("::ffff:10.9.9.9", Gate::NeedsSession),
        ("::ffff:10.6.6.1", Gate::Refuse(Reason::Network)),
        (OUTSIDE, Gate::Refuse(Reason::Network)),
        ("2001:db9::1", Gate::Refuse(Reason::Network)),
    ];
    for (client, expected) in cases {
        assert_eq!(gate_from(&rules, "GET", url, client), expected, "{client}");
    }
}

#[test]
fn a_mapped_network_in_the_rules_matches_ipv4_clients() {
    let rules =
        rules("[[apps]]\nhost = \"a.example.com\"\ndeny_ips = [\"::ffff:10.66.0.0/112\"]\n");
    assert_eq!(
        gate_from(&rules, "GET", "https://a.example.com/", "10.66.1.2"),
        Gate::Refuse(Reason::Network)
    );
    assert_eq!(
        gate_from(&rules, "GET", "https://a.example.com/", "::ffff:10.66.1.2"),
        Gate::Refuse(Reason::Network)
    );
    assert_eq!(
        gate_from(&rules, "GET", "https://a.example.com/", "10.67.1.2"),
        Gate::NeedsSession
    );
}

#[test]
fn a_denied_network_loses_even_on_a_bypass_app() {
    let rules = rules(
        "[[apps]]\nhost = \"a.example.com\"\npolicy = \"bypass\"\ndeny_ips = [\"192.0.2.0/24\"]\n",
    );
    assert_eq!(
        gate_from(&rules, "GET", "https://a.example.com/", "192.0.2.7"),
        Gate::Refuse(Reason::Network)
    );
    assert_eq!(gate(&rules, "https://a.example.com/"), Gate::Bypass);
}

// ---- public paths and their bypass attempts ----

const MEDIA: &str = r#"
[[apps]]
host = "media.example.com"
public_paths = ["/share/[A-Za-z0-9]+", "/public(/.*)?", "/[b-z].*"]
"#;

#[test]
fn public_paths_let_listed_paths_through() {
    let rules = rules(MEDIA);
    for path in [
        "/share/abc123",
        "/public",
        "/public/logo.png",
        "/videos",
        "/share/%61bc",
    ] {
        assert_eq!(
            gate(&rules, &format!("https://media.example.com{path}")),
            Gate::Bypass,
            "{path}"
        );
    }
}

#[test]
fn public_paths_resist_the_classic_bypasses() {
    let rules = rules(MEDIA);
    let attempts = [
        // Dot segments are resolved before matching.
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/share/abc/../../admin",
        // Even inside the prefix: routers that match the raw path (Express, Koa) serve
        // `/admin` for `/admin/../public/x`, which resolves to `/public/x`.
        "/public/a/../b",
        "/admin/../public/x",
        "/admin/%2e%2e/public/x",
        "/public/./x",
        // Merged slashes: `//admin` is `/admin`, not a path under some other root.
        "//admin",
        // Decoded once: `/%61dmin` is `/admin`, which the `/[b-z].*` rule does not cover.
        "/%61dmin",
        // An encoded slash makes the path never public.
        "/public%2F..%2Fadmin",
        "/admin%2F",
        "/videos%2F..%2Fadmin",
        // What other servers read as separators is never public either (canonical.rs).
        "/public/..;/admin",
        "/public/..%5Cadmin",
        "/public/..\\admin",
        "/public/%252e%252e/admin",
        "/videos;x/../../admin",
        // The query is not part of the path.
        "/admin?x=/public",
        "/admin?/public",
        // Anchored: a public pattern must match the whole path.
        "/admin/public",
        "/admin/share/abc",
        "/a/share/abc",
        "/admin#/public",
        // A raw `#` (which nginx forwards): the rules would see `/public/x`, a server that
        // takes `#` as text `/admin`.
        "/public/x#/../../admin",
        "/share/abc#/../../admin",
    ];
    for path in attempts {
        assert_eq!(
            gate(&rules, &format!("https://media.example.com{path}")),
            Gate::NeedsSession,
            "{path}"
        );
    }
}

/// A host sent with a trailing dot is the app's to nginx and traefik (and to postern), but
/// another name to caddy and envoy, whose catch-all site may serve something else: it gets
/// the app's rules, and nothing lets it through without a sign-in.
#[test]
fn a_host_with_a_trailing_dot_never_passes_without_a_sign_in() {
    let rules = rules(
        "[[apps]]\nhost = \"status.example.com\"\npolicy = \"bypass\"\n\
         [[apps]]\nhost = \"media.example.com\"\npublic_paths = [\"/public(/.*)?\"]\n\
         methods = [\"OPTIONS\"]\n",
    );
    assert_eq!(gate(&rules, "https://status.example.com/"), Gate::Bypass);
    assert_eq!(
        gate(&rules, "https://media.example.com/public/x"),
        Gate::Bypass
    );
    for url in [
        "https://status.example.com./",
        "https://status.example.com.:443/",
        "https://media.example.com./public/x",
    ] {
        assert_eq!(gate(&rules, url), Gate::NeedsSession, "{url}");
    }
    assert_eq!(
        gate_from(&rules, "OPTIONS", "https://media.example.com./x", OUTSIDE),
        Gate::NeedsSession
    );
    // Still the app's own rules, not the default's.
    assert_eq!(
        rules
            .app_for(&target("GET", "https://status.example.com./").host)
            .map(|app| app.host.as_str()),
        Some("status.example.com")
    );
}

/// A proxy config that leaves out `X-Forwarded-Uri` or `X-Forwarded-Method` (or sends one
/// empty) gets `/` or `GET` in its place for a signed-in user, but neither passes anyone
/// without a sign-in: a public `/` or a listed `GET` would otherwise open every path.
#[test]
fn a_path_or_method_the_proxy_did_not_send_is_never_public() {
    let rules = rules(
        "[[apps]]\nhost = \"root.example.com\"\npublic_paths = [\"/\"]\n\
         [[apps]]\nhost = \"reads.example.com\"\nmethods = [\"GET\"]\n",
    );
    let sent = |host: &str, left_out: &str, empty: bool| {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("x-forwarded-method", "GET"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", host),
            ("x-forwarded-uri", "/"),
        ] {
            let value = match (name == left_out, empty) {
                (false, _) => value,
                (true, true) => "",
                (true, false) => continue,
            };
            headers.insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let own = OwnRequest {
            method: &Method::GET,
            authority: None,
            envoy_path: "",
        };
        let target = ForwardedRequest::from_headers(ProxyKind::Traefik, &headers, &own).unwrap();
        rules.gate(
            rules.app_for(&target.host),
            &target,
            ip(OUTSIDE),
            &mut NoTrace,
        )
    };
    for (host, left_out) in [
        ("root.example.com", "x-forwarded-uri"),
        ("reads.example.com", "x-forwarded-method"),
    ] {
        assert_eq!(
            sent(host, "nothing", false),
            Gate::Bypass,
            "{host}, all sent"
        );
        for empty in [false, true] {
            assert_eq!(
                sent(host, left_out, empty),
                Gate::NeedsSession,
                "{host} without {left_out} (empty: {empty})"
            );
        }
    }
    // What was sent still counts: a known method passes without the path, and the reverse.
    assert_eq!(
        sent("reads.example.com", "x-forwarded-uri", false),
        Gate::Bypass
    );
    assert_eq!(
        sent("root.example.com", "x-forwarded-method", false),
        Gate::Bypass
    );
}

/// A `?` or `#` decoded from the path is never public: a hop that decodes once and parses
/// again ends the path there, so a suffix pattern would pass `/admin` under another name.
#[test]
fn an_encoded_query_or_fragment_mark_is_never_public() {
    let rules = rules("[[apps]]\nhost = \"a.example.com\"\npublic_paths = [\".*\\\\.js\"]\n");
    assert_eq!(gate(&rules, "https://a.example.com/app.js"), Gate::Bypass);
    for path in [
        "/admin%3F.js",
        "/admin%3f.js",
        "/admin%23.js",
        "/admin%3Fx=1.js",
    ] {
        assert_eq!(
            gate(&rules, &format!("https://a.example.com{path}")),
            Gate::NeedsSession,
            "{path}"
        );
    }
}

#[test]
fn an_unanchored_pattern_is_anchored_anyway() {
    let rules = rules(
        "[[apps]]\nhost = \"a.example.com\"\npublic_paths = [\"/public\", \"health|status\"]\n",
    );
    assert_eq!(gate(&rules, "https://a.example.com/public"), Gate::Bypass);
    assert_eq!(
        gate(&rules, "https://a.example.com/public/x"),
        Gate::NeedsSession
    );
    assert_eq!(
        gate(&rules, "https://a.example.com/x/public"),
        Gate::NeedsSession
    );
    assert_eq!(
        gate(&rules, "https://a.example.com/admin?public"),
        Gate::NeedsSession
    );
    // An alternation inside one pattern is anchored as a whole, not just its first branch.
    assert_eq!(
        gate(&rules, "https://a.example.com/statusx"),
        Gate::NeedsSession
    );
    assert_eq!(
        gate(&rules, "https://a.example.com/x/health"),
        Gate::NeedsSession
    );
}

#[test]
fn public_paths_do_not_open_a_denied_network() {
    let rules = rules(
        "[[apps]]\nhost = \"a.example.com\"\npublic_paths = [\"/public\"]\nallow_ips = [\"10.0.0.0/8\"]\n",
    );
    assert_eq!(
        gate(&rules, "https://a.example.com/public"),
        Gate::Refuse(Reason::Network)
    );
    assert_eq!(
        gate_from(&rules, "GET", "https://a.example.com/public", "10.0.0.1"),
        Gate::Bypass
    );
}

// ---- methods ----

#[test]
fn listed_methods_pass_and_nothing_else_does() {
    let rules = rules(
        "[[apps]]\nhost = \"api.example.com\"\nmethods = [\"options\"]\nallow_groups = [\"dev\"]\n",
    );
    let url = "https://api.example.com/items";
    assert_eq!(gate_from(&rules, "OPTIONS", url, OUTSIDE), Gate::Bypass);
    for method in ["GET", "POST", "DELETE", "HEAD"] {
        assert_eq!(
            gate_from(&rules, method, url, OUTSIDE),
            Gate::NeedsSession,
            "{method}"
        );
    }
}

// ---- headers for the upstream ----

#[test]
fn extra_headers_and_upstream_basic_auth_are_built_once() {
    let dir = std::env::temp_dir().join(format!("postern-access-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("upstream.pw"), "s3cret\n").expect("password file");
    let raw: Rules = toml::from_str(
        "[[apps]]\nhost = \"a.example.com\"\nheaders = { X-Team = \"ops\" }\n\
         upstream_basic_auth = { username = \"svc\", password_file = \"upstream.pw\" }\n",
    )
    .expect("test TOML parses");
    let mut problems = Vec::new();
    let rules = build(
        raw.apps,
        &raw.access,
        &users(),
        &[],
        Some(&dir),
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:?}");
    let app = rules.app_for("a.example.com").expect("app");
    let headers: Vec<(&str, &[u8])> = app
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    // base64("svc:s3cret"): the trailing newline of the file is not part of the password.
    assert_eq!(
        headers,
        vec![
            ("x-team", &b"ops"[..]),
            ("authorization", &b"Basic c3ZjOnMzY3JldA=="[..])
        ]
    );
    assert!(app.headers.iter().any(|(_, value)| value.is_sensitive()));
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- what config check reports ----

fn assert_problem(toml_text: &str, fragment: &str) {
    let found = problems(toml_text);
    assert!(
        found.iter().any(|problem| problem.contains(fragment)),
        "expected {fragment:?} in {found:?}"
    );
}

#[test]
fn rules_that_can_never_match_are_reported() {
    assert_problem(
        "[[apps]]\nhost = \"a.example.com\"\nallow_users = [\"mallory\"]\n",
        "user `mallory` does not exist",
    );
    assert_problem(
        "[[apps]]\nhost = \"a.example.com\"\ndeny_users = [\"mallory\"]\n",
        "user `mallory` does not exist",
    );
    assert_problem(
        "[[apps]]\nhost = \"a.example.com\"\nallow_groups = [\"nobody\"]\n",
        "no user is in group `nobody`",
    );
    assert_problem(
        "[[apps]]\nhost = \"a.example.com\"\npolicy = \"bypass\"\nallow_users = [\"alice\"]\n",
        "can never apply to a `bypass` app",
    );
    assert_problem(
        "[[apps]]\nhost = \"a.example.com\"\npolicy = \"deny\"\npublic_paths = [\"/x\"]\n",
        "a `deny` app refuses everyone",
    );
    assert_problem(
        "[access]\ndefault_policy = \"deny\"\n[[apps]]\nhost = \"a.example.com\"\nallow_groups = [\"admins\"]\n",
        "set `policy = \"one_factor\"`",
    );
}

#[test]
fn hosts_claimed_twice_with_equal_specificity_are_reported() {
    assert_problem(
        "[[apps]]\nhost = \"app.example.com\"\n[[apps]]\nhost = \"APP.example.com.\"\n",
        "already claimed",
    );
    assert_problem(
        "[[apps]]\nhost = \"*.example.com\"\n[[apps]]\nhost = \"*.Example.com\"\n",
        "already claimed",
    );
    // Different specificity is fine: the exact host wins.
    assert!(
        try_rules("[[apps]]\nhost = \"app.example.com\"\n[[apps]]\nhost = \"*.example.com\"\n")
            .is_ok()
    );
}

#[test]
fn malformed_rules_are_reported_each_one() {
    let found = problems(
        r#"
[access]
default_policy = "maybe"
[[apps]]
host = "a.example.com:443"
[[apps]]
host = "a.*.example.com"
[[apps]]
host = "b.example.com"
policy = "sometimes"
allow_ips = ["10.0.0.0/33", "not-an-ip"]
public_paths = ["/ok", "/broken("]
methods = ["GE T"]
headers = { Remote-User = "admin", Cache-Control = "public, max-age=300", "bad name" = "x" }
upstream_basic_auth = { username = "a:b", password_file = "x" }
[[apps]]
"#,
    );
    for fragment in [
        "`access.default_policy`",
        "leave the port out",
        "only a leading `*.`",
        "`policy` = \"sometimes\"",
        "\"10.0.0.0/33\"",
        "\"not-an-ip\"",
        "\"/broken(\" does not compile",
        "\"GE T\" is not an HTTP method",
        "`remote-user` is set by postern",
        // An answer with an identity is never cacheable: its `no-store` is postern's.
        "`cache-control` is set by postern",
        "\"bad name\"",
        "may not contain ':'",
        "`host` is required",
    ] {
        assert!(
            found.iter().any(|problem| problem.contains(fragment)),
            "expected {fragment:?} in {found:?}"
        );
    }
}

#[test]
fn a_missing_password_file_is_reported() {
    assert_problem(
        "[[apps]]\nhost = \"a.example.com\"\nupstream_basic_auth = { username = \"svc\", password_file = \"/nonexistent/postern.pw\" }\n",
        "upstream_basic_auth.password_file",
    );
}

// ---- explain ----

#[derive(Default)]
struct Recorder(Vec<(String, String)>);

impl Trace for Recorder {
    fn rule(&mut self, rule: &str, verdict: &str) {
        self.0.push((rule.to_owned(), verdict.to_owned()));
    }
}

#[test]
fn the_trace_names_each_rule_that_decided() {
    let rules = rules(SUBJECTS);
    let target = target("GET", "https://strict.example.com/");
    let app = rules.app_for(&target.host);
    let mut trace = Recorder::default();
    assert_eq!(
        rules.gate(app, &target, ip(OUTSIDE), &mut trace),
        Gate::NeedsSession
    );
    let groups = vec!["admins".to_owned()];
    let subject = Subject {
        user: "alice",
        groups: &groups,
        level: AuthLevel::OneFactor,
        provider: None,
    };
    assert_eq!(
        rules.admit(app, subject, &mut trace),
        Err(Reason::SecondFactor)
    );
    let rules_seen: Vec<&str> = trace.0.iter().map(|(rule, _)| rule.as_str()).collect();
    assert_eq!(
        rules_seen,
        ["policy", "allow_users/allow_groups", "policy two_factor"]
    );
}

#[test]
fn reason_codes_round_trip_and_nothing_else_parses() {
    for reason in [
        Reason::Denied,
        Reason::Network,
        Reason::User,
        Reason::SecondFactor,
    ] {
        assert_eq!(Reason::from_code(reason.code()), Some(reason));
    }
    assert_eq!(Reason::from_code("<script>"), None);
}

// ---- provider users ----

fn provider_rules(toml_text: &str) -> Result<AccessRules, Vec<String>> {
    let raw: Rules = toml::from_str(toml_text).expect("test TOML parses");
    let mut problems = Vec::new();
    let rules = build(
        raw.apps,
        &raw.access,
        &users(),
        &["github"],
        None,
        &mut problems,
    );
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems)
    }
}

#[test]
fn provider_groups_match_only_when_named_with_their_provider() {
    let rules = provider_rules(
        "[[apps]]\nhost = \"ops.example.com\"\nallow_groups = [\"admins\", \"github:octo-ops\"]\n",
    )
    .expect("a provider group needs no local holder");
    let app = rules.app_for("ops.example.com");
    let admit = |groups: &[&str], provider: Option<&str>| {
        let groups: Vec<String> = groups.iter().map(|group| (*group).to_owned()).collect();
        let subject = Subject {
            user: "someone@example.org",
            groups: &groups,
            level: AuthLevel::OneFactor,
            provider,
        };
        rules.admit(app, subject, &mut NoTrace)
    };
    // A provider user in an org named like a local group is not in the local group.
    assert_eq!(admit(&["admins"], Some("github")), Err(Reason::User));
    assert_eq!(admit(&["octo-ops"], Some("github")), Ok(()));
    assert_eq!(admit(&["octo-ops"], Some("google")), Err(Reason::User));
    // A local user's groups are local.
    assert_eq!(admit(&["admins"], None), Ok(()));
    assert_eq!(admit(&["octo-ops"], None), Err(Reason::User));
    // With a provider, a user name the table does not know may be a provider's user.
    assert!(
        provider_rules(
            "[[apps]]\nhost = \"a.example.com\"\nallow_users = [\"carol@example.org\"]\n"
        )
        .is_ok()
    );
    let unknown =
        provider_rules("[[apps]]\nhost = \"a.example.com\"\nallow_groups = [\"gitlab:devs\"]\n");
    assert!(
        unknown.is_err(),
        "a group of a provider that is not configured"
    );
}

mod server_models;

#[test]
fn the_two_factor_apps_a_user_reaches_are_listed() {
    let rules = rules(
        r#"
        [[apps]]
        name = "Vault"
        host = "vault.example.com"
        policy = "two_factor"
        allow_groups = ["admins"]
        [[apps]]
        name = "Safe"
        host = "safe.example.com"
        policy = "two_factor"
        deny_users = ["carol"]
        [[apps]]
        name = "Wiki"
        host = "wiki.example.com"
        policy = "one_factor"
        "#,
    );
    let apps_of = |name: &str| {
        let groups = users().get(name).unwrap().groups.clone();
        let subject = Subject {
            user: name,
            groups: &groups,
            level: AuthLevel::OneFactor,
            provider: None,
        };
        rules
            .two_factor_apps_for(subject)
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(apps_of("alice"), ["Vault", "Safe"]);
    assert_eq!(apps_of("bob"), ["Safe"]);
    assert!(apps_of("carol").is_empty());
}

/// A policy's name, as a decision's trace writes it, is the word the config spells it with.
#[test]
fn policy_names_are_the_config_words() {
    for policy in [
        Policy::Bypass,
        Policy::OneFactor,
        Policy::TwoFactor,
        Policy::Deny,
    ] {
        assert_eq!(Policy::parse(policy.name()), Some(policy));
    }
    assert_eq!(Policy::parse("two-factor"), None);
}

/// `apps` lists every configured app, in the config's order (the unauthorized page and the
/// OpenID provider's client table read it).
#[test]
fn apps_are_listed_in_config_order() {
    let rules = rules(HOSTS);
    let names: Vec<&str> = rules.apps().iter().map(|app| app.name.as_str()).collect();
    assert_eq!(names, ["exact", "wild", "dev", "dev-exact"]);
}

#[test]
fn allow_lists_match_names_in_any_case_and_provider_groups_only_by_their_prefix() {
    let admins = vec!["admins".to_owned()];
    let subject = |user, provider| Subject {
        user,
        groups: &admins,
        level: AuthLevel::OneFactor,
        provider,
    };
    let names = |list: &[&str]| {
        list.iter()
            .map(|name| (*name).to_owned())
            .collect::<Vec<_>>()
    };
    let local = subject("Émile", None);
    assert!(local.is_listed(&names(&["émile"]), &[]));
    assert!(local.is_listed(&names(&["ÉMILE"]), &[]));
    assert!(!local.is_listed(&names(&["emile"]), &[]));
    // As `to_lowercase` reads it (the user table's spelling): a final sigma too.
    let greek = subject("ΟΔΥΣΣΕΥΣ", None);
    assert!(greek.is_listed(&names(&["οδυσσευς"]), &[]));
    assert!(local.is_listed(&[], &names(&["admins"])));
    assert!(local.is_listed(&[], &[]), "no lists: everyone");
    // A GitHub organisation named `admins` is not the local group.
    let github = subject("octo", Some("github"));
    assert!(!github.is_listed(&[], &names(&["admins"])));
    assert!(github.is_listed(&[], &names(&["github:admins"])));
    assert!(!github.is_listed(&[], &names(&["google:admins"])));
    // The names tokens carry for a provider's groups are the ones its rules match.
    let outside = provider_groups("github", &admins);
    assert_eq!(outside, ["github:admins"]);
    assert!(github.is_listed(&[], &outside));
    assert!(!local.is_listed(&[], &outside));
}

#[test]
fn deny_users_refuses_a_name_in_any_case_unicode_too() {
    let rules =
        rules("[[apps]]\nname = \"Wiki\"\nhost = \"wiki.example.com\"\ndeny_users = [\"émile\"]\n");
    assert_eq!(
        admit(
            &rules,
            "https://wiki.example.com/",
            "Émile",
            AuthLevel::TwoFactor
        ),
        Err(Reason::User)
    );
}
