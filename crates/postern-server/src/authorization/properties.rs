//! Property and fuzz tests of `Authorization` parsing (the long run is in docs/testing.md):
//! any header is classified without a panic, the scheme is case-insensitive, and Basic
//! credentials decode back to exactly the pair that was encoded.
#![allow(clippy::unwrap_used, clippy::panic)] // tests fail by panicking

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

use super::*;
use postern_testkit::fuzz_config;

fn with_authorization(value: &[u8]) -> Option<HeaderMap> {
    let value = HeaderValue::from_bytes(value).ok()?;
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    Some(headers)
}

/// The scheme in a random mix of upper and lower case.
fn cased(scheme: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), scheme.len()).prop_map(move |upper| {
        scheme
            .chars()
            .zip(upper)
            .map(|(ch, up)| if up { ch.to_ascii_uppercase() } else { ch })
            .collect()
    })
}

proptest! {
    #![proptest_config(fuzz_config(1))]

    #[test]
    fn any_header_is_classified_and_only_a_named_scheme_carries_credentials(
        value in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..80),
            "[ \t]{0,2}(Basic|basic|BEARER|Bearer|Digest|Negotiate|)[ \t]{0,3}[A-Za-z0-9+/=._ -]{0,40}"
                .prop_map(String::into_bytes),
        ],
    ) {
        let Some(headers) = with_authorization(&value) else { return Ok(()) };
        let text = headers.get(AUTHORIZATION).unwrap().to_str().ok();
        match presented(&headers) {
            Presented::None => prop_assert!(false, "a header is present"),
            Presented::Other => {}
            Presented::Basic(rest) | Presented::Bearer(rest) => {
                let text = text.unwrap().trim();
                prop_assert!(!rest.is_empty() && rest == rest.trim());
                prop_assert!(text.ends_with(rest));
                let (scheme, _) = text.split_once(' ').unwrap();
                prop_assert!(scheme.eq_ignore_ascii_case("basic") || scheme.eq_ignore_ascii_case("bearer"));
                if let Some(pair) = basic_pair(rest) {
                    prop_assert!(!pair.0.is_empty());
                }
            }
        }
    }

    #[test]
    fn basic_credentials_decode_to_the_pair_encoded(
        scheme in cased("basic"),
        user in "[^:\u{0}-\u{1f}]{1,16}",
        password in any::<String>(),
        padding in "[ ]{0,3}",
    ) {
        let encoded = STANDARD.encode(format!("{user}:{password}"));
        let header = format!("{padding}{scheme} {padding}{encoded}{padding}");
        let headers = with_authorization(header.as_bytes()).unwrap();
        let Presented::Basic(rest) = presented(&headers) else {
            return Err(TestCaseError::fail(format!("{header:?} is not read as Basic")));
        };
        prop_assert_eq!(rest, encoded.as_str());
        prop_assert_eq!(basic_pair(rest), Some((user, password)));
    }

    #[test]
    fn bearer_tokens_are_passed_on_whole_and_long_headers_are_refused(
        scheme in cased("bearer"),
        token in "[A-Za-z0-9._~+/=-]{1,200}",
        long in 4097usize..6000,
    ) {
        let headers = with_authorization(format!("{scheme} {token}").as_bytes()).unwrap();
        prop_assert!(matches!(presented(&headers), Presented::Bearer(read) if read == token));
        let huge = format!("{scheme} {}", "a".repeat(long));
        let headers = with_authorization(huge.as_bytes()).unwrap();
        prop_assert!(matches!(presented(&headers), Presented::Other));
    }
}

/// The limit is 4096 bytes inclusive: a header of exactly 4096 bytes is read, 4097 is not.
#[test]
fn a_header_of_4096_bytes_is_read_and_4097_is_not() {
    let exactly = format!("Bearer {}", "a".repeat(4096 - "Bearer ".len()));
    assert_eq!(exactly.len(), 4096);
    let headers = with_authorization(exactly.as_bytes()).unwrap();
    assert!(matches!(presented(&headers), Presented::Bearer(token) if token.len() == 4089));
    let longer = format!("{exactly}a");
    let headers = with_authorization(longer.as_bytes()).unwrap();
    assert!(matches!(presented(&headers), Presented::Other));
}
