use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn own<'a>(method: &'a Method, authority: Option<&'a str>, envoy_path: &'a str) -> OwnRequest<'a> {
    OwnRequest {
        method,
        authority,
        envoy_path,
    }
}

/// The target read from hyper's map of `pairs`, after checking that the check lane's parsed
/// head (names as sent, `RequestHeaders::Parsed`) reads as the same target or error.
fn parse(kind: ProxyKind, pairs: &[(&str, &str)]) -> Result<ForwardedRequest, TargetError> {
    let own = own(&Method::GET, None, "");
    let from_map = ForwardedRequest::from_headers(kind, &headers(pairs), &own);
    let parsed: Vec<(&str, &[u8])> = pairs
        .iter()
        .map(|(name, value)| (*name, value.as_bytes()))
        .collect();
    let from_parsed = ForwardedRequest::from_headers(kind, RequestHeaders::Parsed(&parsed), &own);
    assert_eq!(format!("{from_map:?}"), format!("{from_parsed:?}"));
    from_map
}

#[test]
fn traefik_and_caddy_read_the_forwarded_set() {
    let pairs = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "App.Example.com:8443"),
        ("x-forwarded-uri", "/some/../path?x=1"),
        ("x-forwarded-method", "POST"),
    ];
    for kind in [ProxyKind::Traefik, ProxyKind::Caddy] {
        let target = parse(kind, &pairs).unwrap();
        assert_eq!(target.method, Method::POST);
        assert_eq!(target.host, "app.example.com");
        assert_eq!(target.port, Some(8443));
        assert_eq!(target.path.path, "/path");
        assert_eq!(
            target.original_url(),
            "https://App.Example.com:8443/some/../path?x=1"
        );
    }
}

#[test]
fn a_missing_uri_means_the_root() {
    let target = parse(
        ProxyKind::Traefik,
        &[
            ("x-forwarded-proto", "http"),
            ("x-forwarded-host", "a.test"),
        ],
    )
    .unwrap();
    assert_eq!(target.path.path, "/");
    assert_eq!(target.method, Method::GET);
}

#[test]
fn nginx_prefers_the_original_url() {
    let target = parse(
        ProxyKind::Nginx,
        &[
            ("x-original-url", "http://app.localhost:57941/some/path?x=1"),
            ("x-original-method", "DELETE"),
            ("x-forwarded-host", "ignored.example"),
        ],
    )
    .unwrap();
    assert_eq!(target.host, "app.localhost");
    assert_eq!(target.port, Some(57941));
    assert_eq!(target.method, Method::DELETE);
    assert_eq!(target.raw_path_and_query, "/some/path?x=1");
}

#[test]
fn nginx_falls_back_to_the_forwarded_set() {
    let target = parse(
        ProxyKind::Nginx,
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "a.test"),
            ("x-forwarded-uri", "/x"),
        ],
    )
    .unwrap();
    assert_eq!(target.original_url(), "https://a.test/x");
}

#[test]
fn envoy_reads_host_and_the_appended_path() {
    let map = headers(&[("host", "app.example.com"), ("x-forwarded-proto", "https")]);
    let target = ForwardedRequest::from_headers(
        ProxyKind::Envoy,
        &map,
        &own(&Method::PUT, None, "/api/items?id=3"),
    )
    .unwrap();
    assert_eq!(target.method, Method::PUT);
    assert_eq!(
        target.original_url(),
        "https://app.example.com/api/items?id=3"
    );
}

