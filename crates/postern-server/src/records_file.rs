//! The file `postern store export` writes and `postern store import` reads: users' durable
//! data (what `RecordKind` holds) as JSON lines, so it moves between store kinds. The first
//! line is a header with the format's name, its version and the number of records; each next
//! line is one record, its value in base64 (values are bytes to the store):
//!
//! ```text
//! {"format":"postern-user-records","version":1,"store":"embedded","records":1}
//! {"user":"alice","kind":"credentials","id":"current","value":"eyJrZXB0Ijp7...="}
//! ```
//!
//! The count lets an import refuse a file that was cut short instead of loading part of it.

use std::io::BufRead;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use postern_store::{RecordKind, UserRecord};
use serde::{Deserialize, Serialize};

use crate::admin_channel::json_line;

pub const FORMAT: &str = "postern-user-records";
/// Raise it (and keep reading the older ones) when a line's meaning changes.
pub const VERSION: u64 = 1;

#[derive(Serialize, Deserialize)]
struct Header {
    format: String,
    version: u64,
    /// The store kind it came from (information only).
    store: String,
    records: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    user: String,
    kind: String,
    id: String,
    value: String,
}

/// Why a file cannot be imported; nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read it: {0}")]
    Io(#[from] std::io::Error),
    #[error("line {line}: {why}")]
    Bad { line: usize, why: String },
}

/// The whole export: the header and one line per record.
pub fn to_bytes(records: &[UserRecord], store: &str) -> Vec<u8> {
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        store: store.into(),
        records: records.len() as u64,
    };
    let mut out = json_line(&header);
    for record in records {
        out.extend(json_line(&Line {
            user: record.user.clone(),
            kind: record.kind.name().into(),
            id: record.id.clone(),
            value: STANDARD.encode(&record.value),
        }));
    }
    out
}

/// Every record of an export, after checking all of it: the header (format and version), each
/// line, and the count.
pub fn read(input: impl BufRead) -> Result<Vec<UserRecord>, ImportError> {
    let mut lines = input.lines().enumerate().map(|(at, line)| (at + 1, line));
    let header = match lines.next() {
        Some((_, line)) => header(&line?)?,
        None => return Err(bad(1, "the file is empty")),
    };
    let mut records = Vec::new();
    for (at, line) in lines {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        records.push(record(at, &line)?);
    }
    if records.len() as u64 != header.records {
        return Err(bad(
            1,
            format!(
                "the header announces {} record(s) but the file holds {}: it was cut short or edited",
                header.records,
                records.len()
            ),
        ));
    }
    Ok(records)
}

fn bad(line: usize, why: impl Into<String>) -> ImportError {
    ImportError::Bad {
        line,
        why: why.into(),
    }
}

fn header(line: &str) -> Result<Header, ImportError> {
    let not_ours = || {
        bad(
            1,
            format!(
                "not an export of postern users' data: the first line must be a header like \
                 {{\"format\":\"{FORMAT}\",\"version\":{VERSION},\"store\":\"embedded\",\"records\":0}}"
            ),
        )
    };
    let value: serde_json::Value = serde_json::from_str(line).map_err(|_| not_ours())?;
    if value.get("format").and_then(|format| format.as_str()) != Some(FORMAT) {
        return Err(not_ours());
    }
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(version) if version > VERSION => {
            return Err(bad(
                1,
                format!(
                    "written by a newer postern (format version {version}; this one reads version {VERSION}): import it with that version"
                ),
            ));
        }
        Some(VERSION) => {}
        _ => {
            return Err(bad(
                1,
                format!("the header has no valid version (this postern reads version {VERSION})"),
            ));
        }
    }
    serde_json::from_value(value).map_err(|err| bad(1, format!("a bad header: {err}")))
}

fn record(at: usize, line: &str) -> Result<UserRecord, ImportError> {
    let line: Line =
        serde_json::from_str(line).map_err(|err| bad(at, format!("not a record line: {err}")))?;
    let kind = RecordKind::from_name(&line.kind).ok_or_else(|| {
        bad(
            at,
            format!("unknown record kind `{}` (a newer postern's?)", line.kind),
        )
    })?;
    if line.user.is_empty() || line.id.is_empty() {
        return Err(bad(at, "the user and the id must not be empty"));
    }
    let value = STANDARD
        .decode(&line.value)
        .map_err(|err| bad(at, format!("the value is not base64: {err}")))?;
    // A credentials record postern cannot read would stop that user's sign-ins (it fails
    // closed): refused here, before anything is stored.
    if kind == RecordKind::Credentials {
        crate::credentials_record::parse_state(&value).map_err(|why| {
            bad(
                at,
                format!("{}'s credentials record does not read: {why}", line.user),
            )
        })?;
    }
    Ok(UserRecord {
        user: line.user.to_lowercase(),
        kind,
        id: line.id,
        value,
    })
}

#[cfg(test)]
mod tests;
