//! The changes the writer applies, each inside the batch's write transaction. Every decision
//! (is this mark new, what is the count now) is made against the file's own committed state,
//! so the file stays the truth and concurrent callers are serialised by redb.

use std::time::Duration;

use postern_core::session::SessionRecord;
use postern_core::token::TokenHash;
use redb::{ReadableTable, Table, WriteTransaction};

use super::tables::{
    self, ENTRIES, EXPIRY, RECORDS, SESSIONS, USER_SESSIONS, counter_of, counter_payload, decode,
    encode, entry_ref, expiry_after, left, session_ref,
};
use crate::changes::Change;
use crate::{Counter, UserRecord};

/// Rows the sweep removes in one transaction at most, so one sweep never holds up sign-ins
/// for long; the writer runs the next part in its next batch (see `Writer::run`).
const SWEEP_BATCH: usize = 5_000;

pub enum Op {
    PutSession {
        hash: TokenHash,
        record: SessionRecord,
        ttl: Duration,
    },
    DeleteSession {
        hash: TokenHash,
    },
    DeleteUserSessions {
        user: String,
    },
    CountFailure {
        key: String,
        window: Duration,
    },
    Forgive {
        key: String,
    },
    Remove {
        key: String,
    },
    MarkOnce {
        key: String,
        ttl: Duration,
    },
    PutValue {
        key: String,
        value: Vec<u8>,
        ttl: Duration,
        replace: bool,
    },
    TakeValue {
        key: String,
    },
    /// Deletes the value only while it is `expected` (an owned lock's release).
    TakeValueIf {
        key: String,
        expected: Vec<u8>,
    },
    PutRecord {
        user: String,
        kind: &'static str,
        id: String,
        value: Vec<u8>,
    },
    DeleteRecord {
        user: String,
        kind: &'static str,
        id: String,
    },
    /// Many records at once (import): one transaction, one fsync.
    PutRecords(Vec<UserRecord>),
    /// Several ops in order (a sign-in's changes, its failure counts), answered together; the
    /// first session refused for `max_sessions` stops the ops after it.
    Batch(Vec<Op>),
    Sweep,
    /// Changes nothing: waits for what was queued before it and, after a failure, makes the
    /// writer try the file again.
    Nothing,
}

impl From<Change> for Op {
    fn from(change: Change) -> Self {
        match change {
            Change::PutSession { hash, record, ttl } => Self::PutSession { hash, record, ttl },
            Change::DeleteSession { hash, .. } => Self::DeleteSession { hash },
            Change::ForgiveFailure(key) => Self::Forgive { key },
            Change::ClearFailures(key) => Self::Remove { key },
            Change::PutValue { id, value, ttl } => Self::PutValue {
                key: id,
                value,
                ttl,
                replace: false,
            },
        }
    }
}

/// What an op answers.
#[derive(Debug)]
pub enum Reply {
    Done,
    Stored(bool),
    Count(Counter),
    Taken(Option<Vec<u8>>),
    /// Whether a conditional delete deleted.
    Removed(bool),
    Ended(usize),
    /// The session was not stored: `max_sessions` live sessions exist.
    Full(usize),
    /// A batch's answers, in order.
    Each(Vec<Reply>),
}

/// What the in-memory session copy must do once the batch is committed.
pub enum Mirror {
    Put(TokenHash, SessionRecord, Duration),
    Delete(TokenHash, String),
}

/// The tables one batch writes, opened once per transaction.
pub struct Tables<'txn> {
    sessions: Table<'txn, &'static [u8], &'static [u8]>,
    users: Table<'txn, (&'static str, &'static [u8]), ()>,
    entries: Table<'txn, &'static str, &'static [u8]>,
    expiry: Table<'txn, (u64, &'static [u8]), ()>,
    records: Table<'txn, (&'static str, &'static str, &'static str), &'static [u8]>,
    now: u64,
    /// `max_sessions`, and how many more new sessions this batch may add.
    max_sessions: usize,
    session_room: usize,
    /// A sweep in this batch stopped at `SWEEP_BATCH` rows: more are due.
    pub sweep_unfinished: bool,
}

type Result<T> = std::result::Result<T, redb::Error>;

impl<'txn> Tables<'txn> {
    pub fn open(
        txn: &'txn WriteTransaction,
        now: u64,
        max_sessions: usize,
        live_sessions: usize,
    ) -> Result<Self> {
        Ok(Self {
            sessions: txn.open_table(SESSIONS)?,
            users: txn.open_table(USER_SESSIONS)?,
            entries: txn.open_table(ENTRIES)?,
            expiry: txn.open_table(EXPIRY)?,
            records: txn.open_table(RECORDS)?,
            now,
            max_sessions,
            session_room: max_sessions.saturating_sub(live_sessions),
            sweep_unfinished: false,
        })
    }

