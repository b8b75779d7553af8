//! When a connection is idle: no request in flight, and none for a while. Every connection
//! task waits on `Activity::idle_for` beside its connection: an idle HTTP/1.1 connection is
//! dropped (its client did not send the next request's headers within the header read
//! timeout), an idle HTTP/2 one closed gracefully (GOAWAY); hyper would keep an HTTP/2
//! connection open for as long as the client does, even one that sent nothing after the
//! preface.
//!
//! For HTTP/1.1 this replaces hyper's own header read timeout, which allocates and registers a
//! timer for every request: here a request costs two atomic counts, one clock read and one
//! `fetch_max`, and the connection's one timer fires at most once per timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Requests in flight on one connection, and when the last one ended.
pub struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds from `opened` to the end of the last request (0: none yet).
    last_end_ms: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_end_ms: AtomicU64::new(0),
        })
    }

    /// Counts a request as in flight until the returned guard is dropped (answered, or
    /// cancelled because the client reset its stream).
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(self))
    }

    /// Returns once no request has been in flight for `timeout`.
    pub async fn idle_for(&self, timeout: Duration) {
        loop {
            let quiet_since =
                self.opened + Duration::from_millis(self.last_end_ms.load(Ordering::SeqCst));
            let wait = if self.in_flight.load(Ordering::SeqCst) > 0 {
                timeout
            } else {
                match timeout.checked_sub(quiet_since.elapsed()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return,
                }
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// One request in flight; see `Activity::request_started`.
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        let now_ms = u64::try_from(activity.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        activity.last_end_ms.fetch_max(now_ms, Ordering::SeqCst);
        activity.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_requests_is_idle_after_the_timeout() {
        let activity = Activity::new();
        let started = Instant::now();
        activity.idle_for(Duration::from_secs(3)).await;
        assert_eq!(started.elapsed().as_secs(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_keeps_it_busy_and_its_end_restarts_the_clock() {
        let activity = Activity::new();
        let started = Instant::now();
        let request = activity.request_started();
        let ends = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(request);
        });
        activity.idle_for(Duration::from_secs(3)).await;
        ends.await.unwrap();
        // Busy for 5 s, then quiet for 3 s; the wait re-checks at most once per timeout.
        assert!(
            started.elapsed() >= Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
        assert!(
            started.elapsed() <= Duration::from_secs(9),
            "{:?}",
            started.elapsed()
        );
    }
}
