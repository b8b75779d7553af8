//! A request's headers as a check reads them: hyper's `HeaderMap`, or the head the check lane
//! parsed (`postern-server`'s `listener::check_lane`), read the same way through one type.
//!
//! Why not always a `HeaderMap`: building one costs every header a name lookup or
//! allocation, a hash of the name and an insert, and a check reads four or five of a
//! proxy's ten or so headers. Read from the lane's parsed head, a cookie check ran 3,285
//! fewer instructions under callgrind (23,140 to 19,855, plain build) and an nginx-shaped one
//! 5,948 fewer (docs/performance.md, "The nineteenth session").

use http::header::{HeaderMap, HeaderName, HeaderValue, ValueIter};

/// Header names an allowed check answer sets itself, or that frame the message or belong to
/// the proxy: neither an app's `headers` nor `[identity_token] header` may take one. The
/// identity's four; `Cache-Control`, whose `no-store` must reach the proxy (a cache that kept
/// an answer with an identity would hand it to other requests), and `Date`; the framing and
/// hop-by-hop names (RFC 9110 section 7.6.1, RFC 9112); `Set-Cookie` and `Location`.
pub const ANSWER_OWN_HEADERS: &[&str] = &[
    "remote-user",
    "remote-email",
    "remote-name",
    "remote-groups",
    "cache-control",
    "date",
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "set-cookie",
    "location",
];

/// A request's headers, in the order they were sent.
#[derive(Clone, Copy)]
pub enum RequestHeaders<'a> {
    Map(&'a HeaderMap),
    /// `(name, value)` in the order sent, names in the case they were sent. Names are
    /// tokens and values hold no control character but tab, as `HeaderName` and
    /// `HeaderValue` require: httparse takes no other bytes (hyper builds its values from
    /// the same slices unchecked), and a test in the check lane holds the two together.
    Parsed(&'a [(&'a str, &'a [u8])]),
}

impl<'a> From<&'a HeaderMap> for RequestHeaders<'a> {
    fn from(map: &'a HeaderMap) -> Self {
        Self::Map(map)
    }
}

impl<'a> RequestHeaders<'a> {
    /// The first value of `name`, as `HeaderMap::get` gives it.
    pub fn first(self, name: &HeaderName) -> Option<&'a [u8]> {
        match self {
            Self::Map(map) => map.get(name).map(HeaderValue::as_bytes),
            Self::Parsed(lines) => lines
                .iter()
                .find(|(sent, _)| sent.eq_ignore_ascii_case(name.as_str()))
                .map(|(_, value)| *value),
        }
    }

    /// Whether `name` was sent at all.
    pub fn has(self, name: &HeaderName) -> bool {
        self.first(name).is_some()
    }

    /// Every value of `name`, in the order sent, as `HeaderMap::get_all` gives them.
    pub fn all(self, name: &HeaderName) -> AllValues<'a> {
        match self {
            Self::Map(map) => AllValues::Map(map.get_all(name).into_iter()),
            // A clone of a standard or static name copies no bytes.
            Self::Parsed(lines) => AllValues::Parsed {
                lines: lines.iter(),
                name: name.clone(),
            },
        }
    }

    /// Every header in the order sent (a map gives its names' values together, lower-case);
    /// compare names with `eq_ignore_ascii_case`.
    pub fn lines(self) -> Lines<'a> {
        match self {
            Self::Map(map) => Lines::Map(map.iter()),
            Self::Parsed(lines) => Lines::Parsed(lines.iter()),
        }
    }
}

/// A value as text, exactly as `HeaderValue::to_str` reads it: visible ASCII, spaces and
/// tabs; `None` for anything else (obs-text, UTF-8).
pub fn text(value: &[u8]) -> Option<&str> {
    // A fold without an early exit, in bit operations: the compiler checks 16 bytes a step.
    // Byte by byte with `all`, the five or so values a check reads cost it 1,450
    // instructions under callgrind.
    let visible = value.iter().fold(true, |visible, &byte| {
        visible & ((byte.wrapping_sub(b' ') < 0x5f) | (byte == b'\t'))
    });
    if visible {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}

/// The values `RequestHeaders::all` yields.
pub enum AllValues<'a> {
    Map(ValueIter<'a, HeaderValue>),
    Parsed {
        lines: std::slice::Iter<'a, (&'a str, &'a [u8])>,
        name: HeaderName,
    },
}

impl<'a> Iterator for AllValues<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Self::Map(values) => values.next().map(HeaderValue::as_bytes),
            Self::Parsed { lines, name } => lines
                .find(|(sent, _)| sent.eq_ignore_ascii_case(name.as_str()))
                .map(|(_, value)| *value),
        }
    }
}

/// From the end: `X-Forwarded-For` is read from the proxy nearest postern back.
impl<'a> DoubleEndedIterator for AllValues<'a> {
    fn next_back(&mut self) -> Option<&'a [u8]> {
        match self {
            Self::Map(values) => values.next_back().map(HeaderValue::as_bytes),
            Self::Parsed { lines, name } => lines
                .rfind(|(sent, _)| sent.eq_ignore_ascii_case(name.as_str()))
                .map(|(_, value)| *value),
        }
    }
}

/// The headers `RequestHeaders::lines` yields.
pub enum Lines<'a> {
    Map(http::header::Iter<'a, HeaderValue>),
    Parsed(std::slice::Iter<'a, (&'a str, &'a [u8])>),
}

impl<'a> Iterator for Lines<'a> {
    type Item = (&'a str, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Map(lines) => lines
                .next()
                .map(|(name, value)| (name.as_str(), value.as_bytes())),
            Self::Parsed(lines) => lines.next().copied(),
        }
    }
}

#[cfg(test)]
mod tests;
