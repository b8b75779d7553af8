//! Access rules and users follow their files without a restart: on SIGHUP, and when the config
//! file or `users_file` changes (modification time or size, checked every `WATCH_INTERVAL`;
//! the metadata is read through symlinks, so a Kubernetes ConfigMap swap counts). The whole
//! configuration is validated first; if it has any problem, the rules and users in force stay
//! and every problem is logged. Other settings take effect at the next restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use postern_core::users::UserTable;
use postern_server::AppState;
use postern_server::retirement::Retirements;
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
        let users_file = state.config.users_file.clone();
        let stamps = || (stamp(path.as_deref()), stamp(users_file.as_deref()));
        let mut seen = stamps();
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
            tokio::select! {
                _ = hangup => {
                    tracing::info!("SIGHUP: reloading the access rules and users");
                    seen = stamps();
                }
                _ = ticks.tick() => {
                    if retirements.is_due() {
                        continue;
                    }
                    let now = stamps();
                    if now == seen {
                        continue;
                    }
                    seen = now;
                    tracing::info!("the config file or users_file changed: reloading the access rules and users");
                }
            }
            // Boxed: the store calls inside make the future too deep to lay out inline.
            if let Some(before) = Box::pin(reload(&state, path.as_deref(), &overrides)).await {
                retirements.removed(&before, &state.users());
            }
        }
    });
}

fn stamp(path: Option<&Path>) -> Stamp {
    let metadata = std::fs::metadata(path?).ok()?;
    Some((metadata.modified().ok()?, metadata.len()))
}

/// Returns the users in force before, when the reload took effect.
async fn reload(
    state: &AppState,
    path: Option<&Path>,
    overrides: &[(&'static str, String)],
) -> Option<Arc<UserTable>> {
    match config_file::load(path, overrides) {
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
