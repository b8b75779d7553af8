//! Reads the config file (if any) and the process environment, and applies CLI overrides.

use std::path::Path;

use postern_core::config::{self, Config, ConfigProblems, ProcessEnv, Sources};

pub fn load(path: Option<&Path>, cli: &[(&'static str, String)]) -> Result<Config, ConfigProblems> {
    let text = match path {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(err) => {
                return Err(ConfigProblems(vec![format!(
                    "cannot read {}: {err}",
                    path.display()
                )]));
            }
        },
        None => None,
    };
    let file = match (&text, path) {
        (Some(text), Some(path)) => Some((text.as_str(), path)),
        _ => None,
    };
    config::load(&Sources {
        file,
        env: &ProcessEnv,
        cli,
    })
}
