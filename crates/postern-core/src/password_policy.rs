//! What a new password must be (NIST SP 800-63B): 8 to 1024 characters, not one of the most
//! common passwords, and nothing else: no composition rules, which only make passwords
//! harder to remember without making them harder to guess.

use std::sync::OnceLock;

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 1024;

/// The 20,000 most common passwords of 8+ characters (data/README.md says where from).
const COMMON: &str = include_str!("../data/common-passwords.txt");

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("the new password must be at least 8 characters long")]
    TooShort,
    #[error("the new password must be at most 1024 characters long")]
    TooLong,
    #[error("the new password is one of the most common passwords; choose another")]
    Common,
}

pub fn check_new_password(password: &str) -> Result<(), WeakPassword> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(WeakPassword::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(WeakPassword::TooLong);
    }
    if is_common(password) || is_common(&password.to_lowercase()) {
        return Err(WeakPassword::Common);
    }
    Ok(())
}

fn is_common(password: &str) -> bool {
    static SORTED: OnceLock<Vec<&'static str>> = OnceLock::new();
    let sorted = SORTED.get_or_init(|| {
        let mut list: Vec<&'static str> = COMMON.lines().filter(|line| !line.is_empty()).collect();
        list.sort_unstable();
        list
    });
    sorted.binary_search(&password).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_long_enough_and_holds_the_classics() {
        assert!(COMMON.lines().count() >= 10_000);
        for common in ["password", "12345678", "iloveyou", "PASSWORD", "Password"] {
            assert_eq!(
                check_new_password(common),
                Err(WeakPassword::Common),
                "{common}"
            );
        }
    }

    #[test]
    fn length_is_the_only_other_rule() {
        assert_eq!(check_new_password("short"), Err(WeakPassword::TooShort));
        assert_eq!(check_new_password("ééééééé"), Err(WeakPassword::TooShort));
        assert_eq!(
            check_new_password(&"x".repeat(1025)),
            Err(WeakPassword::TooLong)
        );
        assert!(check_new_password("correct horse battery staple").is_ok());
        assert!(
            check_new_password("éééééééé").is_ok(),
            "characters, not bytes"
        );
        assert!(
            check_new_password("alllowercase words").is_ok(),
            "no composition rules"
        );
    }
}
