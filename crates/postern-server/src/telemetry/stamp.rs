//! `Stamp`: when a timed piece of work began, read from the CPU's time-stamp counter where the
//! kernel trusts it, else from `std::time::Instant`.
//!
//! Why not `Instant` alone: a check with metrics on reads the clock four times (its own start
//! and end, its session read's start and end). On the development VM (2 cores, Xeon,
//! clocksource tsc, tight loop, `--release`) a start and an `elapsed` took 55–68 ns with
//! `Instant` (`clock_gettime` through the vDSO) and 30–37 ns with `Stamp` on the counter.
//!
//! quanta decides to use the counter from a CPU flag (an invariant TSC on x86_64, the
//! architected timer on aarch64) and cannot tell whether the counters of different cores
//! agree; where they do not, a check that moves between cores would be timed by the gap
//! between them. The kernel tests exactly that before it makes the counter its clocksource, so
//! the counter is read only when the current clocksource is `tsc` or `arch_sys_counter`;
//! anywhere else (another clocksource, another OS, the file unreadable) `Instant` is.
//! quanta calibrates the counter against the monotonic clock once per process (0.6 ms here;
//! at most 200 ms by its own bound), which `calibrate` does at start so no check waits for it.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use quanta::Clock;

/// The counter's clock, when the kernel's clocksource is that counter.
fn counter() -> Option<&'static Clock> {
    static COUNTER: OnceLock<Option<Clock>> = OnceLock::new();
    COUNTER
        .get_or_init(|| kernel_trusts_counter().then(Clock::new))
        .as_ref()
}

/// Whether the kernel found the CPU's counter good enough to be its own clock.
fn kernel_trusts_counter() -> bool {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .is_ok_and(|source| matches!(source.trim(), "tsc" | "arch_sys_counter"))
}

/// Chooses and calibrates the clock now, when postern starts, rather than in the first check
/// it times.
pub fn calibrate() {
    counter();
}

#[derive(Clone, Copy, Debug)]
pub enum Stamp {
    /// A raw read of the counter's clock.
    Counter(u64),
    Os(Instant),
}

impl Stamp {
    pub fn now() -> Self {
        match counter() {
            Some(clock) => Self::Counter(clock.raw()),
            None => Self::Os(Instant::now()),
        }
    }

    /// The time since the stamp; zero if the counter read went backwards.
    pub fn elapsed(self) -> Duration {
        match (self, counter()) {
            (Self::Counter(start), Some(clock)) => clock.delta(start, clock.raw()),
            (Self::Os(start), _) => start.elapsed(),
            // Unreachable: the choice is made once per process.
            (Self::Counter(_), None) => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Stamp;
    use std::time::{Duration, Instant};

    #[test]
    fn a_stamp_measures_what_instant_measures() {
        super::calibrate();
        // Instant read on both sides of each Stamp read: a pause of the test between reads
        // widens the bracket instead of failing it; 1 ms either side for the calibration.
        let outer = Instant::now();
        let stamp = Stamp::now();
        let inner = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        let shortest = inner.elapsed();
        let stamped = stamp.elapsed();
        let longest = outer.elapsed();
        let slack = Duration::from_millis(1);
        assert!(stamped >= Duration::from_millis(19), "{stamped:?}");
        assert!(
            shortest.saturating_sub(slack) <= stamped && stamped <= longest + slack,
            "{stamped:?} outside {shortest:?}..{longest:?}"
        );
    }
}