    pub fn apply(&mut self, op: Op, mirror: &mut Vec<Mirror>) -> Result<Reply> {
        match op {
            Op::PutSession { hash, record, ttl } => self.put_session(hash, record, ttl, mirror),
            Op::DeleteSession { hash } => {
                self.delete_session(&hash, mirror)?;
                Ok(Reply::Done)
            }
            Op::DeleteUserSessions { user } => self.delete_user_sessions(&user, mirror),
            Op::CountFailure { key, window } => self.count(&key, window),
            Op::Forgive { key } => self.forgive(&key),
            Op::Remove { key } => {
                self.remove_entry(&key)?;
                Ok(Reply::Done)
            }
            Op::MarkOnce { key, ttl } => self.put_if_absent(&key, &[], ttl),
            Op::PutValue {
                key,
                value,
                ttl,
                replace: false,
            } => self.put_if_absent(&key, &value, ttl),
            Op::PutValue {
                key, value, ttl, ..
            } => {
                self.set_entry(&key, &value, expiry_after(self.now, ttl))?;
                Ok(Reply::Done)
            }
            Op::TakeValue { key } => {
                let taken = self.live_entry(&key)?;
                if taken.is_some() {
                    self.remove_entry(&key)?;
                }
                Ok(Reply::Taken(taken.map(|(_, payload)| payload)))
            }
            Op::TakeValueIf { key, expected } => {
                let matches = self
                    .live_entry(&key)?
                    .is_some_and(|(_, payload)| payload == expected);
                if matches {
                    self.remove_entry(&key)?;
                }
                Ok(Reply::Removed(matches))
            }
            Op::PutRecord {
                user,
                kind,
                id,
                value,
            } => {
                self.records.insert(
                    (user.to_lowercase().as_str(), kind, id.as_str()),
                    value.as_slice(),
                )?;
                Ok(Reply::Done)
            }
            Op::PutRecords(records) => {
                for record in records {
                    self.records.insert(
                        (
                            record.user.to_lowercase().as_str(),
                            record.kind.name(),
                            record.id.as_str(),
                        ),
                        record.value.as_slice(),
                    )?;
                }
                Ok(Reply::Done)
            }
            Op::DeleteRecord { user, kind, id } => {
                self.records
                    .remove((user.to_lowercase().as_str(), kind, id.as_str()))?;
                Ok(Reply::Done)
            }
            Op::Batch(ops) => {
                let mut replies = Vec::with_capacity(ops.len());
                for op in ops {
                    match self.apply(op, mirror)? {
                        full @ Reply::Full(_) => return Ok(full),
                        reply => replies.push(reply),
                    }
                }
                Ok(Reply::Each(replies))
            }
            Op::Sweep => self.sweep(mirror),
            Op::Nothing => Ok(Reply::Done),
        }
    }

    fn put_session(
        &mut self,
        hash: TokenHash,
        record: SessionRecord,
        ttl: Duration,
        mirror: &mut Vec<Mirror>,
    ) -> Result<Reply> {
        let old = self.session_expiry(&hash)?;
        if old.is_none() {
            if self.session_room == 0 {
                return Ok(Reply::Full(self.max_sessions));
            }
            self.session_room -= 1;
        }
        if let Some(old) = old {
            self.expiry.remove((old, session_ref(&hash.0).as_slice()))?;
        }
        let expires = expiry_after(self.now, ttl);
        let json =
            serde_json::to_vec(&record).map_err(|err| redb::Error::Corrupted(err.to_string()))?;
        self.sessions
            .insert(hash.0.as_slice(), encode(expires, &json).as_slice())?;
        self.users
            .insert((record.user.to_lowercase().as_str(), hash.0.as_slice()), ())?;
        self.expiry
            .insert((expires, session_ref(&hash.0).as_slice()), ())?;
        mirror.push(Mirror::Put(hash, record, ttl));
        Ok(Reply::Done)
    }

    /// The stored expiry of a session, live or not yet swept.
    fn session_expiry(&self, hash: &TokenHash) -> Result<Option<u64>> {
        Ok(self
            .sessions
            .get(hash.0.as_slice())?
            .and_then(|row| decode(row.value()).map(|(expires, _)| expires)))
    }

    fn delete_session(&mut self, hash: &TokenHash, mirror: &mut Vec<Mirror>) -> Result<()> {
        let Some(row) = self.sessions.remove(hash.0.as_slice())? else {
            return Ok(());
        };
        let Some((expires, json)) = decode(row.value()) else {
            return Ok(());
        };
        let user = serde_json::from_slice::<SessionRecord>(json)
            .map(|record| record.user.to_lowercase())
            .unwrap_or_default();
        drop(row);
        self.users.remove((user.as_str(), hash.0.as_slice()))?;
        self.expiry
            .remove((expires, session_ref(&hash.0).as_slice()))?;
        mirror.push(Mirror::Delete(*hash, user));
        Ok(())
    }

