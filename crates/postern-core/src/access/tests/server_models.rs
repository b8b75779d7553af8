//! Property tests: a path postern lets through as public is public to every common server.
//! Each model below is how one family of servers turns the raw path it receives into the path
//! it serves. Whatever path postern calls public, every model must land inside the public
//! prefix too; otherwise the upstream would serve something else than what postern judged.

use percent_encoding::percent_decode_str;
use proptest::prelude::*;

use super::*;

const PUBLIC: &str = r#"
[[apps]]
host = "media.example.com"
public_paths = ["/public(/.*)?"]
"#;

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// RFC 3986 dot-segment removal over `/`-separated segments, empty segments merged.
fn resolve<'a>(segments: impl Iterator<Item = &'a str>) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in segments {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            _ => out.push(segment),
        }
    }
    format!("/{}", out.join("/"))
}

/// Decodes once, then splits: `%2F` is a separator (Apache with `AllowEncodedSlashes On`,
/// some CDNs and frameworks).
fn decode_then_split(raw: &str) -> String {
    resolve(decode(raw).split('/'))
}

/// Tomcat, Jetty, Spring: `;...` path parameters dropped from each segment, then decoded.
fn servlet(raw: &str) -> String {
    let segments: Vec<String> = raw
        .split('/')
        .map(|segment| decode(segment.split(';').next().unwrap_or_default()))
        .collect();
    resolve(segments.iter().map(String::as_str))
}

/// IIS and other Windows-minded servers: decoded, backslash as separator, trailing dots and
/// spaces trimmed from each segment (a segment of dots and spaces taken as `..`, the worst
/// case).
fn windows(raw: &str) -> String {
    let decoded = decode(raw).replace('\\', "/");
    let segments: Vec<&str> = decoded
        .split('/')
        .map(|segment| {
            let trimmed = segment.trim_end_matches(['.', ' ']);
            if trimmed.is_empty() && segment.contains("..") {
                ".."
            } else if trimmed.is_empty() && !segment.is_empty() {
                "."
            } else {
                trimmed
            }
        })
        .collect();
    resolve(segments.into_iter())
}

/// A server (or a chain of two) that decodes twice.
fn double_decoding(raw: &str) -> String {
    resolve(decode(&decode(raw)).split('/'))
}

/// C-based servers: the path ends at the first NUL.
fn nul_terminated(raw: &str) -> String {
    let decoded = decode(raw);
    resolve(decoded.split('\0').next().unwrap_or_default().split('/'))
}

/// Routers that match the raw path (Express, Koa): decoded, but `.` and `..` kept as names.
fn literal(raw: &str) -> String {
    let decoded = decode(raw);
    let segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    format!("/{}", segments.join("/"))
}

/// How a server turns the raw path it receives into the path it serves.
type Normalise = fn(&str) -> String;

const MODELS: &[(&str, Normalise)] = &[
    ("decode then split", decode_then_split),
    ("servlet", servlet),
    ("windows", windows),
    ("double decoding", double_decoding),
    ("NUL-terminated", nul_terminated),
    ("literal", literal),
];

fn inside_public(path: &str) -> bool {
    path == "/public" || path.starts_with("/public/")
}

/// Whether postern lets `raw` through without a session. A target it cannot read is a 400.
fn postern_says_public(rules: &AccessRules, raw: &str) -> bool {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "media.example.com"),
        ("x-forwarded-uri", raw),
    ] {
        let Ok(value) = HeaderValue::from_str(value) else {
            return false;
        };
        headers.insert(HeaderName::from_static(name), value);
    }
    let own = OwnRequest {
        method: &Method::GET,
        authority: None,
        envoy_path: "",
    };
    let Ok(target) = ForwardedRequest::from_headers(ProxyKind::Traefik, &headers, &own) else {
        return false;
    };
    rules.gate(
        rules.app_for(&target.host),
        &target,
        ip(OUTSIDE),
        &mut NoTrace,
    ) == Gate::Bypass
}

/// Pieces of segments that servers read differently, and plain ones.
const ATOMS: &[&str] = &[
    "a",
    "admin",
    "public",
    "..",
    ".",
    "",
    ";",
    ";x",
    "..;",
    "%2e",
    "%2E%2e",
    "%2e.",
    "%252e",
    "%252E%252e",
    "%25",
    "%2F",
    "%2f",
    "%5C",
    "%5c",
    "\\",
    "%3B",
    "%00",
    "...",
    "%20",
    ".%20",
];

fn raw_path() -> impl Strategy<Value = String> {
    let segment = proptest::collection::vec(proptest::sample::select(ATOMS), 1..4)
        .prop_map(|atoms| atoms.concat());
    let segments = proptest::collection::vec(segment, 0..6);
    let prefix = proptest::sample::select(&["/public/", "/public", "/", "//public/"][..]);
    (prefix, segments).prop_map(|(prefix, segments)| format!("{prefix}{}", segments.join("/")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn a_public_path_is_public_to_every_server(raw in raw_path()) {
        let rules = rules(PUBLIC);
        if postern_says_public(&rules, &raw) {
            for (model, normalise) in MODELS {
                let served = normalise(&raw);
                prop_assert!(
                    inside_public(&served),
                    "{raw:?} is public to postern but {model} serves {served:?}"
                );
            }
        }
    }
}

/// The property above is not empty: plain paths under the prefix are public, and each model
/// alone would have caught one of the attacks it stands for.
#[test]
fn the_models_see_the_known_attacks() {
    let rules = rules(PUBLIC);
    for public in ["/public", "/public/logo.png", "//public/x"] {
        assert!(postern_says_public(&rules, public), "{public}");
    }
    for (attack, model) in [
        ("/public/..;/admin", servlet as Normalise),
        ("/public/..%5Cadmin", windows),
        ("/public/..\\admin", windows),
        ("/public/.../admin", windows),
        ("/public/%252e%252e/admin", double_decoding),
        ("/admin%00/../public/x", nul_terminated),
        ("/public/..%2Fadmin", decode_then_split),
        ("/admin/../public/x", literal),
        ("/admin/%2e%2e/public/x", literal),
    ] {
        assert!(
            !inside_public(&model(attack)),
            "{attack}: the model misses it"
        );
        assert!(!postern_says_public(&rules, attack), "{attack} is public");
    }
}
