use http::header::{ACCEPT, AUTHORIZATION, COOKIE, HeaderMap, HeaderName, HeaderValue};

use super::{RequestHeaders, text};

/// The same head as hyper's map holds it and as the lane parsed it (names as sent).
const SENT: [(&str, &[u8]); 6] = [
    ("Cookie", b"a=1"),
    ("X-Forwarded-For", b"10.0.0.1"),
    ("accept", b"text/html"),
    ("COOKIE", b"b=2"),
    ("x-forwarded-for", b"10.0.0.2, 10.0.0.3"),
    ("Host", b"app.example.com"),
];

fn map() -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in SENT {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    map
}

#[test]
fn a_parsed_head_reads_as_hyper_s_map_of_it() {
    let map = map();
    let both = [RequestHeaders::from(&map), RequestHeaders::Parsed(&SENT)];
    let forwarded_for = HeaderName::from_static("x-forwarded-for");
    let names = [
        COOKIE,
        ACCEPT,
        AUTHORIZATION,
        forwarded_for,
        http::header::HOST,
    ];
    for name in &names {
        let [from_map, parsed] = both.map(|headers| {
            (
                headers.first(name),
                headers.has(name),
                headers.all(name).collect::<Vec<_>>(),
                // `X-Forwarded-For` is read from the nearest proxy back.
                headers.all(name).rev().collect::<Vec<_>>(),
            )
        });
        assert_eq!(from_map, parsed, "{name}");
    }
    assert_eq!(
        both[1].all(&COOKIE).collect::<Vec<_>>(),
        [b"a=1".as_slice(), b"b=2"],
        "every value in the order sent, whatever the name's case"
    );
    assert_eq!(both[1].first(&AUTHORIZATION), None);

    let mut from_map: Vec<_> = both[0]
        .lines()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    let mut parsed: Vec<_> = both[1]
        .lines()
        .map(|(name, value)| (name.to_ascii_lowercase(), value))
        .collect();
    from_map.sort();
    parsed.sort();
    assert_eq!(from_map, parsed);
}

/// `text` stands in for `HeaderValue::to_str` on parsed values: byte for byte the same, at
/// every place in a value the vectorised loop may take it.
#[test]
fn text_reads_as_header_value_to_str_does() {
    for byte in 0..=u8::MAX {
        for at in [0, 1, 7, 15, 16, 31, 39] {
            let mut bytes = [b'v'; 40];
            bytes[at] = byte;
            let Ok(value) = HeaderValue::from_bytes(&bytes) else {
                continue;
            };
            assert_eq!(
                text(&bytes),
                value.to_str().ok(),
                "byte {byte:#04x} at {at}"
            );
        }
    }
    assert_eq!(text("café".as_bytes()), None, "UTF-8 is not header text");
}