    fn delete_user_sessions(&mut self, user: &str, mirror: &mut Vec<Mirror>) -> Result<Reply> {
        let user = user.to_lowercase();
        let mut hashes = Vec::new();
        for row in self.users.range((user.as_str(), [].as_slice())..)? {
            let (key, _) = row?;
            let (owner, hash) = key.value();
            if owner != user {
                break;
            }
            if let Ok(hash) = <[u8; 32]>::try_from(hash) {
                hashes.push(TokenHash(hash));
            }
        }
        let mut ended = 0;
        for hash in &hashes {
            if self
                .session_expiry(hash)?
                .is_some_and(|expires| expires > self.now)
            {
                ended += 1;
            }
            self.delete_session(hash, mirror)?;
            // An index row whose session is gone already.
            self.users.remove((user.as_str(), hash.0.as_slice()))?;
        }
        Ok(Reply::Ended(ended))
    }

    /// The expiry and payload of a live entry.
    fn live_entry(&self, key: &str) -> Result<Option<(u64, Vec<u8>)>> {
        Ok(self.entries.get(key)?.and_then(|row| {
            decode(row.value())
                .filter(|(expires, _)| *expires > self.now)
                .map(|(expires, payload)| (expires, payload.to_vec()))
        }))
    }

    fn set_entry(&mut self, key: &str, payload: &[u8], expires: u64) -> Result<()> {
        self.remove_entry(key)?;
        self.entries
            .insert(key, encode(expires, payload).as_slice())?;
        self.expiry
            .insert((expires, entry_ref(key).as_slice()), ())?;
        Ok(())
    }

    fn remove_entry(&mut self, key: &str) -> Result<()> {
        let old = self
            .entries
            .remove(key)?
            .and_then(|row| decode(row.value()).map(|(expires, _)| expires));
        if let Some(expires) = old {
            self.expiry.remove((expires, entry_ref(key).as_slice()))?;
        }
        Ok(())
    }

    fn put_if_absent(&mut self, key: &str, payload: &[u8], ttl: Duration) -> Result<Reply> {
        if self.live_entry(key)?.is_some() {
            return Ok(Reply::Stored(false));
        }
        self.set_entry(key, payload, expiry_after(self.now, ttl))?;
        Ok(Reply::Stored(true))
    }

    fn count(&mut self, key: &str, window: Duration) -> Result<Reply> {
        let (count, expires) = match self.live_entry(key)? {
            Some((expires, payload)) => (counter_of(&payload).saturating_add(1), expires),
            None => (1, expiry_after(self.now, window)),
        };
        self.set_entry(key, &counter_payload(count), expires)?;
        Ok(Reply::Count(Counter {
            count,
            resets_in: left(expires, self.now),
        }))
    }

    fn forgive(&mut self, key: &str) -> Result<Reply> {
        if let Some((expires, payload)) = self.live_entry(key)? {
            let count = counter_of(&payload).saturating_sub(1);
            self.set_entry(key, &counter_payload(count), expires)?;
        }
        Ok(Reply::Done)
    }

    /// Deletes up to `SWEEP_BATCH` expired rows, oldest first; answers how many.
    fn sweep(&mut self, mirror: &mut Vec<Mirror>) -> Result<Reply> {
        let mut due = Vec::new();
        for row in self
            .expiry
            .range(..(self.now, [].as_slice()))?
            .take(SWEEP_BATCH)
        {
            let (key, _) = row?;
            let (expires, reference) = key.value();
            due.push((expires, reference.to_vec()));
        }
        for (expires, reference) in &due {
            match reference.split_first() {
                Some((b's', hash)) => {
                    if let Ok(hash) = <[u8; 32]>::try_from(hash) {
                        self.delete_session(&TokenHash(hash), mirror)?;
                    }
                }
                Some((b'e', key)) => {
                    self.entries.remove(String::from_utf8_lossy(key).as_ref())?;
                }
                _ => {}
            }
            self.expiry.remove((*expires, reference.as_slice()))?;
        }
        self.sweep_unfinished = due.len() == SWEEP_BATCH;
        Ok(Reply::Ended(due.len()))
    }
}

/// The live sessions in the file, for the in-memory copy at start.
pub fn live_sessions(
    txn: &redb::ReadTransaction,
    now: u64,
) -> Result<Vec<(TokenHash, SessionRecord, Duration)>> {
    let table = txn.open_table(SESSIONS)?;
    let mut live = Vec::new();
    for row in table.iter()? {
        let (hash, value) = row?;
        let Ok(hash) = <[u8; 32]>::try_from(hash.value()) else {
            continue;
        };
        let Some((expires, json)) = decode(value.value()) else {
            continue;
        };
        if expires <= now {
            continue;
        }
        let record = serde_json::from_slice(json)
            .map_err(|err| redb::Error::Corrupted(format!("a session record: {err}")))?;
        live.push((TokenHash(hash), record, tables::left(expires, now)));
    }
    Ok(live)
}
