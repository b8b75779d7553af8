//! Changing one user's password hash in a users file, leaving every other line as it was:
//! tinyauth lines (`name:hash[:totp]`) or, for a `.toml` file, `[[users]]` tables. The caller
//! writes the result atomically. The change is a compare-and-swap: it is refused when the
//! user's hash in the file is no longer the one being replaced, so a late rewrite (a queued
//! bcrypt upgrade, say) never brings back a password an administrator or the user replaced.

use std::path::Path;

/// A `users_file` ending in `.toml` holds `[[users]]` tables; anything else, tinyauth lines.
pub fn is_toml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"))
}

/// Why a hash was not replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotReplaced {
    #[error("the user is no longer in `users_file`")]
    NotInFile,
    #[error("the user's hash in `users_file` changed meanwhile")]
    Changed,
}

/// `text` with `user`'s hash `old_hash` replaced by `new_hash`.
pub fn with_new_hash(
    text: &str,
    user: &str,
    old_hash: &str,
    new_hash: &str,
    toml: bool,
) -> Result<String, NotReplaced> {
    if toml {
        toml_with_new_hash(text, user, old_hash, new_hash)
    } else {
        lines_with_new_hash(text, user, old_hash, new_hash)
    }
}

fn lines_with_new_hash(
    text: &str,
    user: &str,
    old_hash: &str,
    new_hash: &str,
) -> Result<String, NotReplaced> {
    let mut found = false;
    let mut out = String::with_capacity(text.len() + new_hash.len());
    for line in text.split_inclusive('\n') {
        let (content, ending) = split_ending(line);
        let trimmed = content.trim();
        let mut fields = trimmed.splitn(3, ':');
        let name = fields.next().unwrap_or_default().trim();
        if !found
            && !trimmed.starts_with('#')
            && !name.is_empty()
            && name.eq_ignore_ascii_case(user)
        {
            if fields.next().unwrap_or_default().trim() != old_hash {
                return Err(NotReplaced::Changed);
            }
            out.push_str(name);
            out.push(':');
            out.push_str(new_hash);
            if let Some(totp) = fields.next() {
                out.push(':');
                out.push_str(totp.trim());
            }
            out.push_str(ending);
            found = true;
        } else {
            out.push_str(line);
        }
    }
    if found {
        Ok(out)
    } else {
        Err(NotReplaced::NotInFile)
    }
}

/// Finds the `[[users]]` table whose `name` is `user` and rewrites its `password_hash` line.
fn toml_with_new_hash(
    text: &str,
    user: &str,
    old_hash: &str,
    new_hash: &str,
) -> Result<String, NotReplaced> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut block_start = None;
    let mut target = None;
    let check_block = |start: usize, end: usize, target: &mut Option<(usize, bool)>| {
        let mut name_matches = false;
        let mut hash_line = None;
        for (index, line) in lines.iter().enumerate().take(end).skip(start) {
            match key_value(line) {
                Some(("name", value)) => name_matches = value.eq_ignore_ascii_case(user),
                Some(("password_hash", hash)) => hash_line = Some((index, hash == old_hash)),
                _ => {}
            }
        }
        if name_matches && target.is_none() {
            *target = hash_line;
        }
    };
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if let Some(start) = block_start.take() {
                check_block(start, index, &mut target);
            }
            if trimmed.starts_with("[[users]]") {
                block_start = Some(index + 1);
            }
        }
    }
    if let Some(start) = block_start {
        check_block(start, lines.len(), &mut target);
    }
    let target = match target {
        Some((index, true)) => index,
        Some((_, false)) => return Err(NotReplaced::Changed),
        None => return Err(NotReplaced::NotInFile),
    };
    let mut out = String::with_capacity(text.len() + new_hash.len());
    for (index, line) in lines.iter().enumerate() {
        if index == target {
            let indent: String = line
                .chars()
                .take_while(|ch| *ch == ' ' || *ch == '\t')
                .collect();
            out.push_str(&format!("{indent}password_hash = \"{new_hash}\""));
            out.push_str(split_ending(line).1);
        } else {
            out.push_str(line);
        }
    }
    Ok(out)
}

