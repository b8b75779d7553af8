//! `session.store = "embedded"`: one redb file under `data_dir`, the truth for everything the
//! store holds, with an in-memory copy of the live sessions in front of it so the check path
//! never touches the file. Writes go through one writer thread that commits durably before
//! any caller hears "done" (see `writer.rs`); counters, marks and values are read from the
//! file (they are on the sign-in path, not the check path). Token buckets alone stay in memory:
//! they only pace requests, and a durable write per API request would cost more than it saves.

mod backup;
mod open;
mod ops;
mod tables;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;
use std::time::Duration;

use postern_core::session::SessionRecord;
use postern_core::token::TokenHash;
use redb::{
    ReadTransaction, ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _,
};
use tokio::sync::oneshot;

pub use self::backup::{BackupError, BackupSummary};
use self::open::DataFile;
pub use self::open::{DATA_FILE, OpenError, PID_FILE, SCHEMA_VERSION, permission_problems};
use self::ops::{Op, Reply};
use self::tables::{ENTRIES, RECORDS, SESSIONS, counter_of, decode, left, now_ms};
use self::writer::{Answer, Job, Writer};
use crate::changes::{Change, Pending};
use crate::{Counter, MemoryStore, RecordKind, StoreError, UserRecord};

#[derive(Clone)]
pub struct EmbeddedStore {
    file: Arc<DataFile>,
    /// The live sessions, as committed; also the token buckets, which live only here.
    memory: MemoryStore,
    jobs: Sender<Job>,
}

