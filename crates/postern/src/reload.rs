//! Access rules and users follow their files without a restart: on SIGHUP at once, and when
//! the config file or `users_file` changed (modification time or size, checked every
//! `WATCH_INTERVAL`; the metadata is read through symlinks, so a Kubernetes ConfigMap swap
//! counts) and then stayed unchanged until the next check. The whole configuration is
//! validated first; if it has any problem, the rules and users in force stay and every
//! problem is logged. Other settings take effect at the next restart.
//!
//! Why the watch waits for the file to settle: a users file caught half-written can still
//! parse (cut at a line or `[[users]]` boundary), and the users it lacks would be taken for
//! removed, and retired (`postern_server::retirement`): their data deleted, which cannot be
//! undone. So a change is read only once both files look the same (stamps and contents) one
//! check after the change was seen, and again right after they were read; a writer that
//! pauses for less than `WATCH_INTERVAL` is never read in between. SIGHUP is an operator's
//! word that the files are ready.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postern_core::config::{Config, ConfigProblems};
use postern_core::users::UserTable;
use postern_server::AppState;
use postern_server::retirement::Retirements;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::MissedTickBehavior;

use crate::config_file;

/// How often the watch looks at the files; also how long a change must stay unchanged.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// What identifies one version of a file cheaply.
type Stamp = Option<(SystemTime, u64)>;

/// The files the watch follows: the config file and `users_file`.
struct Watched {
    config: Option<PathBuf>,
    users: Option<PathBuf>,
}

/// A file's bytes (none when it is missing or unreadable).
type Contents = Option<Vec<u8>>;

/// Both files' stamps and contents, read once a change was seen: a rewrite of the same size
/// within the file system's timestamp granularity keeps the stamp.
#[derive(PartialEq, Eq)]
struct Look {
    stamps: (Stamp, Stamp),
    contents: (Contents, Contents),
}

impl Watched {
    fn stamps(&self) -> (Stamp, Stamp) {
        (stamp(self.config.as_deref()), stamp(self.users.as_deref()))
    }

    fn look(&self) -> Look {
        let read = |path: Option<&Path>| path.and_then(|path| std::fs::read(path).ok());
        Look {
            stamps: self.stamps(),
            contents: (read(self.config.as_deref()), read(self.users.as_deref())),
        }
    }
}

pub fn spawn(state: Arc<AppState>, path: Option<PathBuf>, overrides: Vec<(&'static str, String)>) {
    // Registered before returning, so a SIGHUP right after start cannot kill the process.
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => Some(hangups),
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGHUP; the config file is still watched");
            None
        }
    };
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(WATCH_INTERVAL);
        // A late check is not followed by one at once: a change must stay a whole interval.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let watched = Watched {
            config: path.clone(),
            users: state.config.users_file.clone(),
        };
        let mut seen = watched.stamps();
        // A change seen and not read yet: how the files looked then.
        let mut settling: Option<Look> = None;
        // What retiring removed users owes (`postern_server::retirement`): the start pass first.
        let mut retirements = Retirements::default();
        loop {
            if retirements.is_due() {
                Box::pin(retirements.run(&state)).await;
            }
            let hangup = async {
                match hangups.as_mut() {
                    Some(hangups) => hangups.recv().await,
                    None => std::future::pending().await,
                }
            };
            let loaded = tokio::select! {
                _ = hangup => {
                    tracing::info!("SIGHUP: reloading the access rules and users");
                    seen = watched.stamps();
                    settling = None;
                    config_file::load(path.as_deref(), &overrides)
                }
                _ = ticks.tick() => {
                    if retirements.is_due() {
                        continue;
                    }
                    let stamps = watched.stamps();
                    if settling.is_none() && stamps == seen {
                        continue;
                    }
                    let look = watched.look();
                    if settling.as_ref() != Some(&look) {
                        settling = Some(look);
                        continue;
                    }
                    // Unchanged for an interval: read, and take it only if it did not change
                    // while it was read.
                    let loaded = config_file::load(path.as_deref(), &overrides);
                    let after = watched.look();
                    if settling.as_ref() != Some(&after) {
                        settling = Some(after);
                        continue;
                    }
                    settling = None;
                    seen = stamps;
                    tracing::info!("the config file or users_file changed: reloading the access rules and users");
                    loaded
                }
            };
            // Boxed: the store calls inside make the future too deep to lay out inline.
            if let Some(before) = Box::pin(apply(&state, loaded)).await {
                retirements.removed(&before, &state.users());
            }
        }
    });
}

fn stamp(path: Option<&Path>) -> Stamp {
    let metadata = std::fs::metadata(path?).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// Puts a loaded configuration's rules and users in force; returns the users in force before,
/// when it took effect.
async fn apply(state: &AppState, loaded: Result<Config, ConfigProblems>) -> Option<Arc<UserTable>> {
    match loaded {
        Ok(config) => {
            let apps = config.access.apps().len();
            let users = config.users.len();
            let restart = state.config.startup.changed(&config.startup);
            let before = state.users();
            state.replace_live(config.access, config.users);
            tracing::info!(apps, users, "access rules and users reloaded");
            if let Some(metrics) = &state.metrics {
                metrics.config_reloaded(true);
            }
            if !restart.is_empty() {
                tracing::warn!(
                    keys = %restart.join(", "),
                    "changed in the configuration but read only at start: they keep their old values until postern restarts"
                );
            }
            Some(before)
        }
        Err(problems) => {
            tracing::error!(
                problems = %problems,
                "the new configuration is invalid; the access rules and users in force stay as they were"
            );
            if let Some(metrics) = &state.metrics {
                metrics.config_reloaded(false);
            }
            None
        }
    }
}
