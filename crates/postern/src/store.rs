//! Opening the store the config names, for `serve` and the commands that change stored state.

use postern_core::config::{Config, StoreKind};
use postern_store::{EmbeddedStore, Store};

/// Why the store could not be opened, and the exit code that says so.
pub struct Refused {
    pub message: String,
    pub code: u8,
}

/// The configured store. An embedded data directory that is in use, damaged, newer or
/// unreadable is a problem with the setup (exit 64), never an empty store started silently.
pub fn open(config: &Config) -> Result<Store, Refused> {
    match &config.session.store {
        StoreKind::Memory => Ok(Store::memory(config.session.max_sessions)),
        StoreKind::Redis(redis) => Store::redis(redis).map_err(|err| Refused {
            message: format!("cannot set up the Redis store: {err}"),
            code: 1,
        }),
        StoreKind::Embedded => EmbeddedStore::open(&config.data_dir, config.session.max_sessions)
            .map(Store::Embedded)
            .map_err(|err| Refused {
                message: err.to_string(),
                code: crate::EXIT_INVALID_CONFIG,
            }),
    }
}

/// One line at start: where sessions and user data live, and for how long.
pub fn log_where_data_lives(store: &Store) {
    match store {
        Store::Memory(_) => tracing::warn!(
            "the memory store keeps sessions, lockouts and user data (passwords changed through postern) only until postern stops; set `session.store = \"embedded\"` to keep them"
        ),
        Store::Embedded(store) => tracing::info!(
            file = %store.path().display(),
            sessions = store.session_count(),
            "data is kept in the embedded store"
        ),
        Store::Redis(_) => {}
    }
}
