use super::*;

fn canon(raw: &str) -> String {
    path(raw).unwrap().path
}

#[test]
fn hosts_are_lower_case_without_trailing_dot() {
    assert_eq!(
        host_port("APP.Example.COM.").unwrap().host,
        "app.example.com"
    );
    assert_eq!(
        host_port("app.example.com:8443").unwrap(),
        HostPort {
            host: "app.example.com".into(),
            port: Some(8443)
        }
    );
}

#[test]
fn unicode_hosts_become_punycode() {
    assert_eq!(
        host_name("bücher.example").unwrap(),
        "xn--bcher-kva.example"
    );
    assert_eq!(
        host_name("XN--BCHER-KVA.example").unwrap(),
        "xn--bcher-kva.example"
    );
}

#[test]
fn ipv6_hosts_keep_brackets() {
    let parsed = host_port("[::1]:3000").unwrap();
    assert_eq!(
        parsed,
        HostPort {
            host: "[::1]".into(),
            port: Some(3000)
        }
    );
    assert_eq!(host_port("[2001:DB8::1]").unwrap().host, "[2001:db8::1]");
}

#[test]
fn bad_hosts_and_ports_are_refused() {
    for bad in [
        "",
        ".",
        "a..b",
        ".a",
        "..a",
        "a..",
        "a...",
        "A..B",
        "a..xn--bcher-kva",
        "xn--bcher-kva..a",
        "a..ü",
        "ü..a",
        "exa mple.com",
        "evil.com/x",
        "a:b:c",
        "h:0",
        "h:99999",
        "h:+1",
        "[::1",
        "[::1]x",
        "h@x",
    ] {
        assert!(host_port(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn dot_segments_and_double_slashes_are_resolved() {
    assert_eq!(canon("/public/../admin"), "/admin");
    assert_eq!(canon("//admin"), "/admin");
    assert_eq!(canon("/a/./b//c/"), "/a/b/c/");
    assert_eq!(canon("/../../etc"), "/etc");
    assert_eq!(canon("/a/b/.."), "/a/");
    assert_eq!(canon("/"), "/");
}

#[test]
fn percent_encoding_is_decoded_once() {
    assert_eq!(canon("/%61dmin"), "/admin");
    assert_eq!(canon("/%2e%2e/admin"), "/admin");
    // A literal `%` stays escaped, so `%252F` (the text "%2F") is not an encoded slash.
    assert_eq!(canon("/a%2525b"), "/a%2525b");
    assert_eq!(
        path("/a%252Fb").unwrap().ambiguity,
        Some(Ambiguity::EncodedPercent)
    );
    assert_eq!(canon("/caf%C3%A9"), "/café");
}

#[test]
fn encoded_slashes_stay_data_and_are_flagged() {
    let parsed = path("/admin%2F").unwrap();
    assert_eq!(parsed.path, "/admin%2F");
    assert_eq!(parsed.ambiguity, Some(Ambiguity::EncodedSlash));
    assert_eq!(
        path("/public%2f..%2fadmin").unwrap().ambiguity,
        Some(Ambiguity::EncodedSlash)
    );
    assert_eq!(path("/admin").unwrap().ambiguity, None);
}

#[test]
fn what_other_servers_read_differently_is_flagged() {
    for (raw, ambiguity) in [
        ("/public/..;/admin", Ambiguity::Semicolon),
        ("/public;x/logo", Ambiguity::Semicolon),
        ("/public/..%3B/admin", Ambiguity::Semicolon),
        ("/public/..\\admin", Ambiguity::Backslash),
        ("/public/..%5Cadmin", Ambiguity::Backslash),
        ("/public/..%5cadmin", Ambiguity::Backslash),
        ("/public/%252e%252e/admin", Ambiguity::EncodedPercent),
        ("/public/%25/x", Ambiguity::EncodedPercent),
        ("/public/x%00/../../admin", Ambiguity::ControlCharacter),
        ("/public/.../admin", Ambiguity::DotLikeSegment),
        ("/public/..%20/admin", Ambiguity::DotLikeSegment),
        ("/admin/../public/x", Ambiguity::DotSegment),
        ("/admin/%2e%2e/public/x", Ambiguity::DotSegment),
        ("/admin/%2E/x", Ambiguity::DotSegment),
        ("/a/./b", Ambiguity::DotSegment),
        ("/admin%3F.js", Ambiguity::EncodedDelimiter),
        ("/admin%23/public", Ambiguity::EncodedDelimiter),
    ] {
        assert_eq!(path(raw).unwrap().ambiguity, Some(ambiguity), "{raw}");
    }
    for plain in [
        "/",
        "/public/logo.png",
        "/caf%C3%A9",
        "/.well-known/x",
        "/a..b",
    ] {
        assert_eq!(path(plain).unwrap().ambiguity, None, "{plain}");
    }
}

#[test]
fn malformed_paths_are_refused() {
    for bad in ["admin", "", "/%zz", "/%4", "/%ff%fe"] {
        assert!(path(bad).is_err(), "{bad:?} should be refused");
    }
}

/// The shortcut for paths that are already canonical returns what the full resolution would,
/// on every path of up to five characters after the root over an alphabet of the characters
/// that matter (separators, dots, escapes, `;`, `\`, space, a control character).
#[test]
fn the_already_canonical_shortcut_agrees_with_resolving() {
    const ALPHABET: [char; 10] = ['/', 'a', '.', '%', '2', 'F', ';', '\\', ' ', '\u{7f}'];
    let mut paths = vec![String::from("/")];
    let mut shortcut = 0;
    for _ in 0..5 {
        let longer: Vec<String> = paths
            .iter()
            .filter(|path| path.len() == paths.last().map_or(0, String::len))
            .flat_map(|path| ALPHABET.iter().map(move |ch| format!("{path}{ch}")))
            .collect();
        paths.extend(longer);
    }
    for raw in &paths {
        if is_canonical_already(raw) {
            shortcut += 1;
            let resolved = resolve(raw).unwrap();
            assert_eq!(resolved.path, *raw, "{raw:?}");
            assert_eq!(resolved.ambiguity, None, "{raw:?}");
        }
    }
    assert!(shortcut > 1_000, "the shortcut fired on {shortcut} paths");
    for typical in [
        "/",
        "/app/page.html",
        "/a/b/",
        "/.well-known/x",
        "/a.b/c..d",
    ] {
        assert!(is_canonical_already(typical), "{typical}");
    }
    for not in [
        "//a", "/a//b", "/./a", "/a/..", "/a/...", "/%61", "/a;b", "/a b", "/a\\b",
    ] {
        assert!(!is_canonical_already(not), "{not}");
    }
}
