//! Failed-login limits: which counters an attempt touches and when they refuse. Counting
//! itself happens in the store, so every replica sees the same numbers.

use std::net::IpAddr;
use std::time::Duration;

/// Longer typed names are counted under their hash.
const MAX_NAME_IN_KEY: usize = 128;

/// The most failures in a row an account takes, however they are spread over clients and over
/// `user_failure_window`s: with a short window, the per-account limit alone would let a
/// guesser with many addresses go on all day. A successful sign-in (or `postern users unlock`)
/// ends the streak. Attempts with the user's device cookie are counted on the device's own
/// counter instead, so a capped account does not lock out its owner's browser.
pub const MAX_CONSECUTIVE_FAILURES: u64 = 100;
/// How long a streak lasts from its first failure, unless a sign-in ends it sooner.
pub const STREAK_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// `[limits]`: failures per client IP and per account, each within its own window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    pub max_failures_per_ip: u64,
    pub failure_window: Duration,
    pub max_failures_per_user: u64,
    pub user_failure_window: Duration,
    /// Requests per second each client IP may make to the UI and API routes (the check path
    /// is exempt), and how many it may make at once.
    pub api_rate: u64,
    pub api_burst: u64,
}

impl LoginLimits {
    /// The counter id for a client: IPv4 addresses as they are, IPv6 by their /64, since one
    /// host usually holds a whole /64 and could otherwise rotate through it.
    pub fn ip_counter(ip: IpAddr) -> String {
        match ip {
            IpAddr::V4(v4) => format!("ip:{v4}"),
            IpAddr::V6(v6) => {
                let [a, b, c, d, ..] = v6.segments();
                format!("ip6:{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        }
    }

    /// The counter id for an account, by the name as the user table spells it in lower case.
    /// Unknown names are counted the same way, so a 429 never tells which names exist. The
    /// `{...}` hash tag keeps all of a user's state on one Redis Cluster slot.
    pub fn user_counter(name: &str) -> String {
        let name = name.trim().to_lowercase();
        // A typed name can be kilobytes long: past any real name's length, its hash stands
        // in, so each counter stays small however long the input.
        if name.len() > MAX_NAME_IN_KEY {
            format!(
                "user:{{#{}}}",
                crate::token::TokenHash::of(name.as_bytes()).to_hex()
            )
        } else {
            format!("user:{{{name}}}")
        }
    }

    /// The streak counter (`MAX_CONSECUTIVE_FAILURES`) that goes with an account counter
    /// (`user_counter`); none for any other counter, such as a device's.
    pub fn streak_counter(account_counter: &str) -> Option<String> {
        account_counter
            .strip_prefix("user:")
            .map(|name| format!("streak:{name}"))
    }

    /// Seconds to put in `Retry-After`: at least 1, rounded up.
    pub fn retry_after_secs(resets_in: Duration) -> u64 {
        let rounded_up = resets_in.as_secs() + u64::from(resets_in.subsec_nanos() > 0);
        rounded_up.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_slash_64() {
        let a = LoginLimits::ip_counter("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = LoginLimits::ip_counter("2001:db8:1:2:ffff::9".parse().unwrap());
        let other = LoginLimits::ip_counter("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert_eq!(
            LoginLimits::ip_counter("192.0.2.7".parse().unwrap()),
            "ip:192.0.2.7"
        );
    }

    #[test]
    fn user_counters_ignore_case_and_carry_a_hash_tag() {
        assert_eq!(LoginLimits::user_counter(" Alice "), "user:{alice}");
    }

    #[test]
    fn only_account_counters_have_a_streak() {
        let account = LoginLimits::user_counter("Alice");
        assert_eq!(
            LoginLimits::streak_counter(&account).as_deref(),
            Some("streak:{alice}")
        );
        assert_eq!(LoginLimits::streak_counter("device:{alice}:abc"), None);
    }

    #[test]
    fn a_huge_typed_name_makes_a_small_counter() {
        let huge = "x".repeat(16 * 1024);
        let counter = LoginLimits::user_counter(&huge);
        assert!(counter.len() < 80, "{}", counter.len());
        assert_eq!(counter, LoginLimits::user_counter(&huge.to_uppercase()));
        assert_ne!(
            counter,
            LoginLimits::user_counter(&"x".repeat(16 * 1024 - 1))
        );
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(
            LoginLimits::retry_after_secs(Duration::from_millis(299_001)),
            300
        );
        assert_eq!(LoginLimits::retry_after_secs(Duration::from_secs(300)), 300);
        assert_eq!(LoginLimits::retry_after_secs(Duration::ZERO), 1);
    }
}
