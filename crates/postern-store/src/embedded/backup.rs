//! `postern store backup`: a consistent copy of the data file, taken from one read transaction
//! while writes go on (redb's readers see one committed state and never block the writer).
//! The copy is a data file like any other, with the same schema version: restoring it is
//! copying it over `postern.redb` while postern is stopped.

use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use redb::{
    Database, Key, ReadTransaction, ReadableTable as _, TableDefinition, Value, WriteTransaction,
};

use super::EmbeddedStore;
use super::tables::{ENTRIES, EXPIRY, META, RECORDS, SESSIONS, USER_SESSIONS, decode, now_ms};
use crate::StoreError;

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupSummary {
    /// Sessions that were live when the copy was taken.
    pub sessions: u64,
    /// Durable user records.
    pub records: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The data file could not be read.
    #[error(transparent)]
    Source(#[from] StoreError),
    /// The copy could not be written.
    #[error("cannot write the backup {path}: {detail}")]
    Destination { path: PathBuf, detail: String },
}

impl EmbeddedStore {
    /// Writes a copy of everything the data file holds, as one read transaction sees it, into
    /// the new file `dest` (mode 0600; an existing file there is an error). Blocking.
    pub fn backup_to(&self, dest: &Path) -> Result<BackupSummary, BackupError> {
        let failed = |detail: String| BackupError::Destination {
            path: dest.to_owned(),
            detail,
        };
        // Created owner-only before redb writes anything into it: it holds sessions and hashes.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dest)
            .map_err(|err| failed(err.to_string()))?;
        let copy = Database::builder()
            .create(dest)
            .map_err(|err| failed(err.to_string()))?;
        let target = copy.begin_write().map_err(|err| failed(err.to_string()))?;
        // A read error is the source's; a write error (disk full) is the destination's: the
        // copy is written inside the read, so tell them apart by where they came from.
        let mut write_error = None;
        let summary = self.read(|source| {
            copy_every_table(source, &target).map_err(|err| {
                write_error = Some(err.to_string());
                redb::Error::Corrupted("the copy stopped".into())
            })?;
            summarise(source)
        });
        if let Some(detail) = write_error {
            return Err(failed(detail));
        }
        let summary = summary?;
        target.commit().map_err(|err| failed(err.to_string()))?;
        Ok(summary)
    }
}

fn copy_every_table(
    source: &ReadTransaction,
    target: &WriteTransaction,
) -> Result<(), redb::Error> {
    copy(source, target, META)?;
    copy(source, target, SESSIONS)?;
    copy(source, target, USER_SESSIONS)?;
    copy(source, target, ENTRIES)?;
    copy(source, target, EXPIRY)?;
    copy(source, target, RECORDS)
}

fn copy<K: Key + 'static, V: Value + 'static>(
    source: &ReadTransaction,
    target: &WriteTransaction,
    table: TableDefinition<K, V>,
) -> Result<(), redb::Error> {
    let from = source.open_table(table)?;
    let mut to = target.open_table(table)?;
    for row in from.iter()? {
        let (key, value) = row?;
        to.insert(key.value(), value.value())?;
    }
    Ok(())
}

fn summarise(source: &ReadTransaction) -> Result<BackupSummary, redb::Error> {
    let now = now_ms();
    let mut sessions = 0;
    for row in source.open_table(SESSIONS)?.iter()? {
        let (_, value) = row?;
        if decode(value.value()).is_some_and(|(expires, _)| expires > now) {
            sessions += 1;
        }
    }
    let records = redb::ReadableTableMetadata::len(&source.open_table(RECORDS)?)?;
    Ok(BackupSummary { sessions, records })
}
