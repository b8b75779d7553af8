//! Failed-login limits: which counters an attempt touches and when they refuse. Counting
//! itself happens in the store, so every replica sees the same numbers. Also the token
//! bucket's arithmetic, for the stores that keep buckets themselves (the memory store; Redis
//! runs the same rule in a script on its own clock).

use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Longer typed names are counted under their hash.
const MAX_NAME_IN_KEY: usize = 128;

/// How long a streak lasts from its first failure, unless a sign-in ends it sooner.
pub const STREAK_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// `[limits]`: failures per client IP and per account, each within its own window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    pub max_failures_per_ip: u64,
    pub failure_window: Duration,
    pub max_failures_per_user: u64,
    pub user_failure_window: Duration,
    /// The most failures in a row an account takes (0: no cap), however they are spread over
    /// clients and over `user_failure_window`s: with a short window, the per-account limit
    /// alone would let a guesser with many addresses go on all day. A successful sign-in (or
    /// `postern users unlock`) ends the streak. Attempts with the user's device cookie are
    /// counted on the device's own counter instead, so a capped account does not lock out its
    /// owner's browser; clients without one are locked out until the streak ends.
    pub max_consecutive_failures_per_user: u64,
    /// Requests per second each client IP may make to the UI and API routes (the check path
    /// is exempt), and how many it may make at once.
    pub api_rate: u64,
    pub api_burst: u64,
}

