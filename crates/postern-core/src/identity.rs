//! Who a request belongs to, as the upstream app will see it in the `Remote-*` headers.

use std::ops::Deref;
use std::sync::{Arc, LazyLock};

use http::header::CACHE_CONTROL;
use http::{HeaderMap, HeaderName, HeaderValue};

const REMOTE_USER: HeaderName = HeaderName::from_static("remote-user");
const REMOTE_EMAIL: HeaderName = HeaderName::from_static("remote-email");
const REMOTE_NAME: HeaderName = HeaderName::from_static("remote-name");
const REMOTE_GROUPS: HeaderName = HeaderName::from_static("remote-groups");

/// The identity postern vouches for. Every field is already safe to put in a header, and the
/// headers of an allowed check are rendered once, when the user table is built: as a header
/// map, which an answer through hyper copies (two allocations, and a reference count for each
/// non-empty value; inserting the headers into a new answer hashed each name and grew the map
/// on the way, 750 to 874 of a check's 25,671 instructions under callgrind, docs/performance.md,
/// "The seventeenth session"), and as the HTTP/1.1 lines the check lane writes
/// (`answer_lines`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity(Arc<Fields>);

#[derive(Debug, PartialEq, Eq)]
pub struct Fields {
    pub user: String,
    pub email: String,
    pub name: String,
    pub groups: Vec<String>,
    /// `Remote-User`, `Remote-Email`, `Remote-Name`, `Remote-Groups`, always all four, and
    /// `Cache-Control: no-store`.
    answer_headers: HeaderMap,
    /// The same headers as HTTP/1.1 lines.
    answer_lines: Vec<u8>,
}

impl Default for Identity {
    /// Nobody, as a bypassed request is answered: all four `Remote-*` headers empty. Shared:
    /// a bypass allocates nothing for it.
    fn default() -> Self {
        static NOBODY: LazyLock<Identity> = LazyLock::new(|| Identity::new("", "", "", &[]));
        NOBODY.clone()
    }
}

impl Deref for Identity {
    type Target = Fields;

    fn deref(&self) -> &Fields {
        &self.0
    }
}

impl Identity {
    pub fn new(user: &str, email: &str, name: &str, groups: &[String]) -> Self {
        let user = header_safe(user);
        let email = header_safe(email);
        let name = header_safe(name);
        // A comma would split one group into two in `Remote-Groups`; such a group is left
        // out rather than turned into another group's name ("ad,mins" is not "admins").
        let groups: Vec<String> = groups
            .iter()
            .map(|group| header_safe(group))
            .filter(|group| !group.is_empty() && !group.contains(','))
            .collect();
        let mut answer_headers = HeaderMap::with_capacity(5);
        // Every check answer says so (`respond::empty`): one that names a user is never to be
        // kept by a cache between postern and the proxy.
        answer_headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        answer_headers.insert(REMOTE_USER, header_value(&user));
        answer_headers.insert(REMOTE_EMAIL, header_value(&email));
        answer_headers.insert(REMOTE_NAME, header_value(&name));
        answer_headers.insert(REMOTE_GROUPS, header_value(&groups.join(",")));
        let mut answer_lines = Vec::new();
        for (name, value) in &answer_headers {
            answer_lines.extend_from_slice(name.as_str().as_bytes());
            answer_lines.extend_from_slice(b": ");
            answer_lines.extend_from_slice(value.as_bytes());
            answer_lines.extend_from_slice(b"\r\n");
        }
        Self(Arc::new(Fields {
            user,
            email,
            name,
            groups,
            answer_headers,
            answer_lines,
        }))
    }

    /// `Remote-Groups`: comma-separated, as tinyauth and Authelia send it.
    pub fn groups_header(&self) -> String {
        self.groups.join(",")
    }

    /// The headers of an allowed check's answer, ready to send: `Remote-User`,
    /// `Remote-Email`, `Remote-Name`, `Remote-Groups` and `Cache-Control: no-store`. An app's
    /// own headers go on top.
    pub fn answer_headers(&self) -> &HeaderMap {
        &self.answer_headers
    }

    /// `answer_headers` as HTTP/1.1 header lines (`name: value\r\n`, in the map's order), as
    /// hyper writes them: the listener's check lane writes an allowed answer from these, with
    /// no response or map to build, walk and drop (a cookie check 19,855 to 17,661
    /// instructions under callgrind, plain build; docs/performance.md, "The nineteenth
    /// session").
    pub fn answer_lines(&self) -> &[u8] {
        &self.answer_lines
    }
}

/// A value `header_safe` made: always valid; an empty one should it ever not be.
fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Strips what must never reach a header: CR, LF, NUL and the other control characters that
/// HTTP forbids in field values. Leading and trailing spaces go too.
pub fn header_safe(value: &str) -> String {
    value
        .chars()
        .filter(|ch| !ch.is_control())
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_a_header() {
        let identity = Identity::new(
            "ali\r\nce",
            "a@x\0.com",
            " Alice\nX-Evil: 1 ",
            &["ad,mins".into(), "\r\n".into(), "dev".into()],
        );
        assert_eq!(identity.user, "alice");
        assert_eq!(identity.email, "a@x.com");
        assert_eq!(identity.name, "AliceX-Evil: 1");
        assert_eq!(identity.groups_header(), "dev");
        let headers = identity.answer_headers();
        assert_eq!(
            [REMOTE_USER, REMOTE_EMAIL, REMOTE_NAME, REMOTE_GROUPS]
                .map(|name| headers.get(name).map(HeaderValue::as_bytes)),
            [
                Some(&b"alice"[..]),
                Some(b"a@x.com"),
                Some(b"AliceX-Evil: 1"),
                Some(b"dev")
            ]
        );
        assert_eq!(headers.len(), 5);
    }

    /// A bypassed request's answer still carries every `Remote-*` header, empty, so a proxy
    /// that copies them overwrites whatever the client sent.
    #[test]
    fn nobody_has_all_four_headers_empty() {
        let nobody = Identity::default();
        assert_eq!(nobody.user, "");
        let headers = nobody.answer_headers();
        assert_eq!(headers.len(), 5);
        for name in [REMOTE_USER, REMOTE_EMAIL, REMOTE_NAME, REMOTE_GROUPS] {
            assert_eq!(headers.get(name).map(HeaderValue::as_bytes), Some(&b""[..]));
        }
    }
}
