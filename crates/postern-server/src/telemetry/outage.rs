//! A store outage is logged as a story, not a flood: one line when it starts, a summary every
//! `SUMMARY_EVERY` while it lasts (how many store calls failed, so how many requests were
//! refused or answered without the store), and one line when a call succeeds again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postern_store::StoreError;

const SUMMARY_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Outage {
    /// Set from the first failure until the next success. The success path reads only this.
    active: AtomicBool,
    /// Failures since the last summary line.
    failures: Arc<AtomicU64>,
    /// When the outage started, and its failures before the last summary.
    started: Mutex<Option<(Instant, u64)>>,
}

impl Outage {
    pub fn answered(&self) {
        if !self.active.load(Ordering::Acquire) {
            return;
        }
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        if !self.active.swap(false, Ordering::AcqRel) {
            return;
        }
        let recent = self.failures.swap(0, Ordering::AcqRel);
        if let Some((since, earlier)) = started.take() {
            tracing::warn!(
                target: "store",
                event = "store.outage_ended",
                failed_calls = earlier + recent,
                duration_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
                "the session store answers again"
            );
        }
    }

    pub fn failed(self: &Arc<Self>, err: &StoreError, op: &'static str) {
        self.failures.fetch_add(1, Ordering::AcqRel);
        if self.active.load(Ordering::Acquire) {
            return;
        }
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        if self.active.swap(true, Ordering::AcqRel) {
            return;
        }
        *started = Some((Instant::now(), 0));
        drop(started);
        tracing::error!(
            target: "store",
            event = "store.outage_started",
            op,
            error = %err,
            "the session store does not answer: refusing what needs it (fail closed) until it does"
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(Arc::clone(self).summarize());
        }
    }

    /// Every `SUMMARY_EVERY` while the outage lasts, the failures since the last line.
    async fn summarize(self: Arc<Self>) {
        loop {
            tokio::time::sleep(SUMMARY_EVERY).await;
            let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
            if !self.active.load(Ordering::Acquire) {
                return;
            }
            let recent = self.failures.swap(0, Ordering::AcqRel);
            if let Some((since, earlier)) = started.as_mut() {
                *earlier += recent;
                tracing::error!(
                    target: "store",
                    event = "store.outage_continues",
                    failed_calls = recent,
                    failed_calls_total = *earlier,
                    duration_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "the session store still does not answer"
                );
            }
        }
    }
}
