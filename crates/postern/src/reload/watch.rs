//! When the file watch reads the config file and `users_file` again: once a change has held
//! still for a whole check interval, never while a file may be half-written.
//!
//! A users file caught half-written can still parse (cut at a line or `[[users]]` boundary),
//! and the users it lacks would be taken for removed, and retired
//! (`postern_server::retirement`): their data deleted, which cannot be undone. So a change
//! (a new modification time or size) is read only once both files look the same, stamps and
//! contents, at the next check, and is taken only if they still look so right after the read.
//! A writer that pauses for less than a check interval is never read in between.
//!
//! The start is treated as such a change too: postern may have started while a file was
//! being written, and the start pass of retirement takes the users in force for the newest.
//! Until the files held still for an interval after the start (and were read again then),
//! `Watch::start_settled` is false and the caller holds that pass back.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use postern_core::config::{Config, ConfigProblems};

/// What identifies one version of a file cheaply.
type Stamp = Option<(SystemTime, u64)>;

/// A file's bytes (none when it is missing or unreadable).
type Contents = Option<Vec<u8>>;

/// Both files' stamps and contents: a rewrite of the same size within the file system's
/// timestamp granularity keeps the stamp.
#[derive(Debug, PartialEq, Eq)]
struct Look {
    stamps: (Stamp, Stamp),
    contents: (Contents, Contents),
}

/// What one check found.
pub enum Found {
    /// Nothing to read (no change, or one still settling).
    Nothing,
    /// The files held still since the start: read again, to be put in force quietly (it is
    /// what postern started with, unless a write ended just before the watch began).
    AsAtStart(Result<Config, ConfigProblems>),
    /// A change that held still, read.
    Changed(Result<Config, ConfigProblems>),
}

/// The watch's state between checks.
pub struct Watch {
    /// The config file and `users_file`.
    paths: (Option<PathBuf>, Option<PathBuf>),
    /// The stamps of what is in force.
    seen: (Stamp, Stamp),
    /// How the files looked when the watch began, until they held still or were read again.
    start: Option<Look>,
    /// A change seen and not read yet: how the files looked then.
    settling: Option<Look>,
}

impl Watch {
    pub fn new(config: Option<PathBuf>, users: Option<PathBuf>) -> Self {
        let mut watch = Self {
            paths: (config, users),
            seen: (None, None),
            start: None,
            settling: None,
        };
        watch.seen = watch.stamps();
        watch.start = Some(watch.look());
        watch
    }

    /// Whether the files the users in force came from are known to be whole.
    pub fn start_settled(&self) -> bool {
        self.start.is_none()
    }

    /// A SIGHUP is about to read the files: the operator says they are ready.
    pub fn read_on_demand(&mut self) {
        self.seen = self.stamps();
        self.settling = None;
        self.start = None;
    }

    /// One check (every interval): `load` reads the files when they held still.
    pub fn check(&mut self, load: impl Fn() -> Result<Config, ConfigProblems>) -> Found {
        let stamps = self.stamps();
        if self.start.is_none() && self.settling.is_none() && stamps == self.seen {
            return Found::Nothing;
        }
        let look = self.look();
        let as_at_start = self.settling.is_none() && self.start.as_ref() == Some(&look);
        if !as_at_start && self.settling.as_ref() != Some(&look) {
            self.settling = Some(look);
            return Found::Nothing;
        }
        let loaded = load();
        let after = self.look();
        if after != look {
            self.settling = Some(after);
            return Found::Nothing;
        }
        self.settling = None;
        self.start = None;
        self.seen = stamps;
        if as_at_start {
            Found::AsAtStart(loaded)
        } else {
            Found::Changed(loaded)
        }
    }

    fn stamps(&self) -> (Stamp, Stamp) {
        (
            stamp(self.paths.0.as_deref()),
            stamp(self.paths.1.as_deref()),
        )
    }

    fn look(&self) -> Look {
        let read = |path: Option<&Path>| path.and_then(|path| std::fs::read(path).ok());
        Look {
            stamps: self.stamps(),
            contents: (read(self.paths.0.as_deref()), read(self.paths.1.as_deref())),
        }
    }
}

fn stamp(path: Option<&Path>) -> Stamp {
    let metadata = std::fs::metadata(path?).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

#[cfg(test)]
mod tests;
