//! One thread writes the file. Callers queue an op and wait for its answer; the thread takes
//! every op that is queued (up to `MAX_BATCH`), applies them in one write transaction and
//! commits once, durably (group commit): under load one fsync acknowledges many changes, and a
//! lone sign-in waits for exactly one. Only after the commit does the in-memory session copy
//! change, so it never shows anything the file does not hold.

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
    /// `None` when nobody waits for the answer (the periodic sweep).
    pub reply: Option<oneshot::Sender<Result<Reply, StoreError>>>,
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
                    reply: None,
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
        let mut replies = Vec::with_capacity(batch.len());
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
                    replies.push((tables.apply(job.op, &mut mirror)?, job.reply));
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
                for (reply, to) in replies {
                    if let Some(to) = to {
                        let _ = to.send(Ok(reply));
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
                for (_, to) in replies {
                    if let Some(to) = to {
                        let _ = to.send(Err(failed.clone()));
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
