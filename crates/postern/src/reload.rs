//! Access rules and users follow their files without a restart: on SIGHUP at once, and when
//! the config file or `users_file` changed (modification time or size, checked every
//! `WATCH_INTERVAL`; the metadata is read through symlinks, so a Kubernetes ConfigMap swap
//! counts) and then held still for an interval (`watch` says why). The whole configuration
//! is validated first; if it has any problem, the rules and users in force stay and every
//! problem is logged. Other settings take effect at the next restart.

mod watch;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use postern_core::config::{Config, ConfigProblems};
use postern_core::users::UserTable;
use postern_server::AppState;
use postern_server::retirement::Retirements;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::MissedTickBehavior;

use crate::config_file;
use watch::{Found, Watch};

/// How often the watch looks at the files; also how long a change must hold still.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

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
        // The first check an interval after the start (`watch`: the start counts as a change).
        let first = tokio::time::Instant::now() + WATCH_INTERVAL;
        let mut ticks = tokio::time::interval_at(first, WATCH_INTERVAL);
        // A late check is not followed by one at once: a change must hold still an interval.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut watch = Watch::new(path.clone(), state.config.users_file.clone());
        let load = || config_file::load(path.as_deref(), &overrides);
        // What retiring removed users owes (`postern_server::retirement`): the start pass first,
        // once the files postern started with are known to be whole.
        let mut retirements = Retirements::default();
        loop {
            if watch.start_settled() && retirements.is_due() {
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
                    watch.read_on_demand();
                    load()
                }
                _ = ticks.tick() => {
                    if watch.start_settled() && retirements.is_due() {
                        continue;
                    }
                    match watch.check(load) {
                        Found::Nothing => continue,
                        // The files as the watch first saw them, read whole: put in force
                        // quietly when they say what `serve` started with. The watch looks
                        // first only once the store is open and the port bound, so a file
                        // changed during the start up reads as the start too: a change of a
                        // start-only key (`users_file` among them) then goes through `apply`,
                        // which refuses or warns as for any other reload.
                        Found::AsAtStart(Ok(config)) if starts_the_same(&state, &config) => {
                            let before = state.users();
                            state.replace_live(config.access, config.users);
                            retirements.removed(&before, &state.users());
                            continue;
                        }
                        Found::AsAtStart(Ok(config)) => {
                            tracing::info!("the config file changed while postern started: reloading the access rules and users");
                            Ok(config)
                        }
                        // The files held still, yet no longer read as valid (a file they name
                        // changed, or a write ended just before the watch began): handled as
                        // any invalid reload, so the operator hears of it now (the log, the
                        // metric) rather than at the next restart.
                        Found::AsAtStart(Err(problems)) => Err(problems),
                        Found::Changed(loaded) => {
                            tracing::info!("the config file or users_file changed: reloading the access rules and users");
                            loaded
                        }
                    }
                }
            };
            // Boxed: the store calls inside make the future too deep to lay out inline.
            if let Some(before) = Box::pin(apply(&state, loaded)).await {
                retirements.removed(&before, &state.users());
            }
        }
    });
}

/// Whether `config` reads only at start what the configuration in force read: the same
/// `users_file` and the same start-only settings.
fn starts_the_same(state: &AppState, config: &Config) -> bool {
    config.users_file == state.config.users_file
        && state.config.startup.changed(&config.startup).is_empty()
}

/// Puts a loaded configuration's rules and users in force; returns the users in force before,
/// when it took effect.
async fn apply(state: &AppState, loaded: Result<Config, ConfigProblems>) -> Option<Arc<UserTable>> {
    match loaded {
        // The watch, password changes and hash upgrades all keep the file postern started
        // with: the users of another file would be in force while every write went to the
        // old one. So the whole reload waits for the restart that reads the new file.
        Ok(config) if config.users_file != state.config.users_file => {
            tracing::error!(
                "`users_file` changed: it is read only at start; the access rules and users in force stay as they were until postern restarts"
            );
            if let Some(metrics) = &state.metrics {
                metrics.config_reloaded(false);
            }
            None
        }
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
