//! Who a request belongs to, as the upstream app will see it in the `Remote-*` headers.

use std::ops::Deref;
use std::sync::Arc;

use http::HeaderValue;

/// The identity postern vouches for. Every field is already safe to put in a header, and the
/// four `Remote-*` header values are rendered once, when the user table is built: every
/// allowed check answers with them, so a check clones one pointer instead of four strings
/// and a list of groups, and copies no bytes.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Identity(Arc<Fields>);

#[derive(Debug, PartialEq, Eq)]
pub struct Fields {
    pub user: String,
    pub email: String,
    pub name: String,
    pub groups: Vec<String>,
    /// `Remote-User`, `Remote-Email`, `Remote-Name`, `Remote-Groups`, in that order.
    remote_headers: [HeaderValue; 4],
}

impl Default for Fields {
    fn default() -> Self {
        Self {
            user: String::new(),
            email: String::new(),
            name: String::new(),
            groups: Vec::new(),
            remote_headers: std::array::from_fn(|_| HeaderValue::from_static("")),
        }
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
        let remote_headers = [
            header_value(&user),
            header_value(&email),
            header_value(&name),
            header_value(&groups.join(",")),
        ];
        Self(Arc::new(Fields {
            user,
            email,
            name,
            groups,
            remote_headers,
        }))
    }

    /// `Remote-Groups`: comma-separated, as tinyauth and Authelia send it.
    pub fn groups_header(&self) -> String {
        self.groups.join(",")
    }

    /// `Remote-User`, `Remote-Email`, `Remote-Name` and `Remote-Groups`, ready to send.
    pub fn remote_headers(&self) -> &[HeaderValue; 4] {
        &self.remote_headers
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
        let [user, email, name, groups] = identity.remote_headers();
        assert_eq!(
            [user, email, name, groups].map(HeaderValue::as_bytes),
            [&b"alice"[..], b"a@x.com", b"AliceX-Evil: 1", b"dev"]
        );
    }
}
