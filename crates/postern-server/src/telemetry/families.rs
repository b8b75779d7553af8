//! The label shapes and metric families the check path and the store share, so both count
//! and time their calls alike.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub(super) type Labels = [(&'static str, &'static str); 2];
pub(super) type Label = [(&'static str, &'static str); 1];

/// Upper bounds in seconds: a check answered from memory takes about 10 µs, one that reads
/// Redis about 100 µs, and Redis's `timeout` (1 s by default) bounds the slowest.
const CHECK_BUCKETS: [f64; 14] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 1.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(CHECK_BUCKETS)
}

/// A counter family with two labels and a histogram family with one (the durations), as the
/// check path and the store use them.
pub(super) fn counted_and_timed(
    registry: &mut Registry,
    (counter_name, counter_help): (&str, &str),
    (histogram_name, histogram_help): (&str, &str),
) -> (Family<Labels, Counter>, Family<Label, Histogram>) {
    let counts = Family::<Labels, Counter>::default();
    let durations =
        Family::<Label, Histogram>::new_with_constructor(duration_histogram as fn() -> Histogram);
    registry.register(counter_name, counter_help, counts.clone());
    registry.register(histogram_name, histogram_help, durations.clone());
    (counts, durations)
}
