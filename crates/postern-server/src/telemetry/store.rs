//! `MeteredStore`: the store as the handlers see it. Each call is counted and timed
//! (`postern_store_operations_total{op,result}`, `postern_store_operation_duration_seconds{op}`)
//! when metrics are on, and a failure feeds the outage log (`outage.rs`) either way. Methods
//! not listed here (`backend_name`, `sweep_expired`) reach the `Store` through `Deref`; code
//! that takes a `&Store` (the admin commands, the password-state helpers) is not metered.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use postern_core::session::SessionRecord;
use postern_core::token::TokenHash;
use postern_store::{Change, Counter as StoreCounter, Pending, Store, StoreError};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::families;
use super::histogram::DurationHistogram;
use super::outage::{Answered, Outage};
use super::stamp::Stamp;
use crate::passwords::PasswordPool;

/// Declares the metered operations once: the `Op` names (the `op` label) and one
/// delegating method per operation.
macro_rules! metered_operations {
    ($( $op:ident ( $( $arg:ident : $ty:ty ),* ) -> $ok:ty; )*) => {
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy)]
        enum Op { $( $op ),* }

        const OPS: &[&str] = &[$( stringify!($op) ),*];

        impl MeteredStore {
            $(
                pub async fn $op(&self, $( $arg: $ty ),*) -> Result<$ok, StoreError> {
                    self.observe(Op::$op, self.inner.$op($( $arg ),*)).await
                }
            )*
        }
    };
}

metered_operations! {
    get_session(hash: &TokenHash) -> Option<std::sync::Arc<SessionRecord>>;
    put_session(hash: &TokenHash, record: &SessionRecord, ttl: Duration) -> ();
    replace_session_if_present(hash: &TokenHash, record: &SessionRecord, ttl: Duration) -> bool;
    delete_session(hash: &TokenHash, user: &str) -> ();
    user_sessions(user: &str) -> Vec<TokenHash>;
    delete_user_sessions(user: &str) -> usize;
    count_failure(id: &str, window: Duration) -> StoreCounter;
    forgive_failure(id: &str) -> ();
    failures(id: &str) -> StoreCounter;
    clear_failures(id: &str) -> ();
    take_token(id: &str, rate: f64, burst: u32) -> Option<Duration>;
    mark_once(id: &str, ttl: Duration) -> bool;
    is_marked(id: &str) -> bool;
    put_value(id: &str, value: Vec<u8>, ttl: Duration) -> bool;
    set_value(id: &str, value: Vec<u8>, ttl: Duration) -> ();
    peek_value(id: &str) -> Option<Vec<u8>>;
    take_value(id: &str) -> Option<Vec<u8>>;
    ping() -> ();
    apply(changes: Vec<Change>) -> ();
    count_failures(counters: &[(&str, Duration)]) -> (Vec<StoreCounter>, Pending);
    committed(pending: Pending) -> ();
}

/// Per operation: `[ok, error]` counters and a duration histogram, resolved at start.
pub struct StoreMetrics {
    counts: Vec<[Counter; 2]>,
    durations: Vec<DurationHistogram>,
}

impl StoreMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let (counts, durations) = families::counted_and_timed(
            registry,
            (
                "postern_store_operations",
                "Calls to the session store, by operation and result (ok, error)",
            ),
            (
                "postern_store_operation_duration_seconds",
                "Time a session store call took, by operation",
            ),
        );
        Self {
            counts: OPS
                .iter()
                .map(|op| {
                    ["ok", "error"].map(|result| {
                        counts
                            .get_or_create(&[("op", op), ("result", result)])
                            .clone()
                    })
                })
                .collect(),
            durations: OPS
                .iter()
                .map(|op| durations.get_or_create(&[("op", op)]).clone())
                .collect(),
        }
    }

    fn record(&self, op: Op, ok: bool, took: Duration) {
        let op = op as usize;
        if let Some([ok_count, error_count]) = self.counts.get(op) {
            if ok { ok_count } else { error_count }.inc();
        }
        if let Some(histogram) = self.durations.get(op) {
            histogram.observe(took);
        }
    }
}

