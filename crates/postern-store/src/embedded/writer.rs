//! One thread writes the file. Callers queue an op and wait for its answer; the thread takes
//! every op that is queued (up to `MAX_BATCH`), applies them in one write transaction and
//! commits once, durably (group commit): under load one fsync acknowledges many changes, and a
//! lone sign-in waits for exactly one. A job may hear its answer before the commit
//! (`Answer::Early`: failure counts, whose commit runs while the password is checked), but
//! never hears "committed" before it is. Only after the commit does the in-memory session
//! copy change, so it never shows anything the file does not hold.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};

use redb::Durability;
use tokio::sync::oneshot;

use super::open::DataFile;
use super::ops::{Mirror, Op, Reply, Tables};
use super::tables::now_ms;
use crate::{MemoryStore, StoreError};

const MAX_BATCH: usize = 512;

pub struct Job {
    pub op: Op,
    pub answer: Answer,
}

/// Who hears what about a job.
pub enum Answer {
    /// Nobody waits (the periodic sweep, a retry).
    Nobody,
    /// The op's answer, once the batch is committed.
    Committed(oneshot::Sender<Result<Reply, StoreError>>),
    /// The op's answer as soon as it is applied, then the commit's outcome: the caller goes on
    /// with the answer while the fsync runs, and must hear `committed` before it tells anyone
    /// (see `changes.rs`). A batch that fails drops `applied` if the op was not applied yet.
    Early {
        applied: oneshot::Sender<Reply>,
        committed: oneshot::Sender<Result<(), StoreError>>,
    },
}

/// What is owed to a job's caller once the commit is done (or failed).
enum Owed {
    Reply(Reply, oneshot::Sender<Result<Reply, StoreError>>),
    Commit(oneshot::Sender<Result<(), StoreError>>),
}

pub struct Writer {
    pub file: Arc<DataFile>,
    pub sessions: MemoryStore,
    pub max_sessions: usize,
    pub jobs: Receiver<Job>,
    /// Set while commits fail: the one place that knows the file cannot be written now.
    pub failing: Arc<AtomicBool>,
}

impl Writer {
    /// Runs until every sender is gone (the store was dropped). A sweep that stopped at its
    /// batch limit goes on in the next batch, with whatever else is queued by then, until the
    /// expired rows are gone: the file stays bounded however fast sessions churn.
    pub fn run(self) {
        let mut sweep_more = false;
        loop {
            let first = if sweep_more {
                Job {
                    op: Op::Sweep,
                    answer: Answer::Nobody,
                }
            } else {
                match self.jobs.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                }
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            sweep_more = self.commit(batch);
        }
    }

    /// Applies and commits `batch`; answers whether a sweep in it stopped at its limit.
    fn commit(&self, batch: Vec<Job>) -> bool {
        let mut sweep_more = false;
        let mut owed = Vec::with_capacity(batch.len());
        let mut mirror = Vec::new();
        let mut live = self.sessions.session_count();
        if live >= self.max_sessions {
            // Make room from expired sessions before refusing a sign-in.
            self.sessions.sweep_expired();
            live = self.sessions.session_count();
        }
        let done = (|| -> Result<(), redb::Error> {
            let db = match self.file.get() {
                Some(db) => db,
                None if self.file.reopen() => self.file.get().ok_or(redb::Error::DatabaseClosed)?,
                None => return Err(redb::Error::DatabaseClosed),
            };
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::Immediate)?;
            {
                let mut tables = Tables::open(&txn, now_ms(), self.max_sessions, live)?;
                for job in batch {
                    let reply = tables.apply(job.op, &mut mirror)?;
                    match job.answer {
                        Answer::Nobody => {}
                        Answer::Committed(to) => owed.push(Owed::Reply(reply, to)),
                        Answer::Early { applied, committed } => {
                            let _ = applied.send(reply);
                            owed.push(Owed::Commit(committed));
                        }
                    }
                }
                sweep_more = tables.sweep_unfinished;
            }
            txn.commit()?;
            Ok(())
        })();
        match done {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::warn!(target: "store", event = "store.data_file_writable", file = %self.file.path.display(), "the data file takes writes again");
                }
                for change in mirror {
                    self.mirror(change);
                }
                for owed in owed {
                    match owed {
                        Owed::Reply(reply, to) => drop(to.send(Ok(reply))),
                        Owed::Commit(to) => drop(to.send(Ok(()))),
                    }
                }
                sweep_more
            }
            Err(err) => {
                // Once per problem, not per request: the flag is set until a commit succeeds.
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::error!(target: "store", event = "store.data_file_unwritable", error = %err, file = %self.file.path.display(), "the data file cannot be written: sign-ins and other changes fail until it can");
                }
                // redb refuses everything after an I/O error until the file is opened again.
                if matches!(err, redb::Error::Io(_) | redb::Error::PreviousIo) {
                    self.file.reopen();
                }
                // Ops that were never applied (the batch stopped at the error) drop their
                // senders, which their callers read as unavailable too.
                let failed =
                    StoreError::unavailable_because("the data file cannot be written", err);
                for owed in owed {
                    match owed {
                        Owed::Reply(_, to) => drop(to.send(Err(failed.clone()))),
                        Owed::Commit(to) => drop(to.send(Err(failed.clone()))),
                    }
                }
                false
            }
        }
    }

    fn mirror(&self, change: Mirror) {
        match change {
            Mirror::Put(hash, record, ttl) => {
                // The copy has no bound of its own (the op checked `max_sessions`).
                let _ = self.sessions.put_session(hash, record, ttl);
            }
            Mirror::Delete(hash, user) => self.sessions.delete_session(&hash, &user),
        }
    }
}
