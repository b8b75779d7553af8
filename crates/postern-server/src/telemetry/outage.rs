//! A store outage is logged as a story, not a flood: one line when it starts, a summary every
//! `SUMMARY_EVERY` while it lasts (how many store calls failed, so how many requests were
//! refused or answered without the store), and one line when a call succeeds again. Writes can
//! fail while reads still work (the embedded store's disk is full or read-only), so an outage
//! that began with a failed write ends only with a write that succeeds: reads in between would
//! otherwise end and restart it once per request.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postern_store::StoreError;

const SUMMARY_EVERY: Duration = Duration::from_secs(10);

/// What a store call that succeeded shows about the store.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Answered {
    /// Nothing: it was served from memory (the embedded store's sessions, token buckets).
    FromMemory,
    Read,
    Write,
}

#[derive(Default)]
pub struct Outage {
    /// Set from the first failure until the next success. The success path reads only this.
    active: AtomicBool,
    /// The outage began with a failed write: only a write that succeeds ends it.
    writes_failed: AtomicBool,
    /// Failures since the last summary line.
    failures: Arc<AtomicU64>,
    /// When the outage started, and its failures before the last summary.
    started: Mutex<Option<(Instant, u64)>>,
    /// Counts the outages: each one's summaries stop when it ends, even if another has begun
    /// by the time they wake (else every short outage left a summary running for the next).
    outages: AtomicU64,
}

impl Outage {
    pub fn answered(&self, how: Answered) {
        if !self.active.load(Ordering::Acquire)
            || how == Answered::FromMemory
            || (how == Answered::Read && self.writes_failed.load(Ordering::Acquire))
        {
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

    pub fn failed(self: &Arc<Self>, err: &StoreError, op: &'static str, write: bool) {
        self.failures.fetch_add(1, Ordering::AcqRel);
        if self.active.load(Ordering::Acquire) {
            return;
        }
        let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
        if self.active.swap(true, Ordering::AcqRel) {
            return;
        }
        self.writes_failed.store(write, Ordering::Release);
        *started = Some((Instant::now(), 0));
        let this_outage = self.outages.fetch_add(1, Ordering::AcqRel) + 1;
        drop(started);
        tracing::error!(
            target: "store",
            event = "store.outage_started",
            op,
            error = %err,
            "the session store does not answer: refusing what needs it (fail closed) until it does"
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(Arc::clone(self).summarize(this_outage));
        }
    }

    /// Every `SUMMARY_EVERY` while outage number `outage` lasts, the failures since the last
    /// line.
    async fn summarize(self: Arc<Self>, outage: u64) {
        loop {
            tokio::time::sleep(SUMMARY_EVERY).await;
            let mut started = self.started.lock().unwrap_or_else(PoisonError::into_inner);
            if !self.active.load(Ordering::Acquire)
                || self.outages.load(Ordering::Acquire) != outage
            {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn down() -> StoreError {
        StoreError::unavailable("down")
    }

    fn active(outage: &Outage) -> bool {
        outage.active.load(Ordering::Acquire)
    }

    #[test]
    fn an_outage_begun_by_a_write_ends_with_a_write_only() {
        let outage = Arc::new(Outage::default());
        outage.failed(&down(), "put_session", true);
        outage.answered(Answered::FromMemory);
        outage.answered(Answered::Read);
        assert!(active(&outage), "reads still work while writes fail");
        outage.answered(Answered::Write);
        assert!(!active(&outage));
    }

    /// Each outage has one summary running: the one of an outage that ended stops at its next
    /// wake, though another outage has begun meanwhile.
    #[tokio::test(start_paused = true)]
    async fn an_ended_outage_s_summary_stops_though_another_began() {
        let outage = Arc::new(Outage::default());
        outage.failed(&down(), "get_session", false);
        let first = tokio::spawn(Arc::clone(&outage).summarize(1));
        outage.answered(Answered::Read);
        outage.failed(&down(), "get_session", false);
        let second = tokio::spawn(Arc::clone(&outage).summarize(2));
        tokio::time::sleep(SUMMARY_EVERY * 3).await;
        assert!(first.is_finished(), "the first outage's summary still runs");
        assert!(
            !second.is_finished(),
            "the outage in course has its summary"
        );
        outage.answered(Answered::Read);
        tokio::time::sleep(SUMMARY_EVERY * 2).await;
        assert!(second.is_finished());
    }

    #[test]
    fn an_outage_begun_by_a_read_ends_with_any_call_that_reaches_the_store() {
        let outage = Arc::new(Outage::default());
        outage.failed(&down(), "get_session", false);
        outage.answered(Answered::FromMemory);
        assert!(active(&outage), "memory says nothing of the store");
        outage.answered(Answered::Read);
        assert!(!active(&outage));
        outage.failed(&down(), "failures", false);
        outage.answered(Answered::Write);
        assert!(!active(&outage));
    }
}
