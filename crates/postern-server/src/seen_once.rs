//! "Tell the operator once": a bounded set of what was already warned about, so a warning
//! caused by requests is logged once per cause (a peer, a host), not once per request, and a
//! flood of distinct causes cannot grow memory without bound. A full set starts over once
//! `FORGET_AFTER` has passed since it last did: a flood that filled it silences new causes
//! for an hour at most, not until a restart, and logs at most `limit` lines an hour.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a full set stays full before it starts over.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

pub struct SeenOnce<T> {
    seen: Mutex<Seen<T>>,
    limit: usize,
}

struct Seen<T> {
    causes: HashSet<T>,
    since: Instant,
}

impl<T: Hash + Eq> SeenOnce<T> {
    /// Remembers at most `limit` causes; past that, nothing more is warned about until the
    /// set starts over.
    pub fn new(limit: usize) -> Self {
        Self {
            seen: Mutex::new(Seen {
                causes: HashSet::new(),
                since: Instant::now(),
            }),
            limit,
        }
    }

    /// True the first time `cause` is seen.
    pub fn first(&self, cause: T) -> bool {
        self.first_at(cause, Instant::now())
    }

    fn first_at(&self, cause: T, now: Instant) -> bool {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.causes.len() >= self.limit && now.duration_since(seen.since) >= FORGET_AFTER {
            seen.causes.clear();
            seen.since = now;
        }
        seen.causes.len() < self.limit && seen.causes.insert(cause)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_set_is_silent_then_starts_over_after_an_hour() {
        let seen = SeenOnce::new(2);
        let start = Instant::now();
        assert!(seen.first_at("a", start));
        assert!(!seen.first_at("a", start));
        assert!(seen.first_at("b", start));
        assert!(!seen.first_at("c", start), "full");
        assert!(!seen.first_at("c", start + FORGET_AFTER / 2), "still full");
        assert!(seen.first_at("c", start + FORGET_AFTER), "started over");
        assert!(!seen.first_at("c", start + FORGET_AFTER));
    }
}
