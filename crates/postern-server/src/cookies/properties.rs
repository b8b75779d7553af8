//! Property and fuzz tests of `values` (the long run is in docs/testing.md): any `Cookie`
//! headers are read without a panic, and every cookie of a name is found exactly where a
//! browser put it, in its order.
#![allow(clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use http::HeaderValue;
use proptest::prelude::*;

use super::*;
use postern_testkit::fuzz_config;

/// Cookie pairs as browsers and hostile clients write them: quoted values, spaces, `=` in
/// values, empty names, names that are prefixes of others.
fn pair() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![
            Just("postern_session".to_owned()),
            Just("postern_sessionx".to_owned()),
            Just("postern".to_owned()),
            Just(" postern_session".to_owned()),
            "[a-zA-Z0-9_.-]{0,10}",
        ],
        prop_oneof![
            "[A-Za-z0-9_-]{0,20}",
            "\"[A-Za-z0-9=]{0,10}\"",
            "[ -:<-~]{0,16}", // printable, no `;`
        ],
    )
}

fn headers_of(lines: &[String]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Ok(value) = HeaderValue::from_str(line) {
            headers.append(COOKIE, value);
        }
    }
    headers
}

/// What `values` must answer, read independently: every `name=value` pair (split on `;`,
/// trimmed, split at the first `=`) across the headers in order, quotes around each removed.
fn expected<'a>(lines: &'a [String], name: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    for line in lines {
        if HeaderValue::from_str(line).is_err() {
            continue;
        }
        for pair in line.split(';') {
            if let Some((key, value)) = pair.trim().split_once('=')
                && key == name
            {
                found.push(value.trim_matches('"'));
            }
        }
    }
    found
}

proptest! {
    #![proptest_config(fuzz_config(1))]

    #[test]
    fn a_cookie_is_found_where_the_browser_put_it(
        lines in proptest::collection::vec(
            proptest::collection::vec(pair(), 0..5).prop_map(|pairs| {
                pairs.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; ")
            }),
            0..3,
        ),
        name in prop_oneof![Just("postern_session"), Just("postern"), Just("a")],
    ) {
        let headers = headers_of(&lines);
        let found: Vec<&str> = values(&headers, name).collect();
        prop_assert_eq!(&found, &expected(&lines, name));
        prop_assert!(found.iter().all(|value| !value.contains(';')));
    }

    #[test]
    fn any_cookie_bytes_are_read_without_a_panic(
        lines in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..60), 0..3),
    ) {
        let mut headers = HeaderMap::new();
        for line in &lines {
            if let Ok(value) = HeaderValue::from_bytes(line) {
                headers.append(COOKIE, value);
            }
        }
        for value in values(&headers, "postern_session") {
            prop_assert!(!value.contains(';'));
        }
    }
}
