//! "Tell the operator once": a bounded set of what was already warned about, so a warning
//! caused by requests is logged once per cause (a peer, a host), not once per request, and a
//! flood of distinct causes cannot grow memory without bound.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Mutex;

pub struct SeenOnce<T> {
    seen: Mutex<HashSet<T>>,
    limit: usize,
}

impl<T: Hash + Eq> SeenOnce<T> {
    /// Remembers at most `limit` causes; past that, nothing more is warned about.
    pub fn new(limit: usize) -> Self {
        Self {
            seen: Mutex::new(HashSet::new()),
            limit,
        }
    }

    /// True the first time `cause` is seen.
    pub fn first(&self, cause: T) -> bool {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.len() < self.limit && seen.insert(cause)
    }
}
