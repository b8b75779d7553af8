//! Forwarded-request parsing for every proxy: arbitrary header sets never panic, whatever is
//! accepted is already canonical, and one target described the way each proxy describes it
//! reads the same for all of them.

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use postern_core::canonical;
use postern_core::forwarded::{ForwardedRequest, OwnRequest, ProxyKind};
use proptest::prelude::*;

use postern_testkit::fuzz_config;

const KINDS: [ProxyKind; 4] = [
    ProxyKind::Traefik,
    ProxyKind::Caddy,
    ProxyKind::Nginx,
    ProxyKind::Envoy,
];

const HEADERS: [&str; 8] = [
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-uri",
    "x-forwarded-method",
    "x-original-url",
    "x-original-method",
    "host",
    "x-forwarded-for",
];

/// Header values: mostly near-valid pieces of URLs (where parsers go wrong), sometimes any
/// bytes a header may carry.
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "(https?|HTTPS|ftp|)(,https?)?".prop_map(String::into_bytes),
        4 => "(https?://)?(\\[[0-9a-f:]{0,12}\\]|[a-zA-Z0-9.\\-é_]{0,24})(:[0-9]{0,6})?(/[a-zA-Z0-9%.;\\\\?#@:/]{0,30})?"
            .prop_map(String::into_bytes),
        3 => "(/[a-zA-Z0-9.%;\\\\]{0,8}){0,6}(\\?[a-z=&/.%]{0,10})?".prop_map(String::into_bytes),
        2 => "(GET|POST|DELETE|get|G E T|\\(\\)|[A-Z!#$%&'*+.^_`|~-]{0,10})".prop_map(String::into_bytes),
        2 => proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

fn header_set() -> impl Strategy<Value = Vec<(usize, Vec<u8>)>> {
    proptest::collection::vec((0..HEADERS.len(), value()), 0..8)
}

fn header_map(pairs: &[(usize, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (index, bytes) in pairs {
        if let Ok(value) = HeaderValue::from_bytes(bytes) {
            map.append(HeaderName::from_static(HEADERS[*index]), value);
        }
    }
    map
}

/// What every accepted target must satisfy, whichever proxy described it.
fn assert_canonical(target: &ForwardedRequest) {
    assert_eq!(
        canonical::host_name(&target.host).as_deref(),
        Ok(target.host.as_str()),
        "the host is not canonical"
    );
    // Read again, the canonical path is itself; an ambiguity of the raw path (an encoded
    // slash, a dot segment) may be lost in the canonical form, never gained.
    let again = canonical::path(&target.path.path);
    assert_eq!(
        again.as_ref().map(|again| again.path.as_str()),
        Ok(target.path.path.as_str()),
        "the path is not canonical"
    );
    assert!(
        again.is_ok_and(|again| again.ambiguity.is_none() || target.path.ambiguity.is_some()),
        "re-reading the canonical path gained an ambiguity"
    );
    assert!(target.port != Some(0));
    assert!(
        target
            .original_url()
            .starts_with(&format!("{}://", target.scheme.as_str()))
    );
}

/// A target that every proxy can describe: scheme, authority (host and optional port) and a
/// path with an optional query.
fn target_parts() -> impl Strategy<Value = (bool, String, String)> {
    (
        any::<bool>(),
        "([a-zA-Z0-9\\-]{1,10}\\.){0,3}[a-zA-Z0-9\\-é]{1,10}\\.?(:[0-9]{1,5})?",
        "(/[a-zA-Z0-9.%;\\\\_~-]{0,8}){1,6}(\\?[a-z=&/.%]{0,10})?",
    )
}

fn parse(
    kind: ProxyKind,
    pairs: &[(&'static str, &str)],
    method: &Method,
    envoy_path: &str,
) -> Option<ForwardedRequest> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).ok()?);
    }
    let own = OwnRequest {
        method,
        authority: None,
        envoy_path,
    };
    ForwardedRequest::from_headers(kind, &map, &own).ok()
}

proptest! {
    #![proptest_config(fuzz_config(1))]

    #[test]
    fn any_header_set_is_answered_and_what_is_accepted_is_canonical(
        pairs in header_set(),
        kind in 0..KINDS.len(),
        envoy_path in "[/?][a-zA-Z0-9.%;/?=&\\\\]{0,20}|",
        authority in proptest::option::of("[a-z0-9.:\\[\\]]{0,20}"),
    ) {
        let map = header_map(&pairs);
        let own = OwnRequest {
            method: &Method::GET,
            authority: authority.as_deref(),
            envoy_path: &envoy_path,
        };
        if let Ok(target) = ForwardedRequest::from_headers(KINDS[kind], &map, &own) {
            assert_canonical(&target);
        }
    }

    #[test]
    fn every_proxy_reads_one_target_the_same_way(
        (https, authority, path_and_query) in target_parts(),
        method in "GET|POST|DELETE|PATCH",
    ) {
        let scheme = if https { "https" } else { "http" };
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let original_url = format!("{scheme}://{authority}{path_and_query}");
        let forwarded_set = [
            ("x-forwarded-proto", scheme),
            ("x-forwarded-host", authority.as_str()),
            ("x-forwarded-uri", path_and_query.as_str()),
            ("x-forwarded-method", method.as_str()),
        ];
        let readings = [
            parse(ProxyKind::Traefik, &forwarded_set, &Method::GET, ""),
            parse(ProxyKind::Caddy, &forwarded_set, &Method::GET, ""),
            parse(ProxyKind::Nginx, &forwarded_set, &Method::GET, ""),
            parse(
                ProxyKind::Nginx,
                &[("x-original-url", original_url.as_str()), ("x-original-method", method.as_str())],
                &Method::GET,
                "",
            ),
            parse(
                ProxyKind::Envoy,
                &[("x-forwarded-proto", scheme), ("host", authority.as_str())],
                &method,
                &path_and_query,
            ),
        ];
        let first = &readings[0];
        for (index, reading) in readings.iter().enumerate() {
            prop_assert_eq!(reading, first, "reading {} differs", index);
        }
        if let Some(target) = first {
            assert_canonical(target);
            prop_assert_eq!(&target.method, &method);
            prop_assert_eq!(target.original_url(), original_url);
            let expected = canonical::host_port(&authority).unwrap();
            prop_assert_eq!(&target.host, &expected.host);
            prop_assert_eq!(target.port, expected.port);
        }
    }
}
