//! Finding the app for a host in time proportional to the host's labels, not to the number of
//! apps: exact hosts in one map, wildcards (`*.dev.example.com`) in another keyed by their
//! suffix; the lookup strips one label at a time, so the most specific match is found first.

use std::collections::HashMap;

#[derive(Debug, Clone, Default)]
pub struct HostIndex {
    exact: HashMap<String, usize>,
    /// `dev.example.com` for `*.dev.example.com`.
    wildcard: HashMap<String, usize>,
}

impl HostIndex {
    /// Adds a canonical pattern; returns the index of an app with the same pattern, if any.
    pub fn insert(&mut self, pattern: &str, app: usize) -> Option<usize> {
        match pattern.strip_prefix("*.") {
            Some(suffix) => self.wildcard.insert(suffix.to_owned(), app),
            None => self.exact.insert(pattern.to_owned(), app),
        }
    }

    pub fn find(&self, host: &str) -> Option<usize> {
        if let Some(app) = self.exact.get(host) {
            return Some(*app);
        }
        if self.wildcard.is_empty() {
            return None;
        }
        // `a.b.dev.example.com` tries `b.dev.example.com`, then `dev.example.com`, ... The
        // dots are found by one byte scan: a `split_once('.')` per label (a `memchr` call
        // each) was 450 of a check's 26,000 instructions (docs/performance.md). A dot is
        // ASCII, so every index after one is a character boundary.
        host.bytes()
            .enumerate()
            .filter(|&(_, byte)| byte == b'.')
            .find_map(|(dot, _)| self.wildcard.get(&host[dot + 1..]))
            .copied()
    }
}
