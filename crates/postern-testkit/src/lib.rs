//! Helpers for tests that need real peers. A missing tool fails loudly with the command that
//! installs it: nothing is ever skipped.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support fails by panicking

mod fuzz;
mod ports;
mod redis;
mod temp;
mod tls;

pub use fuzz::fuzz_config;
pub use ports::{free_port, listens_on, said_port_taken};
pub use redis::{RedisCluster, RedisSentinel, RedisServer, redis_cli};
pub use temp::TempDir;
pub use tls::TestCa;

/// The path of `tool`, searched in the workspace's `.peers/bin` and then on PATH; panics with
/// the install hint when it is nowhere.
pub fn require_tool(tool: &str) -> std::path::PathBuf {
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = std::iter::once(workspace.join(".peers/bin").join(tool))
        .chain(
            std::env::var_os("PATH")
                .into_iter()
                .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
                .map(|dir| dir.join(tool)),
        )
        .chain([
            std::path::PathBuf::from("/usr/sbin").join(tool),
            std::path::PathBuf::from("/usr/bin").join(tool),
        ]);
    for candidate in candidates {
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("`{tool}` is not installed: run .ci/install-peers (the tests need the real {tool})");
}
