//! Who a request belongs to, as the upstream app will see it in the `Remote-*` headers.

/// The identity postern vouches for. Every field is already safe to put in a header.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Identity {
    pub user: String,
    pub email: String,
    pub name: String,
    pub groups: Vec<String>,
}

impl Identity {
    pub fn new(user: &str, email: &str, name: &str, groups: &[String]) -> Self {
        Self {
            user: header_safe(user),
            email: header_safe(email),
            name: header_safe(name),
            // A comma would split one group into two in `Remote-Groups`; such a group is left
            // out rather than turned into another group's name ("ad,mins" is not "admins").
            groups: groups
                .iter()
                .map(|group| header_safe(group))
                .filter(|group| !group.is_empty() && !group.contains(','))
                .collect(),
        }
    }

    /// `Remote-Groups`: comma-separated, as tinyauth and Authelia send it.
    pub fn groups_header(&self) -> String {
        self.groups.join(",")
    }
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
    }
}