impl LoginLimits {
    /// The counter id for a client: IPv4 addresses as they are, IPv6 by their /64, since one
    /// host usually holds a whole /64 and could otherwise rotate through it.
    pub fn ip_counter(ip: IpAddr) -> String {
        match Self::ip_network(ip) {
            IpAddr::V4(v4) => format!("ip:{v4}"),
            IpAddr::V6(v6) => {
                let [a, b, c, d, ..] = v6.segments();
                format!("ip6:{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        }
    }

    /// What a client is counted as (`ip_counter`), as an address: an IPv4 address itself, an
    /// IPv6 one's /64 (the host part zero). `::ffff:a.b.c.d` (an IPv4 peer on a dual-stack
    /// listener) is a.b.c.d, not one /64 for every IPv4 address.
    pub fn ip_network(ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
            v4 => v4,
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

    /// The streak counter (`max_consecutive_failures_per_user`) that goes with an account counter
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

/// A token bucket's state: the tokens left at `updated`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    pub tokens: f64,
    pub updated: Instant,
}

/// A bucket refilled at `rate` tokens per second up to `burst`, one token per request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketRule {
    rate: f64,
    burst: f64,
}

impl BucketRule {
    /// A burst of at least one token, and a rate above zero (a zero rate would never refill).
    pub fn new(rate: f64, burst: u32) -> Self {
        Self {
            rate: rate.max(f64::MIN_POSITIVE),
            burst: f64::from(burst.max(1)),
        }
    }

    /// How long an idle bucket must be kept: a full refill, after which a new bucket is the
    /// same. At least a second.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs_f64((self.burst / self.rate).max(1.0))
    }

    /// Takes a token at `now` from `bucket` (`None`: none yet, so a full one). Returns the
    /// bucket after, and `None` when the request may go on or `Some(wait)`, the time until a
    /// token will be there. A refused request takes nothing.
    pub fn take(
        &self,
        bucket: Option<TokenBucket>,
        now: Instant,
    ) -> (TokenBucket, Option<Duration>) {
        let tokens = bucket.map_or(self.burst, |bucket| {
            let refill = now.saturating_duration_since(bucket.updated).as_secs_f64() * self.rate;
            (bucket.tokens + refill).min(self.burst)
        });
        let (left, wait) = if tokens >= 1.0 {
            (tokens - 1.0, None)
        } else {
            (
                tokens,
                Some(Duration::from_secs_f64((1.0 - tokens) / self.rate)),
            )
        };
        let after = TokenBucket {
            tokens: left,
            updated: now,
        };
        (after, wait)
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
        // An IPv4 peer on a dual-stack listener counts as itself.
        assert_eq!(
            LoginLimits::ip_counter("::ffff:192.0.2.7".parse().unwrap()),
            "ip:192.0.2.7"
        );
        assert_eq!(
            LoginLimits::ip_network("2001:db8:1:2:aaaa::1".parse().unwrap()),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
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
    fn names_up_to_128_bytes_are_kept_as_typed() {
        let longest = "y".repeat(128);
        assert_eq!(
            LoginLimits::user_counter(&longest),
            format!("user:{{{longest}}}")
        );
        assert!(LoginLimits::user_counter(&"y".repeat(129)).starts_with("user:{#"));
    }

    #[test]
    fn a_streak_lasts_24_hours_as_docs_security_md_promises() {
        // Its length (`limits.max_consecutive_failures_per_user`, 100) is a config default.
        assert_eq!(STREAK_WINDOW, Duration::from_secs(86_400));
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

    /// Takes `n` tokens at `now`; how many were allowed, and the bucket after.
    fn take_n(
        rule: &BucketRule,
        mut bucket: Option<TokenBucket>,
        now: Instant,
        n: usize,
    ) -> (usize, TokenBucket, Option<Duration>) {
        let mut allowed = 0;
        let mut last_wait = None;
        for _ in 0..n {
            let (after, wait) = rule.take(bucket, now);
            bucket = Some(after);
            last_wait = wait;
            allowed += usize::from(wait.is_none());
        }
        (allowed, bucket.unwrap(), last_wait)
    }

    #[test]
    fn a_new_bucket_allows_the_burst_then_says_when_the_next_token_comes() {
        let rule = BucketRule::new(2.0, 3);
        let start = Instant::now();
        let (allowed, bucket, wait) = take_n(&rule, None, start, 4);
        assert_eq!(allowed, 3);
        // Two tokens a second: the next one is half a second away.
        assert_eq!(wait, Some(Duration::from_millis(500)));
        assert!(bucket.tokens.abs() < 1e-9);
    }

    #[test]
    fn the_bucket_refills_at_the_rate_and_no_further_than_the_burst() {
        let rule = BucketRule::new(2.0, 3);
        let start = Instant::now();
        let (_, empty, _) = take_n(&rule, None, start, 3);
        // A quarter of a second gives half a token: still refused, a quarter second to go.
        let (after, wait) = rule.take(Some(empty), start + Duration::from_millis(250));
        assert_eq!(wait, Some(Duration::from_millis(250)));
        assert!((after.tokens - 0.5).abs() < 1e-9);
        // Half a second from the start: one token, taken.
        let (after, wait) = rule.take(Some(after), start + Duration::from_millis(500));
        assert_eq!(wait, None);
        assert!(after.tokens.abs() < 1e-9);
        // A minute idle refills to the burst, not beyond it.
        let (allowed, _, _) = take_n(&rule, Some(after), start + Duration::from_secs(60), 10);
        assert_eq!(allowed, 3);
    }

    #[test]
    fn a_clock_that_goes_back_refills_nothing() {
        let rule = BucketRule::new(1.0, 1);
        let later = Instant::now() + Duration::from_secs(10);
        let (empty, _) = rule.take(None, later);
        let (_, wait) = rule.take(Some(empty), later - Duration::from_secs(5));
        assert_eq!(wait, Some(Duration::from_secs(1)));
    }

    #[test]
    fn degenerate_rules_still_refill_and_keep_a_bucket_long_enough() {
        let rule = BucketRule::new(0.0, 0);
        let (_, wait) = rule.take(None, Instant::now());
        assert_eq!(wait, None, "a burst of 0 still allows one request");
        assert_eq!(BucketRule::new(10.0, 5).ttl(), Duration::from_secs(1));
        assert_eq!(BucketRule::new(0.5, 10).ttl(), Duration::from_secs(20));
    }
}
