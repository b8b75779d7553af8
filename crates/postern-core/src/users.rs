//! The local users: from `[[users]]` tables and from a tinyauth-style `users_file`
//! (`name:hash[:totp_secret]`, one per line, `#` comments).

use std::collections::HashMap;
use std::sync::Arc;

use crate::identity::Identity;
use crate::password;
use crate::totp::TotpKey;

/// One local account.
#[derive(Clone)]
pub struct User {
    pub name: String,
    pub password_hash: String,
    pub email: String,
    pub display_name: String,
    pub groups: Vec<String>,
    /// Set: the user signs in with a password and a TOTP code.
    pub totp: Option<TotpKey>,
    /// argon2id hashes of single-use recovery codes (`postern totp generate`).
    pub recovery_codes: Vec<String>,
    /// Defined in `users_file` (a password change rewrites that file), not in the config.
    pub from_users_file: bool,
    identity: Identity,
}

impl User {
    pub fn new(
        name: String,
        password_hash: String,
        email: String,
        display_name: String,
        groups: Vec<String>,
        totp: Option<TotpKey>,
    ) -> Self {
        let identity = Identity::new(&name, &email, &display_name, &groups);
        Self {
            name,
            password_hash,
            email,
            display_name,
            groups,
            totp,
            recovery_codes: Vec::new(),
            from_users_file: false,
            identity,
        }
    }

    /// The same user, marked as coming from `users_file`.
    pub fn from_users_file(mut self) -> Self {
        self.from_users_file = true;
        self
    }

    /// The `Remote-*` identity, built once when the table is loaded.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
}

impl std::fmt::Debug for User {
    // No hash and no TOTP secret in any log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("email", &self.email)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

/// Users by name (case-insensitive) and by email.
#[derive(Debug, Clone, Default)]
pub struct UserTable {
    by_name: HashMap<String, Arc<User>>,
    by_email: HashMap<String, Arc<User>>,
}

impl UserTable {
    /// Later entries with the same name replace earlier ones; validation reports duplicates.
    pub fn new(users: impl IntoIterator<Item = User>) -> Self {
        let mut table = Self::default();
        for user in users {
            let user = Arc::new(user);
            if !user.email.is_empty() {
                table
                    .by_email
                    .insert(user.email.to_lowercase(), Arc::clone(&user));
            }
            table.by_name.insert(user.name.to_lowercase(), user);
        }
        table
    }

    /// The user a session belongs to.
    pub fn get(&self, name: &str) -> Option<&Arc<User>> {
        // Every check looks its session's user up: a name with nothing to lower (the usual
        // case) is looked up as it is, without the copy `to_lowercase` makes.
        if name
            .bytes()
            .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
        {
            return self.by_name.get(name);
        }
        self.by_name.get(&name.to_lowercase())
    }

