//! The wall clock, read in one place. Everything below the server takes the time as a
//! parameter (`postern_core` is pure); this is where the server reads it.

use std::time::{SystemTime, UNIX_EPOCH};

use postern_core::UnixSeconds;

pub fn now() -> UnixSeconds {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}
