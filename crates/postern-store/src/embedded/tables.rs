//! What the data file holds, table by table, and how a row is encoded. Every row with a TTL
//! stores its expiry as wall-clock milliseconds, so an entry that expired while postern was
//! stopped is still expired when it starts again.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::TableDefinition;

/// `schema_version` -> the layout of the other tables (see `open::SCHEMA_VERSION`).
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Token hash -> expiry (8 bytes) + the session record as JSON.
pub const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sessions");
/// (user in lower case, token hash) -> nothing: the per-user index of sessions.
pub const USER_SESSIONS: TableDefinition<(&str, &[u8]), ()> = TableDefinition::new("user_sessions");
/// Counter, mark or value key (`fail:..`, `mark:..`, `value:..`) -> expiry + payload.
pub const ENTRIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entries");
/// (expiry, row reference) -> nothing: what the sweep deletes, oldest first. A reference is
/// `s` + a token hash or `e` + an entry key.
pub const EXPIRY: TableDefinition<(u64, &[u8]), ()> = TableDefinition::new("expiry");
/// (user in lower case, record kind, record id) -> the record: durable user data, no TTL.
pub const RECORDS: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("records");

pub const SCHEMA_VERSION_KEY: &str = "schema_version";

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

pub fn expiry_after(now: u64, ttl: Duration) -> u64 {
    now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
}

/// Time left until `expires` (zero once it passed).
pub fn left(expires: u64, now: u64) -> Duration {
    Duration::from_millis(expires.saturating_sub(now))
}

/// Expiry first, then the payload.
pub fn encode(expires: u64, payload: &[u8]) -> Vec<u8> {
    let mut row = Vec::with_capacity(8 + payload.len());
    row.extend_from_slice(&expires.to_le_bytes());
    row.extend_from_slice(payload);
    row
}

/// The expiry and the payload of a row; `None` for a row too short to be one of ours.
pub fn decode(row: &[u8]) -> Option<(u64, &[u8])> {
    let (expires, payload) = row.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*expires), payload))
}

pub fn session_ref(hash: &[u8]) -> Vec<u8> {
    [b"s".as_slice(), hash].concat()
}

pub fn entry_ref(key: &str) -> Vec<u8> {
    [b"e".as_slice(), key.as_bytes()].concat()
}

pub fn counter_payload(count: u64) -> [u8; 8] {
    count.to_le_bytes()
}

pub fn counter_of(payload: &[u8]) -> u64 {
    payload
        .first_chunk::<8>()
        .map_or(0, |bytes| u64::from_le_bytes(*bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_gives_back_its_expiry_and_payload() {
        let row = encode(1_700_000_000_123, b"payload");
        assert_eq!(
            decode(&row),
            Some((1_700_000_000_123, b"payload".as_slice()))
        );
        assert_eq!(decode(b"short"), None);
        assert_eq!(counter_of(&counter_payload(42)), 42);
    }
}