#[derive(Clone)]
pub struct MeteredStore {
    inner: Store,
    metrics: Option<Arc<StoreMetrics>>,
    outage: Arc<Outage>,
}

impl MeteredStore {
    pub fn new(inner: Store, metrics: Option<Arc<StoreMetrics>>) -> Self {
        Self {
            inner,
            metrics,
            outage: Arc::new(Outage::default()),
        }
    }

    async fn observe<T>(
        &self,
        op: Op,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = self.metrics.as_ref().map(|_| Stamp::now());
        let result = call.await;
        if let (Some(metrics), Some(started)) = (&self.metrics, started) {
            metrics.record(op, result.is_ok(), started.elapsed());
        }
        match &result {
            Ok(_) => self.outage.answered(self.answered_how(op)),
            Err(err @ StoreError::Unavailable(_)) => {
                self.outage.failed(err, OPS[op as usize], writes(op));
            }
            Err(StoreError::Full(_)) => {}
        }
        result
    }

    /// What a successful `op` shows about the store (see `outage.rs`).
    fn answered_how(&self, op: Op) -> Answered {
        let from_memory = matches!(op, Op::get_session | Op::user_sessions | Op::take_token);
        if from_memory && matches!(self.inner, Store::Embedded(_)) {
            Answered::FromMemory
        } else if writes(op) && !matches!(op, Op::count_failures) {
            // Counts are answered before they are durable: `committed` tells whether the write
            // worked, so only it may end an outage begun by a failed write.
            Answered::Write
        } else {
            Answered::Read
        }
    }
}

/// Whether `op` changes what the store holds.
fn writes(op: Op) -> bool {
    !matches!(
        op,
        Op::get_session
            | Op::user_sessions
            | Op::failures
            | Op::take_token
            | Op::is_marked
            | Op::peek_value
            | Op::ping
    )
}

impl std::ops::Deref for MeteredStore {
    type Target = Store;

    fn deref(&self) -> &Store {
        &self.inner
    }
}

/// Read at scrape time: what the store and the password pool already know.
pub struct StoreGauges {
    store: Store,
    passwords: Arc<PasswordPool>,
}

impl std::fmt::Debug for StoreGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreGauges")
    }
}

impl StoreGauges {
    pub fn new(store: Store, passwords: Arc<PasswordPool>) -> Self {
        Self { store, passwords }
    }
}

impl Collector for StoreGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let in_flight = ConstGauge::new(i64::try_from(self.passwords.in_flight()).unwrap_or(0));
        in_flight.encode(encoder.encode_descriptor(
            "postern_password_verifications_in_flight",
            "Password checks and hashes running on a verifier now (at most one per core)",
            None,
            in_flight.metric_type(),
        )?)?;
        if let Some(count) = self.store.session_count() {
            let sessions = ConstGauge::new(i64::try_from(count).unwrap_or(i64::MAX));
            sessions.encode(encoder.encode_descriptor(
                "postern_sessions",
                "Sessions in the memory store, live or expired but not yet swept (not exported for Redis)",
                None,
                sessions.metric_type(),
            )?)?;
        }
        if let Some((hits, misses)) = self.store.client_cache_counts() {
            for (name, help, value) in [
                (
                    "postern_redis_client_cache_hits",
                    "Session reads answered from the Redis client-side cache",
                    hits,
                ),
                (
                    "postern_redis_client_cache_misses",
                    "Session reads that went to Redis while the client-side cache was live",
                    misses,
                ),
            ] {
                let counter = ConstCounter::new(value);
                counter.encode(encoder.encode_descriptor(
                    name,
                    help,
                    None,
                    counter.metric_type(),
                )?)?;
            }
        }
        Ok(())
    }
}