#[test]
fn missing_or_malformed_targets_are_errors() {
    let cases: &[(ProxyKind, &[(&str, &str)])] = &[
        (ProxyKind::Traefik, &[]),
        (ProxyKind::Traefik, &[("x-forwarded-proto", "https")]),
        (ProxyKind::Traefik, &[("x-forwarded-host", "a.test")]),
        (
            ProxyKind::Traefik,
            &[("x-forwarded-proto", "ftp"), ("x-forwarded-host", "a.test")],
        ),
        (
            ProxyKind::Caddy,
            &[("x-forwarded-proto", "http"), ("x-forwarded-host", "a b")],
        ),
        (
            ProxyKind::Caddy,
            &[
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "a.test"),
                ("x-forwarded-uri", "nope"),
            ],
        ),
        (
            ProxyKind::Caddy,
            &[
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "a.test"),
                ("x-forwarded-uri", "/%zz"),
            ],
        ),
        (
            ProxyKind::Traefik,
            &[
                ("x-forwarded-proto", "http"),
                ("x-forwarded-host", "a.test"),
                ("x-forwarded-method", "G E T"),
            ],
        ),
        (ProxyKind::Nginx, &[("x-original-url", "/relative")]),
        (
            ProxyKind::Nginx,
            &[("x-original-url", "javascript:alert(1)")],
        ),
        (
            ProxyKind::Nginx,
            &[("x-original-url", "http://user@evil.com/")],
        ),
        (ProxyKind::Nginx, &[("x-original-url", "xhttp://a.test/")]),
        // Only exactly `http://` or `https://` opens the URL.
        (ProxyKind::Nginx, &[("x-original-url", "http:x://a.test/")]),
        (ProxyKind::Nginx, &[("x-original-url", "http,x://a.test/")]),
        (ProxyKind::Nginx, &[("x-original-url", "http :/a.test/")]),
        (ProxyKind::Nginx, &[("x-original-url", "https:/a.test/")]),
        (ProxyKind::Nginx, &[("x-original-url", "http ://a.test/")]),
        (ProxyKind::Envoy, &[]),
    ];
    for (kind, pairs) in cases {
        assert!(
            parse(*kind, pairs).is_err(),
            "{kind:?} {pairs:?} should be refused"
        );
    }
}

#[test]
fn non_utf8_header_values_are_refused() {
    let mut map = headers(&[("x-forwarded-proto", "http")]);
    map.insert(
        "x-forwarded-host",
        HeaderValue::from_bytes(b"caf\xe9.test").unwrap(),
    );
    assert_eq!(
        ForwardedRequest::from_headers(ProxyKind::Traefik, &map, &own(&Method::GET, None, "")),
        Err(TargetError::NotText("X-Forwarded-Host"))
    );
    let parsed: [(&str, &[u8]); 2] = [
        ("X-Forwarded-Proto", b"http"),
        ("X-Forwarded-Host", b"caf\xe9.test"),
    ];
    assert_eq!(
        ForwardedRequest::from_headers(
            ProxyKind::Traefik,
            RequestHeaders::Parsed(&parsed),
            &own(&Method::GET, None, "")
        ),
        Err(TargetError::NotText("X-Forwarded-Host"))
    );
}

#[test]
fn envoy_over_http2_reads_the_authority_and_a_bare_query() {
    let map = headers(&[("x-forwarded-proto", "https")]);
    let own_request = own(&Method::GET, Some("app.example.com"), "?x=1");
    let target = ForwardedRequest::from_headers(ProxyKind::Envoy, &map, &own_request).unwrap();
    assert_eq!(target.original_url(), "https://app.example.com/?x=1");
    let missing =
        ForwardedRequest::from_headers(ProxyKind::Envoy, &map, &own(&Method::GET, None, ""));
    assert_eq!(missing, Err(TargetError::Missing("Host")));
}

/// `/api/auth/{proxy}` names the four proxies exactly; anything else is no proxy.
#[test]
fn proxies_are_named_exactly() {
    for kind in [
        ProxyKind::Traefik,
        ProxyKind::Caddy,
        ProxyKind::Nginx,
        ProxyKind::Envoy,
    ] {
        assert_eq!(ProxyKind::from_name(kind.name()), Some(kind));
    }
    for other in ["", "Traefik", "nginx ", "haproxy", "envoy/"] {
        assert_eq!(ProxyKind::from_name(other), None, "{other:?}");
    }
}

/// A header sent blank is as missing as one not sent, and the answer names it.
#[test]
fn a_blank_required_header_is_missing() {
    for (blank, name) in [
        ("x-forwarded-proto", "X-Forwarded-Proto"),
        ("x-forwarded-host", "X-Forwarded-Host"),
    ] {
        let mut pairs = vec![
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example.com"),
        ];
        pairs.retain(|(header, _)| *header != blank);
        pairs.push((blank, "  "));
        assert_eq!(
            parse(ProxyKind::Traefik, &pairs),
            Err(TargetError::Missing(name)),
            "{blank}"
        );
    }
}

