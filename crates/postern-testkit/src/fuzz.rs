//! How many inputs each property and fuzz target runs: a few hundred in `.ci/test` (the whole
//! set within seconds), and `POSTERN_FUZZ_CASES / weight` in the long run (docs/testing.md).

use proptest::test_runner::{Config, FileFailurePersistence};

/// Inputs per cheap target in `.ci/test`.
const CI_CASES: u32 = 256;

/// The config for a target that costs `weight` times a cheap one (1 for string parsers,
/// more for targets that load a whole config or make an HTTP request). `POSTERN_FUZZ_CASES=N`
/// gives the target `N / weight` inputs (at least one); without it, `CI_CASES / weight`.
pub fn fuzz_config(weight: u32) -> Config {
    let total = std::env::var("POSTERN_FUZZ_CASES")
        .ok()
        .and_then(|text| text.trim().replace('_', "").parse::<u32>().ok())
        .unwrap_or(CI_CASES);
    Config {
        cases: (total / weight).max(1),
        // Each failure is kept beside its target (`forwarded.proptest-regressions` next to
        // `forwarded.rs`), committed, and replayed first on every later run.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        // Shrinking a long-run failure must not take longer than finding it.
        max_shrink_iters: 4096,
        ..Config::default()
    }
}
