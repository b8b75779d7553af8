//! Host and path canonicalisation, and the access rules matched on their result: canonical
//! forms are fixed points, the canonical path agrees with an independent model of RFC 3986 dot
//! removal, a path that any common server reads outside a public prefix is never public, and
//! the host index picks an app whose pattern covers the host.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use http::{HeaderMap, HeaderValue};
use postern_core::access::{self, Gate, NoTrace, RawAccess, RawApp};
use postern_core::canonical::{self, Ambiguity};
use postern_core::forwarded::{ForwardedRequest, OwnRequest, ProxyKind};
use postern_core::users::UserTable;
use proptest::prelude::*;

use postern_testkit::fuzz_config;

/// Raw paths built from the characters that decide how a path is read: separators, dots,
/// escapes of both (`%2e`, `%2F`, `%5C`, `%25`), `;` parameters and backslashes.
fn raw_path() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "public",
        "admin",
        "a",
        ".",
        "..",
        "",
        "%2e",
        "%2E",
        "%2e%2e",
        ".%2e",
        "%2F",
        "%2f",
        "%5C",
        "%5c",
        "\\",
        ";",
        ";x=1",
        "..;",
        "%252e",
        "%252e%252e",
        "%252F",
        "%25",
        "%3B",
        "%00",
        "%C3%A9",
        "é",
        "%ff",
        "%",
        "%2",
        "~",
        "?",
        "#",
    ]);
    proptest::collection::vec(
        proptest::collection::vec(piece, 0..4).prop_map(|parts| parts.concat()),
        0..7,
    )
    .prop_map(|segments| format!("/{}", segments.join("/")))
}

/// Percent-decodes every valid escape, leaving broken ones as they are (as lenient servers do).
fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// How some server reads a raw path (the query cut off), as a list of segments after dot
/// removal.
#[derive(Debug, Clone, Copy)]
struct Reading {
    /// Tomcat: `;params` are cut from each raw segment before decoding (`..;` is `..`).
    strips_raw_parameters: bool,
    /// Decode escapes this many times.
    decodes: u8,
    /// Jetty, Spring: `;params` are cut from each decoded segment.
    strips_parameters: bool,
    /// IIS and Windows servers: `\` is a separator too.
    backslash_separates: bool,
}

const PLAIN: Reading = Reading {
    strips_raw_parameters: false,
    decodes: 1,
    strips_parameters: false,
    backslash_separates: false,
};

/// Servers whose reading of a path the public-path rule must respect. The first is the
/// plain RFC 3986 reading (decode once, then split): a `%2F` that decodes to a separator
/// must never climb out of a public prefix.
const READINGS: [Reading; 5] = [
    PLAIN,
    Reading {
        strips_raw_parameters: true,
        ..PLAIN
    },
    Reading {
        strips_parameters: true,
        ..PLAIN
    },
    Reading {
        backslash_separates: true,
        ..PLAIN
    },
    Reading {
        decodes: 2,
        ..PLAIN
    },
];

fn cut_parameters(path: &str) -> String {
    path.split('/')
        .map(|segment| segment.split(';').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("/")
}

fn read_as(raw: &str, reading: Reading) -> Vec<String> {
    let mut text = raw.split(['?', '#']).next().unwrap_or_default().to_owned();
    if reading.strips_raw_parameters {
        text = cut_parameters(&text);
    }
    for _ in 0..reading.decodes {
        text = decode(&text);
    }
    if reading.backslash_separates {
        text = text.replace('\\', "/");
    }
    if reading.strips_parameters {
        text = cut_parameters(&text);
    }
    let mut segments: Vec<String> = Vec::new();
    for segment in text.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other.to_owned()),
        }
    }
    segments
}

fn is_under_public(segments: &[String]) -> bool {
    segments.first().is_some_and(|first| first == "public")
}

/// One app, `app.example.com`, signed-in users only except `/public` and below; built once
/// (compiling the regex set per input would be most of the cost).
fn public_rules() -> &'static access::AccessRules {
    static RULES: OnceLock<access::AccessRules> = OnceLock::new();
    RULES.get_or_init(build_public_rules)
}

