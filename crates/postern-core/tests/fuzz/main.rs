//! Property and fuzz targets for the pure core, on the stable toolchain (proptest). `.ci/test`
//! runs each target for a few hundred cases; `POSTERN_FUZZ_CASES` scales them up for the long
//! run (docs/testing.md). Every failure proptest finds is written to a `.proptest-regressions`
//! file beside its target and replayed first on every later run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod canonical_access;
mod config;
mod forwarded;
mod jwt;
mod redirect;
mod users_file;
