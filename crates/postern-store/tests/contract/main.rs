//! The store contract: every backend passes the same cases. Memory, embedded and a real
//! standalone redis-server run each case as its own test; Sentinel and Cluster run the whole list.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail by panicking

mod cache;
mod cases;
mod embedded;
mod interleave;
mod locks;
mod memory;
mod redis;
mod sizing;
mod support;
