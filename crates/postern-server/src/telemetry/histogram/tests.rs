use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{BOUNDS_NANOS, DurationHistogram};

/// The text a scrape gets for one histogram named `took`.
fn exposition(register: impl FnOnce(&mut Registry)) -> String {
    let mut registry = Registry::default();
    register(&mut registry);
    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    text
}

/// Each bound, a nanosecond either side of it, nothing, and more than the last bound.
fn durations() -> Vec<Duration> {
    let mut durations = vec![
        Duration::ZERO,
        Duration::from_secs(3),
        Duration::from_secs(86_400),
    ];
    for bound in BOUNDS_NANOS {
        durations.extend([bound - 1, bound, bound + 1].map(Duration::from_nanos));
    }
    durations
}

#[test]
fn a_scrape_reads_as_prometheus_clients_own_histogram() {
    let ours = DurationHistogram::default();
    // The bounds the two histograms had as prometheus_client's, before this type.
    let theirs = Histogram::new([
        0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05,
        0.1, 0.25, 1.0,
    ]);
    for took in durations() {
        ours.observe(took);
        theirs.observe(took.as_secs_f64());
    }
    let ours = exposition(|registry| registry.register("took", "help", ours));
    let theirs = exposition(|registry| registry.register("took", "help", theirs));
    let sum = |text: &str| -> f64 {
        let line = text
            .lines()
            .find(|line| line.starts_with("took_sum "))
            .unwrap();
        line["took_sum ".len()..].parse().unwrap()
    };
    // The sums are added in nanoseconds here and in f64 seconds there: equal to the last bits.
    assert!((sum(&ours) - sum(&theirs)).abs() < 1e-9, "{ours}\n{theirs}");
    let without_sum = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|line| !line.starts_with("took_sum "))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(without_sum(&ours), without_sum(&theirs));
    assert!(ours.contains("took_bucket{le=\"0.000025\"} 3\n"), "{ours}");
    assert!(ours.contains("took_bucket{le=\"+Inf\"} 45\n"), "{ours}");
}

#[test]
fn a_duration_too_long_for_nanoseconds_counts_above_every_bound_and_adds_a_day() {
    let histogram = DurationHistogram::default();
    histogram.observe(Duration::MAX);
    histogram.observe(Duration::MAX);
    let text = exposition(|registry| registry.register("took", "help", histogram));
    assert!(text.contains("took_bucket{le=\"1.0\"} 0\n"), "{text}");
    assert!(text.contains("took_bucket{le=\"+Inf\"} 2\n"), "{text}");
    assert!(text.contains("took_count 2\n"), "{text}");
    // Two days, not a sum wrapped past u64::MAX nanoseconds.
    assert!(text.contains("took_sum 172800.0\n"), "{text}");
}

#[test]
fn observations_from_many_threads_are_all_counted() {
    let histogram = DurationHistogram::default();
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let histogram = histogram.clone();
            scope.spawn(move || {
                for i in 0..10_000u64 {
                    histogram.observe(Duration::from_nanos(thread * 1_000_000 + i));
                }
            });
        }
    });
    let text = exposition(|registry| registry.register("took", "help", histogram));
    assert!(text.contains("took_count 40000\n"), "{text}");
    assert!(text.contains("took_bucket{le=\"+Inf\"} 40000\n"), "{text}");
    // Threads 0, 1 and 2 observed under 10 µs, 1.01 ms and 2.01 ms: at or below the 2.5 ms
    // bound; thread 3's 3 ms are above it.
    assert!(
        text.contains("took_bucket{le=\"0.0025\"} 30000\n"),
        "{text}"
    );
}
