//! The label shapes and metric families the check path and the store share, so both count
//! and time their calls alike.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::histogram::DurationHistogram;

pub(super) type Labels = [(&'static str, &'static str); 2];
pub(super) type Label = [(&'static str, &'static str); 1];

/// A counter family with two labels and a histogram family with one (the durations), as the
/// check path and the store use them.
pub(super) fn counted_and_timed(
    registry: &mut Registry,
    (counter_name, counter_help): (&str, &str),
    (histogram_name, histogram_help): (&str, &str),
) -> (Family<Labels, Counter>, Family<Label, DurationHistogram>) {
    let counts = Family::<Labels, Counter>::default();
    let durations = Family::<Label, DurationHistogram>::default();
    registry.register(counter_name, counter_help, counts.clone());
    registry.register(histogram_name, histogram_help, durations.clone());
    (counts, durations)
}
