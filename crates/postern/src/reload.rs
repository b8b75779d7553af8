//! Access rules follow the config file without a restart: on SIGHUP, and when the file changes
//! (its modification time or size, checked every `WATCH_INTERVAL`; the metadata is read through
//! symlinks, so a Kubernetes ConfigMap swap counts). The new file is validated whole first; if
//! it has any problem the old rules stay and every problem is logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postern_core::config::Config;
use postern_server::AppState;
use tokio::signal::unix::{SignalKind, signal};

use crate::config_file;

const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// What identifies one version of the file cheaply.
type Stamp = Option<(SystemTime, u64)>;

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
        let mut seen = stamp(path.as_deref());
        loop {
            let hangup = async {
                match hangups.as_mut() {
                    Some(hangups) => hangups.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = hangup => {
                    tracing::info!("SIGHUP: reloading the access rules");
                    seen = stamp(path.as_deref());
                }
                _ = ticks.tick() => {
                    let now = stamp(path.as_deref());
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    tracing::info!("the config file changed: reloading the access rules");
                }
            }
            reload(&state, path.as_deref(), &overrides);
        }
    });
}

fn stamp(path: Option<&Path>) -> Stamp {
    let metadata = std::fs::metadata(path?).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

fn reload(state: &AppState, path: Option<&Path>, overrides: &[(&'static str, String)]) {
    match config_file::load(path, overrides) {
        Ok(config) => {
            warn_about_what_needs_a_restart(&state.config, &config);
            let apps = config.access.apps().len();
            state.access.store(Arc::new(config.access));
            tracing::info!(apps, "access rules reloaded");
        }
        Err(problems) => {
            tracing::error!(
                problems = %problems,
                "the new configuration is invalid; the access rules in force stay as they were"
            );
        }
    }
}

/// Only the rules reload; say so when anything else in the file changed.
fn warn_about_what_needs_a_restart(running: &Config, loaded: &Config) {
    let users = |config: &Config| {
        let mut users: Vec<(String, String, Vec<String>)> = config
            .users
            .iter()
            .map(|user| {
                (
                    user.name.clone(),
                    user.password_hash.clone(),
                    user.groups.clone(),
                )
            })
            .collect();
        users.sort();
        users
    };
    if users(running) != users(loaded) {
        tracing::warn!(
            "users changed in the config: they take effect after a restart (rules naming a new user match nobody until then)"
        );
    }
}