fn build_public_rules() -> access::AccessRules {
    let app = RawApp {
        host: "app.example.com".into(),
        policy: Some("one_factor".into()),
        public_paths: vec!["/public(/.*)?".into()],
        ..RawApp::default()
    };
    let mut problems = Vec::new();
    let rules = access::build(
        vec![app],
        &RawAccess::default(),
        &UserTable::new([]),
        &[],
        None,
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:?}");
    rules
}

/// The target as traefik forwards it (so the path goes through the real header reading).
fn traefik_target(raw_path: &str) -> Option<ForwardedRequest> {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    headers.insert(
        "x-forwarded-host",
        HeaderValue::from_static("app.example.com"),
    );
    headers.insert("x-forwarded-uri", HeaderValue::from_str(raw_path).ok()?);
    let own = OwnRequest {
        method: &http::Method::GET,
        authority: None,
        envoy_path: "",
    };
    ForwardedRequest::from_headers(ProxyKind::Traefik, &headers, &own).ok()
}

fn gate(rules: &access::AccessRules, target: &ForwardedRequest) -> Gate {
    let client = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
    rules.gate(rules.app_for(&target.host), target, client, &mut NoTrace)
}

proptest! {
    #![proptest_config(fuzz_config(1))]

    #[test]
    fn canonical_paths_are_fixed_points(raw in raw_path()) {
        if let Ok(first) = canonical::path(&raw) {
            let again = canonical::path(&first.path).unwrap();
            prop_assert_eq!(&again.path, &first.path);
            // The ambiguity speaks of the raw path: `/%2F/..` loses its `%2F` to the `..` but
            // stays ambiguous (a server that reads `%2F` as `/` resolves it differently), so
            // an ambiguity may only be lost, never gained.
            prop_assert!(again.ambiguity.is_none() || first.ambiguity.is_some());
            if first.path.contains("%2F") {
                prop_assert!(again.ambiguity.is_some(), "{:?} lost its encoded slash", first.path);
            }
            prop_assert!(first.path.starts_with('/'));
            let inner = first.path.strip_suffix('/').unwrap_or(&first.path);
            for segment in inner.split('/').skip(1) {
                prop_assert!(
                    !matches!(segment, "" | "." | ".."),
                    "{:?} keeps segment {:?}", first.path, segment
                );
            }
        }
    }

    #[test]
    fn canonical_paths_agree_with_plain_dot_removal(raw in "(/[a-z.~é]{0,4}){1,8}") {
        let canonical = canonical::path(&raw).unwrap();
        let model = read_as(&raw, PLAIN);
        let canonical_segments: Vec<&str> =
            canonical.path.split('/').filter(|segment| !segment.is_empty()).collect();
        prop_assert_eq!(canonical_segments, model);
    }

    #[test]
    fn canonical_hosts_are_fixed_points(
        raw in "\\[?[a-zA-Z0-9.\\-_é:ß\u{200d}\u{ff0e}]{0,30}\\]?\\.?(:[0-9]{0,6})?",
    ) {
        if let Ok(first) = canonical::host_port(&raw) {
            prop_assert_eq!(canonical::host_name(&first.host), Ok(first.host.clone()));
            prop_assert!(first.host.bytes().all(|b| !b.is_ascii_uppercase()));
            prop_assert!(!first.host.ends_with('.'));
        }
    }

    /// `host_name` skips IDNA for hosts of plain ASCII (canonical.rs says why): for those,
    /// IDNA must do nothing but lower the case, or fail where `host_name` fails too.
    #[test]
    fn plain_ascii_hosts_read_as_idna_reads_them(
        raw in "([a-zA-Z0-9_-]{0,8}\\.){0,4}[a-zA-Z0-9_-]{0,8}\\.?",
    ) {
        let host = raw.strip_suffix('.').unwrap_or(&raw);
        let punycode = host
            .split('.')
            .any(|label| label.to_ascii_lowercase().starts_with("xn--"));
        prop_assume!(!punycode);
        match canonical::idna_to_ascii(host) {
            Ok(ascii) => {
                prop_assert_eq!(&ascii, &host.to_ascii_lowercase());
                let valid = !ascii.is_empty() && !ascii.split('.').any(str::is_empty);
                prop_assert_eq!(canonical::host_name(&raw).ok(), valid.then_some(ascii));
            }
            Err(_) => prop_assert!(canonical::host_name(&raw).is_err()),
        }
    }

    #[test]
    fn a_path_postern_reads_outside_a_public_prefix_is_never_public(raw in raw_path()) {
        let rules = public_rules();
        if let Some(target) = traefik_target(&raw) {
            let canonical_under_public = target.path.path == "/public"
                || target.path.path.starts_with("/public/");
            if gate(rules, &target) == Gate::Bypass {
                prop_assert!(canonical_under_public, "{:?} -> {:?} is public", raw, target.path);
            } else {
                // The rule grants what it names, too (a regression that refused every path
                // would otherwise pass): only a path other servers read differently (#12) may
                // be refused.
                prop_assert!(
                    !canonical_under_public || target.path.ambiguity.is_some(),
                    "{:?} -> {:?} is under /public but not public", raw, target.path
                );
            }
        }
    }

    #[test]
    fn a_path_some_common_server_reads_outside_a_public_prefix_is_never_public(raw in raw_path()) {
        let rules = public_rules();
        if let Some(target) = traefik_target(&raw)
            && gate(rules, &target) == Gate::Bypass
        {
            for reading in READINGS {
                let segments = read_as(&raw, reading);
                prop_assert!(
                    is_under_public(&segments),
                    "{:?} is public, but {:?} reads it as {:?}", raw, reading, segments
                );
            }
        }
    }

    #[test]
    fn the_host_index_picks_an_app_whose_pattern_covers_the_host(
        patterns in proptest::collection::vec("(\\*\\.)?([abc]\\.){0,2}[abc]", 1..6),
        host in "([abc]\\.){0,3}[abc]",
    ) {
        let mut seen = std::collections::HashSet::new();
        let apps: Vec<RawApp> = patterns
            .into_iter()
            .filter(|pattern| seen.insert(pattern.clone()))
            .map(|pattern| RawApp { host: pattern, ..RawApp::default() })
            .collect();
        let mut problems = Vec::new();
        let rules = access::build(apps, &RawAccess::default(), &UserTable::new([]), &[], None, &mut problems);
        prop_assert!(problems.is_empty(), "{:?}", problems);
        let exact = rules.apps().iter().any(|app| app.host == host);
        match rules.app_for(&host) {
            Some(app) => {
                match app.host.strip_prefix("*.") {
                    None => prop_assert_eq!(&app.host, &host),
                    Some(suffix) => {
                        prop_assert!(!exact, "an exact app exists for {:?}", host);
                        let covered = host.ends_with(&format!(".{suffix}"));
                        prop_assert!(covered, "{:?} does not cover {:?}", app.host, host);
                        // The most specific wildcard: no longer suffix also covers the host.
                        for other in rules.apps() {
                            if let Some(other_suffix) = other.host.strip_prefix("*.") {
                                let more_specific = other_suffix.len() > suffix.len()
                                    && host.ends_with(&format!(".{other_suffix}"));
                                prop_assert!(
                                    !more_specific,
                                    "{:?} is more specific than {:?}", other.host, app.host
                                );
                            }
                        }
                    }
                }
            }
            None => {
                prop_assert!(!exact);
                for app in rules.apps() {
                    if let Some(suffix) = app.host.strip_prefix("*.") {
                        let covered = host.ends_with(&format!(".{suffix}"));
                        prop_assert!(!covered, "{:?} covers {:?}", app.host, host);
                    }
                }
            }
        }
    }
}

/// Found by `canonical_paths_are_fixed_points`: the encoded slash is resolved away by the `..`
/// after it, but a server that reads `%2F` as a separator (and merges the slashes) climbs out
/// of `/public`; so the ambiguity stays and the path is never public.
#[test]
fn an_encoded_slash_resolved_away_still_keeps_the_path_from_being_public() {
    let target = traefik_target("/public/%2F/..").unwrap();
    assert_eq!(target.path.path, "/public/");
    assert_eq!(target.path.ambiguity, Some(Ambiguity::EncodedSlash));
    assert_ne!(gate(public_rules(), &target), Gate::Bypass);
    assert_eq!(canonical::path("/public/").unwrap().ambiguity, None);
}