/// A blank method header is no method header: the request was a GET.
#[test]
fn a_blank_method_header_means_get() {
    let pairs = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "app.example.com"),
        ("x-forwarded-method", " "),
    ];
    assert_eq!(
        parse(ProxyKind::Traefik, &pairs).unwrap().method,
        Method::GET
    );
    let nginx = [
        ("x-original-url", "https://app.example.com/x"),
        ("x-original-method", ""),
    ];
    assert_eq!(parse(ProxyKind::Nginx, &nginx).unwrap().method, Method::GET);
}

#[test]
fn the_original_urls_scheme_is_read_in_any_case_and_its_path_may_be_missing() {
    let target = parse(
        ProxyKind::Nginx,
        &[("x-original-url", " HTTPS://App.Example.com:8443?q=1#f ")],
    )
    .unwrap();
    assert_eq!(target.scheme, Scheme::Https);
    assert_eq!(target.host, "app.example.com");
    assert_eq!(target.port, Some(8443));
    assert_eq!(target.path.path, "/");
    assert_eq!(target.original_url(), "https://App.Example.com:8443/?q=1#f");
}

/// A target is read in one pass over the headers (`Sent`); a header sent twice must read as
/// `HeaderMap::get` reads it, the first value, or a proxy and postern could disagree on which
/// host was asked for.
#[test]
fn a_repeated_header_reads_as_its_first_value() {
    let pairs = [
        ("x-forwarded-host", "first.example.com"),
        ("x-forwarded-proto", "https"),
        ("accept", "*/*"),
        ("x-forwarded-host", "second.example.com"),
        ("x-original-url", "http://one.example.com/a"),
        ("x-forwarded-proto", "http"),
        ("x-original-url", "http://two.example.com/b"),
        ("host", "envoy-one.example.com"),
        ("host", "envoy-two.example.com"),
    ];
    let map = headers(&pairs);
    for name in [
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-original-url",
        "host",
    ] {
        assert_eq!(map.get_all(name).iter().count(), 2, "{name} is sent twice");
    }
    let sent = Sent::collect((&map).into());
    let first = |name| map.get(name).map(HeaderValue::as_bytes);
    assert_eq!(sent.forwarded_host, first("x-forwarded-host"));
    assert_eq!(sent.forwarded_proto, first("x-forwarded-proto"));
    assert_eq!(sent.original_url, first("x-original-url"));
    assert_eq!(sent.host, first("host"));
    assert_eq!(sent.forwarded_uri, None);

    let traefik = parse(ProxyKind::Traefik, &pairs).unwrap();
    assert_eq!(
        (traefik.host.as_str(), traefik.scheme),
        ("first.example.com", Scheme::Https)
    );
    let nginx = parse(ProxyKind::Nginx, &pairs).unwrap();
    assert_eq!(
        (nginx.host.as_str(), nginx.path.path.as_str()),
        ("one.example.com", "/a")
    );
    let envoy = parse(ProxyKind::Envoy, &pairs).unwrap();
    assert_eq!(envoy.host, "envoy-one.example.com");
}

/// Every header a target is read from is found whatever the case it was sent in (a
/// `HeaderName` keeps names in lower case; the check lane keeps them as sent, and `parse`
/// reads both).
#[test]
fn header_names_are_read_in_any_case() {
    let target = parse(
        ProxyKind::Traefik,
        &[
            ("X-Forwarded-Proto", "HTTPS"),
            ("X-FORWARDED-HOST", "App.Example.com"),
            ("x-Forwarded-Uri", "/x"),
            ("X-Forwarded-METHOD", "PUT"),
        ],
    )
    .unwrap();
    assert_eq!(target.scheme, Scheme::Https);
    assert_eq!(target.host, "app.example.com");
    assert_eq!(target.path.path, "/x");
    assert_eq!(target.method, Method::PUT);
}
