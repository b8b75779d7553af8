//! End-to-end tests: real nginx, traefik and caddy processes, configured with the very files
//! under `deploy/`, in front of a real `postern serve` and a small in-process upstream app.
//!
//! Run: `cargo test -p postern --test e2e` (after `.ci/install-peers`; a missing proxy binary
//! fails the test, it is never skipped). `POSTERN_E2E_BINARY=/path/to/postern` runs the suite
//! against another build, e.g. a release binary.
//!
//! Hostnames: the protected app is `app.example.com:<proxy port>` and postern's portal is
//! `auth.example.com:<postern port>`, as in the shipped configs. Nothing resolves them: the
//! client connects to 127.0.0.1 and sends them as `Host`, the way an /etc/hosts entry would.

// Test code: a panic is how a check fails, so the workspace's no-panic lints do not apply here
// (clippy.toml's allow-*-in-tests covers only #[test] functions, not their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;
mod scenarios;
mod suites;
