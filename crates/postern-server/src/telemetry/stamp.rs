//! `Stamp`: when a timed piece of work began, read from the CPU's time-stamp counter.
//!
//! Why not `std::time::Instant`: a check with metrics on reads the clock four times (its own
//! start and end, its session read's start and end). On the development VM (2 cores, Xeon,
//! clocksource tsc, tight loop, `--release`) a read of `Instant` (`clock_gettime` through the
//! vDSO) and `elapsed` took 27 ns each; `quanta`'s raw counter read takes 13 ns. quanta uses
//! the counter only where the CPU says it is invariant (it ticks at one rate in every power
//! state) and otherwise reads the OS's monotonic clock, as `Instant` does; it calibrates the
//! counter against that clock once per process (0.6 ms here), which `calibrate` does at
//! start so no check waits for it.

use std::sync::OnceLock;
use std::time::Duration;

use quanta::Clock;

/// One clock for the process: calibrated once, read by every check.
fn clock() -> &'static Clock {
    static CLOCK: OnceLock<Clock> = OnceLock::new();
    CLOCK.get_or_init(Clock::new)
}

/// Calibrates the clock now, when postern starts, rather than in the first check it times.
pub fn calibrate() {
    clock();
}

#[derive(Clone, Copy, Debug)]
pub struct Stamp(u64);

impl Stamp {
    pub fn now() -> Self {
        Self(clock().raw())
    }

    /// The time since the stamp; zero if the counter read went backwards (another core's
    /// counter behind this one's).
    pub fn elapsed(self) -> Duration {
        let clock = clock();
        clock.delta(self.0, clock.raw())
    }
}

#[cfg(test)]
mod tests {
    use super::Stamp;
    use std::time::{Duration, Instant};

    #[test]
    fn a_stamp_measures_what_instant_measures() {
        let (stamp, instant) = (Stamp::now(), Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        // Read between two reads of Instant, so a pause of the test between reads widens the
        // bracket instead of failing it; 1 ms either side for the calibration's error.
        let (before, stamped, after) = (instant.elapsed(), stamp.elapsed(), instant.elapsed());
        let slack = Duration::from_millis(1);
        assert!(stamped >= Duration::from_millis(20), "{stamped:?}");
        assert!(
            before.saturating_sub(slack) <= stamped && stamped <= after + slack,
            "{stamped:?} outside {before:?}..{after:?}"
        );
    }
}