/// `key = "value"` on one line (basic or literal string), comments after it ignored.
fn key_value(line: &str) -> Option<(&str, &str)> {
    let (key, rest) = line.split_once('=')?;
    let key = key.trim();
    let rest = rest.trim();
    let quote = rest.chars().next().filter(|ch| *ch == '"' || *ch == '\'')?;
    let inner = &rest[1..];
    let end = inner.find(quote)?;
    Some((key, &inner[..end]))
}

fn split_ending(line: &str) -> (&str, &str) {
    if let Some(content) = line.strip_suffix("\r\n") {
        (content, "\r\n")
    } else if let Some(content) = line.strip_suffix('\n') {
        (content, "\n")
    } else {
        (line, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tinyauth_line_changes_and_nothing_else_does() {
        let text = "# users\nalice:$old$a\r\nBob:$old$b:TOTPSECRET\n\ncarol:$old$c";
        let changed = with_new_hash(text, "bob", "$old$b", "$new$", false).unwrap();
        assert_eq!(
            changed,
            "# users\nalice:$old$a\r\nBob:$new$:TOTPSECRET\n\ncarol:$old$c"
        );
        let last = with_new_hash(text, "carol", "$old$c", "$new$", false).unwrap();
        assert!(last.ends_with("carol:$new$"));
        assert_eq!(
            with_new_hash(text, "mallory", "$old$m", "$new$", false),
            Err(NotReplaced::NotInFile)
        );
        assert_eq!(
            with_new_hash("# alice:$x\n", "alice", "$x", "$new$", false),
            Err(NotReplaced::NotInFile),
            "comments are not users"
        );
    }

    #[test]
    fn a_toml_table_changes_and_nothing_else_does() {
        let text = r#"# team
[[users]]
name = "alice"
password_hash = "$old$a"   # set by hand
groups = ["admins"]

[[users]]
password_hash = '$old$b'
  name = "bob"
email = "bob@example.com"
"#;
        let changed = with_new_hash(text, "Bob", "$old$b", "$new$", true).unwrap();
        assert_eq!(
            changed,
            text.replace("password_hash = '$old$b'", "password_hash = \"$new$\"")
        );
        let alice = with_new_hash(text, "alice", "$old$a", "$new$", true).unwrap();
        assert!(
            alice.contains("password_hash = \"$new$\"\ngroups"),
            "{alice}"
        );
        assert!(alice.contains("'$old$b'"));
        assert_eq!(
            with_new_hash(text, "carol", "$old$c", "$new$", true),
            Err(NotReplaced::NotInFile)
        );
        // The result still parses.
        let parsed: toml::Value = toml::from_str(&changed).unwrap();
        assert_eq!(parsed["users"][1]["password_hash"].as_str(), Some("$new$"));
    }

    #[test]
    fn a_hash_changed_meanwhile_is_not_replaced() {
        // alice's bcrypt hash was rotated in the file after an upgrade of it was queued.
        let lines = "bob:$b\nalice:$rotated:TOTPSECRET\n";
        assert_eq!(
            with_new_hash(lines, "alice", "$bcrypt-old", "$argon2-of-old$", false),
            Err(NotReplaced::Changed)
        );
        let toml = "[[users]]\nname = \"alice\"\npassword_hash = \"$rotated\"\n";
        assert_eq!(
            with_new_hash(toml, "alice", "$bcrypt-old", "$argon2-of-old$", true),
            Err(NotReplaced::Changed)
        );
        // The hash it replaces, spaces around it as a hand edit may leave, is still replaced.
        assert_eq!(
            with_new_hash("alice: $rotated \n", "alice", "$rotated", "$new$", false),
            Ok("alice:$new$\n".to_owned())
        );
        assert!(with_new_hash(toml, "alice", "$rotated", "$new$", true).is_ok());
    }

    #[test]
    fn the_format_follows_the_extension() {
        assert!(is_toml(Path::new("/etc/postern/users.toml")));
        assert!(is_toml(Path::new("users.TOML")));
        assert!(!is_toml(Path::new("users.txt")));
        assert!(!is_toml(Path::new("users")));
    }
}