impl EmbeddedStore {
    /// Opens the data file under `dir` (creating both if needed), loads the live sessions and
    /// starts the writer. Blocking: call it before serving.
    pub fn open(dir: &Path, max_sessions: usize) -> Result<Self, OpenError> {
        let file = Arc::new(open::open(dir)?);
        let damaged = |err: redb::Error| OpenError::Damaged {
            file: file.path.clone(),
            detail: err.to_string(),
        };
        // The copy is bounded by the writer, which refuses a session past `max_sessions`.
        let memory = MemoryStore::with_limits(usize::MAX, crate::DEFAULT_MAX_OTHER_ENTRIES);
        let db = file
            .get()
            .ok_or_else(|| damaged(redb::Error::DatabaseClosed))?;
        let txn = db.begin_read().map_err(|err| damaged(err.into()))?;
        for (hash, record, ttl) in ops::live_sessions(&txn, now_ms()).map_err(damaged)? {
            let _ = memory.put_session(hash, record, ttl);
        }
        drop((txn, db));
        let (jobs, queue) = std::sync::mpsc::channel();
        let writer = Writer {
            file: Arc::clone(&file),
            sessions: memory.clone(),
            jobs: queue,
            failing: Arc::new(AtomicBool::new(false)),
            max_sessions,
        };
        std::thread::Builder::new()
            .name("postern-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|err| OpenError::Io {
                path: file.path.clone(),
                err,
            })?;
        let store = Self { file, memory, jobs };
        store.sweep_in_background();
        Ok(store)
    }

    pub fn path(&self) -> &PathBuf {
        &self.file.path
    }

    /// Live sessions (and expired ones not yet swept) in memory.
    pub fn session_count(&self) -> usize {
        self.memory.session_count()
    }

    /// Rows in the file with a TTL (sessions, counters, marks, values), expired ones not yet
    /// swept included: what the sweep keeps bounded.
    pub fn stored_rows(&self) -> Result<u64, StoreError> {
        self.read(|txn| Ok(txn.open_table(SESSIONS)?.len()? + txn.open_table(ENTRIES)?.len()?))
    }

    /// Waits until every change queued before this call is committed (tests, shutdown).
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.write(Op::Nothing).await.map(drop)
    }

    async fn write(&self, op: Op) -> Result<Reply, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue(op, Answer::Committed(reply))?;
        match answer.await {
            Ok(Ok(Reply::Full(max))) => Err(StoreError::Full(max)),
            Ok(answer) => answer,
            Err(_) => Err(StoreError::unavailable("the data file cannot be written")),
        }
    }

    fn queue(&self, op: Op, answer: Answer) -> Result<(), StoreError> {
        self.jobs
            .send(Job { op, answer })
            .map_err(|_| StoreError::unavailable("the data file writer stopped"))
    }

    /// `Store::apply`: the changes (already with this store's keys) in one op, one commit.
    pub(crate) async fn apply(&self, changes: Vec<Change>) -> Result<(), StoreError> {
        let ops = changes.into_iter().map(Op::from).collect();
        self.write(Op::Batch(ops)).await.map(drop)
    }

    /// `Store::count_failures` (keys already this store's): the counts once applied, the
    /// commit to wait for before anyone hears of them.
    pub(crate) async fn count_failures(
        &self,
        counters: Vec<(String, Duration)>,
    ) -> Result<(Vec<Counter>, Pending), StoreError> {
        let ops = counters
            .into_iter()
            .map(|(key, window)| Op::CountFailure { key, window })
            .collect();
        let (applied, counts) = oneshot::channel();
        let (committed, commit) = oneshot::channel();
        self.queue(Op::Batch(ops), Answer::Early { applied, committed })?;
        let Ok(Reply::Each(replies)) = counts.await else {
            return Err(StoreError::unavailable("the data file cannot be written"));
        };
        let counts = replies
            .into_iter()
            .map(|reply| match reply {
                Reply::Count(counter) => Ok(counter),
                other => Err(unexpected(&other)),
            })
            .collect::<Result<_, _>>()?;
        Ok((counts, Pending::after(commit)))
    }

    fn read<T>(
        &self,
        read: impl FnOnce(&ReadTransaction) -> Result<T, redb::Error>,
    ) -> Result<T, StoreError> {
        let Some(db) = self.file.get() else {
            self.retry_in_background();
            return Err(StoreError::unavailable("the data file cannot be read now"));
        };
        let answer = db
            .begin_read()
            .map_err(redb::Error::from)
            .and_then(|txn| read(&txn));
        answer.map_err(|err| {
            self.retry_in_background();
            StoreError::unavailable_because("the data file cannot be read", err)
        })
    }

    /// After a failed read, has the writer try the file again (it reopens it after an I/O
    /// error, at most once a second), so reads recover even when no write comes.
    fn retry_in_background(&self) {
        let _ = self.queue(Op::Nothing, Answer::Nobody);
    }

    /// The expiry and payload of a live entry.
    fn entry(&self, key: &str) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let now = now_ms();
        self.read(|txn| {
            Ok(txn.open_table(ENTRIES)?.get(key)?.and_then(|row| {
                decode(row.value())
                    .filter(|(expires, _)| *expires > now)
                    .map(|(expires, payload)| (expires, payload.to_vec()))
            }))
        })
    }

    pub(crate) fn get_session(&self, hash: &TokenHash) -> Option<Arc<SessionRecord>> {
        self.memory.get_session(hash)
    }

    pub(crate) async fn put_session(
        &self,
        hash: &TokenHash,
        record: &SessionRecord,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let op = Op::PutSession {
            hash: *hash,
            record: record.clone(),
            ttl,
        };
        self.write(op).await.map(drop)
    }

    pub(crate) async fn delete_session(&self, hash: &TokenHash) -> Result<(), StoreError> {
        self.write(Op::DeleteSession { hash: *hash })
            .await
            .map(drop)
    }

    pub(crate) fn user_sessions(&self, user: &str) -> Vec<TokenHash> {
        self.memory.user_sessions(user)
    }

    pub(crate) async fn delete_user_sessions(&self, user: &str) -> Result<usize, StoreError> {
        match self
            .write(Op::DeleteUserSessions { user: user.into() })
            .await?
        {
            Reply::Ended(ended) => Ok(ended),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) async fn count(&self, key: String, window: Duration) -> Result<Counter, StoreError> {
        match self.write(Op::CountFailure { key, window }).await? {
            Reply::Count(counter) => Ok(counter),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) async fn forgive(&self, key: String) -> Result<(), StoreError> {
        self.write(Op::Forgive { key }).await.map(drop)
    }

    pub(crate) fn counter(&self, key: &str) -> Result<Counter, StoreError> {
        let now = now_ms();
        Ok(self
            .entry(key)?
            .map_or(Counter::ZERO, |(expires, payload)| Counter {
                count: counter_of(&payload),
                resets_in: left(expires, now),
            }))
    }

    pub(crate) async fn remove(&self, key: String) -> Result<(), StoreError> {
        self.write(Op::Remove { key }).await.map(drop)
    }

    pub(crate) fn take_token(&self, key: &str, rate: f64, burst: u32) -> Option<Duration> {
        self.memory.take_token(key, rate, burst)
    }

    pub(crate) async fn mark_once(&self, key: String, ttl: Duration) -> Result<bool, StoreError> {
        stored(self.write(Op::MarkOnce { key, ttl }).await?)
    }

    pub(crate) fn is_marked(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.entry(key)?.is_some())
    }

    pub(crate) async fn put_value(
        &self,
        key: String,
        value: Vec<u8>,
        ttl: Duration,
        replace: bool,
    ) -> Result<bool, StoreError> {
        let answer = self
            .write(Op::PutValue {
                key,
                value,
                ttl,
                replace,
            })
            .await?;
        if replace { Ok(true) } else { stored(answer) }
    }

    pub(crate) fn peek_value(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.entry(key)?.map(|(_, payload)| payload))
    }

    pub(crate) async fn take_value(&self, key: String) -> Result<Option<Vec<u8>>, StoreError> {
        match self.write(Op::TakeValue { key }).await? {
            Reply::Taken(value) => Ok(value),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) async fn take_value_if(
        &self,
        key: String,
        expected: Vec<u8>,
    ) -> Result<bool, StoreError> {
        match self.write(Op::TakeValueIf { key, expected }).await? {
            Reply::Removed(removed) => Ok(removed),
            other => Err(unexpected(&other)),
        }
    }

    pub(crate) fn ping(&self) -> Result<(), StoreError> {
        self.read(|_| Ok(()))
    }

    /// Drops expired sessions from memory now and queues the file's sweep; returns how many
    /// sessions left memory.
    pub(crate) fn sweep_expired(&self) -> usize {
        self.sweep_in_background();
        self.memory.sweep_expired()
    }

    fn sweep_in_background(&self) {
        let _ = self.queue(Op::Sweep, Answer::Nobody);
    }

    pub(crate) fn record(
        &self,
        user: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let user = user.to_lowercase();
        self.read(|txn| {
            Ok(txn
                .open_table(RECORDS)?
                .get((user.as_str(), kind, id))?
                .map(|row| row.value().to_vec()))
        })
    }

    pub(crate) fn records(
        &self,
        user: &str,
        kind: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let user = user.to_lowercase();
        self.read(|txn| {
            let table = txn.open_table(RECORDS)?;
            let mut found = Vec::new();
            for row in table.range((user.as_str(), kind, "")..)? {
                let (key, value) = row?;
                let (owner, of_kind, id) = key.value();
                if owner != user || of_kind != kind {
                    break;
                }
                found.push((id.to_owned(), value.value().to_vec()));
            }
            Ok(found)
        })
    }

    pub(crate) async fn put_record(
        &self,
        user: &str,
        kind: &'static str,
        id: &str,
        value: Vec<u8>,
    ) -> Result<(), StoreError> {
        let op = Op::PutRecord {
            user: user.into(),
            kind,
            id: id.into(),
            value,
        };
        self.write(op).await.map(drop)
    }

    /// Every record of a known kind (export).
    pub(crate) fn all_records(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.read(|txn| {
            let mut all = Vec::new();
            for row in txn.open_table(RECORDS)?.iter()? {
                let (key, value) = row?;
                let (user, kind, id) = key.value();
                if let Some(kind) = RecordKind::from_name(kind) {
                    all.push(UserRecord {
                        user: user.to_owned(),
                        kind,
                        id: id.to_owned(),
                        value: value.value().to_vec(),
                    });
                }
            }
            Ok(all)
        })
    }

    pub(crate) async fn put_records(&self, records: Vec<UserRecord>) -> Result<(), StoreError> {
        self.write(Op::PutRecords(records)).await.map(drop)
    }

    pub(crate) async fn delete_record(
        &self,
        user: &str,
        kind: &'static str,
        id: &str,
    ) -> Result<(), StoreError> {
        let op = Op::DeleteRecord {
            user: user.into(),
            kind,
            id: id.into(),
        };
        self.write(op).await.map(drop)
    }
}

fn stored(reply: Reply) -> Result<bool, StoreError> {
    match reply {
        Reply::Stored(stored) => Ok(stored),
        other => Err(unexpected(&other)),
    }
}

/// An answer of the wrong shape: a bug, reported as the store failing (closed).
fn unexpected(reply: &Reply) -> StoreError {
    StoreError::unavailable(format!(
        "unexpected answer from the data file writer: {reply:?}"
    ))
}
