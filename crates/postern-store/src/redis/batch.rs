//! Coalesces the check path's concurrent `GET`s into one write to Redis.
//!
//! Every check reads one key. Sent one by one, each `GET` would cost Redis a read and a write
//! system call of its own: tokio runs a task woken by a channel send right after the sender,
//! so redis-rs's connection task wrote each command before the next check had produced one
//! (2.2 commands per Redis read, measured with `postern-bench --only d`). Here the checks
//! queue their keys; one task takes a key, yields once so that every check already runnable
//! in this scheduler round queues its key too, then sends them all at once, each batch under
//! one store timeout, as one pipeline (one command per key on a cluster). A lone check pays
//! one extra task switch.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::try_join_all;
use tokio::sync::{mpsc, oneshot};

use super::Link;
use super::connection::Conn;
use crate::StoreError;
use redis::RedisError;

/// Keys sent in one batch at most; a bigger backlog goes out in the following batches.
const MAX_BATCH: usize = 256;
/// Queued reads at most; a check beyond it waits for room (back-pressure, not memory).
const QUEUE: usize = 4096;

/// A key's value, and how long Redis keeps it when that was asked for.
pub struct Fetched {
    pub value: Option<Vec<u8>>,
    pub ttl: Option<Duration>,
}

type Reply = Result<Fetched, StoreError>;

struct Read {
    key: String,
    with_ttl: bool,
    reply: oneshot::Sender<Reply>,
}

/// The queue into the batching task, started on the first read (the store may be built
/// outside a runtime, e.g. by `config check`).
#[derive(Clone, Default)]
pub struct ReadBatcher {
    queue: Arc<OnceLock<mpsc::Sender<Read>>>,
}

impl ReadBatcher {
    /// `GET key` (and `PTTL key` with `with_ttl`) through the current batch. The store's own
    /// timeout bounds the batch, so the reply always comes; a batcher whose task is gone (its
    /// runtime ended) reads directly.
    pub async fn get(&self, link: &Link, key: String, with_ttl: bool) -> Reply {
        let queue = self.queue.get_or_init(|| start(link.clone()));
        let (reply, answer) = oneshot::channel();
        let read = Read {
            key,
            with_ttl,
            reply,
        };
        if let Err(mpsc::error::SendError(read)) = queue.send(read).await {
            let (key, with_ttl) = (read.key, read.with_ttl);
            return link
                .run(|conn| async move { fetch(conn, key, with_ttl).await })
                .await;
        }
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::unavailable("the Redis reader stopped")))
    }
}

fn start(link: Link) -> mpsc::Sender<Read> {
    let (queue, reads) = mpsc::channel(QUEUE);
    tokio::spawn(collect(link, reads));
    queue
}

/// Gathers reads into batches until every sender is gone (the store was dropped).
async fn collect(link: Link, mut reads: mpsc::Receiver<Read>) {
    while let Some(first) = reads.recv().await {
        tokio::task::yield_now().await;
        let mut batch = Vec::with_capacity(MAX_BATCH.min(reads.len() + 1));
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match reads.try_recv() {
                Ok(read) => batch.push(read),
                Err(_) => break,
            }
        }
        // Each batch runs on its own, so a slow one does not hold back the next.
        tokio::spawn(send(link.clone(), batch));
    }
}

async fn send(link: Link, batch: Vec<Read>) {
    let reads: Vec<(&str, bool)> = batch
        .iter()
        .map(|read| (read.key.as_str(), read.with_ttl))
        .collect();
    let values = link
        .run(|conn| async move {
            match conn {
                // A cluster pipeline may not span slots: one command per key, all queued in
                // this one poll of the connection, so they still leave together.
                Conn::Cluster(_) => {
                    try_join_all(
                        reads.iter().map(|(key, with_ttl)| {
                            fetch(conn.clone(), (*key).to_owned(), *with_ttl)
                        }),
                    )
                    .await
                }
                // One pipeline: one command future, one write and one reply parse for the whole
                // batch, instead of a future, a channel message and a reply per key.
                conn => fetch_all(conn, &reads).await,
            }
        })
        .await;
    match values {
        Ok(values) => {
            for (read, value) in batch.into_iter().zip(values) {
                let _ = read.reply.send(Ok(value));
            }
        }
        Err(err) => {
            for read in batch {
                let _ = read.reply.send(Err(err.clone()));
            }
        }
    }
}

/// `GET` (and `PTTL`) for every read in one pipeline, on a single-node connection.
async fn fetch_all(mut conn: Conn, reads: &[(&str, bool)]) -> Result<Vec<Fetched>, RedisError> {
    let mut pipe = redis::pipe();
    for (key, with_ttl) in reads {
        pipe.get(*key);
        if *with_ttl {
            pipe.pttl(*key);
        }
    }
    let replies: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
    let mut replies = replies.into_iter();
    let mut next = || {
        replies.next().ok_or_else(|| {
            RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "fewer replies than commands in the pipeline",
            ))
        })
    };
    let mut fetched = Vec::with_capacity(reads.len());
    for (_, with_ttl) in reads {
        let value: Option<Vec<u8>> = redis::from_redis_value(next()?)?;
        let ttl = if *with_ttl {
            let ttl_ms: i64 = redis::from_redis_value(next()?)?;
            u64::try_from(ttl_ms).ok().map(Duration::from_millis)
        } else {
            None
        };
        fetched.push(Fetched { value, ttl });
    }
    Ok(fetched)
}

async fn fetch(mut conn: Conn, key: String, with_ttl: bool) -> Result<Fetched, RedisError> {
    if !with_ttl {
        let value = redis::cmd("GET").arg(key).query_async(&mut conn).await?;
        return Ok(Fetched { value, ttl: None });
    }
    let (value, ttl_ms): (Option<Vec<u8>>, i64) = redis::pipe()
        .get(&key)
        .pttl(&key)
        .query_async(&mut conn)
        .await?;
    let ttl = u64::try_from(ttl_ms).ok().map(Duration::from_millis);
    Ok(Fetched { value, ttl })
}