    /// The user a login form names, by username or by email.
    pub fn find_for_login(&self, name_or_email: &str) -> Option<&Arc<User>> {
        let key = name_or_email.trim().to_lowercase();
        self.by_name.get(&key).or_else(|| self.by_email.get(&key))
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<User>> {
        self.by_name.values()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

/// Checks a user name: printable, no spaces, no `:` (the users-file separator).
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("the name is empty")
    } else if name.chars().count() > 128 {
        Some("the name is longer than 128 characters")
    } else if name
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == ':' || c == ',')
    {
        Some("the name may not contain spaces, control characters, ':' or ','")
    } else {
        None
    }
}

/// Parses a tinyauth users file. Returns the users and one message per bad line
/// (`line N: ...`), so every problem is reported at once.
pub fn parse_users_file(text: &str) -> (Vec<User>, Vec<String>) {
    let mut users = Vec::new();
    let mut problems = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let number = index + 1;
        let mut fields = line.splitn(3, ':');
        let name = fields.next().unwrap_or_default().trim();
        let hash = fields.next().unwrap_or_default().trim();
        let totp = fields.next().map(str::trim).filter(|t| !t.is_empty());
        if let Some(problem) = name_problem(name) {
            problems.push(format!("line {number}: {problem}"));
            continue;
        }
        if let Err(problem) = password::hash_kind(hash) {
            problems.push(format!("line {number} (user `{name}`): {problem}"));
            continue;
        }
        let totp = match totp.map(TotpKey::parse).transpose() {
            Ok(totp) => totp,
            Err(problem) => {
                problems.push(format!(
                    "line {number} (user `{name}`): the TOTP secret {problem}"
                ));
                continue;
            }
        };
        users.push(User::new(
            name.to_owned(),
            hash.to_owned(),
            String::new(),
            String::new(),
            Vec::new(),
            totp,
        ));
    }
    (users, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$cG9zdGVybmR1bW15c2FsdA$Lmj0zBZrgAqoUeVTqEBuo4+4/+Ho2eQYzxOuVEMYDJE";

    #[test]
    fn parses_tinyauth_lines_and_reports_each_bad_one() {
        let text = format!(
            "# users\nalice:{HASH}\n\nbob:{HASH}:GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\nbad name:{HASH}\ncarol:plaintext\n:{HASH}\ndave:{HASH}:JBSWY3DPEHPK3PXP\n"
        );
        let (users, problems) = parse_users_file(&text);
        let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["alice", "bob"]);
        assert!(users[1].totp.is_some());
        assert!(users[0].totp.is_none());
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems[3].contains("shorter than 128 bits"),
            "{problems:?}"
        );
        assert!(problems[0].starts_with("line 5:"), "{problems:?}");
        assert!(
            problems[1].starts_with("line 6 (user `carol`)"),
            "{problems:?}"
        );
    }

    #[test]
    fn lookups_are_case_insensitive_and_accept_emails() {
        let alice = User::new(
            "Alice".into(),
            HASH.into(),
            "Alice@Example.com".into(),
            "Alice".into(),
            vec!["admins".into()],
            None,
        );
        let table = UserTable::new([alice]);
        assert_eq!(table.get("alice").map(|u| u.name.as_str()), Some("Alice"));
        assert_eq!(
            table
                .find_for_login(" alice@example.COM ")
                .map(|u| u.name.as_str()),
            Some("Alice")
        );
        assert!(table.find_for_login("nobody").is_none());
        assert_eq!(
            table.get("ALICE").unwrap().identity().groups_header(),
            "admins"
        );
    }

    /// The lookup without a copy is only for names with nothing to lower: names outside ASCII
    /// still go through `to_lowercase`.
    #[test]
    fn lookups_lower_names_outside_ascii() {
        let emile = User::new(
            "Émile".into(),
            HASH.into(),
            String::new(),
            String::new(),
            Vec::new(),
            None,
        );
        let table = UserTable::new([emile]);
        for name in ["émile", "Émile", "ÉMILE"] {
            assert_eq!(
                table.get(name).map(|u| u.name.as_str()),
                Some("Émile"),
                "{name}"
            );
        }
        assert!(table.get("emile").is_none());
    }

    #[test]
    fn debug_output_hides_the_hash() {
        let user = User::new(
            "a".into(),
            HASH.into(),
            String::new(),
            String::new(),
            vec![],
            Some(TotpKey::parse("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap()),
        );
        let text = format!("{user:?}");
        assert!(
            !text.contains("argon2") && !text.contains("GEZDGNBV") && !text.contains("49, 50"),
            "{text}"
        );
        // What it does show: who the user is.
        assert!(text.starts_with("User { name: \"a\""), "{text}");
    }

    #[test]
    fn names_are_checked_for_length_in_characters_and_for_separators() {
        assert_eq!(name_problem("alice.smith-2@example"), None);
        assert_eq!(name_problem(&"é".repeat(128)), None, "128 characters");
        assert_eq!(
            name_problem(&"a".repeat(129)),
            Some("the name is longer than 128 characters")
        );
        assert_eq!(name_problem(""), Some("the name is empty"));
        let refused = Some("the name may not contain spaces, control characters, ':' or ','");
        for name in [
            "al ice",
            "al\tice",
            "al\u{7}ice",
            "al\u{a0}ice",
            "al:ice",
            "al,ice",
        ] {
            assert_eq!(name_problem(name), refused, "{name:?}");
        }
    }

    #[test]
    fn a_table_counts_and_lists_its_users_once_each() {
        let user = |name: &str| {
            User::new(
                name.into(),
                HASH.into(),
                String::new(),
                String::new(),
                vec![],
                None,
            )
        };
        let empty = UserTable::new([]);
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        assert_eq!(empty.iter().count(), 0);
        // A later entry with the same name replaces the earlier one.
        let table = UserTable::new([user("alice"), user("bob"), user("Alice")]);
        assert!(!table.is_empty());
        assert_eq!(table.len(), 2);
        let mut names: Vec<&str> = table.iter().map(|u| u.name.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["Alice", "bob"]);
    }

    #[test]
    fn a_user_is_marked_as_coming_from_the_users_file() {
        let (users, _) = parse_users_file(&format!("alice:{HASH}\n"));
        let alice = users.into_iter().next().unwrap();
        assert!(!alice.from_users_file, "parsing alone does not mark it");
        assert!(alice.from_users_file().from_users_file);
    }
}
