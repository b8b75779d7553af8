//! Where env vars come from. The loader takes a trait object so tests pass a map instead of
//! touching the process environment.

use std::collections::HashMap;

pub trait EnvSource {
    fn var(&self, name: &str) -> Option<String>;

    /// Every variable's name, so misspelt `POSTERN_*` ones can be refused.
    fn names(&self) -> Vec<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn names(&self) -> Vec<String> {
        std::env::vars_os()
            .filter_map(|(name, _)| name.into_string().ok())
            .collect()
    }
}

impl EnvSource for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }

    fn names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }
}

/// No environment at all.
pub struct NoEnv;

impl EnvSource for NoEnv {
    fn var(&self, _name: &str) -> Option<String> {
        None
    }

    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}
