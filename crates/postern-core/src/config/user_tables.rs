//! The `[[users]]` tables and the `users_file`: each user checked (hash, TOTP secret, recovery
//! codes, email), names and emails unique across both, every problem kept.

use std::collections::HashSet;
use std::path::Path;

use super::raw::RawUser;
use crate::password;
use crate::totp::TotpKey;
use crate::users::{self, User, UserTable};
use crate::users_file;

pub(super) fn users(
    inline: Vec<RawUser>,
    file: Option<&Path>,
    has_providers: bool,
    problems: &mut Vec<String>,
) -> UserTable {
    let mut all = user_tables(inline, "[[users]]", problems);
    if let Some(path) = file {
        match std::fs::read_to_string(path) {
            Ok(text) if users_file::is_toml(path) => match toml::from_str::<UsersToml>(&text) {
                Ok(parsed) => {
                    let prefix = format!("`users_file` {}: [[users]]", path.display());
                    all.extend(
                        user_tables(parsed.users, &prefix, problems)
                            .into_iter()
                            .map(User::from_users_file),
                    );
                }
                Err(err) => problems.push(format!(
                    "`users_file` {}: {}",
                    path.display(),
                    super::syntax_error::describe(&err, &text)
                )),
            },
            Ok(text) => {
                let (users, file_problems) = users::parse_users_file(&text);
                problems.extend(
                    file_problems
                        .into_iter()
                        .map(|p| format!("`users_file` {}: {p}", path.display())),
                );
                all.extend(users.into_iter().map(User::from_users_file));
            }
            Err(err) => problems.push(format!("`users_file` {}: {err}", path.display())),
        }
    }
    check_unique(&all, problems);
    if all.is_empty() && !has_providers && problems.is_empty() {
        problems.push("no users and no `[oauth.<id>]` provider: add a [[users]] table or a `users_file` (make a hash with `postern hash-password`)".into());
    }
    UserTable::new(all)
}

/// A `users_file` that ends in `.toml`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersToml {
    #[serde(default)]
    users: Vec<RawUser>,
}

/// `[[users]]` tables, each checked; `prefix` names where they come from in messages.
fn user_tables(inline: Vec<RawUser>, prefix: &str, problems: &mut Vec<String>) -> Vec<User> {
    let mut all = Vec::new();
    for (index, raw) in inline.into_iter().enumerate() {
        let label = format!("{prefix} #{} (`{}`)", index + 1, raw.name);
        let mut fine = true;
        if let Some(problem) = users::name_problem(&raw.name) {
            problems.push(format!("{label}: {problem}"));
            fine = false;
        }
        if let Err(problem) = password::hash_kind(&raw.password_hash) {
            problems.push(format!(
                "{label}: `password_hash`: {problem} (make one with `postern hash-password`)"
            ));
            fine = false;
        }
        if !raw.email.is_empty() && !looks_like_email(&raw.email) {
            problems.push(format!(
                "{label}: `email` {:?} is not an email address",
                raw.email
            ));
            fine = false;
        }
        for code_hash in &raw.recovery_codes {
            if password::hash_kind(code_hash).is_err() {
                problems.push(format!(
                    "{label}: `recovery_codes` holds hashes, as `postern totp generate` prints them, not the codes"
                ));
                fine = false;
                break;
            }
        }
        if !raw.recovery_codes.is_empty() && raw.totp_secret.is_none() {
            problems.push(format!(
                "{label}: `recovery_codes` without a `totp_secret` can never be used"
            ));
            fine = false;
        }
        let totp = match raw.totp_secret.as_deref().map(TotpKey::parse).transpose() {
            Ok(totp) => totp,
            Err(problem) => {
                problems.push(format!("{label}: `totp_secret` {problem}"));
                fine = false;
                None
            }
        };
        if fine {
            let mut user = User::new(
                raw.name,
                raw.password_hash,
                raw.email,
                raw.display_name,
                raw.groups,
                totp,
            );
            user.recovery_codes = raw.recovery_codes;
            all.push(user);
        }
    }
    all
}

/// One name per user, one user per email.
fn check_unique(all: &[User], problems: &mut Vec<String>) {
    let mut names = HashSet::new();
    let mut emails = HashSet::new();
    for user in all {
        if !names.insert(user.name.to_lowercase()) {
            problems.push(format!("user `{}` is defined more than once", user.name));
        }
        if !user.email.is_empty() && !emails.insert(user.email.to_lowercase()) {
            problems.push(format!(
                "the email `{}` belongs to more than one user: sign-in by email would be ambiguous",
                user.email
            ));
        }
    }
}

fn looks_like_email(text: &str) -> bool {
    text.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !text.chars().any(|c| c.is_whitespace() || c.is_control())
    })
}
