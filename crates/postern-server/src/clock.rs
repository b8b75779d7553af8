//! The wall clock, read in one place. Everything below the server takes the time as a
//! parameter (`postern_core` is pure); this is where the server reads it.

use std::time::{SystemTime, UNIX_EPOCH};

use postern_core::UnixSeconds;

pub fn now() -> UnixSeconds {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The last second RFC 3339 can write (9999-12-31T23:59:59Z).
const LAST_WRITABLE_SECOND: UnixSeconds = 253_402_300_799;

/// `unix` as RFC 3339 in UTC, to the second (`2026-12-04T18:40:05Z`); `None` past the year
/// 9999. Stored times come from `now`, but a crafted import or a hand-edited store can hold
/// any number, and formatting one past what RFC 3339 writes would panic.
pub fn rfc3339(unix: UnixSeconds) -> Option<String> {
    if unix > LAST_WRITABLE_SECOND {
        return None;
    }
    let at = UNIX_EPOCH.checked_add(std::time::Duration::from_secs(unix))?;
    Some(humantime::format_rfc3339_seconds(at).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_past_what_rfc3339_writes_are_none() {
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            rfc3339(LAST_WRITABLE_SECOND).as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert_eq!(rfc3339(LAST_WRITABLE_SECOND + 1), None);
        assert_eq!(rfc3339(u64::MAX), None);
    }
}
